"""
Trigger level: every fault on every route a trigger polls, run in-process to the trigger's event.

A fault once is survived: the event is the job's success, with its ID. A fault on every poll ends
in one error event that names the job. A trigger never creates anything, so it can make no
duplicate, and it writes no file.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sov._shared.trigger import JobTrigger
from airflow_provider_sov.hooks.broker import DataActBrokerHook
from airflow_provider_sov.hooks.sov import SovHook
from airflow_provider_sov.triggers.broker import (
    DFileGenerationTrigger,
    SubmissionPublishTrigger,
    SubmissionValidationTrigger,
)
from airflow_provider_sov.triggers.sov import (
    SovHistoryTrigger,
    SovOutputTrigger,
    SovParseTrigger,
    SovUpdateTrigger,
)
from tests.conftest import EXAMPLE_CSV
from tests.reliability.faults import FAULTS, FaultKind, Observation, applies, inject, record
from tests.reliability.report import FAILED_CLEARLY, SURVIVED, UNCLEAR

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.triggers.base import BaseTrigger

    from airflow_provider_sov.testing.server import EmulatorServer

SOV = "s-no-ping-hggcsk"
D1 = {"start": "10/01/2025", "end": "12/31/2025"}


def _update(emu: EmulatorServer) -> BaseTrigger:
    hook = SovHook()
    sud = hook.initiate_update(SOV)
    hook.add_locations(sud, EXAMPLE_CSV)
    hook.start_update(sud)
    hook.close()
    return SovUpdateTrigger(sud, deadline=time.time() + 30, poll_interval=0.01)


def _parse(emu: EmulatorServer) -> BaseTrigger:
    return SovParseTrigger(SOV, deadline=time.time() + 30, poll_interval=0.01)


def _output(emu: EmulatorServer) -> BaseTrigger:
    hook = SovHook()
    request = hook.get_or_create_output(SOV, "xlsx")["request"]["id"]
    hook.close()
    return SovOutputTrigger(request, deadline=time.time() + 30, poll_interval=0.01)


def _d1(conn_id: str) -> Callable[[EmulatorServer], BaseTrigger]:
    def make(emu: EmulatorServer) -> BaseTrigger:
        hook = DataActBrokerHook(conn_id)
        hook.generate_file(1001, "D1", **D1)
        hook.close()
        _forget_sessions()  # the trigger starts its own session, as in a triggerer
        return DFileGenerationTrigger(
            submission_id=1001,
            file_type="D1",
            deadline=time.time() + 30,
            poll_interval=0.01,
            data_act_broker_conn_id=conn_id,
        )

    return make


def _detached(emu: EmulatorServer) -> BaseTrigger:
    hook = DataActBrokerHook()
    job = hook.generate_detached_file("D1", cgac_code="097", **D1)["job_id"]
    hook.close()
    return DFileGenerationTrigger(job_id=job, deadline=time.time() + 30, poll_interval=0.01)


def _validations(emu: EmulatorServer) -> BaseTrigger:
    """The seeded submission 1001: validated, so the trigger's first good reads end it."""
    return SubmissionValidationTrigger(submission_id=1001, deadline=time.time() + 30, poll_interval=0.01)


def _publication(emu: EmulatorServer) -> BaseTrigger:
    """A submission published (as the one publishing call leaves it): the trigger reads it done."""
    submission = emu.broker.add_submission(next(_SUBMISSIONS), is_quarter=False)
    emu.broker.publish(submission, certified=False)
    return SubmissionPublishTrigger(
        submission_id=submission, action="publish", deadline=time.time() + 30, poll_interval=0.01
    )


_SUBMISSIONS = itertools.count(8001)


def _history(emu: EmulatorServer) -> BaseTrigger:
    return SovHistoryTrigger(poll_interval=0.01, start="20000101000000", page_size=5)


def _forget_sessions() -> None:
    from airflow_provider_sov.hooks.broker import _SESSIONS

    _SESSIONS.clear()


@dataclass(frozen=True)
class TriggerCase:
    name: str
    route: str
    make: Callable[[EmulatorServer], BaseTrigger]


