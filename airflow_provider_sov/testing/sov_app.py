"""
The SOV Fixer half of the emulator: SOVs, parse and update jobs, outputs and the history feed.

Implements ``shared/spec/sovfixer.md`` closely enough that the vendor's own client and seed
script run against it unchanged but for the base URL. Jobs move PENDING -> IN_PROGRESS (parses also
ENRICHING) -> COMPLETE or FAILED on the server's clock; outputs are real files.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import heapq
import io
import json
import random
import string
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from aiohttp import BodyPartReader, web

from airflow_provider_sov.testing.server import FAULT_KEY

if TYPE_CHECKING:
    from airflow_provider_sov.testing.server import EmulatorServer

#: Output formats the emulated organisation may request: (output_format, label, extension).
ORG_FORMATS = (("JSON", "JSON", "json"), ("XLSX", "Excel workbook", "xlsx"), ("CSV", "Flat CSV", "csv"))
UPDATE_TYPES = ("API", "SCRUB", "AIR", "RMS", "RMS_ANALYSIS", "COMPLETE", "PINGREADY")
DOCUMENT_TYPES = ("SOV", "PREM_BDX", "CLAIM_BDX", "SOV_BDX", "ACORD")
PARSE_EXTENSIONS = (".xls", ".xlsx", ".xlsm", ".xlsb", ".pdf")
ATTRIBUTES = (
    "item_key",
    "sheet_name",
    "sheet_row_number",
    "bldg_name",
    "street_address",
    "city",
    "state",
    "postal_code",
    "country",
    "occupancy",
    "construction",
    "year_built",
    "num_stories",
    "sq_footage",
    "limits__building_limit",
    "limits__contents_limit",
    "limits__bi_limit",
)
SEEDED_SOVS = ("s-no-ping-hggcsk", "s-no-ping-k2m4qa", "s-no-ping-p7x9zt")
UPDATE_HEALTH = (
    "Queued for processing.",
    "Reading locations file.",
    "Priming enrichment cache.",
    "Geocoding updated buildings.",
    "Processing completed, storing internal artifacts.",
)
PARSE_HEALTH = (
    "Queued for processing.",
    "Reading workbook.",
    "Extracting buildings.",
    "Enriching buildings.",
)
ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass
class Outcome:
    """How a job ends: ``result_status`` SUCCESS, or a failure with a message."""

    result_status: str = "SUCCESS"
    message: str = "Success."
    duration: float | None = None


@dataclass
class Sov:
    sov_id: str
    buildings: list[dict[str, Any]]
    revisions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    extra_data: dict[str, Any] = field(default_factory=dict)
    client_ref: str | None = None
    updates: int = 0

    @property
    def revision(self) -> int:
        return max(self.revisions) if self.revisions else 0


@dataclass
class Job:
    """A parse job, an update job (SUD) or an output request."""

    kind: str  # "parse", "update" or "output"
    job_id: str
    sov_id: str
    created_at: float
    duration: float
    outcome: Outcome
    started_at: float | None = None
    finished_at: float | None = None
    update_type: str = "API"
    client_ref: str | None = None
    extra_data: dict[str, Any] = field(default_factory=dict)
    output_formats: list[str] = field(default_factory=lambda: ["JSON"])
    corrections: dict[str, dict[str, str]] = field(default_factory=dict)
    rows_received: int = 0
    revision: int | None = None
    outputs: list[dict[str, str]] = field(default_factory=list)
    request_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)


class Blob:
    """A large synthetic file, generated as it is served (for download benchmarks)."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        block = hashlib.sha256(str(seed).encode()).digest()
        self._block = (block * (65536 // len(block) + 1))[:65536]

    def chunks(self, chunk: int = 256 * 1024) -> Any:
        remaining = self.size
        piece = self._block * (chunk // len(self._block))
        while remaining > 0:
            n = min(remaining, len(piece))
            yield piece[:n]
            remaining -= n

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for part in self.chunks():
            digest.update(part)
        return digest.hexdigest()


def _buildings(sov_id: str, count: int, seed: str) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cities = (
        ("Austin", "TX", "78701"),
        ("Denver", "CO", "80202"),
        ("Miami", "FL", "33131"),
        ("Boise", "ID", "83702"),
    )
    short = sov_id.rsplit("-", 1)[-1]
    rows = []
    for i in range(count):
        city, state, postal = rng.choice(cities)
        rows.append(
            {
                "item_key": f"b-{short}-{i + 1:04d}",
                "sheet_name": "SOV",
                "sheet_row_number": str(i + 2),
                "bldg_name": f"Building {i + 1}",
                "street_address": f"{rng.randint(10, 9999)} Main St",
                "city": city,
                "state": state,
                "postal_code": postal,
                "country": "USA",
                "occupancy": rng.choice(("Office", "Retail", "Warehouse")),
                "construction": rng.choice(("Frame", "Masonry", "Steel")),
                "year_built": str(rng.randint(1950, 2020)),
                "num_stories": str(rng.randint(1, 12)),
                "sq_footage": str(rng.randint(2000, 90000)),
                "limits__building_limit": str(rng.randint(1, 50) * 100000),
                "limits__contents_limit": str(rng.randint(1, 20) * 50000),
                "limits__bi_limit": str(rng.randint(1, 10) * 25000),
            }
        )
    return rows


def _xlsx(rows: list[dict[str, Any]]) -> bytes:
    """A minimal but valid XLSX workbook (one sheet, inline strings)."""
    columns = list(rows[0]) if rows else ["item_key"]

    def cell(ref: str, value: Any) -> str:
        return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'

    def col(i: int) -> str:
        name = ""
        i += 1
        while i:
            i, rem = divmod(i - 1, 26)
            name = chr(65 + rem) + name
        return name

    lines = ["".join(cell(f"{col(i)}1", c) for i, c in enumerate(columns))]
    for r, row in enumerate(rows, start=2):
        lines.append("".join(cell(f"{col(i)}{r}", row.get(c, "")) for i, c in enumerate(columns)))
    sheet_rows = "".join(f'<row r="{n}">{cells}</row>' for n, cells in enumerate(lines, start=1))
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel_ns = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel_ns}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook {ns} xmlns:r="{rel_ns}">'
            '<sheets><sheet name="SOV" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel_ns}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet {ns}><sheetData>{sheet_rows}</sheetData></worksheet>'
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def render(fmt: str, sov_id: str, revision: int, rows: list[dict[str, Any]]) -> bytes:
    """The bytes of one output file."""
    if fmt == "JSON":
        return json.dumps({"sovid": sov_id, "revision": revision, "buildings": rows}, indent=2).encode()
    if fmt == "CSV":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["item_key"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return text.getvalue().encode()
    return _xlsx(rows)


def _fmt(name: str) -> tuple[str, str, str] | None:
    for entry in ORG_FORMATS:
        if entry[0] == name.upper():
            return entry
    return None


async def serve_bytes(
    request: web.Request, data: bytes | Blob, content_type: str = "application/octet-stream"
) -> web.StreamResponse:
    """
    Stream a file with its Content-Length. A ``truncate`` fault cuts it off half way (after
    waiting its ``delay``); a ``hostile_filename`` fault names it in ``Content-Disposition``.
    """
    size = data.size if isinstance(data, Blob) else len(data)
    fault = request.get(FAULT_KEY)
    # Serving a file changes nothing, so "after acting" is "before the first byte" here.
    if fault is not None and fault.kind == "slow_after":
        await asyncio.sleep(fault.delay)
    if fault is not None and fault.kind == "status_after":
        status = fault.status or 503
        return web.json_response({"message": f"emulator: injected HTTP {status}"}, status=status)
    headers = {"Content-Type": content_type}
    if fault is not None and fault.kind == "hostile_filename":
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(str(fault.value), safe='')}"
    response = web.StreamResponse(headers=headers)
    response.content_length = size
    await response.prepare(request)
    limit = size // 2 if fault is not None and fault.kind == "truncate" else size
    sent = 0
    chunks = data.chunks() if isinstance(data, Blob) else [data]
    for chunk in chunks:
        piece = chunk[: max(0, limit - sent)]
        if piece:
            await response.write(piece)
            sent += len(piece)
        if sent >= limit:
            break
    if limit < size:
        assert request.transport is not None
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        request.transport.close()
        return response
    await response.write_eof()
    return response


def _error(status: int, **body: Any) -> web.Response:
    return web.json_response(body, status=status)


async def _fields(request: web.Request) -> dict[str, Any]:
    """Read a JSON, form-encoded or multipart body into a dict (repeated fields become lists)."""
    if request.content_type == "application/json":
        raw = await request.read()
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise web.HTTPBadRequest(
                text='{"detail": "JSON parse error"}', content_type="application/json"
            ) from None
        return data if isinstance(data, dict) else {}
    if not request.can_read_body:
        return {}
    form = await request.post()
    fields: dict[str, Any] = {}
    for key in form:
        values = form.getall(key)
        fields[key] = values if len(values) > 1 or key in ("output_formats", "integrations") else values[0]
    return fields


def _completed_since(record: dict[str, Any], since: dt.datetime) -> bool:
    """Whether a history record completed at or after ``since``; a garbled time (a test fault) passes."""
    try:
        return dt.datetime.strptime(record["completed_time"], ISO).replace(tzinfo=dt.UTC) >= since
    except ValueError:
        return True


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))


