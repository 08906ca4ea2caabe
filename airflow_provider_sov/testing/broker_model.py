"""
What the DATA Act Broker half of the emulator is made of: its constants, submissions and generation
jobs, and error bodies as the Broker's ``JsonResponse.error`` gives them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

#: Where the emulated Treasury proxy lives on the emulator (``server.url + PROXY_PREFIX``).
PROXY_PREFIX = "/ap/exp/v1/data-act-broker"
USER, PASSWORD = "broker-user", "broker-password"
CLIENT_ID, CLIENT_SECRET = "emulator-client", "emulator-client-secret"
#: A session ID the emulator accepts from the start (``session`` auth mode).
SESSION_ID = "emulator-session-0001"
SESSION_TIMEOUT = 1800.0
URL_LIFETIME = 60
#: Seeded submissions: 1001 fully validated, 1002 still validating A/B/C, 1003 awaiting cross-file
#: (``(uploads validated, cross-file validated)``).
SEEDED_SUBMISSIONS = {1001: (True, True), 1002: (False, False), 1003: (True, False)}
SUBMISSION_FILE_TYPES = ("D1", "D2", "E", "F")
DETACHED_FILE_TYPES = ("D1", "D2", "A", "BOC")
SLOW_START = ("E", "F", "A", "BOC")
#: How long an E, F, A or BOC request waits in the queue before the validator picks it up, as a
#: share of ``pickup_seconds`` (then it reads ``invalid`` for ``pickup_seconds``).
QUEUE_SHARE = 0.2
CREDENTIAL_HEADERS = ("authorization", "x-session-id", "client_id", "client_secret", "cookie")
PREREQUISITE = "Must wait for completion of prerequisite validation job"
COLUMNS = {
    "D1": ("contract_transaction_unique_key", "piid", "awarding_agency_code", "federal_action_obligation"),
    "D2": ("assistance_transaction_unique_key", "fain", "awarding_agency_code", "federal_action_obligation"),
    "E": (
        "AwardeeOrRecipientUniqueIdentifier",
        "AwardeeOrRecipientLegalEntityName",
        "HighCompOfficer1Amount",
    ),
    "F": ("PrimeAwardUniqueKey", "SubAwardNumber", "SubAwardAmount"),
    "A": ("AllocationTransferAgencyIdentifier", "AgencyIdentifier", "BudgetAuthorityAppropriatedAmount_CPE"),
    "BOC": ("AgencyIdentifier", "ObjectClass", "DifferenceAmount"),
}


#: The file types ``check_status`` reports for a DABS submission (``FILE_TYPE_DICT`` less FABS and
#: BOC, and ``cross``), and the uploads whose validation D1/D2 generation waits on.
DABS_TYPES = (
    "appropriations",
    "program_activity",
    "award_financial",
    "award",
    "award_procurement",
    "executive_compensation",
    "sub_award",
    "cross",
)
UPLOADS = ("appropriations", "program_activity", "award_financial")
#: The ``check_status`` type of each generated file (``FILE_TYPE_DICT_LETTER_NAME``).
GENERATED_TYPES = {"D1": "award_procurement", "D2": "award", "E": "executive_compensation", "F": "sub_award"}
NEVER = float("inf")


@dataclass
class Validation:
    """One file type's validation job in a submission, read off the clock (``ready`` until started)."""

    started_at: float | None = None
    duration: float = 0.0
    errors: int = 0
    warnings: int = 0
    fail_message: str = ""
    file_name: str | None = None
    #: An uploaded file's report rows by report (``error``, ``warning``, ``cross_error``...), and its
    #: data rows; None for a validation the emulator was told the outcome of.
    findings: dict[str, list[list[str]]] | None = None
    rows: int | None = None

    def status(self, now: float) -> str:
        if self.started_at is None or now < self.started_at:
            return "ready"
        if now < self.started_at + self.duration:
            return "running"
        return "failed" if self.fail_message else "finished"

    def clean(self, now: float) -> bool:
        """Finished without errors: what generation waits for (``check_generation_prereqs``)."""
        return self.status(now) == "finished" and self.errors == 0


@dataclass
class Submission:
    """A DABS (or FABS) submission: its validations, its metadata and what was published of it."""

    submission_id: int
    fabs: bool = False
    cgac_code: str = "097"
    agency_name: str = "Department of the Treasury (TREAS)"
    reporting_start_date: str = "10/01/2025"
    reporting_end_date: str = "12/31/2025"
    reporting_period: str = "Q1/2026"
    reporting_fiscal_year: int = 2026
    reporting_fiscal_period: int = 3
    publish_status: str = "unpublished"
    certified: bool = False
    test_submission: bool = False
    is_quarter: bool = True
    #: When it was last changed (wall clock; 0: when the emulator started).
    modified_wall: float = 0.0
    validations: dict[str, Validation] = field(default_factory=dict)
    #: Published files: (published_files_history_id, file type letter or "comments", file name).
    published: list[tuple[int | None, str, str]] = field(default_factory=list)

    def validation(self, file_type: str) -> Validation:
        return self.validations.setdefault(file_type, Validation())


