"""SovCreateSubmissionOperator: a new SOV from rows, waited on in every mode, one submission per task."""

from __future__ import annotations

import csv
import json

import pytest

from airflow_provider_sov.exceptions import SovInputError, SovServerError, SovTransportError
from airflow_provider_sov.operators.sov import SovCreateSubmissionOperator, SovUpdateOperator
from tests.conftest import NEW_SOV_CSV
from tests.harness import MemoryStateStore, make_context, run_task

#: How the one task may wait: in the triggerer, on the worker, or ending between reads.
MODES = [
    pytest.param({"deferrable": True}, id="deferrable"),
    pytest.param({"deferrable": False}, id="poke"),
    pytest.param({"deferrable": False, "mode": "reschedule"}, id="reschedule"),
]


def rows_of(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def submission(**kwargs) -> SovCreateSubmissionOperator:
    kwargs.setdefault("locations", NEW_SOV_CSV)
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("timeout", 30)
    return SovCreateSubmissionOperator(task_id="new_sov", **kwargs)


@pytest.mark.parametrize("mode", MODES)
def test_a_new_sov_from_rows_in_every_wait_mode(live, tmp_path, mode):
    live.job_seconds = 1.0  # long enough to be waited on in each mode
    reschedules: list[int] = []
    task = submission(
        client_ref="warehouse/2026-12-01",
        extra_data={"insured_name": "Harbor Storage"},
        output_formats=["json", "xlsx"],
        destination=tmp_path,
        **mode,
    )
    context = make_context()
    result = run_task(task, context, between=lambda: reschedules.append(1))

    submission_id = result["job_id"]
    assert result["kind"] == "submission" and result["status"] == "COMPLETE" and result["succeeded"]
    assert result["document_type"] == "SOV" and result["result_status"] == "SUCCESS"
    assert context["ti"].xcoms["job_id"] == submission_id
    assert sorted(f["filename"].rsplit(".", 1)[1] for f in result["files"]) == ["json", "xlsx"]
    for f in result["files"]:
        assert f["filename"].startswith("Harbor Storage ")
        assert (tmp_path / f["filename"]).read_bytes() == live.sov.file_bytes(submission_id, f["filename"])
    # The JSON output is the new SOV: one building per row sent, with the rows' values.
    (saved,) = [f for f in result["files"] if f["filename"].endswith(".json")]
    buildings = json.loads((tmp_path / saved["filename"]).read_text())["buildings"]
    sent = rows_of(NEW_SOV_CSV)
    assert [b["bldg_name"] for b in buildings] == [r["bldg_name"] for r in sent]
    assert buildings[0]["limits__building_limit"] == sent[0]["limits__building_limit"]
    # One submission, its rows sent once, started once.
    assert (live.count("create_submission"), live.count("add_locations"), live.count("start_update")) == (
        1,
        1,
        1,
    )
    assert live.count("initiate_update") == 0
    assert context["task_state_store"]["step"] == "started"
    assert bool(reschedules) == (mode.get("mode") == "reschedule")


def test_a_rescheduled_wait_keeps_its_deadline_and_times_out_on_it(live):
    live.job_seconds = 60
    task = submission(deferrable=False, mode="reschedule", poll_interval=0.2, timeout=3.0)
    context = make_context()
    from airflow_provider_sov.exceptions import SovTimeoutError

    with pytest.raises(SovTimeoutError):
        run_task(task, context)
    # Several runs of the task, one wait: each run read the status, none started a new timeout.
    assert live.count("update_status") >= 3
    assert live.count("create_submission") == 1 and live.count("start_update") == 1


@pytest.mark.parametrize(
    ("route", "fault", "options", "error", "step"),
    [
        pytest.param("add_locations", "status", {"status": 500}, SovServerError, "created", id="add-refused"),
        pytest.param(
            "start_update", "reset_after", {}, SovTransportError, "locations_added", id="start-answer-lost"
        ),
    ],
)
def test_a_retry_resumes_the_same_submission(live, tmp_path, route, fault, options, error, step, capsys):
    store = MemoryStateStore()
    task = submission(destination=tmp_path, deferrable=False, poll_interval=0.05)
    live.inject(route, fault, **options)
    with pytest.raises(error):
        run_task(task, make_context(store))
    assert store["step"] == step
    result = run_task(task, make_context(store))  # Airflow's retry of the same task instance
    assert f"Resuming submission {result['job_id']}" in capsys.readouterr().out
    assert result["status"] == "COMPLETE" and result["files"]
    assert live.count("create_submission") == 1 and live.sov.created["submission"] == 1


def test_bad_rows_are_refused_before_the_submission_exists(live, tmp_path):
    good = NEW_SOV_CSV
    bad = tmp_path / "rows.csv"
    bad.write_text("bldg_name,city\nHQ,Austin\n")  # names no building: neither item_key nor sheet and row
    with pytest.raises(SovInputError, match=r"rows\.csv has no identifying column"):
        run_task(submission(locations=[good, bad]), make_context())
    assert live.count("create_submission") == 0


def test_rows_the_service_refuses_name_the_file_and_the_submission(live, tmp_path):
    from airflow_provider_sov.exceptions import SovBadRequestError

    odd = tmp_path / "odd.csv"
    odd.write_text("sheet_name,sheet_row_number,roof_colour\nSOV,2,red\n")
    with pytest.raises(SovBadRequestError, match=r"rejected odd\.csv for submission 80412") as info:
        run_task(submission(locations=odd), make_context())
    assert "roof_colour: unknown attribute" in str(info.value) and info.value.job_id == "80412"


def test_every_step_is_its_own_and_not_a_copy_of_the_updates():
    """A submission runs the steps its kind declares, on the steps the update operator runs too."""
    from airflow_provider_sov.hooks.sov_jobs import SUBMISSION, UPDATE

    assert [s.name for s in SUBMISSION.steps] == ["created", "locations_added", "started"]
    assert SUBMISSION.steps[1:] == UPDATE.steps[1:]
    assert SUBMISSION.status_route is UPDATE.status_route
    assert SovCreateSubmissionOperator.run_steps is SovUpdateOperator.run_steps


def test_a_new_sov_needs_rows_when_the_dag_is_parsed():
    with pytest.raises(SovInputError, match="locations must name at least one CSV"):
        SovCreateSubmissionOperator(task_id="t", locations=None)
    with pytest.raises(SovInputError, match="mode must be 'poke' or 'reschedule'"):
        SovCreateSubmissionOperator(task_id="t", locations=NEW_SOV_CSV, mode="sleep")
