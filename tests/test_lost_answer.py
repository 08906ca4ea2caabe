"""
A creating call whose answer is lost (the server acted, the task never heard): the retry finds the
job by the ``client_ref`` the call carried and reattaches, instead of creating a second one.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sov._shared.steps import CLOCK_SKEW, StepRunner
from airflow_provider_sov._shared.task_state import StateStore
from airflow_provider_sov.exceptions import SovConflictError, SovError
from airflow_provider_sov.hooks.sov_jobs import INITIATED, UPDATE, SovJobRef
from airflow_provider_sov.hooks.sov_rules import CLIENT_REF_LIMIT, task_client_ref
from airflow_provider_sov.operators.sov import (
    SovCreateSubmissionOperator,
    SovInitiateUpdateOperator,
    SovParseOperator,
    SovUpdateOperator,
)
from tests.conftest import EXAMPLE_CSV, NEW_SOV_CSV, ROOT
from tests.harness import MemoryStateStore, make_context, run_task

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_sov.testing.server import EmulatorServer

LOG = logging.getLogger("test_lost_answer")
WORKBOOK = ROOT / "example_dags" / "data" / "harbor_storage_sov.xlsx"
SOV = "s-no-ping-hggcsk"
WAIT = {"deferrable": False, "poll_interval": 0.1, "timeout": 30}


def parse(out: Path) -> SovParseOperator:
    return SovParseOperator(task_id="parse", file=WORKBOOK, destination=out, **WAIT)


def update(out: Path) -> SovUpdateOperator:
    return SovUpdateOperator(task_id="update", sov_id=SOV, locations=EXAMPLE_CSV, destination=out, **WAIT)


def submission(out: Path) -> SovCreateSubmissionOperator:
    return SovCreateSubmissionOperator(task_id="new_sov", locations=NEW_SOV_CSV, destination=out, **WAIT)


#: Each operator, the route that creates its job, and the emulator's counter of such jobs.
CREATORS = [
    pytest.param(parse, "parse", "parse", id="SovParseOperator"),
    pytest.param(update, "initiate_update", "update", id="SovUpdateOperator"),
    pytest.param(submission, "create_submission", "submission", id="SovCreateSubmissionOperator"),
]


def retried(make: Any, out: Path, context: dict[str, Any]) -> tuple[BaseException, dict[str, Any]]:
    """Run a task that fails, then its retry (a new task object, as Airflow makes one per try)."""
    task = make(out)
    pristine = copy.deepcopy(task)
    with pytest.raises(SovError) as failed:
        run_task(task, context)
    return failed.value, run_task(pristine, context)


def whole(emu: EmulatorServer, result: dict[str, Any], out: Path) -> None:
    assert result["succeeded"] and result["files"], result
    for f in result["files"]:
        assert (out / f["filename"]).read_bytes() == emu.sov.file_bytes(result["job_id"], f["filename"])
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(("make", "route", "kind"), CREATORS)
def test_a_retry_after_a_lost_answer_reattaches_to_the_job_the_server_made(
    live, tmp_path, capsys, make, route, kind
):
    live.inject(route, "status_after", status=504, times=1)
    context = make_context()
    error, result = retried(make, tmp_path, context)
    assert "HTTP 504" in str(error)
    # The server made one job, on the first try; the retry found it and sent no second creating call.
    assert live.sov.created[kind] == 1 and live.count(route) == 1
    expected_ref = task_client_ref("dag", "run", "task", -1)
    assert result["client_ref"] == expected_ref
    logged = capsys.readouterr().out
    assert f"{result['job_id']} created by the earlier try" in logged
    whole(live, result, tmp_path)


@pytest.mark.parametrize(("make", "route", "kind"), CREATORS)
def test_a_retry_whose_call_never_acted_creates_the_job(live, tmp_path, capsys, make, route, kind):
    live.inject(route, "status", status=503, times=1)  # refused before acting (and not sent again)
    context = make_context()
    _, result = retried(make, tmp_path, context)
    assert live.sov.created[kind] == 1
    assert "did not act on it. Sending it again" in capsys.readouterr().out
    whole(live, result, tmp_path)


def test_when_the_activity_lists_nothing_the_retry_creates_a_new_job(live, tmp_path, monkeypatch):
    # The service may not list a job yet (not documented): then, as before this lookup, a new one.
    live.inject("initiate_update", "status_after", status=504, times=1)
    monkeypatch.setattr(live.sov, "_selected", lambda record, query: False)
    context = make_context()
    _, result = retried(update, tmp_path, context)
    assert live.sov.created["update"] == 2 and live.count("initiate_update") == 2
    assert result["succeeded"] and result["job_id"] == f"{SOV}-r002"


def test_two_jobs_with_the_reference_fail_the_retry_naming_both_before_any_creating_call(live, tmp_path):
    from airflow_provider_sov.hooks.sov import SovHook

    live.inject("initiate_update", "status_after", status=504, times=1)
    context = make_context()
    # One task given a reference another task shares.
    task = SovUpdateOperator(
        task_id="update", sov_id=SOV, locations=EXAMPLE_CSV, client_ref="shared-ref", **WAIT
    )
    with pytest.raises(SovError, match="504"):
        run_task(copy.deepcopy(task), context)
    other = SovHook().initiate_update(SOV, client_ref="shared-ref")  # another task, the same reference
    live.reset_counts()
    with pytest.raises(SovConflictError) as refused:
        run_task(copy.deepcopy(task), context)
    assert f"{SOV}-r001" in str(refused.value) and other in str(refused.value)
    assert "shared-ref" in str(refused.value) and refused.value.hint
    assert live.count("initiate_update") == 0 and live.count("add_locations") == 0


def test_a_job_made_with_the_reference_before_the_call_was_sent_is_not_taken_for_it(live, tmp_path):
    from airflow_provider_sov.hooks.sov import SovHook

    old = SovHook().initiate_update(SOV, client_ref="nightly")  # an earlier run's, long before this task
    live.sov.jobs[old].created_at -= CLOCK_SKEW + 60
    live.inject("initiate_update", "status_after", status=504, times=1)
    task = SovInitiateUpdateOperator(task_id="initiate", sov_id=SOV, client_ref="nightly")
    context = make_context()
    with pytest.raises(SovError, match="504"):
        run_task(copy.deepcopy(task), context)
    result = run_task(copy.deepcopy(task), context)
    # Two matches would fail; the old one is out of the window, so the lost answer's job is found.
    assert result["job_id"] == f"{SOV}-r002" and result["client_ref"] == "nightly"
    assert live.sov.created["update"] == 2 and live.count("initiate_update") == 2


def test_every_creating_call_carries_the_task_instance_reference(live, tmp_path):
    task = SovInitiateUpdateOperator(task_id="initiate", sov_id=SOV)
    result = run_task(task, make_context())
    assert result["client_ref"] == "airflow:dag/run/task/-1"
    assert live.sov.jobs[result["job_id"]].client_ref == "airflow:dag/run/task/-1"  # what the server got


def test_a_task_made_reference_is_unique_per_task_instance_and_within_its_limit():
    assert task_client_ref("d", "r", "t", 3) != task_client_ref("d", "r", "t", 4)
    long = task_client_ref("d" * 250, "manual__2026-12-07T08:00:00+00:00", "t" * 250, 12)
    assert len(long) <= CLIENT_REF_LIMIT and long.startswith("airflow:") and long.endswith("/12")
    assert long == task_client_ref("d" * 250, "manual__2026-12-07T08:00:00+00:00", "t" * 250, 12)
    assert long != task_client_ref("e" * 250, "manual__2026-12-07T08:00:00+00:00", "t" * 250, 12)


def test_the_step_runner_asks_nothing_when_no_call_was_sent_before():
    store, asked = MemoryStateStore(), []
    steps = StepRunner(UPDATE, StateStore({"task_state_store": store}, LOG), LOG, lambda ref: None)

    def find(client_ref: str, since: float) -> list[SovJobRef]:
        asked.append(client_ref)
        return [SovJobRef("s-1-r009")]

    ref = steps.create(INITIATED, lambda: SovJobRef("s-1-r001"), client_ref="mine", find=find)
    assert ref == SovJobRef("s-1-r001") and asked == []  # a first try looks nothing up
    assert store["sent"]["client_ref"] == "mine"
