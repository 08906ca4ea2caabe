"""Creating a job in named steps: each step once across a task's tries, whatever an earlier try reached."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_sov._shared.steps import StepRunner
from airflow_provider_sov._shared.task_state import StateStore
from airflow_provider_sov.exceptions import SovConflictError, SovServerError
from airflow_provider_sov.hooks.sov_jobs import INITIATED, LOCATIONS_ADDED, STARTED, UPDATE, SovJobRef
from tests.harness import MemoryStateStore

LOG = logging.getLogger("test_steps")


def runner(store: MemoryStateStore) -> tuple[StepRunner[SovJobRef], list[SovJobRef]]:
    recorded: list[SovJobRef] = []

    def record(ref: SovJobRef) -> None:
        recorded.append(ref)
        store.set("job", ref.to_json())

    return StepRunner(UPDATE, StateStore({"task_state_store": store}, LOG), LOG, record), recorded


def a_try(store: MemoryStateStore, calls: list[str], *, start_fails: Exception | None = None) -> SovJobRef:
    """One try of an update: initiate, add locations, start (which may fail as given)."""
    steps, _ = runner(store)

    def initiate() -> SovJobRef:
        calls.append("initiate")
        return SovJobRef(f"s-1-r00{calls.count('initiate')}")

    def start() -> None:
        calls.append("start")
        if start_fails is not None:
            raise start_fails

    ref = steps.create(INITIATED, initiate)
    steps.run(ref, LOCATIONS_ADDED, lambda: calls.append("add"))
    steps.run(ref, STARTED, start)
    return ref


def test_a_retry_after_every_step_repeats_none():
    store, calls = MemoryStateStore(), []
    first = a_try(store, calls)
    second = a_try(store, calls)
    assert first == second == SovJobRef("s-1-r001")
    assert calls == ["initiate", "add", "start"] and store["step"] == "started"


def test_a_retry_after_a_start_the_server_refused_starts_again():
    store, calls = MemoryStateStore(), []
    with pytest.raises(SovServerError):
        a_try(store, calls, start_fails=SovServerError("HTTP 500"))
    assert store["step"] == "locations_added"
    a_try(store, calls)
    assert calls == ["initiate", "add", "start", "start"] and store["step"] == "started"


def test_a_409_after_a_sent_mark_is_the_start_done_but_without_one_it_fails():
    store, calls = MemoryStateStore(), []
    with pytest.raises(SovServerError):  # sent, answer lost
        a_try(store, calls, start_fails=SovServerError("reset"))
    a_try(
        store, calls, start_fails=SovConflictError("HTTP 409 already started")
    )  # the earlier one went through
    assert store["step"] == "started"
    fresh, fresh_calls = MemoryStateStore(), []
    with pytest.raises(SovConflictError):  # never sent before: a 409 is the server's word, not ours
        a_try(fresh, fresh_calls, start_fails=SovConflictError("HTTP 409 already started"))


def test_attaching_to_another_job_forgets_the_steps_of_the_last():
    store = MemoryStateStore(job={"job_id": "s-1-r001"}, step="started")
    steps, recorded = runner(store)
    other = SovJobRef("s-1-r002")
    steps.attach(other)
    assert recorded == [other] and not steps.done(other, STARTED)
    steps.attach(SovJobRef("s-1-r002"))  # the same job again: its steps stay
    store.set("step", "started")
    steps.attach(other)
    assert steps.done(other, STARTED)
