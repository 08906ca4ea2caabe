"""
Bad input to every operator and sensor: an error that names the problem (and the value or file),
raised before anything is sent (the emulator's counters stay at zero).

Each case builds the task as a DAG file would and runs it as Airflow would; whether the check
fires at parse time or when the task starts, no request may leave.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sov.exceptions import SovError
from airflow_provider_sov.operators.broker import (
    DabsSubmissionOperator,
    DFileDownloadOperator,
    DFileGenerateOperator,
    FabsSubmissionOperator,
    PublishedFilesDownloadOperator,
    SubmissionPublishOperator,
    SubmissionReportsDownloadOperator,
)
from airflow_provider_sov.operators.sov import (
    SovAddLocationsOperator,
    SovCreateSubmissionOperator,
    SovDownloadOutputsOperator,
    SovGetOrCreateOutputOperator,
    SovInitiateUpdateOperator,
    SovParseOperator,
    SovStartUpdateOperator,
    SovUpdateOperator,
)
from airflow_provider_sov.sensors.broker import DFileGenerationSensor, SubmissionValidationSensor
from airflow_provider_sov.sensors.sov import SovOutputSensor, SovParseSensor, SovUpdateSensor
from tests.conftest import EXAMPLE_CSV, NEW_SOV_CSV
from tests.harness import make_context
from tests.reliability.report import REPORT

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SOV = "s-no-ping-hggcsk"
SUD = "s-no-ping-hggcsk-r001"
D1 = {"start": "10/01/2025", "end": "12/31/2025"}


def csv(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def workbook(folder: Path, name: str = "sov.xlsx", data: bytes = b"a workbook") -> Path:
    return csv(folder, name, data)


#: A DABS submission's month, and Files B and C good enough to upload.
PERIOD = {"reporting_period_start_date": "04/2026", "reporting_period_end_date": "04/2026"}


def _b(folder: Path) -> Path:
    return csv(folder, "file_b.csv", b"AgencyIdentifier,ObjectClass\n097,25.2\n")


def _c(folder: Path) -> Path:
    return csv(folder, "file_c.csv", b"AgencyIdentifier,PIID\n097,W91-1\n")


#: (what is wrong, the task, what the error must say). ``t`` is the test's temporary folder.
CASES: list[tuple[str, Callable[[Path], Any], str]] = [
    # --- IDs ---------------------------------------------------------------------------------------
    ("empty SOV ID", lambda t: SovUpdateOperator(task_id="x", sov_id="", destination=t), "sov_id is empty"),
    (
        "SOV ID with a slash",
        lambda t: SovInitiateUpdateOperator(task_id="x", sov_id="s-no/ping"),
        "'s-no/ping' is not a valid ID",
    ),
    (
        "SUD ID with a space",
        lambda t: SovStartUpdateOperator(task_id="x", sud_id="s-no ping-r001"),
        "is not a valid ID",
    ),
    ("SUD ID that is None", lambda t: SovUpdateSensor(task_id="x", sud_id=None), "must be a string"),
    (
        "output request ID with a newline",
        lambda t: SovOutputSensor(task_id="x", request_id="abc\n"),
        "is not a valid ID",
    ),
    ("parse SOV ID empty", lambda t: SovParseSensor(task_id="x", sov_id=""), "sov_id is empty"),
    (
        "submission ID not a number",
        lambda t: DFileGenerateOperator(task_id="x", submission_id="abc", file_type="D1", **D1),
        "submission_id",
    ),
    (
        "submission and job ID both",
        lambda t: DFileDownloadOperator(
            task_id="x", submission_id=1001, file_type="D1", job_id=5000, destination=t
        ),
        "not both",
    ),
    # --- Files and CSV content ------------------------------------------------------------------------
    (
        "locations CSV missing",
        lambda t: SovAddLocationsOperator(task_id="x", sud_id=SUD, locations=[t / "nope.csv"]),
        "nope.csv",
    ),
    (
        "locations CSV empty",
        lambda t: SovAddLocationsOperator(task_id="x", sud_id=SUD, locations=[csv(t, "empty.csv", b"")]),
        "empty.csv is empty",
    ),
    (
        "locations CSV without an identifying column",
        lambda t: SovUpdateOperator(
            task_id="x", sov_id=SOV, locations=[csv(t, "c.csv", b"bldg_name\nHQ\n")], destination=t
        ),
        "no identifying column",
    ),
    (
        "locations CSV not UTF-8",
        lambda t: SovUpdateOperator(
            task_id="x",
            sov_id=SOV,
            locations=[csv(t, "latin.csv", b"item_key,city\nb-1,K\xf6ln\n")],
            destination=t,
        ),
        "latin.csv is not UTF-8",
    ),
    (
        "locations CSV with a ragged row",
        lambda t: SovAddLocationsOperator(
            task_id="x", sud_id=SUD, locations=[csv(t, "r.csv", b"item_key,city\nb-1,A\nb-2\n")]
        ),
        "line 3: 1 fields but the header has 2",
    ),
    (
        "locations CSV with a column twice",
        lambda t: SovAddLocationsOperator(
            task_id="x", sud_id=SUD, locations=[csv(t, "d.csv", b"item_key,city,city\nb-1,A,B\n")]
        ),
        "'city' appears twice",
    ),
    (
        "locations CSV header only",
        lambda t: SovAddLocationsOperator(
            task_id="x", sud_id=SUD, locations=[csv(t, "h.csv", b"item_key\n")]
        ),
        "no data rows",
    ),
    (
        "new SOV without rows",
        lambda t: SovCreateSubmissionOperator(task_id="x", locations=[]),
        "locations must name at least one CSV",
    ),
    (
        "new SOV: the second of two CSVs has no identifying column",
        lambda t: SovCreateSubmissionOperator(
            task_id="x", locations=[NEW_SOV_CSV, csv(t, "rows.csv", b"bldg_name\nHQ\n")], destination=t
        ),
        "rows.csv has no identifying column",
    ),
    (
        "new SOV: output formats as one string",
        lambda t: SovCreateSubmissionOperator(task_id="x", locations=NEW_SOV_CSV, output_formats="json,xlsx"),
        "output_formats must be a list",
    ),
    (
        "new SOV: delegate_to_team not a team",
        lambda t: SovCreateSubmissionOperator(task_id="x", locations=NEW_SOV_CSV, delegate_to_team=True),
        "delegate_to_team must be a team's UUID or ID",
    ),
    (
        "new SOV: extra_data key with a space",
        lambda t: SovCreateSubmissionOperator(
            task_id="x", locations=NEW_SOV_CSV, extra_data={"insured name": "Harbor"}
        ),
        "are not plain identifiers",
    ),
    (
        "new SOV: empty document type",
        lambda t: SovCreateSubmissionOperator(task_id="x", locations=NEW_SOV_CSV, document_type=" "),
        "document_type must be a non-empty string",
    ),
    (
        "validation wait on a submission ID that is not a number",
        lambda t: SubmissionValidationSensor(task_id="x", submission_id="sub-9"),
        "submission_id must be a positive integer, got 'sub-9'",
    ),
    (
        "validation wait on a file type the Broker does not validate",
        lambda t: SubmissionValidationSensor(task_id="x", submission_id=1001, file_types=["A", "Z"]),
        "'Z' is not a file type the Broker validates",
    ),
    (
        "published files of an unknown type",
        lambda t: PublishedFilesDownloadOperator(
            task_id="x", type="dabz", agency="097", year=2026, period=3, destination=t
        ),
        "type must be one of dabs, fabs, got 'dabz'",
    ),
    (
        "published files without a period",
        lambda t: PublishedFilesDownloadOperator(
            task_id="x", type="dabs", agency="097", year=2026, period=None, destination=t
        ),
        "period missing",
    ),
    (
        "published files of an agency code of two digits",
        lambda t: PublishedFilesDownloadOperator(
            task_id="x", type="fabs", agency="97", year=2026, period=3, destination=t
        ),
        "agency must be a CGAC (3 digits) or FREC (4 digits) code",
    ),
    ("workbook empty", lambda t: SovParseOperator(task_id="x", file=workbook(t, data=b"")), "is empty"),
    ("workbook missing", lambda t: SovParseOperator(task_id="x", file=t / "gone.xlsx"), "gone.xlsx"),
    # --- Formats, types and values --------------------------------------------------------------------
    (
        "empty update type",
        lambda t: SovUpdateOperator(task_id="x", sov_id=SOV, update_type="", destination=t),
        "update_type must be a non-empty string",
    ),
    (
        "empty output format",
        lambda t: SovGetOrCreateOutputOperator(task_id="x", id=SOV, output_format=""),
        "non-empty string",
    ),
    (
        "revision below -1",
        lambda t: SovGetOrCreateOutputOperator(task_id="x", id=SOV, output_format="JSON", revision=-2),
        "below -1",
    ),
    (
        "revision as text",
        lambda t: SovGetOrCreateOutputOperator(task_id="x", id=SOV, output_format="JSON", revision="1"),
        "must be an integer",
    ),
    (
        "extra_data key with a space",
        lambda t: SovStartUpdateOperator(task_id="x", sud_id=SUD, extra_data={"insured name": "Acme"}),
        "not plain identifiers",
    ),
    (
        "extra_data as a list",
        lambda t: SovStartUpdateOperator(task_id="x", sud_id=SUD, extra_data=["Acme"]),
        "must be a dict",
    ),
    (
        "D-file type unknown",
        lambda t: DFileGenerateOperator(task_id="x", submission_id=1001, file_type="D9", **D1),
        "D9",
    ),
    (
        "D-file date in the wrong format",
        lambda t: DFileGenerateOperator(
            task_id="x", submission_id=1001, file_type="D1", start="2025-10-01", end="12/31/2025"
        ),
        "2025-10-01",
    ),
    (
        "D-file dates reversed",
        lambda t: DFileGenerateOperator(
            task_id="x", submission_id=1001, file_type="D1", start="12/31/2025", end="10/01/2025"
        ),
        "after",
    ),
    (
        "D-file date that does not exist",
        lambda t: DFileGenerateOperator(
            task_id="x", submission_id=1001, file_type="D1", start="02/30/2025", end="03/31/2025"
        ),
        "02/30/2025",
    ),
    (
        "detached file without an agency",
        lambda t: DFileGenerateOperator(task_id="x", file_type="D1", **D1),
        "cgac_code",
    ),
    (
        "sensor on an unknown file type",
        lambda t: DFileGenerationSensor(task_id="x", submission_id=1001, file_type="X"),
        "'X'",
    ),
    # --- Destinations ----------------------------------------------------------------------------------
    (
        "download without a destination",
        lambda t: SovDownloadOutputsOperator(task_id="x", sud_id=SUD, destination=""),
        "destination",
    ),
    (
        "D-file download to an empty destination",
        lambda t: DFileDownloadOperator(task_id="x", submission_id=1001, file_type="D1", destination="  "),
        "destination",
    ),
    # --- Connections -----------------------------------------------------------------------------------
    (
        "connection that does not exist",
        lambda t: SovUpdateSensor(task_id="x", sud_id=SUD, sovfixer_conn_id="no_such_conn", deferrable=False),
        "no_such_conn",
    ),
    (
        "connection without a token",
        lambda t: SovUpdateSensor(task_id="x", sud_id=SUD, sovfixer_conn_id="sov_no_token", deferrable=False),
        "has no token",
    ),
    (
        "connection host that is not http(s)",
        lambda t: SovUpdateSensor(task_id="x", sud_id=SUD, sovfixer_conn_id="sov_ftp", deferrable=False),
        "not an http(s) URL",
    ),
    (
        "Broker connection with an unknown auth mode",
        lambda t: DFileGenerateOperator(
            task_id="x", submission_id=1001, file_type="D1", data_act_broker_conn_id="broker_bad_mode", **D1
        ),
        "auth_mode 'kerberos'",
    ),
    (
        "connection timeout that is not a number",
        lambda t: SovUpdateSensor(
            task_id="x", sud_id=SUD, sovfixer_conn_id="sov_bad_timeout", deferrable=False
        ),
        "extra 'read_timeout'",
    ),
    # --- Submitting to the Broker --------------------------------------------------------------------
    (
        "DABS upload without File C",
        lambda t: DabsSubmissionOperator(task_id="x", program_activity=_b(t), cgac_code="097", **PERIOD),
        "needs Files B and C: award_financial not given",
    ),
    (
        "DABS File B empty",
        lambda t: DabsSubmissionOperator(
            task_id="x",
            program_activity=csv(t, "b.csv", b""),
            award_financial=_c(t),
            cgac_code="097",
            **PERIOD,
        ),
        "b.csv is empty",
    ),
    (
        "DABS File C with no header row",
        lambda t: DabsSubmissionOperator(
            task_id="x",
            program_activity=_b(t),
            award_financial=csv(t, "c.csv", b"\n097,1\n"),
            cgac_code="097",
            **PERIOD,
        ),
        "c.csv has no header row",
    ),
    (
        "DABS file as a workbook",
        lambda t: DabsSubmissionOperator(
            task_id="x", program_activity=workbook(t), award_financial=_c(t), cgac_code="097", **PERIOD
        ),
        "must be a .csv or .txt file",
    ),
    (
        "DABS agency code of 2 digits",
        lambda t: DabsSubmissionOperator(
            task_id="x", program_activity=_b(t), award_financial=_c(t), cgac_code="97", **PERIOD
        ),
        "cgac_code must be 3 digits",
    ),
    (
        "DABS two months (not periods 1 and 2)",
        lambda t: DabsSubmissionOperator(
            task_id="x",
            program_activity=_b(t),
            award_financial=_c(t),
            cgac_code="097",
            reporting_period_start_date="04/2026",
            reporting_period_end_date="05/2026",
        ),
        "A monthly submission must be exactly one month",
    ),
    (
        "DABS period as a date, not MM/YYYY",
        lambda t: DabsSubmissionOperator(
            task_id="x",
            program_activity=_b(t),
            award_financial=_c(t),
            cgac_code="097",
            reporting_period_start_date="2026-04-01",
            reporting_period_end_date="04/2026",
        ),
        "must be a month written MM/YYYY",
    ),
    (
        "DABS quarterly in FY26",
        lambda t: DabsSubmissionOperator(
            task_id="x",
            program_activity=_b(t),
            award_financial=_c(t),
            cgac_code="097",
            reporting_period_start_date="01/2026",
            reporting_period_end_date="03/2026",
            is_quarter=True,
        ),
        "Quarterly submissions may not be created for FY22 or later",
    ),
    (
        "DABS test_submission not a boolean",
        lambda t: DabsSubmissionOperator(
            task_id="x",
            program_activity=_b(t),
            award_financial=_c(t),
            cgac_code="097",
            test_submission="maybe",
            **PERIOD,
        ),
        "test_submission must be True or False",
    ),
    (
        "FABS sub-tier code of 2 characters",
        lambda t: FabsSubmissionOperator(task_id="x", fabs=_c(t), agency_code="20"),
        "4-character sub-tier agency code",
    ),
    (
        "FABS file missing",
        lambda t: FabsSubmissionOperator(task_id="x", fabs=t / "nope.csv", agency_code="2000"),
        "nope.csv was not found",
    ),
    (
        "reports download into a blank folder",
        lambda t: SubmissionReportsDownloadOperator(task_id="x", submission_id=1001, destination=" "),
        "destination is empty",
    ),
    (
        "publish without confirm",
        lambda t: SubmissionPublishOperator(task_id="x", submission_id=1001),
        "cannot be undone, and this task's confirm is False",
    ),
    (
        "publish with confirm='yes'",
        lambda t: SubmissionPublishOperator(task_id="x", submission_id=1001, confirm="yes"),
        "confirm is 'yes', not True",
    ),
    (
        "publish an unknown action",
        lambda t: SubmissionPublishOperator(
            task_id="x", submission_id=1001, action="unpublish", confirm=True
        ),
        "action must be one of publish, certify, publish_and_certify",
    ),
]

BAD_CONNECTIONS = {
    "SOV_NO_TOKEN": {"conn_type": "sovfixer", "host": "http://127.0.0.1:9"},
    "SOV_FTP": {"conn_type": "sovfixer", "host": "ftp://files.example", "password": "tok-123"},
    "SOV_BAD_TIMEOUT": {
        "conn_type": "sovfixer",
        "host": "http://127.0.0.1:9",
        "password": "tok-123",
        "extra": {"read_timeout": "soon"},
    },
    "BROKER_BAD_MODE": {
        "conn_type": "data_act_broker",
        "host": "http://127.0.0.1:9",
        "login": "me",
        "password": "pw-123",
        "extra": {"auth_mode": "kerberos"},
    },
}


def test_the_table_is_at_least_thirty_cases_over_every_operator_and_sensor():
    from airflow_provider_sov.operators import broker, sov
    from airflow_provider_sov.sensors import broker as broker_sensors
    from airflow_provider_sov.sensors import sov as sov_sensors

    assert len(CASES) >= 30
    built = {type(e) for e in _tasks_for_types()}
    from airflow.sdk import BaseOperator

    public = {
        cls
        for module in (sov, broker, sov_sensors, broker_sensors)
        for cls in vars(module).values()
        if isinstance(cls, type)
        and issubclass(cls, BaseOperator)
        and cls.__module__.startswith(module.__name__)  # operators.sov re-exports sov_update, ...
        and "template_fields" in vars(cls)  # a task, not a shared base such as SovJobSensor
    }
    assert len(public) == 20
    assert public <= built, public - built


def _tasks_for_types() -> list[Any]:
    """One task of each class in the table, built with valid arguments (none is run)."""
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    return [
        SovInitiateUpdateOperator(task_id="a", sov_id=SOV),
        SovAddLocationsOperator(task_id="b", sud_id=SUD, locations=[EXAMPLE_CSV]),
        SovStartUpdateOperator(task_id="c", sud_id=SUD),
        SovDownloadOutputsOperator(task_id="d", sud_id=SUD, destination=folder),
        SovUpdateOperator(task_id="e", sov_id=SOV, destination=folder),
        SovGetOrCreateOutputOperator(task_id="f", id=SOV, output_format="JSON"),
        SovParseOperator(task_id="g", file=workbook(folder)),
        SovCreateSubmissionOperator(task_id="n", locations=NEW_SOV_CSV),
        SovUpdateSensor(task_id="h", sud_id=SUD),
        SovOutputSensor(task_id="i", request_id="r-1"),
        SovParseSensor(task_id="j", sov_id=SOV),
        DFileGenerateOperator(task_id="k", submission_id=1001, file_type="D1", **D1),
        DFileDownloadOperator(task_id="l", submission_id=1001, file_type="D1", destination=folder),
        DFileGenerationSensor(task_id="m", submission_id=1001, file_type="D1"),
        SubmissionValidationSensor(task_id="o", submission_id=1001),
        PublishedFilesDownloadOperator(
            task_id="p", type="dabs", agency="097", year=2026, period=3, destination=folder
        ),
        DabsSubmissionOperator(
            task_id="q", program_activity=_b(folder), award_financial=_c(folder), cgac_code="097", **PERIOD
        ),
        FabsSubmissionOperator(task_id="r", fabs=_c(folder), agency_code="2000"),
        SubmissionReportsDownloadOperator(task_id="s", submission_id=1001, destination=folder),
        SubmissionPublishOperator(task_id="u", submission_id=1001, confirm=True),
    ]


@pytest.mark.parametrize(("problem", "build", "says"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_any_request(emu, monkeypatch, tmp_path, problem, build, says):
    for name, conn in BAD_CONNECTIONS.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(conn))
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_CONN", raising=False)
    emu.reset_counts()
    task_name, error = "?", None
    try:
        task = build(tmp_path)
        task_name = type(task).__name__
        task.execute(make_context())
    except Exception as exc:
        error = exc
    sent = sum(emu.counts.values())
    REPORT.row(
        "Bad input (refused before any request)",
        input=problem,
        task=task_name if task_name != "?" else "(refused when the DAG is parsed)",
        error=(str(error).split(". ")[0] if error else "NONE")[:100],
        **{"requests sent (must be 0)": sent},
    )
    assert isinstance(error, SovError), error
    assert says in str(error)
    assert sent == 0
