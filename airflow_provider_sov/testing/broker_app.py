"""
The DATA Act Broker half of the emulator: sessions, D/E/F/A/BOC generation, storage; its
submissions (validations, metadata, published files) are :mod:`.broker_lifecycle`.

Follows the Broker's source, traps included: the Treasury proxy (``client_id`` and
``client_secret`` headers, no trailing slashes), ``x-session-id`` sessions that expire, login,
a bare ``401 Login Required``, a session ID on every response, error bodies with ``errorType`` and
a ``trace`` (its debug mode is always on), 500 on an empty JSON POST, a 400 naming the field its
route's arguments reject (``exception_handler.py``), the prerequisite-validation 400, a brief
``invalid`` once the validator picks up a requested E, F, A or BOC, never-requested D files
``invalid`` and E/F ``waiting`` (with the upload job's ID), one job ID per submission file,
``generated_at`` as the job's last update, detached cache hits ``finished`` at once and
in-submission ones ``waiting`` until validated, a D1/D2 regeneration clearing the job's file (and
setting a published submission back to ``updated``), and signed URLs valid 60 seconds on a
storage server on another port that rejects and records any request carrying a credential (or, as
a Broker without AWS, paths on its own disk).
"""

from __future__ import annotations

import csv
import io
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from airflow_provider_sov.testing.broker_model import (
    CLIENT_ID,
    CLIENT_SECRET,
    COLUMNS,
    DETACHED_FILE_TYPES,
    MISSING,
    PASSWORD,
    PREREQUISITE,
    PROXY_PREFIX,
    QUEUE_SHARE,
    SESSION_ID,
    SLOW_START,
    SUBMISSION_FILE_TYPES,
    USER,
    Generation,
    _json_error,
    _stamp,
    check_dates,
    generation_arguments,
    int_arg,
    webargs_error,
)
from airflow_provider_sov.testing.broker_publish import BrokerPublishing

if TYPE_CHECKING:
    from airflow_provider_sov.testing.faults import Seen
    from airflow_provider_sov.testing.wire import EmulatorHost

#: What tests and the stacks import from here (the emulator's accounts and texts).
__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "PASSWORD",
    "PROXY_PREFIX",
    "SESSION_ID",
    "USER",
    "BrokerState",
]


