"""
The DATA Act Broker half of the emulator: sessions, submissions, D/E/F/A/BOC generation, storage.

Implements ``shared/spec/broker.md`` including its traps: the Treasury proxy (``client_id`` and
``client_secret`` headers, no trailing slashes), ``x-session-id`` sessions that expire, login,
``401 Login Required``, 500 on an empty JSON POST, the prerequisite-validation 400, a brief
``invalid`` after requesting E, F, A or BOC, never-requested D files ``invalid`` and E/F
``waiting``, cache hits ``finished`` at once, and signed URLs valid 60 seconds on a storage server
on another port that rejects and records any request carrying a credential.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from aiohttp import web

from airflow_provider_sov.testing.faults import Seen
from airflow_provider_sov.testing.wire import serve_bytes

if TYPE_CHECKING:
    from airflow_provider_sov.testing.server import EmulatorServer

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
    extra: dict[str, Any] = field(default_factory=dict)


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _real_date(value: Any) -> dt.date | None:
    """Like the Broker: the format is checked; an impossible date raises (the route then answers 500)."""
    if not isinstance(value, str) or len(value) != 10 or value[2] != "/" or value[5] != "/":
        return None
    month, day, year = (int(p) if p.isdigit() else -1 for p in value.split("/"))
    if min(month, day, year) < 0:
        return None
    return dt.date(year, month, day)  # ValueError for 02/30/2020: a 500, as the real Broker gives


class BrokerState:
    """All DATA Act Broker state of one emulator, its routes and its storage server's route."""

    def __init__(
        self, server: EmulatorServer, generation_seconds: float = 30.0, pickup_seconds: float = 5.0
    ) -> None:
        self.server = server
        self.generation_seconds = generation_seconds
        self.pickup_seconds = pickup_seconds
        self.rows = 40
        self.sessions: dict[str, float] = {SESSION_ID: 0.0}
        self.proxy_sessions: dict[str, str] = {}
        #: Every session ID ever issued (to search logs and XComs for them).
        self.issued: list[str] = [SESSION_ID]
        self.submissions = {sid: Submission(sid, *flags) for sid, flags in SEEDED_SUBMISSIONS.items()}
        self.jobs: dict[int, Generation] = {}
        self.submission_files: dict[tuple[int, str], int] = {}
        self.cache: dict[tuple[Any, ...], int] = {}
        self.scripted: list[str] = []
        self.created = 0
        #: Requests that reached storage carrying a credential (must stay empty).
        self.credential_attempts: list[Seen] = []
        self._signing_key = secrets.token_bytes(16)
        self._next_job = 5000

    # --- Test controls ----------------------------------------------------------------------------

    def add_submission(
        self,
        submission_id: int,
        *,
        abc_validated: bool = True,
        cross_file_validated: bool = True,
        fabs: bool = False,
    ) -> int:
        """Create a submission with the given validation state; return its ID."""
        with self.server.lock:
            self.submissions[submission_id] = Submission(
                submission_id, abc_validated, cross_file_validated, fabs
            )
        return submission_id

    def finish_validations(self, submission_id: int) -> None:
        """Mark a submission's A/B/C and cross-file validations as passed."""
        with self.server.lock:
            sub = self.submissions[submission_id]
            sub.abc_validated = sub.cross_file_validated = True

    def script_failure(self, message: str = "emulator: scripted generation failure") -> None:
        """Make the next generation requested end ``failed`` with ``message``."""
        with self.server.lock:
            self.scripted.append(message)

    def reset_generation(self, submission_id: int, file_type: str) -> None:
        """Make a submission's file read ``invalid`` from now on (as a reset submission does)."""
        with self.server.lock:
            self.jobs[self.submission_files[(submission_id, file_type)]].reset = True

    def expire_sessions(self) -> None:
        """End every session (direct and through the proxy), as 30 idle minutes would."""
        with self.server.lock:
            self.sessions.clear()
            self.proxy_sessions.clear()

    def add_running_generation(self, seconds: float, cgac_code: str = "097") -> int:
        """Start a detached D1 generation that finishes ``seconds`` from now; return its job ID."""
        with self.server.lock:
            params: dict[str, Any] = {"start": "10/01/2025", "end": "12/31/2025", "agency_type": "awarding"}
            params.update(file_format="csv", agency=cgac_code, element_numbers=False)
            gen = self._new_generation("D1", params, None, f"File-D1_{cgac_code}_{self._next_job + 1}.csv")
            # A fresh generation each time, never a cached copy of an earlier one.
            gen.cached, gen.duration, gen.data, gen.generated_at = False, seconds, b"", ""
            return gen.job_id

    def file_bytes(self, job_id: int) -> bytes:
        """The bytes storage serves for a generation (for comparing with a download)."""
        return self.jobs[int(job_id)].data

    # --- Auth -----------------------------------------------------------------------------------

    def _session_alive(self, session_id: str | None, touch: bool = True) -> bool:
        now = self.server.clock.now()
        last = self.sessions.get(session_id or "")
        if last is None or now - last > SESSION_TIMEOUT:
            self.sessions.pop(session_id or "", None)
            return False
        if touch:
            self.sessions[session_id or ""] = now
        return True

    def _new_session(self) -> str:
        session_id = secrets.token_hex(16)
        self.sessions[session_id] = self.server.clock.now()
        self.issued.append(session_id)
        return session_id

    def check_auth(self, request: web.Request) -> web.Response | None:
        """Direct Broker: ``x-session-id``; proxy: client headers, bare paths, a started session."""
        route = request.match_info.route.name
        with self.server.lock:
            if request.path.startswith(PROXY_PREFIX):
                if request.path.endswith("/"):
                    return _json_error(404, "resource_not_found")
                client, secret = request.headers.get("client_id"), request.headers.get("client_secret")
                if not client or not secret:
                    return _json_error(401, "Authentication denied")
                if client != CLIENT_ID or not hmac.compare_digest(secret, CLIENT_SECRET):
                    return _json_error(401, "Invalid Client")
                if route == "active_user":
                    self.proxy_sessions[client] = self._new_session()
                    return None
                if route is None:
                    return _json_error(404, "resource_not_found")
                if not self._session_alive(self.proxy_sessions.get(client), touch=route != "session"):
                    return _json_error(401, "Login Required")
                return None
            if route in ("login", "session"):
                return None
            if not self._session_alive(request.headers.get("x-session-id")):
                return _json_error(401, "Login Required")
        return None

    def check_storage(self, request: web.Request) -> web.Response | None:
        """
        Storage takes the signature as the only credential: anything else is refused, and recorded.
        The same holds for the ``elsewhere`` route, which stands for any host but the API's.
        """
        carried = [h for h in CREDENTIAL_HEADERS if h in {k.lower() for k in request.headers}]
        if carried:
            with self.server.lock:
                self.credential_attempts.append(
                    Seen(
                        request.match_info.route.name or "storage",
                        request.method,
                        request.path,
                        dict(request.headers),
                    )
                )
            return web.Response(
                status=400,
                text="<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
                content_type="application/xml",
            )
        return None

    # --- Routes ---------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Register the Broker's routes on ``app`` (bare and with a trailing slash) and under the proxy prefix."""
        proxy = web.Application()
        for target, slash in ((app, True), (proxy, False)):
            for method, name, handler in self._routes():
                target.router.add_route(method, f"/v1/{name}", handler, name=name)
                if slash:
                    target.router.add_route(method, f"/v1/{name}/", handler)
        app.add_subapp(PROXY_PREFIX, proxy)

    def add_storage_routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/files/{job_id}/{filename}", self.storage, name="storage")
        app.router.add_route("GET", "/elsewhere/{tail:.*}", self.elsewhere, name="elsewhere")

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("POST", "login", self.login),
            ("GET", "active_user", self.active_user),
            ("GET", "session", self.session),
            ("POST", "generate_file", self.generate_file),
            ("GET", "check_generation_status", self.check_generation_status),
            ("GET", "get_file_url", self.get_file_url),
            ("POST", "generate_detached_file", self.generate_detached_file),
            ("GET", "check_detached_generation_status", self.check_detached_generation_status),
            ("GET", "get_detached_file_url", self.get_detached_file_url),
        ]

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        raw = await request.read()
        if not raw:
            # The real Broker's JSON parsing fails on an empty body: an unhandled 500.
            return _json_error(500, "Internal Server Error")
        try:
            data = json.loads(raw)
        except ValueError:
            return _json_error(400, "Request body must be JSON")
        return data if isinstance(data, dict) else _json_error(400, "Request body must be a JSON object")

    async def login(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        if data.get("username") != USER or data.get("password") != PASSWORD:
            return _json_error(401, "Invalid username and/or password")
        with self.server.lock:
            session_id = self._new_session()
        body = {
            "message": "Login successful",
            "user_id": 1,
            "name": "Emulator User",
            "session_id": session_id,
        }
        return web.json_response(body, headers={"x-session-id": session_id})

    async def active_user(self, request: web.Request) -> web.Response:
        with self.server.lock:
            session_id = self.proxy_sessions.get(request.headers.get("client_id") or "")
        headers = {"x-session-id": session_id} if session_id else {}
        return web.json_response({"user_id": 1, "name": "Emulator System Account"}, headers=headers)

    async def session(self, request: web.Request) -> web.Response:
        with self.server.lock:
            client = request.headers.get("client_id")
            session_id = (
                self.proxy_sessions.get(client or "") if request.path.startswith(PROXY_PREFIX) else None
            )
            alive = self._session_alive(session_id or request.headers.get("x-session-id"), touch=False)
        return web.json_response({"status": "True" if alive else "False"})

    # --- Generation -------------------------------------------------------------------------------

    def _status(self, gen: Generation) -> str:
        now = self.server.clock.now()
        if gen.reset:
            return "invalid"
        if gen.file_type in SLOW_START and not gen.cached and now < gen.requested_at + self.pickup_seconds:
            return "invalid"
        if now < gen.requested_at + gen.duration:
            return "waiting"
        if gen.fail_message:
            return "failed"
        if not gen.data:
            self._render(gen)
        return "finished"

    def _render(self, gen: Generation) -> None:
        out = io.StringIO()
        pipe = gen.params.get("file_format") == "txt"
        writer = csv.writer(out, delimiter="|" if pipe else ",", lineterminator="\n")
        writer.writerow(COLUMNS[gen.file_type])
        for i in range(self.rows):
            writer.writerow(
                [f"{gen.file_type}-{gen.job_id}-{i}", f"value, {i}", "097", f"{i * 1000.5:.2f}"][
                    : len(COLUMNS[gen.file_type])
                ]
            )
        gen.data = out.getvalue().encode()
        stamp = dt.datetime.fromtimestamp(self.server.clock.wall(), dt.UTC)
        gen.generated_at = stamp.strftime("%Y-%m-%d %H:%M:%S.%f")

    def _signed(self, request: web.Request, gen: Generation) -> str:
        expires = int(self.server.clock.wall()) + URL_LIFETIME
        path = f"/files/{gen.job_id}/{quote(gen.filename)}"
        signature = hmac.new(self._signing_key, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()
        return f"{self.server.storage_url}{path}?Expires={expires}&Signature={signature}"

    def _status_body(self, request: web.Request, gen: Generation | None, file_type: str) -> dict[str, Any]:
        if gen is None:
            status = "invalid" if file_type in ("D1", "D2") else "waiting"
            body: dict[str, Any] = {
                "job_id": None,
                "status": status,
                "file_type": file_type,
                "url": "#",
                "size": None,
            }
            return {**body, "message": "", "generated_at": ""}
        status = self._status(gen)
        body = {
            "job_id": gen.job_id,
            "status": status,
            "file_type": gen.file_type,
            "url": self._signed(request, gen) if status == "finished" else "#",
            "size": None,
            "message": gen.fail_message if status == "failed" else "",
            "generated_at": gen.generated_at,
        }
        if gen.file_type in ("D1", "D2"):
            body.update(start=gen.params["start"], end=gen.params["end"])
        return body

    def _new_generation(
        self, file_type: str, params: dict[str, Any], submission_id: int | None, name: str
    ) -> Generation:
        cache_key = None
        if file_type in ("D1", "D2"):
            cache_key = (
                file_type,
                params.get("start"),
                params.get("end"),
                params.get("agency_type"),
                params.get("file_format"),
                params.get("element_numbers"),
                params.get("agency"),
            )
        self._next_job += 1
        gen = Generation(
            self._next_job, file_type, params, self.server.clock.now(), self.generation_seconds, submission_id
        )
        gen.filename = name
        cached = self.jobs.get(self.cache.get(cache_key, -1)) if cache_key else None
        if cached is not None and self._status(cached) == "finished":
            gen.cached, gen.duration, gen.data, gen.generated_at = True, 0.0, cached.data, cached.generated_at
        else:
            self.created += 1
            if self.scripted:
                gen.fail_message = self.scripted.pop(0)
            elif cache_key:
                self.cache[cache_key] = gen.job_id
        self.jobs[gen.job_id] = gen
        return gen

    def _check_dates(self, data: dict[str, Any]) -> web.Response | None:
        for name in ("start", "end"):
            if not data.get(name):
                return _json_error(400, f"Must have a {name} date for D file generation")
            if _real_date(data[name]) is None:
                return _json_error(400, f"{name} must be in the format MM/DD/YYYY")
        if _real_date(data["start"]) > _real_date(data["end"]):  # type: ignore[operator]
            return _json_error(400, "Start date cannot be after end date")
        return None

    def _params(self, data: dict[str, Any], file_type: str, agency: str) -> dict[str, Any] | web.Response:
        """What identifies a generation: the agency and, for D1/D2, dates, agency type and format."""
        params: dict[str, Any] = {"agency": agency}
        if file_type in ("D1", "D2"):
            bad = self._check_dates(data)
            if bad is not None:
                return bad
            params.update(
                start=data["start"],
                end=data["end"],
                agency_type=data.get("agency_type", "awarding"),
                file_format=data.get("file_format", "csv"),
            )
        return params

    async def generate_file(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        file_type = str(data.get("file_type") or "")
        with self.server.lock:
            sub = self.submissions.get(data.get("submission_id"))  # type: ignore[arg-type]
            if sub is None:
                return _json_error(400, "Submission does not exist")
            if sub.fabs:
                return _json_error(400, "Cannot generate files for a FABS submission")
            if file_type not in SUBMISSION_FILE_TYPES:
                return _json_error(400, "file_type: Must be one of D1, D2, E, F")
            params = self._params(data, file_type, sub.cgac_code)
            if isinstance(params, web.Response):
                return params
            ready = sub.abc_validated if file_type in ("D1", "D2") else sub.cross_file_validated
            if not ready:
                return _json_error(400, PREREQUISITE)
            ext = "txt" if params.get("file_format") == "txt" else "csv"
            name = f"SubID-{sub.submission_id}_File-{file_type}_{self._next_job + 1}.{ext}"
            gen = self._new_generation(file_type, params, sub.submission_id, name)
            self.submission_files[(sub.submission_id, file_type)] = gen.job_id
            return web.json_response(self._status_body(request, gen, file_type))

    async def generate_detached_file(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        file_type = str(data.get("file_type") or "")
        if file_type not in DETACHED_FILE_TYPES:
            return _json_error(400, "file_type: Must be one of D1, D2, A, BOC")
        cgac, frec = data.get("cgac_code"), data.get("frec_code")
        if bool(cgac) == bool(frec):
            return _json_error(400, "Detached file generation requires exactly one of cgac_code or frec_code")
        params = self._params(data, file_type, str(cgac or frec))
        if isinstance(params, web.Response):
            return params
        if file_type in ("D1", "D2"):
            params["element_numbers"] = bool(data.get("element_numbers"))
        else:
            period = data.get("period")
            if not isinstance(data.get("year"), int) or not isinstance(period, int) or not 2 <= period <= 12:
                return _json_error(400, "year and period (2-12) are required for A and BOC files")
            params.update(year=data["year"], period=period)
        ext = "txt" if params.get("file_format") == "txt" else "csv"
        with self.server.lock:
            name = f"File-{file_type}_{params['agency']}_{self._next_job + 1}.{ext}"
            gen = self._new_generation(file_type, params, None, name)
            return web.json_response(self._status_body(request, gen, file_type))

    def _submission_gen(self, request: web.Request) -> tuple[Generation | None, str] | web.Response:
        try:
            submission_id = int(request.query.get("submission_id", ""))
        except ValueError:
            return _json_error(400, "Missing submission_id parameter")
        file_type = request.query.get("file_type", "")
        if submission_id not in self.submissions:
            return _json_error(400, "Submission does not exist")
        if file_type not in SUBMISSION_FILE_TYPES:
            return _json_error(400, "file_type: Must be one of D1, D2, E, F")
        job_id = self.submission_files.get((submission_id, file_type))
        return (self.jobs[job_id] if job_id is not None else None), file_type

    async def check_generation_status(self, request: web.Request) -> web.Response:
        with self.server.lock:
            found = self._submission_gen(request)
            if isinstance(found, web.Response):
                return found
            return web.json_response(self._status_body(request, *found))

    def _detached_gen(self, request: web.Request) -> Generation | None:
        try:
            return self.jobs.get(int(request.query.get("job_id", "")))
        except ValueError:
            return None

    async def check_detached_generation_status(self, request: web.Request) -> web.Response:
        with self.server.lock:
            gen = self._detached_gen(request)
            # An unknown job reads invalid with HTTP 200 (the route docs say 400; the code does this).
            return web.json_response(self._status_body(request, gen, gen.file_type if gen else "D1"))

    def _url_body(self, request: web.Request, gen: Generation | None) -> web.Response:
        if gen is None or self._status(gen) != "finished":
            return _json_error(400, "The file has not been generated yet")
        return web.json_response({"url": self._signed(request, gen)})

    async def get_file_url(self, request: web.Request) -> web.Response:
        with self.server.lock:
            found = self._submission_gen(request)
            if isinstance(found, web.Response):
                return found
            return self._url_body(request, found[0])

    async def get_detached_file_url(self, request: web.Request) -> web.Response:
        with self.server.lock:
            return self._url_body(request, self._detached_gen(request))

    # --- Storage ----------------------------------------------------------------------------------

    async def elsewhere(self, request: web.Request) -> web.StreamResponse:
        """Another host: whatever is asked, a few bytes (credentials were refused and recorded already)."""
        return await serve_bytes(request, b"bytes from another host\n")

    async def storage(self, request: web.Request) -> web.StreamResponse:
        path = f"/files/{request.match_info['job_id']}/{quote(unquote(request.match_info['filename']))}"
        expires = request.query.get("Expires", "")
        expected = hmac.new(self._signing_key, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()
        denied = "<Error><Code>AccessDenied</Code><Message>{}</Message></Error>"
        if not hmac.compare_digest(expected, request.query.get("Signature", "")):
            return web.Response(
                status=403, text=denied.format("SignatureDoesNotMatch"), content_type="application/xml"
            )
        if not expires.isdigit() or self.server.clock.wall() > int(expires):
            return web.Response(
                status=403, text=denied.format("Request has expired"), content_type="application/xml"
            )
        with self.server.lock:
            gen = self.jobs.get(int(request.match_info["job_id"]))
            data = gen.data if gen else b""
        if gen is None:
            return web.Response(status=404, text=denied.format("NoSuchKey"), content_type="application/xml")
        return await serve_bytes(request, data, "text/csv")