@dataclass
class Generation:
    """One generation job; its status is read off the clock."""

    job_id: int
    file_type: str
    params: dict[str, Any]
    requested_at: float
    duration: float
    submission_id: int | None = None
    fail_message: str = ""
    reset: bool = False
    cached: bool = False
    filename: str = ""
    data: bytes = b""
    generated_at: str = ""
    stored: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: When a cached D file copied into a submission has been validated (None: when it finishes).
    validated_at: float | None = None


#: What the Broker's ``JsonResponse.error`` adds in debug mode, which it never turns off: the
#: exception's type and its stack trace (stand-ins here, as telling as the real ones).
ERROR_TYPE = "<class 'dataactcore.utils.ResponseError.ResponseError'>"
TRACE = [
    "<FrameSummary file /data-act/backend/dataactbroker/decorators.py, line 38 in wrapped>",
    "<FrameSummary file /data-act/backend/dataactbroker/permissions.py, line 158 in wrapped>",
]


def _json_error(status: int, message: str, error_type: str = ERROR_TYPE, **extra: Any) -> web.Response:
    """An error as the Broker's ``JsonResponse.error`` gives it: ``message``, ``errorType``, ``trace``."""
    body = {**extra, "message": message, "errorType": error_type, "trace": TRACE}
    return web.json_response(body, status=status)


def _gateway_error(status: int, message: str) -> web.Response:
    """An error from the Treasury API gateway in front of the Broker (not the Broker's own shape)."""
    return web.json_response({"message": message}, status=status)


def _stamp(wall: float) -> str:
    """A time as the Broker prints a job's ``updated_at`` (``str()`` of a naive UTC datetime)."""
    return str(dt.datetime.fromtimestamp(wall, dt.UTC).replace(tzinfo=None))


def _real_date_format(value: Any) -> str | None:
    """``MM/DD/YYYY`` by shape (the route's regular expression), else None."""
    shaped = isinstance(value, str) and len(value) == 10 and value[2] == value[5] == "/"
    return value if shaped and (value[:2] + value[3:5] + value[6:]).isdigit() else None


def _real_date(value: Any) -> dt.date | None:
    """A date that exists (``StringCleaner.is_date``), else None: ``02/30/2020`` has the shape but is not one."""
    if _real_date_format(value) is None:
        return None
    month, day, year = (int(p) for p in value.split("/"))
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def webargs_error(**messages: str) -> web.Response:
    """
    What a webargs failure is answered with (``exception_handler.py``): HTTP 400 and only
    ``{"message": "<field>: <message>"}``, fields in name order, joined by a space.
    """
    text = " ".join(f"{name}: {message}" for name, message in sorted(messages.items()))
    return web.json_response({"message": text}, status=400)


NOT_INT = "Not a valid integer."
MISSING = "Missing data for required field."


def int_arg(values: Any, name: str, *, required: bool = False) -> int | web.Response | None:
    """A webargs ``Int`` argument: its value, None when absent, or the 400 webargs gives."""
    raw = values.get(name)
    if raw in (None, ""):
        return webargs_error(**{name: MISSING}) if required else None
    if isinstance(raw, bool):
        return webargs_error(**{name: NOT_INT})
    try:
        return int(raw)
    except (TypeError, ValueError):
        return webargs_error(**{name: NOT_INT})


def generation_arguments(data: dict[str, Any], file_type: str) -> web.Response | None:
    """
    ``generate_file``'s webargs (``generation_routes.py``), all checked at once: ``file_type``
    required and one of four, the options' choices, the dates' shape.
    """
    bad: dict[str, str] = {}
    if "file_type" not in data:
        bad["file_type"] = MISSING
    elif file_type not in SUBMISSION_FILE_TYPES:
        bad["file_type"] = "Must be either D1, D2, E or F"
    if data.get("agency_type", "awarding") not in ("awarding", "funding"):
        bad["agency_type"] = "Must be either awarding or funding if provided"
    if data.get("file_format", "csv") not in ("csv", "txt"):
        bad["file_format"] = "Must be either csv or txt if provided"
    for name in ("start", "end"):  # the route's Regexp (DATE_REGEX): the shape, not whether it exists
        if data.get(name) is not None and _real_date_format(data[name]) is None:
            bad[name] = "Must be in the format MM/DD/YYYY"
    return webargs_error(**bad) if bad else None


def check_dates(data: dict[str, Any], detached: bool) -> web.Response | None:
    """
    The Broker's date checks, in its order. Within a submission, after the route's format check
    (:func:`generation_arguments`): presence, then parsing (an error inside
    ``start_d_generation``: a 500).
    Detached: the route has no format check; presence, then parsing, both 400
    (``generate_detached_file`` in ``handlers/generation_handler.py``).
    """
    if not data.get("start") or not data.get("end"):
        return _json_error(
            400, "Must have a start and end date for D file generation.", "<class 'ValueError'>"
        )
    if _real_date(data["start"]) is None or _real_date(data["end"]) is None:
        if detached:
            return _json_error(400, "Start or end date cannot be parsed into a date")
        return _json_error(500, "Start or end date cannot be parsed into a date of format MM/DD/YYYY")
    return None