class BrokerState(BrokerPublishing):
    """All DATA Act Broker state of one emulator, its routes and its storage server's route."""

    def __init__(
        self, server: EmulatorHost, generation_seconds: float = 30.0, pickup_seconds: float = 5.0
    ) -> None:
        self.server = server
        self.generation_seconds = generation_seconds
        self.pickup_seconds = pickup_seconds
        self.rows = 40
        self.sessions: dict[str, float] = {SESSION_ID: 0.0}
        self.proxy_sessions: dict[str, str] = {}
        #: Every session ID ever issued (to search logs and XComs for them).
        self.issued: list[str] = [SESSION_ID]
        #: Every storage URL's signed query ever answered (the credential for a file: searched for too).
        self.signed: list[str] = []
        self.started_wall = server.clock.wall()
        self._seed_submissions()
        self._setup_submitting()
        self.jobs: dict[int, Generation] = {}
        self.submission_files: dict[tuple[int, str], int] = {}
        #: Each submission's upload job per file type: one job ID for every generation of that file.
        self.upload_jobs: dict[tuple[int, str], int] = {}
        #: Storage: object path -> bytes; and each job's newest file (kept while a new one generates).
        self.stored: dict[str, bytes] = {}
        self.newest_file: dict[int, str] = {}
        #: Sign file URLs on the Broker's own host instead of the storage port (a test control: the
        #: signature must stay the only credential even where the connection's would be welcome).
        self.storage_on_api_host = False
        #: Answer file paths, not URLs, as a Broker without AWS storage does (``use_aws: false``).
        self.local_files = False
        self.files_made = 0
        self.cache: dict[tuple[Any, ...], int] = {}
        self.scripted: list[str] = []
        self.created = 0
        #: Requests that reached storage carrying a credential (must stay empty).
        self.credential_attempts: list[Seen] = []
        self._signing_key = secrets.token_bytes(16)
        self._next_job = 5000

    # --- Test controls ----------------------------------------------------------------------------

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
            gen.cached, gen.duration, gen.data = False, seconds, b""
            return gen.job_id

    def file_bytes(self, job_id: int) -> bytes:
        """The bytes storage serves for a generation (for comparing with a download)."""
        return self.jobs[int(job_id)].data

    # --- Routes ---------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Register the Broker's routes on ``app`` (bare and with a trailing slash) and under the proxy prefix."""
        proxy = web.Application()
        for target, slash in ((app, True), (proxy, False)):
            for method, name, handler in self._routes():
                target.router.add_route(method, f"/v1/{name}", handler, name=name)
                if slash:  # the Broker sets url_map.strict_slashes = False (app.py)
                    target.router.add_route(method, f"/v1/{name}/", handler)
        app.add_subapp(PROXY_PREFIX, proxy)
        app.router.add_route("GET", "/files/{job_id}/{filename}", self.storage, name="storage")

    def add_storage_routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/files/{job_id}/{filename}", self.storage, name="storage")
        app.router.add_route("GET", "/elsewhere/{tail:.*}", self.elsewhere, name="elsewhere")

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [
            *self.submission_routes(),
            *self.submitting_routes(),
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

    # --- Generation -------------------------------------------------------------------------------

    def _status(self, gen: Generation) -> str:
        """
        A generation's status now. E, F, A and BOC jobs read ``waiting`` while queued, then
        ``invalid`` for ``pickup_seconds`` (the validator marks a picked-up job ``ready``, which the
        status route maps to ``invalid``), then ``waiting`` while running.
        """
        now = self.server.clock.now()
        if gen.reset:
            return "invalid"
        if now >= gen.requested_at + gen.duration:
            self._finish(gen)
            if gen.fail_message:
                return "failed"
            # map_generate_status: a D file in a submission is finished once its validation job is.
            return "waiting" if gen.validated_at is not None and now < gen.validated_at else "finished"
        if gen.file_type in SLOW_START and not gen.cached:
            since, queued = now - gen.requested_at, QUEUE_SHARE * self.pickup_seconds
            if queued <= since < queued + self.pickup_seconds:
                return "invalid"
        return "waiting"

    def _updated_at(self, gen: Generation) -> str:
        """The job's ``updated_at``: when its status last changed."""
        now = self.server.clock.now()
        changes = [gen.requested_at]
        if gen.file_type in SLOW_START and not gen.cached:
            queued = gen.requested_at + QUEUE_SHARE * self.pickup_seconds
            changes += [queued, queued + self.pickup_seconds]
        changes.append(gen.requested_at + gen.duration)
        if gen.validated_at is not None:
            changes.append(gen.validated_at)
        last = max(t for t in changes if t <= now)
        return _stamp(self.server.clock.wall() - (now - last))

    def _finish(self, gen: Generation) -> None:
        """Write a finished generation's file to storage, once."""
        if gen.stored or gen.fail_message:
            return
        if not gen.data:
            self._render(gen)
        path = f"/files/{gen.job_id}/{quote(gen.filename)}"
        self.stored[path] = gen.data
        self.newest_file[gen.job_id] = gen.filename
        gen.stored = True

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

    def _status_body(self, request: web.Request, gen: Generation | None, file_type: str) -> dict[str, Any]:
        """``check_file_generation``'s answer: D1/D2 carry ``start`` and ``end`` even when never requested."""
        if gen is None:
            # A submission's upload job that no generation ever ran on.
            body: dict[str, Any] = {
                "job_id": None,
                "status": "invalid" if file_type in ("D1", "D2") else "waiting",
                "file_type": file_type,
                "message": "",
                "url": "#",
                "size": None,
                "generated_at": _stamp(self.started_wall),
            }
            if file_type in ("D1", "D2"):
                body.update(start="", end="")
            return body
        status = self._status(gen)
        body = {
            "job_id": gen.job_id,
            "status": status,
            "file_type": gen.file_type,
            "message": gen.fail_message if status == "failed" else "",
            "url": self._signed(request, gen) if status == "finished" else "#",
            "size": None,
            "generated_at": self._updated_at(gen),
        }
        if gen.file_type in ("D1", "D2"):
            body.update(start=gen.params.get("start", ""), end=gen.params.get("end", ""))
        return body

    def _upload_job(self, submission_id: int, file_type: str) -> int:
        """The ID of a submission's upload job for ``file_type`` (made on first use, then kept)."""
        key = (submission_id, file_type)
        if key not in self.upload_jobs:
            self._next_job += 1
            self.upload_jobs[key] = self._next_job
        return self.upload_jobs[key]

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
                bool(params.get("element_numbers")),  # False unless asked (start_d_generation)
                params.get("agency"),
            )
        if submission_id is not None:
            job_id = self._upload_job(submission_id, file_type)  # a submission's file keeps its job
        else:
            self._next_job += 1
            job_id = self._next_job
        gen = Generation(
            job_id, file_type, params, self.server.clock.now(), self.generation_seconds, submission_id
        )
        gen.filename = name
        cached = self.jobs.get(self.cache.get(cache_key, -1)) if cache_key else None
        if cached is not None and self._status(cached) == "finished":
            gen.cached, gen.duration, gen.data = True, 0.0, cached.data
            if submission_id is not None:
                # Copied to the job at once, then validated (update_generation_submission): it
                # reads waiting until its validation job is done (pickup_seconds here).
                gen.validated_at = gen.requested_at + self.pickup_seconds
        else:
            if submission_id is not None and file_type in ("D1", "D2"):
                # reset_generation_jobs: the job's file is cleared until the new one is written.
                self.newest_file.pop(job_id, None)
            self.created += 1
            if self.scripted:
                gen.fail_message = self.scripted.pop(0)
            elif cache_key:
                self.cache[cache_key] = gen.job_id
        self.jobs[gen.job_id] = gen
        return gen

    def _params(
        self, data: dict[str, Any], file_type: str, agency: str, detached: bool = False
    ) -> dict[str, Any] | web.Response:
        """What identifies a generation: the agency and, for D1/D2, dates, agency type and format."""
        params: dict[str, Any] = {"agency": agency}
        if file_type in ("D1", "D2"):
            bad = check_dates(data, detached)
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
            sub = self._submission(request, data)
            if isinstance(sub, web.Response):
                return sub
            bad = generation_arguments(data, file_type)
            if bad is not None:
                return bad
            if sub.fabs:
                return _json_error(400, "Cannot generate files for FABS submissions.", "<class 'ValueError'>")
            params = self._params(data, file_type, sub.cgac_code)
            if isinstance(params, web.Response):
                return params
            ready = self.uploads_clean(sub) if file_type in ("D1", "D2") else self.cross_clean(sub)
            if not ready:
                return _json_error(400, PREREQUISITE)
            if file_type in ("D1", "D2") and sub.publish_status == "published":
                sub.publish_status = "updated"  # update_generation_submission: certify it again
            ext = "txt" if params.get("file_format") == "txt" else "csv"
            self.files_made += 1  # a new name per generation: the job's older file stays in storage
            name = f"SubID-{sub.submission_id}_File-{file_type}_{self.files_made}.{ext}"
            gen = self._new_generation(file_type, params, sub.submission_id, name)
            self.submission_files[(sub.submission_id, file_type)] = gen.job_id
            return web.json_response(self._status_body(request, gen, file_type))

    async def generate_detached_file(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        file_type = str(data.get("file_type") or "")
        period = data.get("period")
        bad: dict[str, str] = {}
        if "file_type" not in data:
            bad["file_type"] = MISSING
        elif file_type not in DETACHED_FILE_TYPES:
            bad["file_type"] = "Must be one of: A, BOC, D1, D2."  # OneOf's own words, sorted by the handler
        if period is not None and period not in range(2, 13):
            bad["period"] = "Period must be an integer 2-12."
        if bad:
            return webargs_error(**bad)
        cgac, frec = data.get("cgac_code"), data.get("frec_code")
        if not cgac and not frec:
            return _json_error(
                400, "Detached file generation requires CGAC or FR Entity Code", "<class 'ValueError'>"
            )
        params = self._params(
            data, file_type, str(frec or cgac), detached=True
        )  # the Broker prefers the FREC
        if isinstance(params, web.Response):
            return params
        if file_type in ("D1", "D2"):
            params["element_numbers"] = bool(data.get("element_numbers"))
        else:
            if not (data.get("year") and period):
                return _json_error(
                    400, "Must have a year and period for A or BOC file generation.", "<class 'ValueError'>"
                )
            params.update(year=data["year"], period=period)
        ext = "txt" if params.get("file_format") == "txt" else "csv"
        with self.server.lock:
            name = f"File-{file_type}_{params['agency']}_{self._next_job + 1}.{ext}"
            gen = self._new_generation(file_type, params, None, name)
            return web.json_response(self._status_body(request, gen, file_type))

    def _submission_gen(self, request: web.Request) -> tuple[Any, Generation | None, str] | web.Response:
        """The submission a read names, its latest generation of ``file_type`` (if any), and the type."""
        sub = self._submission(request, {})
        if isinstance(sub, web.Response):
            return sub
        file_type = request.query.get("file_type", "")
        if "file_type" not in request.query:
            return webargs_error(file_type=MISSING)
        if file_type not in SUBMISSION_FILE_TYPES:
            return webargs_error(file_type="Must be either D1, D2, E or F")
        job_id = self.submission_files.get((sub.submission_id, file_type))
        return sub, (self.jobs[job_id] if job_id is not None else None), file_type

    async def check_generation_status(self, request: web.Request) -> web.Response:
        with self.server.lock:
            found = self._submission_gen(request)
            if isinstance(found, web.Response):
                return found
            sub, gen, file_type = found
            body = self._status_body(request, gen, file_type)
            if gen is None:  # the submission's upload job exists, with its own ID
                body["job_id"] = self._upload_job(sub.submission_id, file_type)
            return web.json_response(body)

    def _detached_id(self, request: web.Request) -> int | web.Response:
        found = int_arg(request.query, "job_id", required=True)  # webargs' Int(required=True)
        assert found is not None
        return found

    async def check_detached_generation_status(self, request: web.Request) -> web.Response:
        with self.server.lock:
            job_id = self._detached_id(request)
            if isinstance(job_id, web.Response):
                return job_id
            gen = self.jobs.get(job_id)
            if gen is None:
                # HTTP 200, status invalid, and the Broker's own words (check_file_generation).
                return web.json_response(
                    {
                        "job_id": job_id,
                        "status": "invalid",
                        "file_type": "",
                        "message": "No generation job found with the specified ID",
                        "url": "#",
                        "size": None,
                        "generated_at": None,
                        "start": "",
                        "end": "",
                    }
                )
            return web.json_response(self._status_body(request, gen, gen.file_type))

    def _url_body(self, request: web.Request, gen: Generation) -> web.Response:
        """A URL whenever the job has a file: its newest one, even while a new generation runs."""
        self._status(gen)  # settle a generation that finished since the last read
        filename = self.newest_file.get(gen.job_id)
        if filename is None:
            return _json_error(400, "No file uploaded or generated for this type", "<class 'ValueError'>")
        return web.json_response({"url": self._signed(request, gen, filename)})

    async def get_file_url(self, request: web.Request) -> web.Response:
        with self.server.lock:
            found = self._submission_gen(request)
            if isinstance(found, web.Response):
                return found
            _, gen, _ = found
            if gen is None:
                return _json_error(400, "No file uploaded or generated for this type", "<class 'ValueError'>")
            return self._url_body(request, gen)

    async def get_detached_file_url(self, request: web.Request) -> web.Response:
        with self.server.lock:
            job_id = self._detached_id(request)
            if isinstance(job_id, web.Response):
                return job_id
            gen = self.jobs.get(job_id)
            if gen is None:
                return _json_error(400, "This job does not exist.", "<class 'ValueError'>")
            if gen.submission_id is not None:
                return _json_error(400, "This is not a detached generation job.", "<class 'ValueError'>")
            if gen.job_id not in self.newest_file and self._status(gen) != "finished":
                # The Broker splits a filename it does not have yet: an unhandled error.
                return _json_error(
                    500, "'NoneType' object has no attribute 'split'", "<class 'AttributeError'>"
                )
            return self._url_body(request, gen)
