"""
The one job model: a new job kind is a spec, and one rule decides which errors are worth a re-poll.

The toy kind below lives only in this file: a status route added to the emulator and a kind of a
few lines. It is waited on in every mode by the shared sensor and trigger, untouched.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from airflow_provider_sov._shared.compat import AirflowSensorTimeout
from airflow_provider_sov._shared.jobs import RESULT_KEYS, JobKind, Reading
from airflow_provider_sov._shared.routes import Route, check_id
from airflow_provider_sov._shared.sensor import JobSensor
from airflow_provider_sov._shared.trigger import JobTrigger
from airflow_provider_sov.exceptions import SovError, SovJobFailedError
from airflow_provider_sov.hooks.sov import SovHook
from airflow_provider_sov.hooks.sov_jobs import SOV_FIXER, SovJobRef
from airflow_provider_sov.testing.server import EmulatorServer
from airflow_provider_sov.triggers.broker import DFileGenerationTrigger
from airflow_provider_sov.triggers.sov import SovUpdateTrigger
from tests.conftest import SENSOR_MODES, use_broker
from tests.harness import collect_events, make_context, run_task

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

# --- A toy job kind: a route on the emulator and a kind ------------------------------------------

TOY_ROUTE = Route("toy_status", "GET", "/api/v1/toy/{toy_id}", idempotent=True, what="toy")


class ToyKind(JobKind[SovJobRef, SovHook]):
    """A kind of a few lines: its ref is SOV Fixer's, its status route is the toy's."""

    name = "toy"
    label = "toy"
    api = SOV_FIXER
    task_fields = ("toy_id",)
    trigger = f"{__name__}.ToyTrigger"

    def ref_from_task(
        self, values: Mapping[str, Any], started: float, options: Mapping[str, Any]
    ) -> SovJobRef:
        return SovJobRef(check_id(values.get("toy_id"), "toy_id"))

    def ref_from_json(self, data: Mapping[str, Any]) -> SovJobRef:
        return SovJobRef(check_id(data.get("job_id"), "toy_id"))

    def read_status(self, hook: SovHook, ref: SovJobRef) -> Mapping[str, Any]:
        return hook.job_status(TOY_ROUTE, ref.id)

    async def aread_status(self, hook: SovHook, ref: SovJobRef) -> Mapping[str, Any]:
        return await hook.ajob_status(TOY_ROUTE, ref.id)

    def classify(self, body: Mapping[str, Any], ref: SovJobRef) -> Reading:
        return Reading(
            job_id=ref.id,
            status=body["state"],
            terminal=body["state"] in ("served", "spilt"),
            succeeded=body["state"] == "served",
            message=body.get("note"),
            extras={"cups": body.get("cups")},
        )

    def outcome(
        self, reading: Reading | None, ref: SovJobRef, options: Mapping[str, Any], log: Any
    ) -> dict[str, Any]:
        if reading is not None and reading.terminal and not reading.succeeded:
            raise SovJobFailedError(f"toy {reading.job_id} broke: {reading.message}", job_id=reading.job_id)
        return {"cups": (reading.extras.get("cups") if reading else None)}


TOY = ToyKind()


class ToyTrigger(JobTrigger):
    kind = TOY


class ToySensor(JobSensor[SovHook]):
    kind = TOY
    template_fields = TOY.task_fields

    def __init__(self, *, toy_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.toy_id = toy_id


@pytest.fixture
def toy_server(monkeypatch) -> Iterator[tuple[EmulatorServer, dict[str, list[str]]]]:
    """The emulator with one more route: a toy brews for three reads, then is served (or spilt)."""
    import json

    script: dict[str, list[str]] = {}

    async def toy_status(request: web.Request) -> web.Response:
        states = script[request.match_info["toy_id"]]
        state = states.pop(0) if len(states) > 1 else states[0]
        return web.json_response({"state": state, "cups": 2, "note": f"the toy is {state}"})

    server = EmulatorServer()
    server.add_route("GET", "/api/v1/toy/{toy_id}", toy_status, name="toy_status")
    with server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SOVFIXER_DEFAULT",
            json.dumps({"conn_type": "sovfixer", "host": server.url, "password": server.token}),
        )
        yield server, script


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_a_new_kind_is_a_kind_class_waited_on_in_every_mode(toy_server, mode):
    server, script = toy_server
    script["t-1"] = ["brewing", "brewing", "brewing", "served"]
    task = ToySensor(task_id="toy", toy_id="t-1", poke_interval=0.05, timeout=30, **mode)
    result = run_task(task, make_context())
    assert result == {
        "kind": "toy",
        "job_id": "t-1",
        "status": "served",
        "succeeded": True,
        "message": "the toy is served",
        "files": [],
        "cups": 2,
    }
    assert tuple(result)[: len(RESULT_KEYS)] == RESULT_KEYS
    assert server.count("toy_status") == 4  # checked once, then polled until served: no extra read


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_a_new_kind_fails_and_times_out_like_every_other(toy_server, mode):
    _, script = toy_server
    script["t-2"] = ["brewing", "spilt"]
    with pytest.raises(SovJobFailedError, match="toy t-2 broke: the toy is spilt"):
        run_task(
            ToySensor(task_id="toy", toy_id="t-2", poke_interval=0.05, timeout=30, **mode), make_context()
        )
    script["t-3"] = ["brewing"]
    with pytest.raises(AirflowSensorTimeout, match="imed out"):
        run_task(
            ToySensor(task_id="toy", toy_id="t-3", poke_interval=0.05, timeout=1, **mode), make_context()
        )


def test_a_new_kind_defers_to_its_own_trigger_with_plain_json(toy_server):
    from airflow_provider_sov._shared.compat import TaskDeferred

    _, script = toy_server
    script["t-4"] = ["brewing"]
    with pytest.raises(TaskDeferred) as info:
        ToySensor(task_id="toy", toy_id="t-4", deferrable=True, timeout=60).execute(make_context())
    classpath, kwargs = info.value.trigger.serialize()
    assert classpath == f"{ToyTrigger.__module__}.ToyTrigger"
    assert kwargs["job_id"] == "t-4" and kwargs["sovfixer_conn_id"] == "sovfixer_default"
    assert time.time() + 55 < kwargs["deadline"] <= time.time() + 60


# --- One transient-error rule for hook retries and trigger re-polls ------------------------------


@pytest.fixture
def polls(monkeypatch) -> list[str]:
    """Every status read a trigger makes (one per poll; the hook's own retries are inside one)."""
    seen: list[str] = []
    real = JobKind.aread

    async def counting(self: JobKind, hook: Any, ref: Any) -> Reading:
        seen.append(self.name)
        return await real(self, hook, ref)

    monkeypatch.setattr(JobKind, "aread", counting)
    return seen


async def only_event(trigger: JobTrigger) -> dict[str, Any]:
    async with asyncio.timeout(20):
        (event,) = await collect_events(trigger)
    return dict(event.payload)


@pytest.mark.parametrize(
    ("status", "message", "error_class"),
    [
        (409, "SUD not pending", "SovConflictError"),
        (400, "Must wait for completion of prerequisite validation job", "SovBadRequestError"),
        (401, "Invalid token.", "SovAuthError"),
        (404, "Not found.", "SovNotFoundError"),
    ],
    ids=["409", "prerequisite-400", "401", "404"],
)
async def test_an_error_no_repoll_cures_ends_the_trigger_after_one_request(
    sov_emulator, sov_connection, polls, status, message, error_class
):
    sov_emulator.inject("update_status", "status", status=status, value=message, times=None)
    trigger = SovUpdateTrigger("s-no-ping-hggcsk-r001", deadline=time.time() + 30, poll_interval=0.01)
    event = await only_event(trigger)
    assert (event["status"], event["error_class"], event["http_status"]) == ("error", error_class, status)
    assert message in event["message"] and event["key"] == "s-no-ping-hggcsk-r001"
    assert sov_emulator.count("update_status") == 1 and polls == ["update"]


async def test_a_broker_prerequisite_error_ends_its_trigger_after_one_request(broker_emulator, polls):
    broker_emulator.inject(
        "check_generation_status",
        "status",
        status=400,
        value="Must wait for completion of prerequisite validation job",
        times=None,
    )
    trigger = DFileGenerationTrigger(
        submission_id=1001, file_type="D1", deadline=time.time() + 30, poll_interval=0.01
    )
    event = await only_event(trigger)
    assert event["status"] == "error" and "prerequisite" in event["message"]
    assert broker_emulator.count("check_generation_status") == 1 and polls == ["generation"]


async def test_a_transient_error_is_polled_again(sov_emulator, sov_connection, polls):
    hook = SovHook()
    sud = hook.initiate_update("s-no-ping-hggcsk")
    hook.start_update(sud)
    sov_emulator.inject("update_status", "status", status=503, times=3)  # the hook's three tries of one poll
    sov_emulator.advance(3600)
    event = await only_event(SovUpdateTrigger(sud, deadline=time.time() + 30, poll_interval=0.01))
    assert event["status"] == "terminal" and polls == ["update", "update"]
    assert sov_emulator.count("update_status") == 4


async def test_a_tls_failure_ends_the_trigger_after_one_request(monkeypatch, tmp_path, polls):
    import json

    from tests.reliability.test_tls import make_pki

    _, context = make_pki(tmp_path)
    with EmulatorServer(ssl_context=context) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SOVFIXER_DEFAULT",
            json.dumps({"conn_type": "sovfixer", "host": server.url, "password": server.token}),
        )
        event = await only_event(SovUpdateTrigger("s-1-r001", deadline=time.time() + 30, poll_interval=0.01))
    assert (event["status"], event["error_class"]) == ("error", "SovTransportError")
    assert "could not be verified" in event["message"] and "tries" not in event["message"]
    assert polls == ["update"]


