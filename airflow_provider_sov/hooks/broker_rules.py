"""What the DATA Act Broker accepts, checked before anything is sent: its routes, targets and requests."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_sov._shared.routes import Route, id_from_result
from airflow_provider_sov.exceptions import SovError, SovInputError

if TYPE_CHECKING:
    from collections.abc import Mapping

#: How messages name the API, the task argument naming its connection, and its default connection.
API_NAME = "DATA Act Broker"
CONN_NAME_ATTR = "data_act_broker_conn_id"
DEFAULT_CONN_NAME = "data_act_broker_default"
DEFAULT_HOST = "https://broker-api.usaspending.gov"
PROXY_HOST_MARK = "api.fiscal.treasury.gov"
#: The website on Treasury's Broker API (the Broker's README: "The website that runs on these
#: services"), for connections to its API or its proxy; others name theirs (extra ``website_url``).
PUBLIC_WEBSITE = "https://broker.usaspending.gov"
PUBLIC_API_HOSTS = frozenset({"broker-api.usaspending.gov", PROXY_HOST_MARK})
AUTH_MODES = ("proxy", "session", "login")

#: File types a submission can generate, and those a detached (agency-wide) request can.
SUBMISSION_FILE_TYPES = ("D1", "D2", "E", "F")
DETACHED_FILE_TYPES = ("D1", "D2", "A", "BOC")
#: File types with a date range, agency type and format (the others are whole-period CSVs).
D_FILE_TYPES = ("D1", "D2")
AGENCY_TYPES = ("awarding", "funding")
FILE_FORMATS = ("csv", "txt")
_DATE = re.compile(r"\d{2}/\d{2}/\d{4}")

#: Every route the provider calls, at ``/v1/<name>`` (never a trailing slash: the Treasury proxy
#: accepts only the bare form): method, whether a second call is harmless, what it acts on, action.
_ROUTE_TABLE: dict[str, tuple[str, bool, str, str]] = {
    "login": ("POST", True, "", "log in"),
    "active_user": ("GET", True, "", "start proxy session"),
    "session": ("GET", True, "", "check session"),
    "generate_file": ("POST", False, "submission", "generate file"),
    "check_generation_status": ("GET", True, "submission", "read status"),
    "get_file_url": ("GET", True, "submission", "get file URL"),
    "generate_detached_file": ("POST", False, "", "generate file"),
    "check_detached_generation_status": ("GET", True, "job", "read status"),
    "get_detached_file_url": ("GET", True, "job", "get file URL"),
    "check_status": ("GET", True, "submission", "read validation status"),
    "submission_metadata": ("GET", True, "submission", "read submission metadata"),
    "list_submissions": ("POST", True, "", "list submissions"),
    "list_latest_published_files": ("GET", True, "", "list published files"),
    "get_published_file": ("GET", True, "submission", "get published file URL"),
    "upload_dabs_files": ("POST", False, "", "upload DABS files"),
    "upload_fabs_file": ("POST", False, "", "upload FABS file"),
    "report_url": ("GET", True, "submission", "get validation report URL"),
    "restart_validation": ("POST", False, "submission", "restart validation"),
    "get_fabs_meta": ("GET", True, "submission", "read FABS row counts"),
    "publish_fabs_file": ("POST", False, "submission", "publish FABS submission"),
    "publish_dabs_submission": ("POST", False, "submission", "publish DABS submission"),
    "certify_dabs_submission": ("POST", False, "submission", "certify DABS submission"),
    "publish_and_certify_dabs_submission": (
        "POST",
        False,
        "submission",
        "publish and certify DABS submission",
    ),
}
ROUTES = {
    name: Route(name, method, f"/v1/{name}", idempotent=safe, what=what, action=action)
    for name, (method, safe, what, action) in _ROUTE_TABLE.items()
}
#: Routes that start or check a session (never renewed on a 401: they are how one is renewed).
SESSION_ROUTES = ("login", "active_user", "session")


def check_int_id(value: object, name: str) -> int:
    """``submission_id`` / ``job_id``: a positive integer (an int, a string of digits, or a task's result)."""
    value = id_from_result(value, name)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SovInputError(
            f"{name} must be a positive integer, got {value!r}.",
            hint=f"The Broker numbers its {name.replace('_id', '')}s 1, 2, 3...",
        )
    return value


def check_date(value: object, name: str) -> dt.date:
    """Return a real calendar date given as ``MM/DD/YYYY`` (or a ``date``); the Broker answers 500 otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return dt.datetime.strptime(value.strip(), "%m/%d/%Y").date()
        except ValueError:
            raise SovInputError(f"{name} {value!r} is not a real calendar date.") from None
    raise SovInputError(f"{name} must be a date written MM/DD/YYYY (e.g. '10/01/2025'), got {value!r}.")


def _choice(value: object, allowed: tuple[str, ...], name: str, why: str = "") -> str:
    text = str(value).strip() if isinstance(value, str) else value
    for option in allowed:
        if isinstance(text, str) and text.lower() == option.lower():
            return option
    raise SovInputError(f"{name} must be one of {', '.join(allowed)}{why}, got {value!r}.")


@dataclass(frozen=True)
class GenerationTarget:
    """What a status read is about: a ``file_type`` within a submission, or a detached ``job_id``."""

    submission_id: int | None = None
    file_type: str = ""
    job_id: int | None = None

    @classmethod
    def of(
        cls, submission_id: object = None, file_type: object = None, job_id: object = None
    ) -> GenerationTarget:
        """Check and build a target from either ``(submission_id, file_type)`` or ``job_id``."""
        if job_id not in (None, ""):
            if submission_id not in (None, ""):
                raise SovInputError(
                    "Give either submission_id and file_type, or job_id (detached), not both.",
                )
            kind = ""
            if file_type not in (None, ""):
                kind = _choice(file_type, DETACHED_FILE_TYPES, "file_type", " for a detached file")
            return cls(job_id=check_int_id(job_id, "job_id"), file_type=kind)
        if submission_id in (None, ""):
            raise SovInputError(
                "Give submission_id and file_type (within a submission), or job_id (detached)."
            )
        if file_type in (None, ""):
            raise SovInputError(f"file_type is required with submission_id {submission_id!r}.")
        return cls(
            submission_id=check_int_id(submission_id, "submission_id"),
            file_type=_choice(file_type, SUBMISSION_FILE_TYPES, "file_type", " within a submission"),
        )

    @property
    def key(self) -> str:
        """Return a stable name of the wait, carried in trigger events."""
        if self.job_id is not None:
            return f"job {self.job_id}"
        return f"submission {self.submission_id} {self.file_type}"

    @property
    def label(self) -> str:
        """Return how messages name it, e.g. ``D1 file of submission 123``."""
        if self.job_id is not None:
            return f"detached {self.file_type + ' ' if self.file_type else ''}file job {self.job_id}"
        return f"{self.file_type} file of submission {self.submission_id}"

    def to_kwargs(self) -> dict[str, Any]:
        return {"submission_id": self.submission_id, "file_type": self.file_type, "job_id": self.job_id}


@dataclass(frozen=True)
class FinishedFile:
    """A finished generation's file: its target and the status body (its signed URL, while usable)."""

    target: GenerationTarget
    status_body: dict[str, Any]


@dataclass(frozen=True)
class GenerationRequest:
    """A checked generation request: the route to call and its JSON body."""

    route: str
    body: dict[str, Any]

    @property
    def file_type(self) -> str:
        return str(self.body["file_type"])

    @property
    def detached(self) -> bool:
        return self.route == "generate_detached_file"


#: What a generation request is made of: the arguments of :func:`generation_request`.
REQUEST_FIELDS = (
    "submission_id",
    "file_type",
    "start",
    "end",
    "agency_type",
    "file_format",
    "cgac_code",
    "frec_code",
    "year",
    "period",
    "element_numbers",
)


def generation_request(
    *,
    submission_id: object = None,
    file_type: object,
    start: object = None,
    end: object = None,
    agency_type: object = "awarding",
    file_format: object = "csv",
    cgac_code: object = None,
    frec_code: object = None,
    year: object = None,
    period: object = None,
    element_numbers: object = False,
    period_later: bool = False,
) -> GenerationRequest:
    """
    Check a generation request as the Broker would, a little stricter; build its body. Within a
    submission: D1, D2, E, F; detached: D1, D2, A, BOC for one ``cgac_code`` or ``frec_code``. D1/D2
    need ``start`` and ``end`` (with ``period_later``, filled later from the submission's period); A
    and BOC ``year`` and ``period``; an option the file type ignores is refused.
    """
    detached = submission_id in (None, "")
    allowed = DETACHED_FILE_TYPES if detached else SUBMISSION_FILE_TYPES
    where = " for a detached file" if detached else " within a submission"
    kind = _choice(file_type, allowed, "file_type", where)
    body: dict[str, Any] = {"file_type": kind}
    if not detached:
        body["submission_id"] = check_int_id(submission_id, "submission_id")
        for name, value in (("cgac_code", cgac_code), ("frec_code", frec_code)):
            if value not in (None, ""):
                raise SovInputError(
                    f"{name} applies only to detached files: submission {submission_id} names its agency."
                )
    else:
        has_cgac, has_frec = cgac_code not in (None, ""), frec_code not in (None, "")
        if has_cgac == has_frec:
            raise SovInputError(
                "A detached file needs exactly one of cgac_code (3 digits) or frec_code (4 digits), "
                f"got cgac_code={cgac_code!r}, frec_code={frec_code!r}.",
                hint="Or pass submission_id to generate within a submission.",
            )
        if has_cgac:
            if not re.fullmatch(r"\d{3}", str(cgac_code)):
                raise SovInputError(f"cgac_code must be three digits (e.g. '097'), got {cgac_code!r}.")
            body["cgac_code"] = str(cgac_code)
        else:
            if not re.fullmatch(r"\d{4}", str(frec_code)):
                raise SovInputError(f"frec_code must be four digits (e.g. '1601'), got {frec_code!r}.")
            body["frec_code"] = str(frec_code)
    if not isinstance(element_numbers, bool):
        raise SovInputError(f"element_numbers must be True or False, got {element_numbers!r}.")
    agency = _choice(agency_type, AGENCY_TYPES, "agency_type")
    fmt = _choice(file_format, FILE_FORMATS, "file_format")
    if kind in D_FILE_TYPES:
        undated = start in (None, "") and end in (None, "")
        if undated and period_later and not detached:
            pass  # the submission's own reporting period, read when the task runs
        elif start in (None, "") or end in (None, ""):
            later = " (or neither, for the submission's own reporting period)" if not detached else ""
            raise SovInputError(
                f"{kind} files need start and end dates (MM/DD/YYYY){later}, got {start!r}, {end!r}."
            )
        else:
            first, last = check_date(start, "start"), check_date(end, "end")
            if first > last:
                raise SovInputError(f"start {start!r} is after end {end!r}.")
            body.update(start=first.strftime("%m/%d/%Y"), end=last.strftime("%m/%d/%Y"))
        body.update(agency_type=agency, file_format=fmt)
        if element_numbers:
            if not detached:
                raise SovInputError("element_numbers applies only to detached D1/D2 files.")
            body["element_numbers"] = True
    else:
        for name, value in (("start", start), ("end", end)):
            if value not in (None, ""):
                raise SovInputError(f"{name} does not apply to {kind} files: leave it unset.")
        if agency != "awarding":
            raise SovInputError(f"agency_type applies only to D1/D2 files, not {kind}.")
        if fmt != "csv":
            raise SovInputError(f"{kind} files are always CSV: leave file_format unset.")
        if element_numbers:
            raise SovInputError(f"element_numbers applies only to D1/D2 files, not {kind}.")
    if kind in ("A", "BOC"):
        if year in (None, "") or period in (None, ""):
            raise SovInputError(f"{kind} files need year (YYYY) and period (2-12), got {year!r}, {period!r}.")
        if isinstance(year, bool) or not re.fullmatch(r"\d{4}", str(year)):
            raise SovInputError(f"year must be four digits (e.g. 2025), got {year!r}.")
        if isinstance(period, str) and period.strip().isdigit():
            period = int(period)
        if isinstance(period, bool) or not isinstance(period, int) or not 2 <= period <= 12:
            raise SovInputError(
                f"period must be 2 to 12 (2 = November of the previous year, 12 = September), got {period!r}."
            )
        body.update(year=int(str(year)), period=period)
    else:
        for name, value in (("year", year), ("period", period)):
            if value not in (None, ""):
                raise SovInputError(f"{name} applies only to A and BOC files, not {kind}.")
    return GenerationRequest("generate_detached_file" if detached else "generate_file", body)


def status_request(target: GenerationTarget, *, url: bool = False) -> tuple[Route, dict[str, Any]]:
    """Return the route reading ``target``'s status (``url``: its signed URL) and the hook's kwargs for it."""
    if target.job_id is not None:
        name = "get_detached_file_url" if url else "check_detached_generation_status"
        params: dict[str, Any] = {"job_id": target.job_id}
        job_id: int = target.job_id
    else:
        assert target.submission_id is not None
        name = "get_file_url" if url else "check_generation_status"
        params = {"submission_id": target.submission_id, "file_type": target.file_type}
        job_id = target.submission_id
    what = "file URL" if url else "status"
    action = f"read {target.file_type} {what}" if target.file_type else f"read {what}"
    return ROUTES[name], {"params": params, "job_id": job_id, "action": action}


def check_download_url(url: object, label: str, key: str) -> str:
    """
    Return the download URL the Broker gave for ``label``, or say why there is none: no file yet
    (``#``), or a path on its own disk (a Broker without AWS storage answers that).
    """
    if not isinstance(url, str) or url in ("", "#"):
        raise SovError(
            f"The Broker gave no download URL for the {label} (got {url!r}).",
            job_id=key,
            hint="The file may not be generated yet: wait for it to finish first.",
        )
    if not url.lower().startswith(("http://", "https://")):
        raise SovError(
            f"The Broker answered a file path, not a download URL, for the {label}: {url!r}. It runs "
            "without AWS storage (use_aws: false, as a local Broker does), so its files stay on its "
            "own disk and cannot be downloaded over its API.",
            job_id=key,
            hint=(
                "Read the file from that Broker's file system (its broker_files folder), or run the "
                "Broker with use_aws: true and an S3 bucket."
            ),
        )
    return url


def submission_page(base_url: str, extra: Mapping[str, Any], submission_id: object) -> str | None:
    """
    The submission's page, ``<website>/#/submission/<id>`` as the Broker's e-mails link it; None when
    the connection names no ``website_url`` and is not Treasury's API.
    """
    website = str(extra.get("website_url") or "").strip().rstrip("/")
    if website and urlsplit(website).scheme not in ("http", "https"):
        raise SovInputError(
            f"Connection extra website_url {website!r} is not an http(s) address.",
            hint="Set it to the Broker website's address, e.g. 'https://broker.usaspending.gov'.",
        )
    if not website and (urlsplit(base_url).hostname or "").lower() in PUBLIC_API_HOSTS:
        website = PUBLIC_WEBSITE
    if not website:
        return None
    return f"{website}/#/submission/{check_int_id(submission_id, 'submission_id')}"