class SovFixerState:
    """All SOV Fixer state of one emulator, and its routes."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.sovs: dict[str, Sov] = {}
        self.jobs: dict[str, Job] = {}
        self.files: dict[tuple[str, str], bytes | Blob] = {}
        self.output_cache: dict[tuple[str, int, str], str] = {}
        #: Output requests still running, by (SOV, revision, format): "get or create" gets them.
        self.output_running: dict[tuple[str, int, str], str] = {}
        self.history: list[dict[str, Any]] = []
        self.created: dict[str, int] = {"parse": 0, "update": 0, "output": 0}
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
            rows = _buildings(sov_id, buildings, sov_id)
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
        """Make the next job of ``kind`` (parse, update, output) end with ``result_status``."""
        text = message or (
            "Success." if result_status == "SUCCESS" else f"emulator: scripted {result_status}"
        )
        with self.server.lock:
            self.scripted[kind].append(Outcome(result_status, text, kw.get("duration")))

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
            return _error(401, detail="Authentication credentials were not provided.")
        if header != f"Token {self.server.token}":
            return _error(401, detail="Invalid token.")
        return None

    # --- Job clock ------------------------------------------------------------------------------------

    def _new_job(self, kind: str, job_id: str, sov_id: str, duration: float) -> Job:
        outcome = self.scripted[kind].pop(0) if self.scripted[kind] else Outcome()
        duration = self.durations.get(sov_id, duration)
        if outcome.duration is not None:
            duration = outcome.duration
        job = Job(kind, job_id, sov_id, self.server.clock.now(), duration, outcome)
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
                "FAILED" if failed else "COMPLETE",
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
        if job.kind == "update" and sov is not None and success:
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
                entry = _fmt(fmt_name)
                if entry is None:
                    continue
                filename = f"{base}.{entry[2]}"
                self.files[(job.job_id, filename)] = render(entry[0], sov.sov_id, revision, rows)
                job.outputs.append({"description": entry[1], "filename": filename, "output_format": entry[0]})
                self.output_cache[(sov.sov_id, revision, entry[0])] = filename
        if job.kind in ("parse", "update"):
            record_id = len(self.history) + 1
            self.history.append(
                {
                    "id": record_id,
                    "sovid": job.sov_id,
                    "record_type": "ORIG" if job.kind == "parse" else job.update_type,
                    "completed_time": dt.datetime.fromtimestamp(
                        self.server.clock.wall() - (self.server.clock.now() - job.finished_at), dt.UTC
                    ).strftime(ISO),
                    "revision": job.revision if job.revision is not None else 0,
                    "status": "C" if success else "F",
                    "client_ref": job.client_ref,
                    "is_data_ready": success,
                    "pingid": job.job_id,
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

    def add_routes(self, app: web.Application) -> None:
        """Register every SOV Fixer route; names match the hook's route names."""
        add = app.router.add_route
        add("GET", "/api/v1/output_formats", self.output_formats, name="output_formats")
        add("POST", "/api/v1/sov", self.parse, name="parse")
        add("GET", "/api/v1/sov/history", self.history_page, name="history")
        add("GET", "/api/v1/sov/history/{id}", self.history_item, name="history_item")
        add(
            "GET", "/api/v1/sov/get_or_create_output/{request_id}", self.output_request, name="output_request"
        )
        add("GET", "/api/v1/sov/update/{sud_id}", self.update_status, name="update_status")
        add("POST", "/api/v1/sov/update/{sud_id}/add_locations", self.add_locations, name="add_locations")
        add("POST", "/api/v1/sov/update/{sud_id}/start", self.start_update, name="start_update")
        add("POST", "/api/v1/sov/{sov_id}/initiate_update", self.initiate_update, name="initiate_update")
        add(
            "POST",
            "/api/v1/sov/{id}/get_or_create_output",
            self.get_or_create_output,
            name="get_or_create_output",
        )
        add("GET", "/api/v1/sov/{id}/output/{filename}", self.download, name="download")
        add("GET", "/api/v1/sov/{sov_id}", self.parse_status, name="parse_status")

    async def output_formats(self, request: web.Request) -> web.Response:
        sov_id = request.query.get("sovid")
        with self.server.lock:
            known = (
                sov_id is None
                or sov_id in self.sovs
                or getattr(self.jobs.get(sov_id), "kind", "") == "update"
            )
        if not known:
            return _error(404, detail="Not found.")
        formats = [
            {"output_format": f, "label": label, "output_extension": ext, "is_public": True}
            for f, label, ext in ORG_FORMATS
        ]
        return web.json_response({"output_formats": formats})

    async def parse(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            return _error(400, file=["No file was submitted."])
        reader = await request.multipart()
        fields: dict[str, list[str]] = {}
        upload_name = None
        digest = hashlib.sha256()
        size = 0
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file" and part.filename:
                upload_name = part.filename
                while chunk := await part.read_chunk(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
            elif part.name:
                fields.setdefault(part.name, []).append(await part.text())
        if not upload_name:
            return _error(400, file=["No file was submitted."])
        if not upload_name.lower().endswith(PARSE_EXTENSIONS):
            return _error(400, file=[f"Unsupported file type: {upload_name}"])
        if size == 0:
            return _error(400, file=["The submitted file is empty."])
        document_type = (fields.get("document_type") or ["SOV"])[0]
        if document_type not in DOCUMENT_TYPES:
            return _error(400, document_type=[f'"{document_type}" is not a valid choice.'])
        formats = [f.upper() for f in fields.get("output_formats") or ["json"]]
        bad = [f for f in formats if _fmt(f) is None]
        if bad:
            return self._bad_formats(bad[0])
        with self.server.lock:
            sov_id = (
                "s-no-ping-" + digest.hexdigest()[:4] + "".join(random.choices(string.ascii_lowercase, k=2))
            )
            extra = {k[len("extra_data_") :]: v[0] for k, v in fields.items() if k.startswith("extra_data_")}
            stem = upload_name.rsplit(".", 1)[0]
            rows = _buildings(sov_id, 3 + int(digest.hexdigest()[:2], 16) % 8, digest.hexdigest())
            self.sovs[sov_id] = Sov(
                sov_id, rows, {0: [dict(r) for r in rows]}, {"insured_name": stem, **extra}
            )
            job = self._new_job("parse", sov_id, sov_id, self.server.job_seconds)
            job.revision, job.output_formats = 0, formats
            self._start(job, job.created_at)
            job.client_ref = next(iter(fields.get("client_ref") or []), None)
            job.extra_data = self.sovs[sov_id].extra_data
        return web.json_response({"message": "OK", "id": sov_id})

    async def parse_status(self, request: web.Request) -> web.Response:
        with self.server.lock:
            job = self._job(request.match_info["sov_id"], "parse")
            return web.json_response(self._status_body(request, job))

    def _bad_formats(self, name: str) -> web.Response:
        allowed = ", ".join(f for f, _, _ in ORG_FORMATS)
        return _error(
            400, message=f"Output format '{name}' is not available to your organization. Allowed: {allowed}."
        )

    async def get_or_create_output(self, request: web.Request) -> web.Response:
        fields = await _fields(request)
        owner = request.match_info["id"]
        with self.server.lock:
            sud = self.jobs.get(owner) if owner not in self.sovs else None
            if owner not in self.sovs and (sud is None or sud.kind != "update"):
                return _error(404, detail="Not found.")
            entry = _fmt(str(fields.get("output_format") or ""))
            if entry is None:
                return self._bad_formats(str(fields.get("output_format") or ""))
            try:
                revision = int(fields.get("revision", -1))
            except (TypeError, ValueError):
                return _error(400, revision=["A valid integer is required."])
            if sud is not None:
                if sud.revision is None:
                    return _error(400, message=f"Update {owner} has not completed; no output exists yet.")
                sov_id, revision = sud.sov_id, sud.revision
            else:
                sov_id = owner
                sov = self.sovs[sov_id]
                if revision == -1:
                    revision = sov.revision
                if revision < -1 or revision not in sov.revisions:
                    return _error(400, revision=[f"Revision {revision} does not exist for {sov_id}."])
            key = (sov_id, revision, entry[0])
            running = self.jobs.get(self.output_running.get(key, ""))
            if running is not None:
                self._render_output(running)  # finished since: its file is the cached output now
            cached = self.output_cache.get(key)
            if cached and not _truthy(fields.get("overwrite_existing")):
                job_id = f"immediately-done-{uuid.uuid4()}"
                job = Job("output", job_id, sov_id, self.server.clock.now(), 0.0, Outcome())
                job.started_at = job.finished_at = job.created_at
                owner_of = next(o for (o, f) in self.files if f == cached)
                job.outputs = [
                    {
                        "description": entry[1],
                        "filename": cached,
                        "output_format": entry[0],
                        "owner": owner_of,
                    }
                ]
                self.jobs[job_id] = job
                return web.json_response(self._status_body(request, job), status=200)
            if (
                running is not None
                and running.finished_at is None
                and not _truthy(fields.get("overwrite_existing"))
            ):
                # The name says "get or create": the same output asked for again while it is being
                # made is that request, not a second one (inferred; the documentation is silent).
                return web.json_response(self._status_body(request, running), status=200)
            job = self._new_job("output", str(uuid.uuid4()), sov_id, self.server.output_seconds)
            self.output_running[key] = job.job_id
            job.revision, job.output_formats = revision, [entry[0]]
            self._start(job, job.created_at)
            return web.json_response(self._status_body(request, job), status=201)

    def _render_output(self, job: Job) -> None:
        """Make a finished output request's file (once), and cache it for later requests."""
        if job.finished_at is not None and not job.outputs and job.outcome.result_status == "SUCCESS":
            entry = _fmt(job.output_formats[0])
            assert entry is not None and job.revision is not None
            rows = self.sovs[job.sov_id].revisions[job.revision]
            filename = f"{job.sov_id}_r{job.revision}.{entry[2]}"
            self.files[(job.sov_id, filename)] = render(entry[0], job.sov_id, job.revision, rows)
            self.output_cache[(job.sov_id, job.revision, entry[0])] = filename
            job.outputs = [
                {
                    "description": entry[1],
                    "filename": filename,
                    "output_format": entry[0],
                    "owner": job.sov_id,
                }
            ]

    async def output_request(self, request: web.Request) -> web.Response:
        with self.server.lock:
            job = self._job(request.match_info["request_id"], "output")
            self._render_output(job)
            return web.json_response(self._status_body(request, job))

    async def initiate_update(self, request: web.Request) -> web.Response:
        fields = await _fields(request)
        sov_id = request.match_info["sov_id"]
        update_type = str(fields.get("update_type") or "API")
        with self.server.lock:
            sov = self.sovs.get(sov_id)
            if sov is None:
                return _error(404, detail="Not found.")
            if update_type not in UPDATE_TYPES:
                return _error(400, update_type=[f'"{update_type}" is not a valid choice.'])
            sov.updates += 1
            job = self._new_job("update", f"{sov_id}-r{sov.updates:03d}", sov_id, self.server.job_seconds)
            job.update_type = update_type
            job.client_ref = fields.get("client_ref")
        return web.json_response({"message": "OK", "id": job.job_id})

    async def add_locations(self, request: web.Request) -> web.Response:
        sud_id = request.match_info["sud_id"]
        with self.server.lock:
            job = self._job(sud_id, "update")
            if job.started_at is not None:
                return _error(409, message="rejected locations file as SUD not pending")
        if not request.content_type.startswith("multipart/"):
            return _error(400, file=["No file was submitted."])
        reader = await request.multipart()
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            found = False
            while (part := await reader.next()) is not None:
                if isinstance(part, BodyPartReader) and part.name == "file":
                    found = True
                    while chunk := await part.read_chunk(1 << 20):
                        spool.write(chunk)
            if not found:
                return _error(400, file=["No file was submitted."])
            spool.seek(0)
            with self.server.lock:
                return self._apply_locations(job, spool)

    def _apply_locations(self, job: Job, spool: Any) -> web.Response:
        """Check an uploaded locations CSV like the service does, and record its corrections."""
        sov = self.sovs[job.sov_id]
        keys = {b["item_key"] for b in sov.buildings}
        sheet_keys = {f"{b['sheet_name']}#{b['sheet_row_number']}" for b in sov.buildings}
        try:
            reader_csv = csv.DictReader(io.TextIOWrapper(spool, encoding="utf-8-sig", newline=""))
            header = [h.strip() for h in reader_csv.fieldnames or []]
            for name in header:
                if name not in ATTRIBUTES:
                    return _error(400, file=f"{name}: unknown attribute")
            if "item_key" not in header and not {"sheet_name", "sheet_row_number"} <= set(header):
                return _error(400, file="each row needs item_key, or sheet_name and sheet_row_number")
            pending: dict[str, dict[str, str]] = {}
            rows = 0
            for row in reader_csv:
                rows += 1
                values = {k.strip(): v for k, v in row.items() if k and v not in (None, "")}
                key = values.get("item_key") or f"{values.get('sheet_name')}#{values.get('sheet_row_number')}"
                if key not in keys and key not in sheet_keys:
                    return _error(400, file=f"row {rows}: no building matches {key!r}")
                pending.setdefault(key, {}).update(
                    {
                        k: v
                        for k, v in values.items()
                        if k not in ("item_key", "sheet_name", "sheet_row_number")
                    }
                )
        except UnicodeDecodeError:
            return _error(400, file="the file is not UTF-8 text")
        for key, values in pending.items():
            job.corrections.setdefault(key, {}).update(values)
        job.rows_received += rows
        return web.json_response({"message": "OK"})

    async def start_update(self, request: web.Request) -> web.Response:
        fields = await _fields(request)
        with self.server.lock:
            job = self._job(request.match_info["sud_id"], "update")
            if job.started_at is not None:
                return _error(409, message="SUD not pending")
            extra = fields.get("extra_data") or {}
            if isinstance(extra, str):
                try:
                    extra = json.loads(extra)
                except ValueError:
                    return _error(400, extra_data=["Must be a JSON object."])
            if not isinstance(extra, dict):
                return _error(400, extra_data=["Must be a JSON object."])
            formats = fields.get("output_formats") or ["json"]
            formats = [formats] if isinstance(formats, str) else formats
            bad = [f for f in formats if _fmt(str(f)) is None]
            if bad:
                return self._bad_formats(str(bad[0]))
            job.extra_data = extra
            job.output_formats = [str(f).upper() for f in formats]
            self._start(job, self.server.clock.now())
        return web.json_response({"message": "OK"})

    async def update_status(self, request: web.Request) -> web.Response:
        with self.server.lock:
            job = self._job(request.match_info["sud_id"], "update")
            return web.json_response(self._status_body(request, job))

    async def download(self, request: web.Request) -> web.StreamResponse:
        key = (request.match_info["id"], unquote(request.match_info["filename"]))
        with self.server.lock:
            data = self.files.get(key)
        if data is None:
            return _error(404, detail="Not found.")
        return await serve_bytes(request, data)

    async def history_page(self, request: web.Request) -> web.Response:
        try:
            page_size = int(request.query.get("page_size", "100"))
        except ValueError:
            page_size = -1
        if not 1 <= page_size <= 250:
            return _error(400, page_size=["Ensure this value is between 1 and 250."])
        cursor = request.query.get("cursor_id")
        start = request.query.get("start")
        with self.server.lock:
            records = self.history
            if cursor:
                # Pages overlap by one record, as the real feed's may (clients de-duplicate by id),
                # yet always move on: a page of one starts after the cursor.
                first = int(cursor) if page_size > 1 else int(cursor) + 1
                records = [r for r in records if r["id"] >= first]
            elif start:
                since = dt.datetime.strptime(start, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
                records = [r for r in records if _completed_since(r, since)]
            page = records[:page_size]
        body: dict[str, Any] = {"results": page}
        if page:
            body["cursor_id"] = str(page[-1]["id"])
        return web.json_response(body)

    async def history_item(self, request: web.Request) -> web.Response:
        wanted = request.match_info["id"]
        with self.server.lock:
            for record in self.history:
                if str(record["id"]) == wanted or record["pingid"] == wanted:
                    job = self.jobs[record["pingid"]]
                    outputs = [
                        {
                            "description": o["description"],
                            "filename": o["filename"],
                            "url": self._url(request, job.job_id, o["filename"]),
                        }
                        for o in job.outputs
                    ]
                    return web.json_response({**record, "outputs": outputs})
        return _error(404, detail="Not found.")
