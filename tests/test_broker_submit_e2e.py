"""
The Broker's write path with real Airflow: the two submitting examples under ``airflow dags test``,
their approval answered through Airflow's API as a person does in the UI, then published; a FABS
file with errors failing its task with the reports kept; a DABS correction replacing one file; and
the examples' scheduled runs on the real scheduler and triggerer.
"""

from __future__ import annotations

import csv
import io
from contextlib import ExitStack
from pathlib import Path

import pytest

from airflow_provider_sov._shared.compat import AIRFLOW_3_1
from airflow_provider_sov.testing.postgres import PostgresServer
from airflow_provider_sov.testing.stack import query
from tests.conftest import xcom
from tests.submitting_warehouse import FABS_ROWS, seed
from tests.test_airflow_e2e import DagsTest

pytestmark = [pytest.mark.airflow_cli, pytest.mark.timeout(900)]

EXAMPLES = ("broker_dabs_monthly", "broker_fabs_twice_monthly")


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


@pytest.mark.skipif(
    not AIRFLOW_3_1, reason="human-in-the-loop tasks are Airflow 3.1+; 3.0's run param is tested below"
)
def test_the_submitting_examples_publish_once_approved_under_dags_test(tmp_path):
    with ExitStack() as stack:
        warehouse = stack.enter_context(PostgresServer(tmp_path / "pg", "warehouse"))
        seed(warehouse)
        conf = {
            "broker_dabs_monthly": {"period": "04/2026"},
            "broker_fabs_twice_monthly": {},
        }
        runs = {
            dag_id: DagsTest(
                tmp_path / dag_id,
                dag_id,
                dag_id[-5:],
                {**conf[dag_id], "destination": str(tmp_path / dag_id / "out")},
                stack,
                prepare=instant_broker,
                extra_env=warehouse.connection_env(),
                answers=True,
            )
            for dag_id in EXAMPLES
        }
        for dag_id, run in runs.items():
            assert run.airflow is not None
            run.airflow.approve(dag_id, timeout=600)  # as a person answers the question in the UI
        for dag_id, run in runs.items():
            run_id = run.succeeded()
            broker = run.emulator.broker
            published = xcom(run.home, dag_id, "publish", run_id)
            submission = published["submission_id"]
            assert published["succeeded"] and published["publish_status"] == "published"
            if dag_id == "broker_dabs_monthly":
                # One submission, published and certified by one call; File C is April's export.
                assert broker.submissions_of("upload_dabs_files") == [None]
                assert (
                    published["certified"] is True
                    and run.emulator.count("publish_and_certify_dabs_submission") == 1
                )
                exported = Path(xcom(run.home, dag_id, "export_files", run_id)["award_financial"])
                sent = broker.uploaded[submission]["award_financial"]
                assert sent == exported.read_bytes()
                assert [r[2] for r in rows(sent)[1:]] == ["W91-042026-0", "W91-042026-1"]  # PIID
                for file_type in ("d1", "d2", "e", "f"):
                    assert xcom(run.home, dag_id, file_type, run_id)["files"], file_type
            else:
                assert broker.submissions_of("upload_fabs_file") == [None]
                assert run.emulator.count("publish_fabs_file") == 1
                sent = broker.uploaded[submission]["fabs"]
                assert [r[1] for r in rows(sent)[1:]] == [row[1] for row in FABS_ROWS]
                marked = warehouse.sql("warehouse", "SELECT count(*) FROM fabs_awards WHERE submitted")
                assert marked == [(len(FABS_ROWS),)]


def instant_broker(emulator) -> None:
    """
    The emulated Broker validates and generates at once, so no task defers: under ``dags test`` each
    deferred task waits a whole 30 s poll, one after another. The scheduled runs' test below waits
    in the triggerer.
    """
    emulator.broker.validation_seconds = 0.0
    emulator.broker.generation_seconds = 0.0
    emulator.broker.pickup_seconds = 0.0


def quick_validations(emulator) -> None:
    """The emulated Broker validates in a second (the examples poll it every 30 s, as it asks)."""
    emulator.broker.validation_seconds = 1.0


def test_fabs_errors_fail_with_the_reports_kept_and_a_correction_replaces_one_file_under_dags_test(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "fabs_errors.csv").write_text(
        "FAIN,AwardingSubTierAgencyCode,Amount\nF-1,2000,10\nERROR,2000,20\n"
    )
    (inputs / "file_b.csv").write_text("AgencyIdentifier,ObjectClass\n097,25.2\n")
    (inputs / "file_c.csv").write_text("AgencyIdentifier,PIID\n097,W91-1\n")
    (inputs / "file_c_corrected.csv").write_text("AgencyIdentifier,PIID\n097,W91-1\n097,W91-2\n")
    with ExitStack() as stack:
        run = DagsTest(
            tmp_path / "run",
            "e2e_broker_submit",
            "sub",
            {"inputs": str(inputs)},
            stack,
            prepare=quick_validations,
        )
        run.ended()
        sql = "select task_id, state from task_instance where dag_id=? order by task_id"
        states = dict(query(run.home, sql, run.dag_id))
        assert states == {"dabs_correction": "success", "dabs_new": "success", "fabs_errors": "failed"}, (
            states
        )
        broker = run.emulator.broker
        log = run.output.read_text()
        (fabs,) = [sid for sid, sub in broker.submissions.items() if sub.fabs]
        assert "found errors (fabs): the Broker counts 1 error(s)" in log
        reports = run.out / "fabs_reports"
        error_report = reports / f"SubID-{fabs}_File-FABS-error-report.csv"
        assert error_report.name in log
        assert error_report.read_bytes() == broker.report_bytes(fabs, "fabs")
        assert [r[3] for r in rows(error_report.read_bytes())[1:]] == ["ERROR"]
        # The correction replaced File C only, on the same submission.
        new = xcom(run.home, run.dag_id, "dabs_new", query(run.home, "select run_id from dag_run")[0][0])
        submission = new["submission_id"]
        assert broker.submissions_of("upload_dabs_files") == [None, submission]
        kept = broker.uploaded[submission]
        assert kept["program_activity"] == (inputs / "file_b.csv").read_bytes()
        assert kept["award_financial"] == (inputs / "file_c_corrected.csv").read_bytes()


def test_the_submitting_examples_scheduled_runs_publish_once_a_person_approves(stack):
    """The scheduler made each example's latest run; a person approves it; it publishes, once."""
    broker = stack.emulator.broker
    for dag_id in EXAMPLES:
        run_id = stack.approve(dag_id, timeout=600)

        # Airflow 3.3 can fail the try that asked, once answered, on its stale-event race
        # (apache/airflow#72716, see STALE_DEFER_EXIT); its retry asks again, and is answered too.
        def answered_and_ended(d: str = dag_id, r: str = run_id) -> bool:
            stack.answer(d)  # the retry's question, if the race failed the try that asked
            return stack.run_state(d, r) in ("success", "failed")

        stack.wait_for(answered_and_ended, 600, f"{dag_id} to end")
        assert stack.wait_run(dag_id, run_id, timeout=60) == "success"
        published = stack.xcom(dag_id, "publish", run_id)
        assert published["publish_status"] == "published"
        submission = published["submission_id"]
        assert broker.submissions[submission].publish_status == "published"
    emulator = stack.emulator
    assert (
        emulator.count("publish_and_certify_dabs_submission") == 1
        and emulator.count("publish_fabs_file") == 1
    )
