"""
The Broker's submission lifecycle: validations waited on in every mode, the submission's own
period and publish status, the submission list and published files, against the emulated Broker.
"""

from __future__ import annotations

import pytest

from airflow_provider_sov.exceptions import SovError, SovInputError, SovJobFailedError
from airflow_provider_sov.operators.broker import DFileGenerateOperator, PublishedFilesDownloadOperator
from airflow_provider_sov.sensors.broker import SubmissionValidationSensor
from tests.conftest import SENSOR_MODES
from tests.harness import finish_after_reads, make_context, run_task

UPLOADS = ("appropriations", "program_activity", "award_financial")


def validation_sensor(**kwargs) -> SubmissionValidationSensor:
    kwargs.setdefault("poke_interval", 0.2)
    kwargs.setdefault("timeout", 30)
    return SubmissionValidationSensor(task_id="validated", **kwargs)


def hook():
    from airflow_provider_sov.hooks.broker import DataActBrokerHook

    return DataActBrokerHook()


# --- Waiting for validations ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_the_sensor_waits_until_the_uploads_are_validated_in_every_mode(broker_live, mode):
    broker_live.broker.add_submission(4001)
    broker_live.broker.start_validation(4001, 600.0, warnings=2)
    # The validations end once the sensor has seen them running (a condition, not the clock: on a
    # busy machine a second can pass before the first read).
    finishing = finish_after_reads(broker_live, "check_status", 1, 600.0)
    result = run_task(validation_sensor(submission_id=4001, **mode), make_context())
    finishing.join(timeout=5)
    assert (result["kind"], result["job_id"], result["status"], result["succeeded"]) == (
        "validation",
        "4001",
        "finished",
        True,
    )
    assert result["file_types"] == list(UPLOADS)
    assert {t: v["status"] for t, v in result["validations"].items()} == dict.fromkeys(UPLOADS, "finished")
    assert result["number_of_errors"] == 0 and result["number_of_warnings"] == 6  # 2 in each of A, B, C
    assert broker_live.count("check_status") >= 2  # it did wait: running first, then finished
    assert broker_live.count("submission_metadata") == 1  # the counts, read once, at the end


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_a_validation_that_found_errors_fails_with_the_brokers_counts(broker_live, mode):
    broker_live.broker.add_submission(4002)
    broker_live.broker.start_validation(4002, 0.5, file_types=["award_financial"], errors=7, warnings=1)
    with pytest.raises(SovJobFailedError, match=r"found errors \(award_financial\)") as info:
        run_task(validation_sensor(submission_id=4002, **mode), make_context())
    assert "7 error(s) and 1 warning(s)" in str(info.value)
    assert "error reports list each row" in info.value.hint


def test_a_failed_validation_fails_with_its_message(broker_live):
    broker_live.broker.add_submission(4003)
    broker_live.broker.start_validation(4003, 0.3, file_types=["program_activity"], fail="Header row invalid")
    with pytest.raises(SovJobFailedError, match="program_activity: Header row invalid"):
        run_task(validation_sensor(submission_id=4003, mode="poke"), make_context())


def test_warnings_pass_unless_told_otherwise(broker_live, capsys):
    broker_live.broker.add_submission(4004)
    broker_live.broker.start_validation(4004, 0.2, file_types=["appropriations"], warnings=3)
    with pytest.raises(SovJobFailedError, match=r"found warnings .*fail_on_warnings=True"):
        run_task(validation_sensor(submission_id=4004, fail_on_warnings=True, mode="poke"), make_context())
    result = run_task(validation_sensor(submission_id=4004, mode="poke"), make_context())
    assert result["succeeded"] is True and result["number_of_warnings"] == 3


def test_cross_file_validation_before_e_and_f(broker_live):
    """Submission 1003's uploads are validated, its cross-file validation is not: E waits on it."""
    broker = broker_live.broker
    broker.start_validation(1003, 0.5, file_types=["cross"])
    result = run_task(
        validation_sensor(submission_id=1003, file_types=["cross"], mode="poke"), make_context()
    )
    assert result["file_types"] == ["cross"] and result["validations"]["cross"]["status"] == "finished"
    assert hook().generate_file(1003, "E")["status"] in ("waiting", "invalid")  # no longer refused


def test_a_file_type_the_submission_lacks_fails_at_once(broker_emulator):
    broker_emulator.broker.add_submission(4005, fabs=True)
    with pytest.raises(SovJobFailedError, match="has no appropriations, program_activity, award_financial"):
        run_task(
            validation_sensor(submission_id=4005, file_types=["A", "B", "C"], mode="poke"), make_context()
        )
    # Its own file, by default: FABS.
    result = run_task(validation_sensor(submission_id=4005, mode="poke"), make_context())
    assert result["file_types"] == ["fabs"]


