"""
What the DATA Act Broker emulator's validator makes of an uploaded file: the rows of its error and
warning reports, with the Broker's report columns (``validationManager.py``) and names
(``report_file_name``, the ``DEV-8325`` names, ``dataactcore/utils/report.py``).

Which rows fail is the emulator's own rule (the real one is the Broker's rule set): a data cell
reading ``ERROR`` or ``WARNING`` is one error or warning of its file; ``CROSSERROR`` or
``CROSSWARNING`` in File B or C (or D1, D2) is one of its cross-file pair (A-B, B-C...).
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime as dt

VALUE_ERROR = "<class 'ValueError'>"
#: DABS permissions in order (``submitter`` can do what ``writer`` can), and FABS's.
DABS_LEVELS = ("reader", "writer", "submitter")
FABS_LEVELS = ("reader", "editfabs", "fabs")
#: Sub-tier agencies (FABS ``agency_code``) and the CGAC each belongs to.
SUB_TIERS = {"2000": "097", "2001": "097", "1700": "017"}
LETTERS = {
    "appropriations": "A",
    "program_activity": "B",
    "award_financial": "C",
    "award_procurement": "D1",
    "award": "D2",
    "fabs": "FABS",
}
#: ``submission_report_url``'s cross pairs: the cross type and the one file type it pairs with.
CROSS_PAIRS = {
    "program_activity": "appropriations",
    "award_financial": "program_activity",
    "award_procurement": "award_financial",
    "award": "award_financial",
}
REPORT_FILE_TYPES = (
    "appropriations",
    "program_activity",
    "award_financial",
    "award_procurement",
    "award",
    "fabs",
)
REPORT_HEADERS = (
    "Unique ID",
    "Field Name",
    "Rule Message",
    "Value Provided",
    "Expected Value",
    "Difference",
    "Flex Field",
    "Row Number",
    "Rule Label",
)
CROSS_REPORT_HEADERS = (
    "Unique ID",
    "Source File",
    "Source Field Name",
    "Target File",
    "Target Field Name",
    "Rule Message",
    "Source Value Provided",
    "Target Value Provided",
    "Difference",
    "Source Flex Field",
    "Source Row Number",
    "Rule Label",
)
MONTHLY = (
    "A monthly submission must be exactly one month with the exception of periods 1 and 2, which must "
    "be selected together."
)


def _true(value: Any) -> bool:
    """A form flag as the Broker reads it: ``str(value).upper() == "TRUE"``."""
    return str(value).upper() == "TRUE"


def _fiscal(end: dt.date) -> tuple[int, int]:
    """``generate_fiscal_year`` and ``generate_fiscal_period`` of a submission's last day."""
    year = end.year + 1 if end.month >= 10 else end.year
    return year, (end.month + 2) % 12 + 1


def _findings(data: bytes, file_type: str) -> dict[str, list[list[str]]]:
    """The rows each report of one uploaded file holds: ``error``, ``warning``, ``cross_error``..."""
    found: dict[str, list[list[str]]] = {"error": [], "warning": [], "cross_error": [], "cross_warning": []}
    text = data.decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text), delimiter="|" if text.split("\n", 1)[0].count("|") else ","))
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    for number, row in enumerate(body, start=2):
        for column, cell in enumerate(row):
            field = header[column] if column < len(header) else f"column{column + 1}"
            mark = cell.strip().upper()
            if mark in ("ERROR", "WARNING"):
                label = "B9" if mark == "ERROR" else "B20"
                found[mark.lower()].append(
                    [f"row-{number}", field, f"{field} is not valid", cell, "", "", "", str(number), label]
                )
            elif mark in ("CROSSERROR", "CROSSWARNING") and file_type in CROSS_PAIRS:
                kind = "cross_error" if mark == "CROSSERROR" else "cross_warning"
                target = CROSS_PAIRS[file_type]
                found[kind].append(
                    [
                        f"row-{number}",
                        LETTERS[target],
                        field,
                        LETTERS[file_type],
                        field,
                        f"{field} does not match",
                        cell,
                        "",
                        "",
                        "",
                        str(number),
                        "A18",
                    ]
                )
    return found


def _id_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _report(headers: tuple[str, ...], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode()
