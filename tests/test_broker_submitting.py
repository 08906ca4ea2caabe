"""
Submitting to the Broker through the hook: DABS and FABS uploads streamed to the emulated Broker,
corrections, validation reports fetched from signed URLs with no credentials, revalidation, and
publishing only with ``confirm=True``. Every bad input is refused before any request.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from airflow_provider_sov.exceptions import SovError, SovInputError

B_HEADER = "AgencyIdentifier,MainAccountCode,ObjectClass,ObligationsIncurredByProgramObjectClass_CPE\n"
C_HEADER = "AgencyIdentifier,MainAccountCode,PIID,TransactionObligatedAmount\n"
FABS_HEADER = "AssistanceType,FAIN,AwardingSubTierAgencyCode,FederalActionObligation\n"


def write(path, header: str, *rows: str) -> object:
    path.write_text(header + "".join(f"{row}\n" for row in rows))
    return path


@pytest.fixture
def files(tmp_path):
    """Clean Files B and C, a File C with two errors and a warning, and a FABS file with one error."""
    return {
        "b": write(tmp_path / "file_b.csv", B_HEADER, "097,0100,25.2,100.00", "097,0100,31.0,50.00"),
        "c": write(tmp_path / "file_c.csv", C_HEADER, "097,0100,W91-1,100.00"),
        "c_bad": write(
            tmp_path / "file_c_fixed.csv",
            C_HEADER,
            "097,0100,ERROR,1.00",
            "097,ERROR,W91-2,2.00",
            "097,0100,W91-3,WARNING",
        ),
        "fabs": write(
            tmp_path / "fabs.csv", FABS_HEADER, "02,F-1,2000,10.00", "02,ERROR,2000,20.00", "03,F-3,2000,5.00"
        ),
    }


def new_dabs(hook, files, **kwargs):
    kwargs = {
        "program_activity": files["b"],
        "award_financial": files["c"],
        "cgac_code": "097",
        "reporting_period_start_date": "04/2026",
        "reporting_period_end_date": "04/2026",
        **kwargs,
    }
    return hook.upload_dabs_files(**kwargs)


def finish(server) -> None:
    """Let every validation end (uploads, then the cross-file one)."""
    server.advance(server.broker.validation_seconds * 2 + 1)


def test_a_new_dabs_submission_is_uploaded_whole_and_validated(broker_hook, broker_emulator, files):
    submission = new_dabs(broker_hook, files)
    broker = broker_emulator.broker
    assert broker_emulator.count("upload_dabs_files") == 1
    assert broker.uploaded[submission]["program_activity"] == files["b"].read_bytes()
    assert broker.uploaded[submission]["award_financial"] == files["c"].read_bytes()
    status = broker_hook.check_status(submission)
    assert {
        t: status[t]["status"] for t in ("appropriations", "program_activity", "award_financial", "cross")
    } == {
        "appropriations": "running",
        "program_activity": "running",
        "award_financial": "running",
        "cross": "ready",
    }
    finish(broker_emulator)
    status = broker_hook.check_status(submission)
    assert {
        status[t]["status"] for t in ("appropriations", "program_activity", "award_financial", "cross")
    } == {"finished"}
    assert not any(status[t]["has_errors"] for t in status)
    metadata = broker_hook.submission_metadata(submission)
    assert (
        metadata["reporting_period"],
        metadata["reporting_start_date"],
        metadata["reporting_end_date"],
    ) == (
        "P07/2026",
        "04/01/2026",
        "04/30/2026",
    )
    assert (metadata["publish_status"], metadata["test_submission"], metadata["quarterly_submission"]) == (
        "unpublished",
        False,
        False,
    )


def test_a_correction_replaces_only_the_file_it_sends(broker_hook, broker_emulator, files):
    submission = new_dabs(broker_hook, files)
    finish(broker_emulator)
    b_before = broker_emulator.broker.uploaded[submission]["program_activity"]
    assert (
        broker_hook.upload_dabs_files(existing_submission_id=submission, award_financial=files["c_bad"])
        == submission
    )
    kept = broker_emulator.broker.uploaded[submission]
    assert kept["program_activity"] == b_before
    assert kept["award_financial"] == files["c_bad"].read_bytes()
    finish(broker_emulator)
    status = broker_hook.check_status(submission)
    assert status["award_financial"]["has_errors"] and status["award_financial"]["has_warnings"]
    assert not status["program_activity"]["has_errors"]


def test_error_and_warning_reports_are_fetched_from_signed_urls_with_no_credentials(
    broker_hook, broker_emulator, files, tmp_path
):
    submission = new_dabs(broker_hook, files, award_financial=files["c_bad"])
    finish(broker_emulator)
    broker = broker_emulator.broker
    for warning, expected_rows in ((False, 2), (True, 1)):
        url = broker_hook.report_url(submission, "award_financial", warning=warning)
        saved = broker_hook.download(url, tmp_path / str(warning), credentials=False)
        data = Path(saved.uri).read_bytes()
        assert data == broker.report_bytes(submission, "award_financial", warning=warning)
        rows = list(csv.reader(io.StringIO(data.decode())))
        assert rows[0][:3] == ["Unique ID", "Field Name", "Rule Message"] and len(rows) == 1 + expected_rows
    url = broker_hook.report_url(submission, "program_activity", cross_type="award_financial")
    assert url.startswith(broker_emulator.storage_url)
    assert broker.credential_attempts == []


def test_a_report_url_names_a_cross_file_pair_the_broker_has_or_is_refused_unsent(
    broker_hook, broker_emulator
):
    with pytest.raises(SovInputError, match="award_financial/program_activity is not a cross-file pair"):
        broker_hook.report_url(1001, "award_financial", cross_type="program_activity")
    with pytest.raises(SovInputError, match=r"E and F .* have no validation report"):
        broker_hook.report_url(1001, "executive_compensation")
    assert broker_emulator.count("report_url") == 0


def test_a_fabs_file_is_uploaded_validated_counted_and_published_only_when_confirmed(
    broker_hook, broker_emulator, files
):
    submission = broker_hook.upload_fabs_file(files["fabs"], agency_code="2000")
    finish(broker_emulator)
    assert broker_hook.check_status(submission, "fabs")["fabs"]["has_errors"]
    meta = broker_hook.get_fabs_meta(submission)
    assert (meta["total_rows"], meta["valid_rows"], meta["publish_date"]) == (3, 2, None)
    with pytest.raises(
        SovInputError, match=f"Not sent: publish FABS submission {submission} cannot be undone"
    ):
        broker_hook.publish_fabs_file(submission)
    assert broker_emulator.count("publish_fabs_file") == 0
    assert broker_hook.publish_fabs_file(submission, confirm=True) == {"submission_id": submission}
    assert broker_hook.submission_metadata(submission)["publish_status"] == "published"
    assert broker_hook.get_fabs_meta(submission)["publish_date"] is not None
    with pytest.raises(SovError, match="Submission has already been published"):
        broker_hook.publish_fabs_file(submission, confirm=True)


def test_a_dabs_submission_is_published_then_certified_once(broker_hook, broker_emulator, files):
    submission = new_dabs(broker_hook, files)
    with pytest.raises(SovError, match="cannot be published due to critical errors"):
        broker_hook.publish_dabs_submission(submission, confirm=True)  # still validating
    finish(broker_emulator)
    assert broker_hook.publish_dabs_submission(submission, confirm=True) == {"message": "Success"}
    metadata = broker_hook.submission_metadata(submission)
    assert (metadata["publish_status"], metadata["certified"]) == ("published", False)
    assert broker_hook.certify_dabs_submission(submission, confirm=True) == {"message": "Success"}
    assert broker_hook.submission_metadata(submission)["certified"] is True
    with pytest.raises(SovError, match="certified cannot be recertified separately"):
        broker_hook.certify_dabs_submission(submission, confirm=True)


def test_the_broker_refuses_to_publish_a_test_submission_or_one_with_errors(
    broker_hook, broker_emulator, files
):
    test = new_dabs(broker_hook, files, test_submission=True)
    bad = new_dabs(
        broker_hook,
        files,
        award_financial=files["c_bad"],
        reporting_period_start_date="05/2026",
        reporting_period_end_date="05/2026",
    )
    finish(broker_emulator)
    with pytest.raises(SovError, match="Test submissions cannot be published"):
        broker_hook.publish_and_certify_dabs_submission(test, confirm=True)
    with pytest.raises(SovError, match="critical errors"):
        broker_hook.publish_and_certify_dabs_submission(bad, confirm=True)
    assert broker_hook.submission_metadata(bad)["publish_status"] == "unpublished"


def test_revalidation_runs_the_validations_again(broker_hook, broker_emulator, files):
    submission = new_dabs(broker_hook, files)
    with pytest.raises(SovError, match="still uploading or validating"):
        broker_hook.restart_validation(submission)
    finish(broker_emulator)
    assert broker_hook.restart_validation(submission) == {"message": "Success"}
    assert broker_hook.check_status(submission, "program_activity")["program_activity"]["status"] == "running"


def test_the_brokers_permissions_are_named_in_the_error(broker_hook, broker_emulator, files):
    broker_emulator.broker.dabs_permissions["097"] = "reader"
    with pytest.raises(SovError, match="does not have permissions to write to that agency") as info:
        new_dabs(broker_hook, files)
    assert info.value.http_status == 403
    broker_emulator.broker.fabs_permissions["097"] = "editfabs"
    submission = broker_hook.upload_fabs_file(files["fabs"], agency_code="2000")
    finish(broker_emulator)
    with pytest.raises(SovError, match="does not have permission to access that submission"):
        broker_hook.publish_fabs_file(submission, confirm=True)


BAD_DABS = [
    ({"award_financial": None}, "needs Files B and C: award_financial not given"),
    ({"appropriations": "@b"}, "File A is made by the Broker"),
    ({"frec_code": "1601"}, "exactly one"),
    ({"cgac_code": "97"}, "cgac_code must be 3 digits"),
    ({"reporting_period_start_date": "2026-04"}, "must be a month written MM/YYYY"),
    ({"reporting_period_end_date": "05/2026"}, "A monthly submission must be exactly one month"),
    ({"reporting_period_start_date": "10/2025", "reporting_period_end_date": "10/2025"}, "periods 1 and 2"),
    (
        {
            "reporting_period_start_date": "04/2026",
            "reporting_period_end_date": "06/2026",
            "is_quarter": True,
        },
        "FY22 or later",
    ),
    (
        {"reporting_period_start_date": "06/2026", "reporting_period_end_date": "04/2026"},
        "starts \\(06/2026\\) after it ends",
    ),
    ({"is_quarter": "yes"}, "is_quarter must be True or False"),
    ({"test_submission": 1}, "test_submission must be True or False"),
    ({"program_activity": "@missing.csv"}, "was not found"),
    ({"program_activity": "@empty.csv"}, "is empty"),
    ({"program_activity": "@blank_first_line.csv"}, "has no header row"),
    ({"program_activity": "@book.xlsx"}, "must be a .csv or .txt file"),
]


@pytest.mark.parametrize(("change", "message"), BAD_DABS, ids=[m for _, m in BAD_DABS])
def test_a_bad_dabs_upload_is_refused_before_any_request(
    broker_hook, broker_emulator, files, tmp_path, change, message
):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "blank_first_line.csv").write_text("\n097,0100\n")
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04")
    # "@name": a fixture's file, else a file of that name in tmp_path (missing.csv is not written)
    change = {
        k: (files.get(v[1:], tmp_path / v[1:]) if isinstance(v, str) and v.startswith("@") else v)
        for k, v in change.items()
    }
    with pytest.raises(SovInputError, match=message):
        new_dabs(broker_hook, files, **change)
    assert (
        broker_emulator.count("upload_dabs_files") + broker_emulator.count("upload_dabs_files:redirect") == 0
    )


BAD_OTHER = [
    (lambda h, f: h.upload_dabs_files(existing_submission_id=1001), "at least one file to replace"),
    (
        lambda h, f: h.upload_dabs_files(
            existing_submission_id=1001, award_financial=f["c"], cgac_code="097"
        ),
        "keep its agency",
    ),
    (lambda h, f: h.upload_fabs_file(f["fabs"]), "agency_code .* or existing_submission_id"),
    (lambda h, f: h.upload_fabs_file(f["fabs"], agency_code="20"), "4-character sub-tier agency code"),
    (lambda h, f: h.publish_dabs_submission(1001, confirm="yes"), "cannot be undone, and confirm is 'yes'"),
    (
        lambda h, f: h.publish_and_certify_dabs_submission(0, confirm=True),
        "submission_id must be a positive integer",
    ),
]


@pytest.mark.parametrize(("call", "message"), BAD_OTHER, ids=[m for _, m in BAD_OTHER])
def test_other_bad_submitting_calls_are_refused_before_any_request(
    broker_hook, broker_emulator, files, call, message
):
    broker_emulator.reset_counts()
    with pytest.raises(SovInputError, match=message):
        call(broker_hook, files)
    assert sum(broker_emulator.counts.values()) == 0