def test_bad_arguments_are_refused_when_the_dag_is_parsed():
    with pytest.raises(SovInputError, match="submission_id must be a positive integer"):
        SubmissionValidationSensor(task_id="v", submission_id="abc")
    with pytest.raises(SovInputError, match="'G' is not a file type the Broker validates"):
        SubmissionValidationSensor(task_id="v", submission_id=1, file_types=["A", "G"])
    with pytest.raises(SovInputError, match="fail_on_warnings must be True or False"):
        SubmissionValidationSensor(task_id="v", submission_id=1, fail_on_warnings="yes")


# --- The submission's own period, and the republish guard ------------------------------------------


def generate(tmp_path=None, **kwargs) -> DFileGenerateOperator:
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("invalid_grace", 2.0)
    return DFileGenerateOperator(task_id="generate", destination=tmp_path, **kwargs)


def test_d_files_take_the_submissions_reporting_period_when_none_is_given(broker_live, tmp_path, capsys):
    broker_live.broker.add_submission(
        4010, reporting_start_date="01/01/2026", reporting_end_date="03/31/2026", reporting_period="Q2/2026"
    )
    result = run_task(generate(tmp_path, submission_id=4010, file_type="D1"), make_context())
    assert (result["start"], result["end"], result["status"]) == ("01/01/2026", "03/31/2026", "finished")
    assert "covers its reporting period Q2/2026: 01/01/2026 to 03/31/2026" in capsys.readouterr().out
    assert len(result["files"]) == 1


def test_one_date_without_the_other_is_refused_when_the_dag_is_parsed():
    with pytest.raises(SovInputError, match="or neither, for the submission's own reporting period"):
        DFileGenerateOperator(task_id="g", submission_id=1001, file_type="D1", start="10/01/2025")
    with pytest.raises(SovInputError, match="D1 files need start and end dates"):  # detached: no period
        DFileGenerateOperator(task_id="g", cgac_code="097", file_type="D1")


@pytest.mark.parametrize(
    ("status", "certified", "says"),
    [
        ("published", True, "its publish status is 'published' and it is certified"),
        ("updated", False, "its publish status is 'updated'"),
        ("unpublished", True, "its publish status is 'unpublished' and it is certified"),
    ],
)
def test_a_published_submission_is_refused_before_any_generation(broker_emulator, status, certified, says):
    broker_emulator.broker.add_submission(4020, publish_status=status, certified=certified)
    task = generate(submission_id=4020, file_type="D2", start="10/01/2025", end="12/31/2025")
    with pytest.raises(SovInputError, match=says) as info:
        run_task(task, make_context())
    assert "allow_republish=True" in info.value.hint and "set it back to 'updated'" in str(info.value)
    assert broker_emulator.count("generate_file") == 0
    assert broker_emulator.broker.submissions[4020].publish_status == status  # untouched


def test_allow_republish_regenerates_and_the_broker_marks_it_updated(broker_live):
    broker_live.broker.add_submission(4021, publish_status="published", certified=True)
    result = run_task(generate(submission_id=4021, file_type="D1", allow_republish=True), make_context())
    assert result["status"] == "finished"
    assert hook().submission_metadata(4021)["publish_status"] == "updated"  # to be certified again
    # E and F do not touch the publish status, and are never refused for it.
    broker_live.broker.add_submission(4022, publish_status="published", certified=True)
    run_task(generate(submission_id=4022, file_type="E"), make_context())
    assert broker_live.broker.submissions[4022].publish_status == "published"


def test_dates_given_and_allow_republish_need_no_metadata_read(broker_live):
    run_task(
        generate(
            submission_id=1001, file_type="D1", start="10/01/2025", end="12/31/2025", allow_republish=True
        ),
        make_context(),
    )
    assert broker_live.count("submission_metadata") == 0


# --- Finding submissions and published files ------------------------------------------------------


def test_list_submissions_and_every_page(broker_emulator):
    for sid in range(5001, 5013):
        broker_emulator.broker.add_submission(sid)
    broker_emulator.broker.publish(5005)
    h = hook()
    page = h.list_submissions(page=2, limit=5, order="asc")
    assert page["total"] == 15  # the three seeded ones and these twelve
    assert [s["submission_id"] for s in page["submissions"]] == [5003, 5004, 5005, 5006, 5007]
    every = [s["submission_id"] for s in h.iter_submissions(limit=4, order="asc")]
    assert every == sorted({1001, 1002, 1003, *range(5001, 5013)})
    assert [s["submission_id"] for s in h.list_submissions(published=True)["submissions"]] == [5005]
    with pytest.raises(SovInputError, match="published must be one of mixed, true, false"):
        h.list_submissions(published="yes")


