"""Bad Broker input fails with an error naming the problem, before any request is sent."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks.broker import DataActBrokerHook, generation_request
from airflow_provider_sov.operators.broker import DFileDownloadOperator, DFileGenerateOperator
from airflow_provider_sov.sensors.broker import DFileGenerationSensor
from tests.harness import make_context

D = {"start": "10/01/2025", "end": "12/31/2025"}

# (arguments to DFileGenerateOperator, what the error must say)
BAD_GENERATIONS = [
    ({"submission_id": 1001, "file_type": "A"}, "file_type must be one of D1, D2, E, F within a submission"),
    ({"file_type": "E", "cgac_code": "097"}, "file_type must be one of D1, D2, A, BOC for a detached file"),
    ({"submission_id": 1001, "file_type": "D3", **D}, "got 'D3'"),
    ({"submission_id": 0, "file_type": "E"}, "submission_id must be a positive integer, got 0"),
    ({"submission_id": "12a", "file_type": "E"}, "submission_id must be a positive integer, got '12a'"),
    ({"submission_id": True, "file_type": "E"}, "submission_id must be a positive integer, got True"),
    (
        {"submission_id": 1001, "file_type": "D1", "start": "10/01/2025"},
        "(or neither, for the submission's own",
    ),
    ({"cgac_code": "097", "file_type": "D1"}, "D1 files need start and end dates (MM/DD/YYYY), got"),
    ({"submission_id": 1001, "file_type": "D1", "start": "2025-10-01", "end": "12/31/2025"}, "MM/DD/YYYY"),
    ({"submission_id": 1001, "file_type": "D1", "start": "1/1/2025", "end": "12/31/2025"}, "MM/DD/YYYY"),
    ({"submission_id": 1001, "file_type": "D2", "start": "02/30/2024", "end": "12/31/2024"}, "not a real"),
    ({"submission_id": 1001, "file_type": "D1", "start": "12/31/2025", "end": "10/01/2025"}, "is after end"),
    ({"submission_id": 1001, "file_type": "E", **D}, "start does not apply to E files"),
    ({"submission_id": 1001, "file_type": "D1", "agency_type": "paying", **D}, "agency_type must be one of"),
    ({"submission_id": 1001, "file_type": "D1", "file_format": "xlsx", **D}, "file_format must be one of"),
    ({"submission_id": 1001, "file_type": "F", "file_format": "txt"}, "F files are always CSV"),
    (
        {"submission_id": 1001, "file_type": "E", "agency_type": "funding"},
        "agency_type applies only to D1/D2",
    ),
    ({"file_type": "D1", **D}, "exactly one of cgac_code (3 digits) or frec_code (4 digits)"),
    ({"file_type": "D1", "cgac_code": "097", "frec_code": "1601", **D}, "exactly one of cgac_code"),
    ({"file_type": "D1", "cgac_code": "97", **D}, "cgac_code must be three digits"),
    ({"file_type": "D1", "frec_code": "160", **D}, "frec_code must be four digits"),
    (
        {"submission_id": 1001, "file_type": "D1", "cgac_code": "097", **D},
        "cgac_code applies only to detached",
    ),
    ({"file_type": "A", "cgac_code": "097", "year": 2025}, "A files need year (YYYY) and period (2-12)"),
    ({"file_type": "BOC", "cgac_code": "097", "year": 25, "period": 3}, "year must be four digits"),
    ({"file_type": "A", "cgac_code": "097", "year": 2025, "period": 1}, "period must be 2 to 12"),
    ({"file_type": "A", "cgac_code": "097", "year": 2025, "period": 13}, "period must be 2 to 12"),
    ({"file_type": "D1", "cgac_code": "097", "year": 2025, **D}, "year applies only to A and BOC"),
    ({"file_type": "D1", "cgac_code": "097", "element_numbers": "yes", **D}, "element_numbers must be True"),
    ({"submission_id": 1001, "file_type": "D1", "element_numbers": True, **D}, "only to detached D1/D2"),
    ({"submission_id": 1001, "file_type": "E", "destination": "  "}, "destination is empty"),
    (
        {"submission_id": 1001, "file_type": "E", "destination": "/tmp/x", "wait_for_completion": False},
        "needs",
    ),
    ({"submission_id": 1001, "file_type": "E", "poll_interval": 0}, "poll_interval must be a positive"),
    ({"submission_id": 1001, "file_type": "E", "timeout": -1}, "timeout must not be negative"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_GENERATIONS, ids=[m for _, m in BAD_GENERATIONS])
def test_bad_generation_fails_when_the_dag_is_parsed(broker_emulator, kwargs, message):
    with pytest.raises(SovInputError) as info:
        DFileGenerateOperator(task_id="g", **kwargs)
    assert message in str(info.value)
    assert sum(broker_emulator.counts.values()) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"), BAD_GENERATIONS[:28], ids=[m for _, m in BAD_GENERATIONS[:28]]
)
def test_bad_templated_generation_fails_before_any_request(broker_emulator, kwargs, message):
    """Templated values are checked once rendered, still before the first call."""
    op = DFileGenerateOperator(task_id="g", **{**kwargs, "destination": "{{ params.out }}"})
    op.destination = None  # as rendered
    with pytest.raises(SovInputError) as info:
        op.execute(make_context())
    assert message in str(info.value)
    assert sum(broker_emulator.counts.values()) == 0


def test_the_hook_checks_the_same_rules(broker_emulator):
    hook = DataActBrokerHook()
    with pytest.raises(SovInputError, match="not a real calendar date"):
        hook.generate_file(1001, "D1", "02/29/2025", "03/31/2025")
    with pytest.raises(SovInputError, match="job_id must be a positive integer"):
        hook.check_detached_generation_status("-4")
    with pytest.raises(SovInputError, match="file_type must be one of D1, D2, E, F"):
        hook.check_generation_status(1001, "BOC")
    assert sum(broker_emulator.counts.values()) == 0


def test_dates_may_be_date_objects_and_file_types_any_case():
    checked = generation_request(
        submission_id="1001", file_type="d1", start=dt.date(2025, 10, 1), end=dt.datetime(2025, 12, 31, 9)
    )
    assert checked.body == {
        "file_type": "D1",
        "submission_id": 1001,
        "start": "10/01/2025",
        "end": "12/31/2025",
        "agency_type": "awarding",
        "file_format": "csv",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "Give submission_id and file_type"),
        ({"submission_id": 1001}, "file_type is required with submission_id 1001"),
        ({"submission_id": 1001, "file_type": "E", "job_id": 5}, "not both"),
        ({"job_id": "abc"}, "job_id must be a positive integer"),
        ({"job_id": 5, "file_type": "E"}, "for a detached file"),
    ],
)
def test_bad_waits_and_downloads_fail_when_the_dag_is_parsed(broker_emulator, kwargs, message):
    with pytest.raises(SovInputError, match=message):
        DFileGenerationSensor(task_id="s", **kwargs)
    with pytest.raises(SovInputError, match=message):
        DFileDownloadOperator(task_id="d", destination="/tmp/out", **kwargs)
    assert sum(broker_emulator.counts.values()) == 0


def test_a_download_needs_a_destination():
    with pytest.raises(SovInputError, match="destination is required"):
        DFileDownloadOperator(task_id="d", destination=None, submission_id=1, file_type="D1")
