"""
Submitting to the Broker from a DAG: the DABS and FABS submission operators (upload, wait in every
mode, reports kept on errors, never uploaded twice), the reports download, and publishing only with
``confirm=True``, sent once even when its answer is lost.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from airflow_provider_sov.exceptions import SovError, SovInputError, SovJobFailedError
from airflow_provider_sov.operators.broker import (
    DabsSubmissionOperator,
    FabsSubmissionOperator,
    SubmissionPublishOperator,
    SubmissionReportsDownloadOperator,
)
from tests.conftest import SENSOR_MODES
from tests.harness import make_context, run_task
from tests.test_broker_submitting import B_HEADER, C_HEADER, FABS_HEADER, write

PUBLISHING = (
    "publish_dabs_submission",
    "certify_dabs_submission",
    "publish_and_certify_dabs_submission",
    "publish_fabs_file",
)


@pytest.fixture
def broker(broker_live):
    """The realtime Broker emulator, its validations taking half a second, publishing a tenth."""
    broker_live.broker.validation_seconds = 0.5
    broker_live.broker.publish_seconds = 0.1
    return broker_live


@pytest.fixture
def files(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    return {
        "a": write(
            folder / "file_a.csv", "AllocationTransferAgencyIdentifier,AgencyIdentifier\n", ",097", ",097"
        ),
        "b": write(folder / "file_b.csv", B_HEADER, "097,0100,25.2,100.00"),
        "c": write(folder / "file_c.csv", C_HEADER, "097,0100,W91-1,100.00"),
        "c_bad": write(folder / "file_c_bad.csv", C_HEADER, "097,0100,ERROR,1.00", "097,0100,W91-2,WARNING"),
        "fabs_bad": write(folder / "fabs.csv", FABS_HEADER, "02,F-1,2000,10.00", "02,ERROR,2000,20.00"),
    }


def dabs(files, **kwargs) -> DabsSubmissionOperator:
    kwargs = {
        "task_id": "task",
        "program_activity": str(files["b"]),
        "award_financial": str(files["c"]),
        "cgac_code": "097",
        "reporting_period_start_date": "04/2026",
        "reporting_period_end_date": "04/2026",
        "poll_interval": 0.2,
        "timeout": 60,
        **kwargs,
    }
    return DabsSubmissionOperator(**kwargs)


def new_submissions(server) -> list[int]:
    return [sid for sid in server.broker.submissions_of("upload_dabs_files") if sid is None]


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_a_new_dabs_submission_is_uploaded_once_and_waited_on_in_every_mode(broker, files, mode):
    result = run_task(dabs(files, **mode), make_context())
    assert (result["kind"], result["status"], result["succeeded"]) == ("validation", "finished", True)
    submission = result["submission_id"]
    assert result["job_id"] == str(submission) and len(new_submissions(broker)) == 1
    assert set(result["file_types"]) == {"appropriations", "program_activity", "award_financial", "cross"}
    # The files went whole, under names that carry the task instance's mark.
    sub = broker.broker.submissions[submission]
    assert broker.broker.uploaded[submission]["program_activity"] == files["b"].read_bytes()
    assert sub.validations["program_activity"].file_name.startswith("file_b.af-")


def test_its_own_file_a_is_sent_as_a_correction_once_b_and_c_validated(broker, files):
    result = run_task(dabs(files, appropriations=str(files["a"]), deferrable=True), make_context())
    submission = result["submission_id"]
    assert result["succeeded"]
    assert broker.broker.uploaded[submission]["appropriations"] == files["a"].read_bytes()
    assert broker.broker.submissions_of("upload_dabs_files") == [None, submission]  # new, then A


def test_a_correction_replaces_only_its_file(broker, files):
    first = run_task(dabs(files), make_context())
    submission = first["submission_id"]
    b_before = broker.broker.uploaded[submission]["program_activity"]
    again = dabs(
        {"b": None, "c": files["c"]},
        program_activity=None,
        cgac_code=None,
        reporting_period_start_date=None,
        reporting_period_end_date=None,
        existing_submission_id=first,  # the first task's result names the submission
    )
    result = run_task(again, make_context())
    assert result["submission_id"] == submission
    assert broker.broker.uploaded[submission]["program_activity"] == b_before
    assert len(new_submissions(broker)) == 1


@pytest.mark.parametrize("deferrable", [True, False])
def test_validation_errors_fail_naming_the_counts_and_keep_every_report(broker, files, tmp_path, deferrable):
    out = tmp_path / "reports"
    task = FabsSubmissionOperator(
        task_id="task",
        fabs=str(files["fabs_bad"]),
        agency_code="2000",
        reports_destination=str(out),
        poll_interval=0.2,
        timeout=60,
        deferrable=deferrable,
    )
    with pytest.raises(
        SovJobFailedError, match=r"found errors \(fabs\): the Broker counts 1 error\(s\)"
    ) as info:
        run_task(task, make_context())
    submission = max(broker.broker.submissions)
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        f"SubID-{submission}_File-FABS-error-report.csv",
        f"SubID-{submission}_File-FABS-warning-report.csv",
    ]
    assert all(name in str(info.value) for name in names)
    error_report = (out / names[0]).read_bytes()
    assert error_report == broker.broker.report_bytes(submission, "fabs")
    assert error_report.count(b"\n") == 2  # the header and the one row in error


def test_a_dabs_file_with_errors_keeps_its_reports_and_the_cross_file_never_runs(broker, files, tmp_path):
    out = tmp_path / "reports"
    with pytest.raises(SovJobFailedError, match=r"award_financial") as info:
        run_task(
            dabs(files, award_financial=str(files["c_bad"]), reports_destination=str(out)), make_context()
        )
    assert "6 validation report(s)" in str(info.value)  # A, B, C: error and warning each; no cross-file
    assert len(list(out.iterdir())) == 6


def test_a_lost_upload_answer_is_found_again_by_the_files_names(broker, files, capsys):
    broker.inject("upload_dabs_files", "status_after", status=504, times=1)
    context = make_context()
    task = dabs(files)
    retry = copy.deepcopy(task)
    with pytest.raises(SovError, match="HTTP 504"):
        run_task(task, context)
    result = run_task(retry, context)
    assert broker.count("upload_dabs_files") == 1 and len(new_submissions(broker)) == 1
    logged = capsys.readouterr().out
    assert result["succeeded"] and f"submission {result['submission_id']} " in logged
    assert "created by the earlier try" in logged


def test_an_upload_that_never_reached_the_broker_is_sent_again(broker, files):
    broker.inject("upload_dabs_files", "status", status=503, times=1)
    context = make_context()
    task = dabs(files)
    retry = copy.deepcopy(task)
    with pytest.raises(SovError):
        run_task(task, context)
    assert run_task(retry, context)["succeeded"]
    assert broker.count("upload_dabs_files") == 2 and len(broker.broker.uploaded) == 1


def test_the_reports_download_writes_every_report_that_exists(broker, files, tmp_path):
    submission = run_task(dabs(files), make_context())["submission_id"]
    task = SubmissionReportsDownloadOperator(
        task_id="task", submission_id=submission, destination=str(tmp_path / "r")
    )
    result = run_task(task, make_context())
    names = sorted(f["filename"] for f in result["files"])
    assert len(names) == 10  # A, B, C error and warning; A-B and B-C cross-file error and warning
    assert f"SubID-{submission}_File-B-to-C-crossfile-warning-report.csv" in names
    for name, report in zip(names, sorted(result["reports"], key=lambda r: r["name"]), strict=True):
        assert (tmp_path / "r" / name).read_bytes() == broker.broker.report_bytes(
            submission, report["file_type"], warning=report["warning"], cross_type=report["cross_type"]
        )
    assert broker.broker.credential_attempts == []


def publish(submission, **kwargs) -> SubmissionPublishOperator:
    return SubmissionPublishOperator(
        task_id="task", submission_id=submission, poll_interval=0.2, timeout=30, **kwargs
    )


def publishing_calls(server) -> int:
    return sum(server.count(route) for route in PUBLISHING)


@pytest.mark.parametrize("confirm", [False, None, "false", "yes", 1, "{{ params.nothing }}"])
def test_nothing_is_published_without_an_explicit_yes(broker, confirm):
    broker.reset_counts()
    with pytest.raises(SovInputError, match="cannot be undone, and this task's confirm is"):
        run_task(publish(1001, confirm=confirm), make_context())
    assert sum(broker.counts.values()) == 0


def test_a_submission_is_published_and_certified_once_confirmed(broker, files):
    submission = run_task(dabs(files), make_context())["submission_id"]
    result = run_task(
        publish(submission, action="publish_and_certify", confirm="True", deferrable=True), make_context()
    )
    assert (result["kind"], result["status"], result["publish_status"], result["certified"]) == (
        "publication",
        "certified",
        "published",
        True,
    )
    assert broker.count("publish_and_certify_dabs_submission") == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda b, f: run_task(dabs(f, test_submission=True), make_context())["submission_id"],
            "is a test submission",
        ),
        (lambda b, f: _failed_upload(b, f), r"found 2 error\(s\)|found \d+ error"),
    ],
    ids=["test submission", "errors"],
)
def test_a_submission_the_broker_would_refuse_fails_before_any_publishing_call(broker, files, make, message):
    submission = make(broker, files)
    with pytest.raises(SovInputError, match=message):
        run_task(publish(submission, confirm=True), make_context())
    assert publishing_calls(broker) == 0


def _failed_upload(broker, files) -> int:
    with pytest.raises(SovJobFailedError):
        run_task(dabs(files, award_financial=str(files["c_bad"])), make_context())
    return max(broker.broker.submissions)


def test_a_publication_whose_answer_was_lost_is_never_sent_twice(broker, files):
    submission = run_task(dabs(files), make_context())["submission_id"]
    broker.inject("publish_dabs_submission", "status_after", status=504, times=1)
    context = make_context()
    task = publish(submission, confirm=True)
    retry = copy.deepcopy(task)
    with pytest.raises(SovError, match="HTTP 504"):
        run_task(task, context)
    result = run_task(retry, context)
    assert result["publish_status"] == "published" and broker.count("publish_dabs_submission") == 1


def test_an_already_published_submission_succeeds_only_when_that_is_the_goal(broker, files):
    submission = run_task(dabs(files), make_context())["submission_id"]
    run_task(publish(submission, confirm=True), make_context())
    with pytest.raises(SovInputError, match="is already published"):
        run_task(publish(submission, confirm=True), make_context())
    result = run_task(publish(submission, confirm=True, succeed_if_published=True), make_context())
    assert result["succeeded"] and broker.count("publish_dabs_submission") == 1


def test_a_fabs_submission_is_published(broker, files, tmp_path):
    good = write(tmp_path / "fabs_ok.csv", FABS_HEADER, "02,F-1,2000,10.00")
    task = FabsSubmissionOperator(
        task_id="task", fabs=str(good), agency_code="2000", poll_interval=0.2, timeout=60
    )
    submission = run_task(task, make_context())["submission_id"]
    result = run_task(publish(submission, confirm=True), make_context())
    assert result["publish_status"] == "published" and broker.count("publish_fabs_file") == 1


def test_bad_arguments_are_refused_when_the_dag_is_parsed():
    with pytest.raises(SovInputError, match="action must be one of"):
        SubmissionPublishOperator(task_id="t", submission_id=1, action="unpublish")
    with pytest.raises(SovInputError, match="submission_id must be a positive integer"):
        SubmissionReportsDownloadOperator(task_id="t", submission_id="x", destination="out")
    with pytest.raises(SovInputError, match="fail_on_warnings must be True or False"):
        DabsSubmissionOperator(task_id="t", fail_on_warnings="no")


def test_every_file_is_checked_before_any_request(broker, files, tmp_path):
    broker.reset_counts()
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(SovInputError, match="is empty"):
        run_task(dabs(files, award_financial=str(tmp_path / "empty.csv")), make_context())
    assert sum(broker.counts.values()) == 0
    assert Path(files["b"]).exists()


def test_each_file_is_read_once_to_check_it_and_once_to_send_it(broker, files, monkeypatch):
    opened: list[str] = []
    real_open = Path.open

    def counted(self, *args, **kwargs):
        opened.append(str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counted)
    assert run_task(dabs(files), make_context())["succeeded"]
    # An object-storage file is read over the network: a second check would be one more GET per file.
    assert (opened.count(str(files["b"])), opened.count(str(files["c"]))) == (2, 2)
