"""
What the Broker's submission routes accept, checked before anything is sent, as its
``file_routes.py`` and ``fileHandler.py`` define it (no I/O; cheap to import).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks.broker_rules import _choice, check_int_id

#: ``check_status`` file types, by the Broker's own names (``FILE_TYPE_DICT`` and ``cross``).
VALIDATION_TYPES = (
    "appropriations",
    "program_activity",
    "award_financial",
    "award_procurement",
    "award",
    "executive_compensation",
    "sub_award",
    "cross",
    "fabs",
)
#: The letters DAG authors know them by.
VALIDATION_LETTERS = {
    "A": "appropriations",
    "B": "program_activity",
    "C": "award_financial",
    "D1": "award_procurement",
    "D2": "award",
    "E": "executive_compensation",
    "F": "sub_award",
}
#: What D1/D2 generation waits on (``check_generation_prereqs``): A, B and C validated without errors.
UPLOAD_VALIDATIONS = ("appropriations", "program_activity", "award_financial")
#: ``publish_status`` values: a submission in any but the first was published.
PUBLISH_STATUSES = ("unpublished", "published", "updated", "publishing")
#: Those of a submission that was published (D1/D2 generation sets ``published`` back to ``updated``).
REPUBLISHED = PUBLISH_STATUSES[1:]
#: ``list_submissions``: ``published`` (required), its sort keys and orders.
PUBLISHED_CHOICES = ("mixed", "true", "false")
SUBMISSION_SORTS = (
    "submission_id",
    "modified",
    "reporting_start",
    "reporting_end",
    "agency",
    "submitted_by",
    "last_pub_or_cert",
    "quarterly_submission",
)
ORDERS = ("desc", "asc")
PUBLISHED_FILE_TYPES = ("dabs", "fabs")


def validation_types(file_types: object) -> tuple[str, ...]:
    """``file_types`` for a validation wait, by the Broker's names or letters (empty: the submission's own)."""
    if file_types in (None, "", [], ()):
        return ()
    items = [file_types] if isinstance(file_types, str) else file_types
    if not isinstance(items, (list, tuple)):
        raise SovInputError(f"file_types must be a list such as ['A', 'B', 'C'], got {file_types!r}.")
    out: list[str] = []
    for item in items:
        name = str(item).strip()
        name = VALIDATION_LETTERS.get(name.upper(), name.lower())
        if name not in VALIDATION_TYPES:
            raise SovInputError(
                f"file_types: {item!r} is not a file type the Broker validates.",
                hint=f"Use {', '.join(VALIDATION_LETTERS)} or {', '.join(VALIDATION_TYPES)}.",
            )
        if name not in out:
            out.append(name)
    if "fabs" in out and len(out) > 1:
        raise SovInputError(
            "file_types: a FABS submission has only the 'fabs' file; DABS types do not mix with it."
        )
    return tuple(out)


def check_status_params(submission_id: object, file_type: object = None) -> dict[str, Any]:
    """``check_status``'s query: ``submission_id`` and, to read one file type only, ``type``."""
    params: dict[str, Any] = {"submission_id": check_int_id(submission_id, "submission_id")}
    if file_type not in (None, ""):
        (name,) = validation_types([file_type])
        params["type"] = name
    return params


def list_submissions_body(
    *,
    published: object = "mixed",
    page: object = 1,
    limit: object = 5,
    sort: object = "modified",
    order: object = "desc",
    fabs: object = False,
    filters: object = None,
) -> dict[str, Any]:
    """The JSON body of ``list_submissions`` (``published`` is required by the Broker: always sent)."""
    for name, value in (("page", page), ("limit", limit)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SovInputError(f"{name} must be a positive integer, got {value!r}.")
    if not isinstance(fabs, bool):
        raise SovInputError(f"fabs must be True or False, got {fabs!r}.")
    if filters is not None and not isinstance(filters, dict):
        raise SovInputError(f"filters must be a dict (e.g. {{'agency_codes': ['097']}}), got {filters!r}.")
    published_text = "true" if published is True else "false" if published is False else published
    body: dict[str, Any] = {
        "published": _choice(published_text, PUBLISHED_CHOICES, "published"),
        "page": page,
        "limit": limit,
        "sort": _choice(sort, SUBMISSION_SORTS, "sort"),
        "order": _choice(order, ORDERS, "order"),
        "fabs": fabs,
    }
    if filters:
        body["filters"] = dict(filters)
    return body


def published_files_params(type: object, agency: object, year: object, period: object) -> dict[str, Any]:
    """``list_latest_published_files``'s query; a level without the one above it is refused."""
    params: dict[str, Any] = {"type": _choice(type, PUBLISHED_FILE_TYPES, "type")}
    levels = (("agency", agency), ("year", year), ("period", period))
    missing = None
    for name, value in levels:
        if value in (None, ""):
            missing = missing or name
            continue
        if missing is not None:
            raise SovInputError(
                f"{name} needs {missing} too: the Broker lists published files by type, then agency, "
                f"then year, then period, and ignores a level given without the one above it."
            )
        if name == "agency":
            if not re.fullmatch(r"\d{3}|\d{4}", str(value)):
                raise SovInputError(
                    f"agency must be a CGAC (3 digits) or FREC (4 digits) code, got {value!r}."
                )
            params["agency"] = str(value)
        elif name == "year":
            if isinstance(value, bool) or not re.fullmatch(r"\d{4}", str(value)):
                raise SovInputError(f"year must be a fiscal year such as 2025, got {value!r}.")
            params["year"] = int(str(value))
        else:
            if isinstance(value, bool) or not str(value).isdigit() or not 1 <= int(str(value)) <= 12:
                raise SovInputError(f"period must be a fiscal period from 1 to 12, got {value!r}.")
            params["period"] = int(str(value))
    return params


@dataclass(frozen=True)
class PublishedFile:
    """One published file to download: its history ID, submission and name (a download's source)."""

    published_files_history_id: int
    submission_id: int
    label: str