async def test_the_hook_and_the_trigger_agree_on_every_fault(broker_emulator, monkeypatch, polls):
    """Whatever the hook would retry, the trigger re-polls; whatever it would not, ends the wait."""
    from airflow_provider_sov._shared.http import transient
    from airflow_provider_sov.hooks.broker import DataActBrokerHook
    from airflow_provider_sov.hooks.broker_rules import GenerationTarget

    use_broker(monkeypatch, broker_emulator, "login")
    hook_errors = {}
    for status in (400, 401, 404, 409, 429, 500, 502, 503, 504):
        broker_emulator.clear_faults()
        broker_emulator.inject("check_generation_status", "status", status=status, times=None)
        hook = DataActBrokerHook(retry_policy=JobTrigger.retry_policy)
        with pytest.raises(SovError) as info:
            hook.read_status(GenerationTarget.of(1001, "D1"))
        polls.clear()
        trigger = DFileGenerationTrigger(
            submission_id=1001,
            file_type="D1",
            deadline=time.time() + 30,
            poll_interval=0.01,
            outage_tolerance=0.001,  # rides out the first failed poll only: a transient error polls twice
        )
        event = await only_event(trigger)
        hook_errors[status] = (
            transient(info.value),
            len(polls),
            event["error_class"] == type(info.value).__name__,
        )
    assert hook_errors == {
        400: (False, 1, True),
        401: (False, 1, True),
        404: (False, 1, True),
        409: (False, 1, True),
        429: (True, 2, True),
        500: (True, 2, True),
        502: (True, 2, True),
        503: (True, 2, True),
        504: (True, 2, True),
    }
