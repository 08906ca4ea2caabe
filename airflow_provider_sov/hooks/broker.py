"""
Hook for the DATA Act Broker API: authentication, D/E/F/A/BOC file generation, status, download.

What the Broker accepts is checked here once, for the hook, the operators and the sensor alike
(:func:`generation_request`); how a status body is read is :func:`classify_generation`, shared by
the sync and async paths.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.hook import ApiHook
from airflow_provider_sov._shared.http import Route, require_keys
from airflow_provider_sov.exceptions import (
    SovAuthError,
    SovBadRequestError,
    SovConnectionConfigError,
    SovError,
    SovInputError,
    SovJobFailedError,
    SovPrerequisiteError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_sov._shared.connection import ConnSettings
    from airflow_provider_sov._shared.files import Destination, DownloadedFile

DEFAULT_HOST = "https://broker-api.usaspending.gov"
PROXY_HOST = "https://api.fiscal.treasury.gov/ap/exp/v1/data-act-broker"
PROXY_HOST_MARK = "api.fiscal.treasury.gov"
AUTH_MODES = ("proxy", "session", "login")

#: File types a submission can generate, and those a detached (agency-wide) request can.
SUBMISSION_FILE_TYPES = ("D1", "D2", "E", "F")
DETACHED_FILE_TYPES = ("D1", "D2", "A", "BOC")
#: File types with a date range, agency type and format (the others are whole-period CSVs).
D_FILE_TYPES = ("D1", "D2")
#: File types that read ``invalid`` for a moment after they are requested.
SLOW_START_FILE_TYPES = ("E", "F", "A", "BOC")
AGENCY_TYPES = ("awarding", "funding")
FILE_FORMATS = ("csv", "txt")
#: Status values the Broker documents; anything else is logged and waited on.
GENERATION_STATUSES = ("waiting", "finished", "failed", "invalid")
#: Seconds after a generation is requested during which ``invalid`` means "not picked up yet".
DEFAULT_INVALID_GRACE = 120.0

_DATE = re.compile(r"\d{2}/\d{2}/\d{4}")

# Never a trailing slash: the Treasury proxy accepts only the bare form.
R = Route
ROUTES = {
    r.name: r
    for r in (
        R("login", "POST", "/v1/login", idempotent=True, action="log in"),
        R("active_user", "GET", "/v1/active_user", idempotent=True, action="start proxy session"),
        R("session", "GET", "/v1/session", idempotent=True, action="check session"),
        R("generate_file", "POST", "/v1/generate_file", False, "submission", "generate file"),
        R("check_generation_status", "GET", "/v1/check_generation_status", True, "submission", "read status"),
        R("get_file_url", "GET", "/v1/get_file_url", True, "submission", "get file URL"),
        R("generate_detached_file", "POST", "/v1/generate_detached_file", False, "", "generate file"),
        R("check_detached_generation_status", "GET", "/v1/check_detached_generation_status", True, "job"),
        R("get_detached_file_url", "GET", "/v1/get_detached_file_url", True, "job", "get file URL"),
    )
}
del R
_SESSION_ROUTES = ("login", "active_user", "session")


# --- What the Broker accepts, checked before anything is sent --------------------------------------


def check_int_id(value: object, name: str) -> int:
    """``submission_id`` / ``job_id``: a positive integer (an int, or a string of digits)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SovInputError(
            f"{name} must be a positive integer, got {value!r}.",
            hint=f"The Broker numbers its {name.replace('_id', '')}s 1, 2, 3...",
        )
    return value