TRIGGERS = [
    TriggerCase("SovUpdateTrigger", "update_status", _update),
    TriggerCase("SovParseTrigger", "parse_status", _parse),
    TriggerCase("SovOutputTrigger", "output_request", _output),
    TriggerCase("SovHistoryTrigger", "history", _history),
    TriggerCase("DFileGenerationTrigger", "check_generation_status", _d1("data_act_broker_default")),
    TriggerCase("DFileGenerationTrigger", "login", _d1("data_act_broker_default")),
    TriggerCase("DFileGenerationTrigger", "active_user", _d1("broker_proxy")),
    TriggerCase("DFileGenerationTrigger (detached)", "check_detached_generation_status", _detached),
    TriggerCase("SubmissionValidationTrigger", "check_status", _validations),
    TriggerCase("SubmissionValidationTrigger", "submission_metadata", _validations),
    TriggerCase("SubmissionPublishTrigger", "submission_metadata", _publication),
]

PERSISTENT = FaultKind("503, every poll", "status", {"status": 503})


@pytest.fixture(autouse=True)
def recorded_trigger_waits(monkeypatch, fast):
    """Triggers retry as configured, but their waits (a 429's Retry-After) are recorded, not slept."""
    for cls in (JobTrigger, SovHistoryTrigger):
        monkeypatch.setattr(cls, "retry_policy", fast)


async def first_event(trigger: BaseTrigger) -> dict[str, Any]:
    stream = trigger.run()
    try:
        async with asyncio.timeout(20):
            async for event in stream:
                return dict(event.payload)
    finally:
        await stream.aclose()
    raise AssertionError("the trigger ended without an event")


def judge(case: TriggerCase, payload: dict[str, Any]) -> Observation:
    if payload.get("status") == "error":
        # The message names the job as the event does (e.g. "submission 1001 D1"): every part of it.
        names = str(payload.get("key") or "").split()
        clear = bool(names) and all(part in payload.get("message", "") for part in names)
        return Observation(FAILED_CLEARLY if clear else UNCLEAR, result=payload)
    succeeded = (payload.get("reading") or {}).get("succeeded") is True or (
        case.route == "history" and payload.get("status") == "C"
    )
    return Observation(SURVIVED if succeeded else UNCLEAR, result=payload)


CASES = [
    pytest.param(case, fault, id=f"{case.name}-{case.route}-{fault.name}")
    for case in TRIGGERS
    for fault in FAULTS
    if applies(fault, case.route)
]


@pytest.mark.parametrize(("case", "fault"), CASES)
async def test_trigger_under_fault(emu, waits, case: TriggerCase, fault: FaultKind):
    trigger = case.make(emu)
    emu.reset_counts()
    waits.clear()
    injected = inject(emu, case.route, fault)
    payload = await first_event(trigger)
    seen = judge(case, payload)
    record("trigger", case.name, case.route, fault, seen)

    assert injected.hits == 1
    assert seen.outcome == SURVIVED, payload
    assert emu.count(case.route) >= 2, (dict(emu.counts), payload)  # the faulted one, then a good one
    if fault.options.get("retry_after"):
        assert float(fault.options["retry_after"]) in waits


@pytest.mark.parametrize("case", [c for c in TRIGGERS if c.route != "history"], ids=lambda c: c.route)
async def test_trigger_under_a_persistent_fault_ends_with_one_clear_error(emu, case: TriggerCase):
    trigger = case.make(emu)
    trigger.outage_tolerance = 0.0
    if case.route in ("login", "active_user"):
        emu.broker.expire_sessions()  # else the session the setup started would still serve
    emu.reset_counts()
    inject(emu, case.route, PERSISTENT, times=None)
    payload = await first_event(trigger)
    seen = judge(case, payload)
    record("trigger", case.name, case.route, PERSISTENT, seen)
    assert seen.outcome == FAILED_CLEARLY, payload
    assert "Gave up after 4 tries" in payload["message"] and payload["http_status"] == 503
