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
#: Seeded submissions: 1001 fully validated, 1002 still validating, 1003 awaiting cross-file.
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


@dataclass
class Submission:
    submission_id: int
    abc_validated: bool = True
    cross_file_validated: bool = True
    fabs: bool = False
    cgac_code: str = "097"


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


#: What the Broker's ``JsonResponse.error`` adds in debug mode, which it never turns off: the
#: exception's type and its stack trace (stand-ins here, as telling as the real ones).
ERROR_TYPE = "<class 'dataactcore.utils.ResponseError.ResponseError'>"
TRACE = [
    "<FrameSummary file /data-act/backend/dataactbroker/decorators.py, line 38 in wrapped>",
    "<FrameSummary file /data-act/backend/dataactbroker/permissions.py, line 158 in wrapped>",
]
#: What a webargs validation failure becomes: Flask hands the 422 to the Broker's catch-all
#: handler, which answers 500 with the exception's text (the field's own message is not in it).
UNPROCESSABLE = "422 Unprocessable Entity: The request was well-formed but was unable to be followed due to semantic errors."


def _json_error(status: int, message: str, error_type: str = ERROR_TYPE, **extra: Any) -> web.Response:
    """An error as the Broker's ``JsonResponse.error`` gives it: ``message``, ``errorType``, ``trace``."""
    body = {**extra, "message": message, "errorType": error_type, "trace": TRACE}
    return web.json_response(body, status=status)


def _gateway_error(status: int, message: str) -> web.Response:
    """An error from the Treasury API gateway in front of the Broker (not the Broker's own shape)."""
    return web.json_response({"message": message}, status=status)


def _invalid_field() -> web.Response:
    return _json_error(
        500,
        UNPROCESSABLE,
        "<class 'dataactcore.utils.ResponseError.ResponseError'>",
        wrappedType="<class 'werkzeug.exceptions.UnprocessableEntity'>",
        wrappedMessage=UNPROCESSABLE,
    )


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