def check_date(value: object, name: str) -> dt.date:
    """A real calendar date given as ``MM/DD/YYYY`` (or a ``date``); the Broker answers 500 otherwise."""
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
    """
    What a status read is about: a file type within a submission, or a detached job.

    :param submission_id: The submission (within-submission generation), else None.
    :param file_type: ``D1``, ``D2``, ``E``, ``F`` (submission) or ``D1``, ``D2``, ``A``, ``BOC``.
    :param job_id: The detached generation's job ID, else None.
    """

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
        """A stable name of the wait, carried in trigger events."""
        if self.job_id is not None:
            return f"job {self.job_id}"
        return f"submission {self.submission_id} {self.file_type}"

    @property
    def label(self) -> str:
        """How messages name it, e.g. ``D1 file of submission 123``."""
        if self.job_id is not None:
            return f"detached {self.file_type + ' ' if self.file_type else ''}file job {self.job_id}"
        return f"{self.file_type} file of submission {self.submission_id}"

    def to_kwargs(self) -> dict[str, Any]:
        return {"submission_id": self.submission_id, "file_type": self.file_type, "job_id": self.job_id}


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
) -> GenerationRequest:
    """
    Check a generation request the way the Broker would, and a little stricter; build its body.

    Within a submission (``submission_id`` given): D1, D2, E, F. Detached: D1, D2, A, BOC for the
    agency named by exactly one of ``cgac_code`` (3 digits) or ``frec_code`` (4 digits). D1/D2 need
    ``start`` and ``end`` (``MM/DD/YYYY``, real dates, start <= end); A and BOC need ``year`` and
    ``period`` (2-12); options that a file type ignores are refused rather than silently dropped.
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
        if start in (None, "") or end in (None, ""):
            raise SovInputError(
                f"{kind} files need start and end dates (MM/DD/YYYY), got {start!r}, {end!r}."
            )
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


# --- Reading a status ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationStatus:
    """
    One classified status reading of a generation, the same for sync and async reads.

    :param key: The wait's name (:attr:`GenerationTarget.key`).
    :param status: ``waiting``, ``finished``, ``failed``, ``invalid`` (or an unknown value).
    :param terminal: Whether waiting longer cannot change the answer.
    :param succeeded: ``finished``.
    :param body: The Broker's status body, without its signed ``url`` (it is a credential).
    :param note: Why a reading is not final although it looks so (e.g. a fresh ``invalid``).
    """

    key: str
    status: str
    terminal: bool
    succeeded: bool
    body: dict[str, Any]
    note: str = ""

    def progress_line(self) -> str:
        message = self.body.get("message") or ""
        parts = [f"{self.key}: {self.status}", f"- {message}" if message else "", self.note]
        return " ".join(p for p in parts if p)

    def to_event(self) -> dict[str, Any]:
        return {"body": self.body}


def classify_generation(
    body: Mapping[str, Any], target: GenerationTarget, *, requested_at: float | None, grace: float
) -> GenerationStatus:
    """
    Classify a status body. ``invalid`` is final only ``grace`` seconds after ``requested_at``
    (the Broker reports it while a just-requested E, F, A or BOC job is not picked up yet);
    without ``requested_at`` (nothing was requested by this task) it is final at once.
    """
    status = str(body.get("status") or "unknown").strip().lower()
    clean = {k: v for k, v in body.items() if k != "url"}
    if status == "finished":
        return GenerationStatus(target.key, status, True, True, clean)
    if status == "failed":
        return GenerationStatus(target.key, status, True, False, clean)
    if status == "invalid":
        if requested_at is not None and time.time() - requested_at < grace:
            note = f"(requested {time.time() - requested_at:.0f}s ago; not picked up yet, still waiting)"
            return GenerationStatus(target.key, status, False, False, clean, note)
        return GenerationStatus(target.key, status, True, False, clean)
    note = "" if status == "waiting" else "(unrecognised status; still waiting)"
    return GenerationStatus(target.key, status, False, False, clean, note)


def generation_result(reading: GenerationStatus, target: GenerationTarget) -> dict[str, Any]:
    """What a generation's status says, for XCom (never its signed URL)."""
    body = reading.body
    return {
        "job_id": body.get("job_id", target.job_id),
        "submission_id": target.submission_id,
        "file_type": body.get("file_type") or target.file_type,
        "status": reading.status,
        "start": body.get("start"),
        "end": body.get("end"),
        "generated_at": body.get("generated_at"),
        "message": body.get("message") or "",
    }


