"""
What the DATA Act Broker's submitting routes accept, checked before a file is sent: the files (there,
not empty, a header row, ``.csv`` or ``.txt``), the agency codes, the reporting period's rules and
the report a URL is asked for. The rules and their words are the Broker's own
(``validate_upload_dabs_files``, ``validate_submit_file_params``, ``check_submission_dates`` and
``submission_report_url`` in ``dataactbroker/handlers/fileHandler.py``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from airflow_provider_sov._shared.files import as_source
from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks.broker_rules import check_int_id

#: The DABS files a submission is uploaded with (Files A, B, C), by their form field.
DABS_FILES = {"appropriations": "A", "program_activity": "B", "award_financial": "C"}
#: The file types with validation reports (``report_url``'s ``file_type``), and their letters.
REPORT_FILES = {
    "appropriations": "A",
    "program_activity": "B",
    "award_financial": "C",
    "award_procurement": "D1",
    "award": "D2",
    "fabs": "FABS",
}
#: The cross-file reports: (``file_type``, ``cross_type``), A-B, B-C, C-D1 and C-D2.
CROSS_PAIRS = (
    ("appropriations", "program_activity"),
    ("program_activity", "award_financial"),
    ("award_financial", "award_procurement"),
    ("award_financial", "award"),
)
_PERIOD = re.compile(r"(\d{2})/(\d{4})")
_CGAC, _FREC, _SUB_TIER = re.compile(r"\d{3}"), re.compile(r"\d{4}"), re.compile(r"[0-9A-Za-z]{4}")
#: How much of a file is read to find its header row.
_HEAD = 64 * 1024
MONTHLY_RULE = (
    "A monthly submission must be exactly one month, except periods 1 and 2 (October and November), "
    "which are submitted together as 10/YYYY-11/YYYY."
)


@dataclass(frozen=True)
class Upload:
    """A checked upload: its form fields, then its files as ``(field, path, name, content type)``."""

    fields: tuple[tuple[str, str], ...]
    files: tuple[tuple[str, Any, str, str], ...]
    existing_submission_id: int | None = None


def check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise SovInputError(f"{name} must be True or False, got {value!r}.")
    return value


def upload_tag(task_instance: str) -> str:
    """
    The mark a task puts in the names of the files it uploads (``af-`` and 12 hex digits of its task
    instance's name): the Broker keeps those names, so a retry whose answer was lost can find the
    submission it made (``list_submissions``' ``file_names`` filter).
    """
    import hashlib

    return "af-" + hashlib.sha256(task_instance.encode()).hexdigest()[:12]


def tagged(name: str, tag: str | None) -> str:
    """``file_b.csv`` sent as ``file_b.<tag>.csv`` (the extension stays last: the Broker checks it)."""
    if not tag:
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{tag}.{ext}" if dot else f"{name}.{tag}"


def check_upload_file(source: object, what: str) -> tuple[Any, str]:
    """A file to upload: there, a file, not empty, ``.csv`` or ``.txt``, its first line a header row."""
    path = as_source(source, what)
    name = str(path.name)
    if name.rsplit(".", 1)[-1].lower() not in ("csv", "txt") or "." not in name:
        raise SovInputError(
            f"{what} {source!s} must be a .csv or .txt file (the Broker takes no other).",
            hint="Export it as comma-separated .csv, or pipe-delimited .txt.",
        )
    with path.open("rb") as handle:
        head = handle.read(_HEAD)
    if not head:
        raise SovInputError(f"{what} {source!s} is empty.", hint="Check the export that wrote it.")
    first = head.decode("utf-8-sig", errors="replace").splitlines()[0] if head.strip() else ""
    if not first.strip(" ,|\t\r"):
        raise SovInputError(
            f"{what} {source!s} has no header row: its first line is blank.",
            hint="The Broker reads the column names from the first line.",
        )
    return path, name


def check_period(value: object, name: str) -> dt.date:
    """``MM/YYYY`` (or a date: its month), as the Broker's ``reporting_period_*_date`` take it."""
    if isinstance(value, dt.date):
        return value.replace(day=1)
    found = _PERIOD.fullmatch(value.strip()) if isinstance(value, str) else None
    if found is None or not 1 <= int(found.group(1)) <= 12:
        raise SovInputError(f"{name} must be a month written MM/YYYY (e.g. '04/2026'), got {value!r}.")
    return dt.date(int(found.group(2)), int(found.group(1)), 1)


def fiscal_year(end: dt.date) -> int:
    """The federal fiscal year a month belongs to (October starts the next one)."""
    return end.year + 1 if end.month >= 10 else end.year


def check_reporting_period(start: object, end: object, is_quarter: bool) -> tuple[str, str]:
    """A submission's first and last month, by the Broker's rules; returned ``MM/YYYY``."""
    first, last = (
        check_period(start, "reporting_period_start_date"),
        check_period(end, "reporting_period_end_date"),
    )
    if first > last:
        raise SovInputError(f"The reporting period starts ({first:%m/%Y}) after it ends ({last:%m/%Y}).")
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    if is_quarter:
        if months != 3 or last.month % 3 != 0:
            raise SovInputError(
                f"A quarterly submission spans the three months of one fiscal quarter, got "
                f"{first:%m/%Y}-{last:%m/%Y}.",
                hint="Quarters end in December, March, June and September.",
            )
        if fiscal_year(last) >= 2022:
            raise SovInputError(
                f"Quarterly submissions may not be created for FY22 or later (this is FY{fiscal_year(last)}).",
                hint="Submit monthly: is_quarter=False, one month (10/YYYY-11/YYYY for periods 1 and 2).",
            )
    elif not (
        (months == 1 and first.month not in (10, 11)) or (first.month, last.month, months) == (10, 11, 2)
    ):
        raise SovInputError(f"{MONTHLY_RULE} Got {first:%m/%Y}-{last:%m/%Y}.")
    return f"{first:%m/%Y}", f"{last:%m/%Y}"


def dabs_upload(
    *,
    appropriations: object = None,
    program_activity: object = None,
    award_financial: object = None,
    cgac_code: object = None,
    frec_code: object = None,
    reporting_period_start_date: object = None,
    reporting_period_end_date: object = None,
    is_quarter: object = False,
    test_submission: object = False,
    existing_submission_id: object = None,
) -> Upload:
    """The ``upload_dabs_files`` request: a new submission (Files B and C) or corrections to one."""
    given = {
        "appropriations": appropriations,
        "program_activity": program_activity,
        "award_financial": award_financial,
    }
    quarter, test = check_bool(is_quarter, "is_quarter"), check_bool(test_submission, "test_submission")
    fields: list[tuple[str, str]] = []
    existing = None
    if existing_submission_id is not None:
        existing = check_int_id(existing_submission_id, "existing_submission_id")
        if not any(v is not None for v in given.values()):
            raise SovInputError(
                f"Corrections to submission {existing} need at least one file to replace "
                "(appropriations, program_activity or award_financial).",
            )
        if cgac_code is not None or frec_code is not None:
            raise SovInputError(
                f"Corrections to submission {existing} keep its agency: leave cgac_code and frec_code unset.",
            )
        fields.append(("existing_submission_id", str(existing)))
        dates = (reporting_period_start_date, reporting_period_end_date)
        if any(d is not None for d in dates):
            if None in dates:
                raise SovInputError("Give both reporting period dates to change the period, or neither.")
            start, end = check_reporting_period(*dates, quarter)
            fields += [("reporting_period_start_date", start), ("reporting_period_end_date", end)]
            fields.append(("is_quarter", str(quarter).lower()))
    else:
        missing = [k for k in ("program_activity", "award_financial") if given[k] is None]
        if missing:
            raise SovInputError(
                f"A new DABS submission needs Files B and C: {' and '.join(missing)} not given.",
            )
        if appropriations is not None:
            raise SovInputError(
                "A new DABS submission's File A is made by the Broker (from GTAS); it ignores one "
                "sent with Files B and C.",
                hint="To submit your own File A, upload it as a correction once the submission exists "
                "(existing_submission_id=...); DabsSubmissionOperator does both.",
            )
        cgac, frec = (None if c is None else str(c).strip() for c in (cgac_code, frec_code))
        if bool(cgac) == bool(frec):
            raise SovInputError(
                "Give the agency as cgac_code (3 digits) or frec_code (4 digits): exactly one."
            )
        if cgac and not _CGAC.fullmatch(cgac):
            raise SovInputError(f"cgac_code must be 3 digits (e.g. '097'), got {cgac_code!r}.")
        if frec and not _FREC.fullmatch(frec):
            raise SovInputError(f"frec_code must be 4 digits (e.g. '1601'), got {frec_code!r}.")
        if reporting_period_start_date is None or reporting_period_end_date is None:
            raise SovInputError(
                "A new DABS submission needs reporting_period_start_date and reporting_period_end_date (MM/YYYY)."
            )
        start, end = check_reporting_period(reporting_period_start_date, reporting_period_end_date, quarter)
        # Every field is required by the Broker for a new submission, the unused code empty.
        fields += [("cgac_code", cgac or ""), ("frec_code", frec or "")]
        fields += [("reporting_period_start_date", start), ("reporting_period_end_date", end)]
        fields.append(("is_quarter", str(quarter).lower()))
    fields.append(("test_submission", str(test).lower()))
    files = []
    for field, source in given.items():
        if source is not None:
            path, name = check_upload_file(source, f"File {DABS_FILES[field]} ({field})")
            files.append((field, path, name, "text/csv"))
    return Upload(tuple(fields), tuple(files), existing)


def fabs_upload(
    fabs: object,
    *,
    agency_code: object = None,
    existing_submission_id: object = None,
    test_submission: object = False,
) -> Upload:
    """The ``upload_fabs_file`` request: a new FABS submission for a sub-tier agency, or a new file for one."""
    test = check_bool(test_submission, "test_submission")
    fields: list[tuple[str, str]] = []
    existing = None
    if (agency_code is None) == (existing_submission_id is None):
        raise SovInputError(
            "Give agency_code (a new FABS submission for that sub-tier agency) or existing_submission_id "
            "(a new file for that submission): exactly one."
        )
    if existing_submission_id is not None:
        existing = check_int_id(existing_submission_id, "existing_submission_id")
        fields.append(("existing_submission_id", str(existing)))
    else:
        code = str(agency_code).strip()
        if not _SUB_TIER.fullmatch(code):
            raise SovInputError(
                f"agency_code must be a 4-character sub-tier agency code (e.g. '2000'), got {agency_code!r}."
            )
        fields.append(("agency_code", code))
    fields.append(("test_submission", str(test).lower()))
    path, name = check_upload_file(fabs, "FABS file")
    return Upload(tuple(fields), (("fabs", path, name, "text/csv"),), existing)


def report_params(
    submission_id: object, file_type: object, warning: object, cross_type: object
) -> dict[str, Any]:
    """``report_url``'s query: one file's error (or warning) report, or one cross-file pair's."""
    submission = check_int_id(submission_id, "submission_id")
    check_bool(warning, "warning")
    if file_type not in REPORT_FILES:
        raise SovInputError(
            f"file_type must be one of {', '.join(REPORT_FILES)}, got {file_type!r}.",
            hint="E and F (executive_compensation, sub_award) have no validation report.",
        )
    params: dict[str, Any] = {
        "submission_id": submission,
        "file_type": file_type,
        "warning": str(warning).lower(),
    }
    if cross_type is not None:
        if (file_type, cross_type) not in CROSS_PAIRS:
            pairs = ", ".join(f"{a}/{b}" for a, b in CROSS_PAIRS)
            raise SovInputError(f"{file_type}/{cross_type} is not a cross-file pair; the pairs are {pairs}.")
        params["cross_type"] = cross_type
    return params


def report_name(submission_id: int, file_type: str, warning: bool, cross_type: str | None = None) -> str:
    """
    How a task names a report it writes, as the Broker names it (less its fiscal period):
    ``SubID-123_File-B-error-report.csv``, ``SubID-123_File-B-to-C-crossfile-warning-report.csv``.
    """
    kind = "warning" if warning else "error"
    if cross_type:
        return (
            f"SubID-{submission_id}_File-{REPORT_FILES[file_type]}-to-{REPORT_FILES[cross_type]}"
            f"-crossfile-{kind}-report.csv"
        )
    return f"SubID-{submission_id}_File-{REPORT_FILES[file_type]}-{kind}-report.csv"


@dataclass(frozen=True)
class ValidationReport:
    """One validation report of a submission, fetched from a URL signed for it just then."""

    submission_id: int
    file_type: str
    warning: bool = False
    cross_type: str | None = None

    @property
    def name(self) -> str:
        return report_name(self.submission_id, self.file_type, self.warning, self.cross_type)


def validation_reports(submission_id: int, status: dict[str, Any]) -> list[ValidationReport]:
    """
    Every report a submission's ``check_status`` says exists: the error and warning reports of
    each file whose validation finished, and of each cross-file pair once its files' cross-file
    validation finished (C-D1 and C-D2 only with the D file's own validation finished).
    """
    finished = {
        t for t, state in status.items() if isinstance(state, dict) and state.get("status") == "finished"
    }
    reports = [
        ValidationReport(submission_id, file_type, warning)
        for file_type in REPORT_FILES
        if file_type in finished
        for warning in (False, True)
    ]
    if "cross" in finished:
        reports += [
            ValidationReport(submission_id, file_type, warning, cross_type)
            for file_type, cross_type in CROSS_PAIRS
            if cross_type in finished
            for warning in (False, True)
        ]
    return reports
