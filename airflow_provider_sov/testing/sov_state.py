"""
The SOV Fixer emulator's state: SOVs, jobs moving through their statuses on the server's clock,
outputs, the history feed, and the controls tests use.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import random
import string
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from airflow_provider_sov.testing.sov_fixtures import (
    ISO,
    PARSE_HEALTH,
    SEEDED_SOVS,
    UPDATE_HEALTH,
    Job,
    Outcome,
    Sov,
    make_buildings,
)
from airflow_provider_sov.testing.sov_render import output_format_entry, render
from airflow_provider_sov.testing.wire import Blob


def error_response(status: int, **body: Any) -> web.Response:
    return web.json_response(body, status=status)


#: Content types by the name routes use for them (multipart routes read their parts themselves).
ENCODINGS = {"json": "application/json", "form": "application/x-www-form-urlencoded"}


async def form_fields(request: web.Request, *accepted: str) -> dict[str, Any]:
    """
    Read a body in one of the ``accepted`` encodings (``json``, ``form``) into a dict.

    A route accepts only what the vendor's client is known to send it; anything else gets the
    framework's 415. An empty body (the client sends none when it has no fields) reads as ``{}``.
    Repeated form fields become lists.
    """
    if not request.can_read_body or request.content_length == 0:
        return {}
    if request.content_type not in {ENCODINGS[name] for name in accepted}:
        raise web.HTTPUnsupportedMediaType(
            text=json.dumps({"detail": f'Unsupported media type "{request.content_type}" in request.'}),
            content_type="application/json",
        )
    if request.content_type == "application/json":
        try:
            data = json.loads(await request.read())
        except ValueError:
            raise web.HTTPBadRequest(
                text='{"detail": "JSON parse error"}', content_type="application/json"
            ) from None
        return data if isinstance(data, dict) else {}
    form = await request.post()
    fields: dict[str, Any] = {}
    for key in form:
        values = form.getall(key)
        fields[key] = values if len(values) > 1 or key in ("output_formats", "integrations") else values[0]
    return fields


def completed_since(record: dict[str, Any], since: dt.datetime) -> bool:
    """Whether a history record completed at or after ``since``; a garbled time (a test fault) passes."""
    try:
        return dt.datetime.strptime(record["completed_time"], ISO).replace(tzinfo=dt.UTC) >= since
    except ValueError:
        return True


def truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))


if TYPE_CHECKING:
    from airflow_provider_sov.testing.wire import EmulatorHost


class SovFixerState:
    """All SOV Fixer state of one emulator: SOVs, jobs, files, history, and the controls tests use."""

    def __init__(self, server: EmulatorHost) -> None:
        self.server = server
        self.sovs: dict[str, Sov] = {}
        self.jobs: dict[str, Job] = {}
        self.files: dict[tuple[str, str], bytes | Blob] = {}
        self.output_cache: dict[tuple[str, int, str], str] = {}
        #: Output requests still running, by (SOV, revision, format): "get or create" gets them.
        self.output_running: dict[tuple[str, int, str], str] = {}
        self.history: list[dict[str, Any]] = []
        #: The job behind each history record, by the record's own (opaque) ID.
        self.history_jobs: dict[str, str] = {}
        self.created: dict[str, int] = {"parse": 0, "update": 0, "output": 0, "submission": 0}
        self.scripted: dict[str, list[Outcome]] = {"parse": [], "update": [], "output": []}
        #: How long jobs on an SOV run, by SOV ID, instead of the emulator's ``job_seconds``: one
        #: test can hold its own job while other jobs on the same emulator keep their pace.
        self.durations: dict[str, float] = {}
        self._due: list[tuple[float, str]] = []
        for sov_id in SEEDED_SOVS:
            self.add_sov(sov_id)

    # --- Test controls ----------------------------------------------------------------------------

    def add_sov(self, sov_id: str | None = None, buildings: int = 5, **extra_data: Any) -> str:
        """Create a parsed SOV (revision 0, with a history record); return its ID."""
        with self.server.lock:
            sov_id = sov_id or "s-no-ping-" + "".join(
                random.choices(string.ascii_lowercase + string.digits, k=6)
            )
            rows = make_buildings(sov_id, buildings, sov_id)
            sov = Sov(sov_id, rows, {0: [dict(r) for r in rows]}, dict(extra_data))
            self.sovs[sov_id] = sov
            now = self.server.clock.now()
            job = Job("parse", sov_id, sov_id, now, 0.0, Outcome(), started_at=now, revision=0)
            job.extra_data = dict(extra_data)
            self.jobs[sov_id] = job
            self._finish(job)
            return sov_id

    def script_next(
        self, kind: str, result_status: str = "FAILED_TO_PROCESS", message: str = "", **kw: Any
    ) -> None:
        """
        Make the next job of ``kind`` (parse, update, output) end with ``result_status``.

        :param kw: ``duration`` (seconds it runs); ``request_status`` (its final request status,
            e.g. ``COMPLETE`` with a failed ``result_status``; default ``FAILED`` unless ``SUCCESS``);
            ``client_ref`` (only the next job whose ``client_ref`` starts with this one).
        """
        text = message or (
            "Success." if result_status == "SUCCESS" else f"emulator: scripted {result_status}"
        )
        outcome = Outcome(
            result_status, text, kw.get("duration"), kw.get("request_status"), kw.get("client_ref")
        )
        with self.server.lock:
            self.scripted[kind].append(outcome)

    def set_job_seconds(self, sov_id: str, seconds: float) -> None:
        """Make every job created from now on for ``sov_id`` run ``seconds`` (unless scripted)."""
        with self.server.lock:
            self.durations[sov_id] = seconds

    def add_running_update(self, seconds: float, sov_id: str | None = None) -> str:
        """
        Start an update that finishes ``seconds`` from now (for load and latency runs); return its
        SUD ID. Its JSON output, ``/api/v1/sov/<SUD ID>/output/<SUD ID>.json``, exists only once
        it is ``COMPLETE``.
        """
        with self.server.lock:
            sov = self.sovs[sov_id] if sov_id else self.sovs[self.add_sov(buildings=1)]
            sov.updates += 1
            job = self._new_job("update", f"{sov.sov_id}-r{sov.updates:03d}", sov.sov_id, seconds)
            self._start(job, self.server.clock.now())
            return job.job_id

    def finish_now(self, job_id: str) -> None:
        """Let a running job finish now (its outcome as scripted), whatever its duration said."""
        with self.server.lock:
            job = self.jobs[job_id]
            if job.finished_at is None and job.started_at is not None:
                now = self.server.clock.now()
                job.duration = max(0.0, now - job.started_at)
                heapq.heappush(self._due, (now, job_id))
                self.tick()

    def finished_at(self, job_id: str) -> float | None:
        """The UNIX time a job finished (on the emulator's clock), or None while it runs."""
        with self.server.lock:
            job = self.jobs[job_id]
            now = self.server.clock.now()
            done = job.finished_at
            if done is None and job.started_at is not None and now >= job.started_at + job.duration:
                done = job.started_at + job.duration
            return None if done is None else self.server.clock.wall() - (now - done)

    def add_blob_output(self, owner_id: str, filename: str, size: int, seed: int = 0) -> str:
        """Serve a large synthetic file; return its path (``/api/v1/sov/.../output/...``)."""
        with self.server.lock:
            self.files[(owner_id, filename)] = Blob(size, seed)
        return f"/api/v1/sov/{quote(owner_id)}/output/{quote(filename)}"

    def file_bytes(self, owner_id: str, filename: str) -> bytes:
        """The bytes the emulator serves for an output (for comparing with a download)."""
        data = self.files[(owner_id, filename)]
        return b"".join(data.chunks()) if isinstance(data, Blob) else data

    # --- Auth ---------------------------------------------------------------------------------------

    def check_auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization")
        if not header:
            return error_response(401, detail="Authentication credentials were not provided.")
        if header != f"Token {self.server.token}":
            return error_response(401, detail="Invalid token.")
        return None

    # --- Job clock ------------------------------------------------------------------------------------

    def _new_job(
        self, kind: str, job_id: str, sov_id: str, duration: float, client_ref: str | None = None
    ) -> Job:
        scripted = self.scripted[kind]
        mine = next((o for o in scripted if (client_ref or "").startswith(o.client_ref or "")), None)
        if mine is not None:
            scripted.remove(mine)
        outcome = mine or Outcome()
        duration = self.durations.get(sov_id, duration)
        if outcome.duration is not None:
            duration = outcome.duration
        job = Job(kind, job_id, sov_id, self.server.clock.now(), duration, outcome, client_ref=client_ref)
        self.jobs[job_id] = job
        self.created[kind] += 1
        return job

    def _start(self, job: Job, at: float) -> None:
        """Start ``job`` at clock time ``at`` and queue it to finish when its duration is up."""
        job.started_at = at
        heapq.heappush(self._due, (at + job.duration, job.job_id))

    def tick(self) -> None:
        """Finish every job whose time has come (called on each request: a heap, not a scan)."""
        now = self.server.clock.now()
        while self._due and self._due[0][0] <= now:
            _, job_id = heapq.heappop(self._due)
            job = self.jobs[job_id]
            if job.finished_at is None:
                self._finish(job)

    def _view(self, job: Job) -> tuple[str, int, str]:
        """(status, pct_complete, health message) of a job now."""
        if job.finished_at is not None:
            failed = job.outcome.result_status not in ("SUCCESS",)
            return (
                job.outcome.request_status or ("FAILED" if failed else "COMPLETE"),
                100,
                "Processing failed." if failed else UPDATE_HEALTH[-1],
            )
        if job.started_at is None:
            return "PENDING", 0, "Waiting for locations and a start request."
        frac = (self.server.clock.now() - job.started_at) / job.duration if job.duration else 1.0
        health = PARSE_HEALTH if job.kind == "parse" else UPDATE_HEALTH
        message = health[min(len(health) - 1, int(frac * len(health)))]
        if frac < 0.15:
            return "PENDING", 0, health[0]
        pct = min(99, int(frac * 100))
        if job.kind == "parse" and frac >= 0.85:
            return "REENRICHING", pct, message
        if job.kind == "parse" and frac >= 0.6:
            return "ENRICHING", pct, message
        return "IN_PROGRESS", pct, message

    def _finish(self, job: Job) -> None:
        job.finished_at = (
            job.started_at + job.duration if job.started_at is not None else self.server.clock.now()
        )
        sov = self.sovs.get(job.sov_id)
        success = job.outcome.result_status == "SUCCESS"
        if job.submission and sov is not None and success:
            short = sov.sov_id.rsplit("-", 1)[-1]
            for number, (key, values) in enumerate(job.corrections.items(), 1):
                sheet, row = key.split("#", 1)
                sov.buildings.append(
                    {
                        "item_key": f"b-{short}-{number:04d}",
                        "sheet_name": sheet,
                        "sheet_row_number": row,
                        **values,
                    }
                )
            sov.revisions[0] = [dict(b) for b in sov.buildings]  # its rows are the new SOV
            job.revision = 0
        elif job.kind == "update" and sov is not None and success:
            for building in sov.buildings:
                for key in (building["item_key"], f"{building['sheet_name']}#{building['sheet_row_number']}"):
                    building.update(job.corrections.get(key, {}))
            new_revision = sov.revision + 1
            sov.revisions[new_revision] = [dict(b) for b in sov.buildings]
            job.revision = new_revision
        if (
            job.kind in ("parse", "update")
            and sov is not None
            and job.outcome.result_status in ("SUCCESS", "PARTIAL_PARSE")
        ):
            revision = job.revision if job.revision is not None else sov.revision
            rows = sov.revisions.get(revision, sov.buildings)
            month = dt.datetime.fromtimestamp(self.server.clock.wall(), dt.UTC).strftime("%Y-%m")
            insured = job.extra_data.get("insured_name") or sov.extra_data.get("insured_name")
            base = f"{insured} {month}" if insured else job.job_id
            for fmt_name in job.output_formats:
                entry = output_format_entry(fmt_name)
                if entry is None:
                    continue
                filename = f"{base}.{entry[2]}"
                self.files[(job.job_id, filename)] = render(entry[0], sov.sov_id, revision, rows)
                job.outputs.append({"description": entry[1], "filename": filename, "output_format": entry[0]})
                self.output_cache[(sov.sov_id, revision, entry[0])] = filename
        if job.kind in ("parse", "update"):
            # The record's own ID is an opaque string (the vendor client's HistoryItem), no other
            # ID; pingid, a "Ping ID" that is neither an SOV nor a SUD ID, is null (nullable there).
            record_id = uuid.uuid4().hex
            self.history_jobs[record_id] = job.job_id
            self.history.append(
                {
                    "id": record_id,
                    "sovid": job.sov_id,
                    "record_type": "ORIG" if job.kind == "parse" or job.submission else job.update_type,
                    "completed_time": dt.datetime.fromtimestamp(
                        self.server.clock.wall() - (self.server.clock.now() - job.finished_at), dt.UTC
                    ).strftime(ISO),
                    "revision": job.revision if job.revision is not None else 0,
                    "status": "C" if success else "F",
                    "client_ref": job.client_ref,
                    "is_data_ready": success,
                    "pingid": None,
                    "incremental": job.kind == "update",
                }
            )

    # --- Rendering ------------------------------------------------------------------------------------

    def _url(self, request: web.Request, owner_id: str, filename: str) -> str:
        path = f"/api/v1/sov/{quote(owner_id)}/output/{quote(filename)}"
        return path if self.server.relative_urls else f"{request.scheme}://{request.host}{path}"

    def _status_body(self, request: web.Request, job: Job) -> dict[str, Any]:
        status, pct, health = self._view(job)
        wall = dt.datetime.fromtimestamp(self.server.clock.wall(), dt.UTC).strftime(ISO)
        body: dict[str, Any] = {
            "request": {
                "request_uuid": job.request_uuid,
                "status": status,
                "completed_at": wall if job.finished_at is not None else None,
                "pct_complete": pct,
                "last_health_status": health,
                "last_health_check_time": wall,
            }
        }
        if job.kind == "update":
            body["request"].update({"sudid": job.job_id, "record_type": job.update_type})
        elif job.kind == "parse":
            body["request"].update({"id": job.job_id, "sovid": job.sov_id})
        else:
            body["request"]["id"] = job.job_id
        if job.finished_at is None:
            return body
        if job.kind == "output":
            if job.outputs and job.outcome.result_status == "SUCCESS":
                out = job.outputs[0]
                url = self._url(request, out["owner"], out["filename"])
                if self.server.legacy_output_shape:  # the older documented shape
                    body["result"] = {
                        "status": "SUCCESS",
                        "outputs": [
                            {"description": out["description"], "filename": out["filename"], "url": url}
                        ],
                    }
                else:
                    body["result"] = {
                        "label": out["description"],
                        "output_format": out["output_format"],
                        "scrubbed_filename": out["filename"],
                        "url": url,
                    }
            else:
                body["result"] = {"status": job.outcome.result_status, "message": job.outcome.message}
            return body
        body["result"] = {
            "status": job.outcome.result_status,
            "message": job.outcome.message,
            "outputs": [
                {
                    "description": o["description"],
                    "filename": o["filename"],
                    "url": self._url(request, job.job_id, o["filename"]),
                }
                for o in job.outputs
            ],
        }
        return body

    def _job(self, job_id: str, kind: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.kind != kind:
            raise web.HTTPNotFound(text='{"detail": "Not found."}', content_type="application/json")
        return job

    # --- Routes ---------------------------------------------------------------------------------------