def check_generation_outcome(reading: GenerationStatus, target: GenerationTarget) -> dict[str, Any]:
    """A terminal reading's result for XCom, or :class:`SovJobFailedError` saying what to do."""
    body = reading.body
    result = generation_result(reading, target)
    if reading.succeeded:
        return result
    if reading.status == "invalid":
        raise SovJobFailedError(
            f"No generation was requested for the {target.label}: the Broker reports it 'invalid'.",
            result_status="invalid",
            job_id=target.key,
            hint=(
                "Start one with DFileGenerateOperator (or DataActBrokerHook.generate_file) before "
                "waiting. If one was just requested and your Broker is slow to pick it up, raise "
                "invalid_grace."
            ),
        )
    raise SovJobFailedError(
        f"Generating the {target.label} failed: {body.get('message') or 'the Broker gave no reason'}.",
        result_status=reading.status,
        job_id=target.key,
        server_message=body.get("message") or None,
        hint=(
            "Check the submission in the Broker, then request the file again (a retry of "
            "DFileGenerateOperator requests a failed generation anew)."
        ),
    )


# --- The hook ------------------------------------------------------------------------------------


class _SessionCache:
    """
    Broker sessions started in this process, shared by every hook on the same account.

    A triggerer runs many waits on one connection: they log in (or call ``/v1/active_user``) once,
    not once per trigger, and after a 401 the first hook to renew the session renews it for all.
    Each entry carries an epoch, so a hook can tell a session newer than the one that failed it.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, str], tuple[str | None, int]] = {}
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, asyncio.Lock]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, key: tuple[str, str, str]) -> tuple[str | None, int] | None:
        return self._entries.get(key)

    def put(self, key: tuple[str, str, str], session_id: str | None) -> int:
        """Record a new session for ``key``; return its epoch."""
        epoch = (self._entries.get(key, (None, 0))[1]) + 1
        self._entries[key] = (session_id, epoch)
        return epoch

    def lock(self, key: tuple[str, str, str]) -> asyncio.Lock:
        """One lock per key on the running event loop: concurrent triggers start one session."""
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        return locks.setdefault(key, asyncio.Lock())

    def clear(self) -> None:
        self._entries.clear()


_SESSIONS = _SessionCache()


class DataActBrokerHook(ApiHook):
    """
    Talk to the DATA Act Broker, authenticating one of three ways chosen from the connection.

    - ``proxy``: the Treasury API proxy (host ``https://api.fiscal.treasury.gov/ap/exp/v1/data-act-broker``).
      Login = ``client_id``, Password = ``client_secret``; both go as headers on every request;
      ``GET /v1/active_user`` starts the session (again after a 401).
    - ``session``: Password = an ``x-session-id`` from an interactive login. It cannot be renewed
      here: on a 401 the error says how to get a new one.
    - ``login``: Login and Password exchanged at ``POST /v1/login`` for a session, again after a
      401 (local and test Brokers only).

    The mode is the connection extra ``auth_mode``; when it is empty: ``proxy`` for a host on
    ``api.fiscal.treasury.gov``, ``login`` when Login is set, else ``session``.

    :param data_act_broker_conn_id: The Airflow connection to use.
    """

    conn_name_attr = "data_act_broker_conn_id"
    default_conn_name = "data_act_broker_default"
    conn_type = "data_act_broker"
    hook_name = "DATA Act Broker"
    default_host = DEFAULT_HOST

    def __init__(self, data_act_broker_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(data_act_broker_conn_id, **kwargs)
        self.data_act_broker_conn_id = self.conn_id
        self._session_id: str | None = None
        self._session_started = False
        self._epoch = 0  # of the shared session this hook uses (0: none yet)

    # --- Authentication ---------------------------------------------------------------------------

    def auth_mode(self, settings: ConnSettings | None = None) -> str:
        """The authentication mode this connection uses (see the class docstring)."""
        settings = settings or self.settings
        mode = str(settings.extra.get("auth_mode") or "").strip().lower()
        if not mode:
            if PROXY_HOST_MARK in settings.base_url:
                mode = "proxy"
            elif settings.login:
                mode = "login"
            else:
                mode = "session"
        if mode not in AUTH_MODES:
            raise SovConnectionConfigError(
                f"Connection {self.conn_id!r}: auth_mode {mode!r} is not one of {', '.join(AUTH_MODES)}."
            )
        if mode in ("proxy", "login") and not settings.login:
            what = "client_id" if mode == "proxy" else "user name"
            raise SovConnectionConfigError(
                f"Connection {self.conn_id!r} uses auth_mode {mode!r} but has no Login.",
                hint=f"Put the {what} in the connection's Login field.",
            )
        return mode

    def auth_headers(self, settings: ConnSettings) -> dict[str, str]:
        mode = self.auth_mode(settings)
        headers: dict[str, str] = {}
        if mode == "proxy":
            headers = {"client_id": settings.login or "", "client_secret": settings.secret or ""}
            if self._session_id:
                headers["x-session-id"] = self._session_id
        elif mode == "session":
            headers = {"x-session-id": settings.secret or ""}
        elif self._session_id:
            headers = {"x-session-id": self._session_id}
        return headers

    def _login_body(self, settings: ConnSettings) -> dict[str, Any]:
        return {"username": settings.login, "password": settings.secret}

    def _accept_session(self, body: Any, settings: ConnSettings) -> None:
        route = ROUTES["login"]
        session_id = str(
            require_keys(body, ("session_id",), self._call(route, settings, None, None))["session_id"]
        )
        from airflow_provider_sov._shared.connection import mask

        mask(session_id)
        self._session_id = session_id

    def _session_key(self, settings: ConnSettings) -> tuple[str, str, str] | None:
        """The account a session belongs to; None for a bare session ID (nothing to start)."""
        mode = self.auth_mode(settings)
        return None if mode == "session" else (settings.base_url, mode, settings.login or "")

    def _adopt(self, key: tuple[str, str, str], newer_than: int) -> bool:
        """Use this process's session for ``key`` if there is one newer than epoch ``newer_than``."""
        entry = _SESSIONS.get(key)
        if entry is None or entry[1] <= newer_than:
            return False
        self._session_id, self._epoch = entry
        self._session_started = True
        return True

    def _shared(self, settings: ConnSettings) -> None:
        key = self._session_key(settings)
        if key is not None:
            self._epoch = _SESSIONS.put(key, self._session_id)

    def establish_session(self) -> None:
        """
        Start a session where the mode allows it: log in, or call ``/v1/active_user`` via the proxy.

        A bare session ID cannot be renewed here: it comes from an interactive login.
        """
        settings = self.settings
        mode = self.auth_mode(settings)
        self._session_started = True
        if mode == "login":
            self._session_id = None
            body = ApiHook.request(self, ROUTES["login"], json=self._login_body(settings))
            self._accept_session(body, settings)
        elif mode == "proxy":
            ApiHook.request(self, ROUTES["active_user"])
        self._shared(settings)

    async def aestablish_session(self) -> None:
        """Async twin of :meth:`establish_session`, for triggers."""
        settings = await self.asettings()
        mode = self.auth_mode(settings)
        self._session_started = True
        if mode == "login":
            self._session_id = None
            body = await ApiHook.arequest(self, ROUTES["login"], json=self._login_body(settings))
            self._accept_session(body, settings)
        elif mode == "proxy":
            await ApiHook.arequest(self, ROUTES["active_user"])
        self._shared(settings)

    def _renewable(self, error: SovAuthError, route: Route, settings: ConnSettings) -> bool:
        """Whether a 401 may be cured by a new session; raise the 'renew it' error where it cannot."""
        if error.http_status != 401 or route.name in _SESSION_ROUTES:
            return False
        if self.auth_mode(settings) == "session":
            raise SovAuthError(
                error.message,
                action=error.action,
                job_id=error.job_id,
                http_status=401,
                server_message=error.server_message,
                hint=(
                    f"The session ID in connection {self.conn_id!r} is unknown or expired (the Broker "
                    "ends sessions after 30 idle minutes). Log in to the Broker again and put the new "
                    "x-session-id in the connection's Password, or use auth_mode 'proxy' or 'login', "
                    "which renew their sessions themselves."
                ),
            ) from None
        return True

    def request(self, route: Route, **kwargs: Any) -> Any:
        """Send ``route`` (see :meth:`ApiHook.request`), starting or renewing the session as needed."""
        settings = self.settings
        key = self._session_key(settings)
        fresh = route.name not in _SESSION_ROUTES and not self._session_started
        if fresh and key is not None and not self._adopt(key, 0):
            self.establish_session()
        try:
            return super().request(route, **kwargs)
        except SovAuthError as error:
            if not self._renewable(error, route, settings):
                raise
            assert key is not None  # only a bare session ID has none, and it is not renewable
            self.log.info(
                "The Broker answered 401 to %s; starting a new session and retrying once.", route.name
            )
            if not self._adopt(key, self._epoch):
                self.establish_session()
            return super().request(route, **kwargs)

    async def arequest(self, route: Route, **kwargs: Any) -> Any:
        """Async twin of :meth:`request`."""
        settings = await self.asettings()
        key = self._session_key(settings)
        if key and route.name not in _SESSION_ROUTES and not self._session_started:
            async with _SESSIONS.lock(key):
                if not self._adopt(key, 0):
                    await self.aestablish_session()
        try:
            return await super().arequest(route, **kwargs)
        except SovAuthError as error:
            if not self._renewable(error, route, settings):
                raise
            assert key is not None  # only a bare session ID has none, and it is not renewable
            self.log.info(
                "The Broker answered 401 to %s; starting a new session and retrying once.", route.name
            )
            async with _SESSIONS.lock(key):
                if not self._adopt(key, self._epoch):
                    await self.aestablish_session()
            return await super().arequest(route, **kwargs)

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials: ``/v1/active_user`` via the proxy, else ``/v1/session``."""
        try:
            mode = self.auth_mode()
            if mode == "proxy":
                self.establish_session()
                return True, f"Connected to {self.settings.base_url} through the Treasury API proxy."
            if mode == "login":
                self.establish_session()
            body = self.request(ROUTES["session"])
        except Exception as exc:
            return False, str(exc)
        if str(body.get("status")) == "True":
            return True, f"Connected to {self.settings.base_url}; the session is active."
        return False, (
            f"Connected to {self.settings.base_url}, but the session is not active: renew the session ID "
            f"in connection {self.conn_id!r} (log in again and copy the new x-session-id)."
        )

    # --- Generation -------------------------------------------------------------------------------

    def generate(self, checked: GenerationRequest) -> dict[str, Any]:
        """Send a checked :func:`generation_request`; return the status body the Broker answers with."""
        job_id = checked.body.get("submission_id")
        try:
            return dict(self.request(ROUTES[checked.route], json=checked.body, job_id=job_id))
        except SovBadRequestError as error:
            if "prerequisite" not in (error.server_message or "").lower():
                raise
            raise SovPrerequisiteError(
                error.message,
                action=error.action,
                job_id=job_id,
                http_status=error.http_status,
                server_message=error.server_message,
                hint=(
                    f"The {checked.file_type} file can be generated once the submission's "
                    f"{'A/B/C' if checked.file_type in D_FILE_TYPES else 'cross-file'} validations "
                    "have finished without errors. Give the task retries with a retry_delay (e.g. "
                    "retries=6, retry_delay=timedelta(minutes=10)) to try again later."
                ),
            ) from None

    def generate_file(
        self,
        submission_id: int | str,
        file_type: str,
        start: str | dt.date | None = None,
        end: str | dt.date | None = None,
        agency_type: str = "awarding",
        file_format: str = "csv",
    ) -> dict[str, Any]:
        """
        Start (or restart) generating ``file_type`` for a submission; return its status body.

        :param submission_id: The submission.
        :param file_type: ``D1``, ``D2``, ``E`` or ``F``.
        :param start: First day (``MM/DD/YYYY``), D1/D2 only.
        :param end: Last day (``MM/DD/YYYY``), D1/D2 only.
        :param agency_type: ``awarding`` or ``funding`` (D1/D2).
        :param file_format: ``csv`` or pipe-delimited ``txt`` (D1/D2).
        """
        return self.generate(
            generation_request(
                submission_id=submission_id,
                file_type=file_type,
                start=start,
                end=end,
                agency_type=agency_type,
                file_format=file_format,
            )
        )

    def generate_detached_file(
        self,
        file_type: str,
        *,
        cgac_code: str | None = None,
        frec_code: str | None = None,
        start: str | dt.date | None = None,
        end: str | dt.date | None = None,
        agency_type: str = "awarding",
        file_format: str = "csv",
        element_numbers: bool = False,
        year: int | str | None = None,
        period: int | None = None,
    ) -> dict[str, Any]:
        """
        Start generating a file for an agency, outside any submission; return its status body.

        :param file_type: ``D1``, ``D2``, ``A`` or ``BOC``.
        :param cgac_code: The agency's CGAC code (3 digits); or ``frec_code`` (4 digits).
        :param year: Fiscal year (A and BOC).
        :param period: Fiscal period 2-12 (A and BOC).
        """
        return self.generate(
            generation_request(
                file_type=file_type,
                cgac_code=cgac_code,
                frec_code=frec_code,
                start=start,
                end=end,
                agency_type=agency_type,
                file_format=file_format,
                element_numbers=element_numbers,
                year=year,
                period=period,
            )
        )

    # --- Status and URLs ----------------------------------------------------------------------------

    def _target_call(self, target: GenerationTarget, *, url: bool) -> tuple[Route, dict[str, Any], int]:
        """The status route (or, with ``url``, the file-URL route) for ``target``, with its query."""
        if target.job_id is not None:
            name = "get_detached_file_url" if url else "check_detached_generation_status"
            return ROUTES[name], {"job_id": target.job_id}, target.job_id
        assert target.submission_id is not None
        params = {"submission_id": target.submission_id, "file_type": target.file_type}
        return ROUTES["get_file_url" if url else "check_generation_status"], params, target.submission_id

    def read_status(self, target: GenerationTarget) -> dict[str, Any]:
        """The status body of a generation (signed ``url`` included while ``finished``)."""
        route, params, job_id = self._target_call(target, url=False)
        return dict(self.request(route, params=params, job_id=job_id, action=_reading(target, "status")))

    async def aread_status(self, target: GenerationTarget) -> dict[str, Any]:
        """Async twin of :meth:`read_status`, for triggers."""
        route, params, job_id = self._target_call(target, url=False)
        return dict(
            await self.arequest(route, params=params, job_id=job_id, action=_reading(target, "status"))
        )

    def check_generation_status(self, submission_id: int | str, file_type: str) -> dict[str, Any]:
        """``GET /v1/check_generation_status`` for a submission's file."""
        return self.read_status(GenerationTarget.of(submission_id, file_type))

    async def acheck_generation_status(self, submission_id: int | str, file_type: str) -> dict[str, Any]:
        """Async twin of :meth:`check_generation_status`."""
        return await self.aread_status(GenerationTarget.of(submission_id, file_type))

    def check_detached_generation_status(self, job_id: int | str) -> dict[str, Any]:
        """``GET /v1/check_detached_generation_status`` (an unknown job reads ``invalid``)."""
        return self.read_status(GenerationTarget.of(job_id=job_id))

    async def acheck_detached_generation_status(self, job_id: int | str) -> dict[str, Any]:
        """Async twin of :meth:`check_detached_generation_status`."""
        return await self.aread_status(GenerationTarget.of(job_id=job_id))

    def get_file_url(self, submission_id: int | str, file_type: str) -> str:
        """A freshly signed URL (valid about 60 seconds) of a submission's generated file."""
        return self.file_url(GenerationTarget.of(submission_id, file_type))

    def get_detached_file_url(self, job_id: int | str) -> str:
        """A freshly signed URL (valid about 60 seconds) of a detached generation's file."""
        return self.file_url(GenerationTarget.of(job_id=job_id))

    def finished_file_url(self, target: GenerationTarget, body: Mapping[str, Any]) -> str:
        """
        The signed URL in the status ``body`` that found ``target`` finished, or a freshly signed
        one when that body carries none usable.
        """
        url = body.get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return url
        return self.file_url(target)

    def file_url(self, target: GenerationTarget) -> str:
        """A freshly signed URL (valid about 60 seconds) of a finished generation's file."""
        route, params, job_id = self._target_call(target, url=True)
        body = self.request(route, params=params, job_id=job_id, action=_reading(target, "file URL"))
        call = self._call(route, self.settings, job_id, None)
        return _signed_url(require_keys(body, ("url",), call)["url"], target)

    # --- Download -------------------------------------------------------------------------------

    def download_file(
        self,
        target: GenerationTarget,
        destination: Destination,
        *,
        filename: str | None = None,
        overwrite: bool = False,
        url: str | None = None,
    ) -> DownloadedFile:
        """
        Download a finished generation's file into ``destination``, whole or not at all.

        The signed URL lives about 60 seconds, so it is read right before downloading (unless
        ``url`` was just read). It is fetched with no credentials of any kind: the signature is
        the credential. A 403 from storage (expired) gets a freshly signed URL, once. The byte
        count is checked against ``Content-Length`` (the Broker's ``size`` is usually null).
        """
        if url is None:
            body = self.read_status(target)
            status = str(body.get("status") or "unknown")
            if status != "finished":
                raise SovError(
                    f"The {target.label} is not ready to download: its status is {status!r}.",
                    job_id=target.key,
                    server_message=body.get("message") or None,
                    hint="Wait for it with DFileGenerationSensor (or DFileGenerateOperator) first.",
                )
            url = _signed_url(body.get("url"), target)
        for attempt in (1, 2):
            try:
                return self.download(
                    url,
                    destination,
                    filename=filename,
                    overwrite=overwrite,
                    job_id=target.key,
                    what=f"{target.file_type or 'generated'} file".strip(),
                    credentials=False,
                )
            except SovAuthError as error:
                if error.http_status != 403:
                    raise
                if attempt == 2:
                    raise SovAuthError(
                        f"Storage refused the {target.label} twice (HTTP 403), even at a freshly signed URL: "
                        f"{error.server_message or 'no message'}.",
                        action=error.action,
                        job_id=target.key,
                        http_status=403,
                        server_message=error.server_message,
                        hint=(
                            "Signed URLs expire 60 seconds after they are issued: check this machine's "
                            "clock, and that the download can start right after the status is read."
                        ),
                    ) from None
                self.log.info(
                    "Storage refused the signed URL of the %s (expired?); signing a new one.", target.label
                )
                url = self.file_url(target)
        raise AssertionError("unreachable")  # pragma: no cover


def _reading(target: GenerationTarget, what: str) -> str:
    """What a read is doing, naming the file type (``read D1 status``) where it is known."""
    return f"read {target.file_type} {what}" if target.file_type else f"read {what}"


def _signed_url(url: object, target: GenerationTarget) -> str:
    if not isinstance(url, str) or url in ("", "#"):
        raise SovError(
            f"The Broker gave no download URL for the {target.label} (got {url!r}).",
            job_id=target.key,
            hint="The file may not be generated yet: wait for it to finish first.",
        )
    return url