def test_published_files_are_downloaded_from_urls_signed_for_each(broker_emulator, tmp_path, capsys):
    broker = broker_emulator.broker
    broker.add_submission(6001, cgac_code="020", reporting_fiscal_year=2026, reporting_fiscal_period=6)
    broker.publish(6001, files=("A", "B", "C", "D1"))
    task = PublishedFilesDownloadOperator(
        task_id="published", type="dabs", agency="020", year=2026, period=6, destination=tmp_path
    )
    result = run_task(task, make_context())
    assert (result["kind"], result["job_id"], result["status"], result["succeeded"]) == (
        "published",
        "6001",
        "published",
        True,
    )
    assert sorted(f["filetype"] for f in result["files"]) == ["A", "B", "C", "D1"]
    for f in result["files"]:
        assert (tmp_path / f["filename"]).read_bytes().startswith(b"file,submission\n")
    assert broker_emulator.count("get_published_file") == 4  # one signed URL per file, just before it
    assert "no ID to fetch it by" in capsys.readouterr().out  # the agency comments file
    assert broker.credential_attempts == []  # storage saw no credential
    only = PublishedFilesDownloadOperator(
        task_id="only_c",
        type="dabs",
        agency="020",
        year=2026,
        period=6,
        destination=tmp_path / "c",
        file_types=["C"],
    )
    assert [f["filetype"] for f in run_task(only, make_context())["files"]] == ["C"]


@pytest.mark.parametrize("refusals", [1, 2])
def test_a_published_file_storage_refuses_is_signed_afresh_once(broker_emulator, tmp_path, refusals):
    from airflow_provider_sov.exceptions import SovAuthError

    broker = broker_emulator.broker
    broker.add_submission(6002, cgac_code="020", reporting_fiscal_year=2026, reporting_fiscal_period=6)
    broker.publish(6002, files=("C",))
    broker_emulator.inject("storage", "status", status=403, times=refusals)
    task = PublishedFilesDownloadOperator(
        task_id="published", type="dabs", agency="020", year=2026, period=6, destination=tmp_path
    )
    if refusals == 1:  # an expired URL: a new one is signed, and the file arrives
        assert [f["filetype"] for f in run_task(task, make_context())["files"]] == ["C"]
    else:
        with pytest.raises(SovAuthError, match=r"twice \(HTTP 403\), even at a freshly signed URL") as info:
            run_task(task, make_context())
        assert "clock" in str(info.value) and list(tmp_path.iterdir()) == []
    assert broker_emulator.count("get_published_file") == 2  # signed once more, never a third time


def test_no_published_files_for_the_period_fails_saying_what_was_looked_for(broker_emulator, tmp_path):
    task = PublishedFilesDownloadOperator(
        task_id="published", type="dabs", agency="097", year=2026, period=9, destination=tmp_path
    )
    with pytest.raises(SovJobFailedError, match="no published dabs files of agency 097 FY2026 P09"):
        run_task(task, make_context())


def test_published_files_arguments_are_checked_when_the_dag_is_parsed(tmp_path):
    with pytest.raises(SovInputError, match="type must be one of dabs, fabs"):
        PublishedFilesDownloadOperator(
            task_id="p", type="abs", agency="097", year=2026, period=6, destination=tmp_path
        )
    with pytest.raises(SovInputError, match="agency must be a CGAC"):
        PublishedFilesDownloadOperator(
            task_id="p", type="dabs", agency="97", year=2026, period=6, destination=tmp_path
        )
    with pytest.raises(SovInputError, match="year, period missing"):
        PublishedFilesDownloadOperator(
            task_id="p", type="dabs", agency="097", year=None, period=None, destination=tmp_path
        )


def test_the_drill_down_refuses_a_level_without_the_one_above(broker_emulator):
    with pytest.raises(SovInputError, match="year needs agency too"):
        hook().list_latest_published_files("dabs", year=2026)
    assert broker_emulator.count("list_latest_published_files") == 0
    broker_emulator.broker.add_submission(6002, cgac_code="020")
    broker_emulator.broker.publish(6002)
    assert hook().list_latest_published_files("dabs") == [
        {"id": "020", "label": "020 - Department of the Treasury (TREAS)"}
    ]
    assert hook().list_latest_published_files("dabs", agency="020") == [{"id": 2026, "label": "2026"}]
    assert hook().list_latest_published_files("dabs", agency="020", year=2026) == [
        {"id": 3, "label": "P03/Q1"}
    ]


# --- A Broker without AWS storage -----------------------------------------------------------------


def test_a_local_brokers_file_path_is_said_plainly_not_fetched(broker_live, tmp_path):
    """
    Without AWS (``use_aws: false``) ``check_file_generation`` (``dataactbroker/helpers/generation_helper.py``)
    answers the job's file path as ``url``; the provider says so instead of fetching it off the API host.
    """
    broker_live.broker.local_files = True
    with pytest.raises(SovError, match="answered a file path, not a download URL") as info:
        run_task(
            generate(tmp_path, submission_id=1001, file_type="D1", start="10/01/2025", end="12/31/2025"),
            make_context(),
        )
    assert "use_aws: false" in str(info.value) and "/data-act/backend/tmp/" in str(info.value)
    assert broker_live.count("storage") == 0 and list(tmp_path.iterdir()) == []
