"""
The SOV Fixer half of the emulator: its HTTP routes, over :class:`~.sov_state.SovFixerState`.

Implements ``shared/spec/sovfixer.md`` closely enough that the vendor's own client and seed
script run against it unchanged but for the base URL. Jobs move PENDING -> IN_PROGRESS (parses also
ENRICHING) -> COMPLETE or FAILED on the server's clock; outputs are real files.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import random
import string
import tempfile
import uuid
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from airflow_provider_sov.testing.sov_catalog import SovCatalogRoutes
from airflow_provider_sov.testing.sov_fixtures import (
    ATTRIBUTES,
    DOCUMENT_TYPES,
    ORG_FORMATS,
    PARSE_EXTENSIONS,
    UPDATE_TYPES,
    Job,
    Outcome,
    Sov,
    make_buildings,
)
from airflow_provider_sov.testing.sov_render import output_format_entry, render
from airflow_provider_sov.testing.sov_state import (
    completed_since,
    error_response,
    form_fields,
    truthy,
)
from airflow_provider_sov.testing.wire import serve_bytes


class SovFixerApi(SovCatalogRoutes):
    """:class:`SovFixerState` served over HTTP: every SOV Fixer route, named as the hook names them."""

    def add_routes(self, app: web.Application) -> None:
        """Register every SOV Fixer route; names match the hook's route names."""
        self.add_catalog_routes(app)  # first: /api/v1/sov/activity before /api/v1/sov/{sov_id}
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
            return error_response(404, detail="Not found.")
        formats = [
            {"output_format": f, "label": label, "output_extension": ext, "is_public": True}
            for f, label, ext in ORG_FORMATS
        ]
        return web.json_response({"output_formats": formats})

    async def parse(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            return error_response(400, file=["No file was submitted."])
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
            return error_response(400, file=["No file was submitted."])
        if not upload_name.lower().endswith(PARSE_EXTENSIONS):
            return error_response(400, file=[f"Unsupported file type: {upload_name}"])
        if size == 0:
            return error_response(400, file=["The submitted file is empty."])
        document_type = (fields.get("document_type") or ["SOV"])[0]
        if document_type not in DOCUMENT_TYPES:
            return error_response(400, document_type=[f'"{document_type}" is not a valid choice.'])
        formats = [f.upper() for f in fields.get("output_formats") or ["json"]]
        bad = [f for f in formats if output_format_entry(f) is None]
        if bad:
            return self._bad_formats(bad[0])
        with self.server.lock:
            sov_id = (
                "s-no-ping-" + digest.hexdigest()[:4] + "".join(random.choices(string.ascii_lowercase, k=2))
            )
            extra = {k[len("extra_data_") :]: v[0] for k, v in fields.items() if k.startswith("extra_data_")}
            stem = upload_name.rsplit(".", 1)[0]
            rows = make_buildings(sov_id, 3 + int(digest.hexdigest()[:2], 16) % 8, digest.hexdigest())
            self.sovs[sov_id] = Sov(
                sov_id,
                rows,
                {0: [dict(r) for r in rows]},
                {"insured_name": stem, **extra},
                document_type=document_type,
            )
            client_ref = next(iter(fields.get("client_ref") or []), None)
            job = self._new_job("parse", sov_id, sov_id, self.server.job_seconds, client_ref)
            job.revision, job.output_formats = 0, formats
            self._start(job, job.created_at)
            job.extra_data = self.sovs[sov_id].extra_data
        return web.json_response({"message": "OK", "id": sov_id})

    async def parse_status(self, request: web.Request) -> web.Response:
        with self.server.lock:
            job = self._job(request.match_info["sov_id"], "parse")
            return web.json_response(self._status_body(request, job))

    def _bad_formats(self, name: str) -> web.Response:
        allowed = ", ".join(f for f, _, _ in ORG_FORMATS)
        return error_response(
            400, message=f"Output format '{name}' is not available to your organization. Allowed: {allowed}."
        )

    async def get_or_create_output(self, request: web.Request) -> web.Response:
        fields = await form_fields(request, "form")  # the vendor's client sends form fields
        owner = request.match_info["id"]
        with self.server.lock:
            sud = self.jobs.get(owner) if owner not in self.sovs else None
            if owner not in self.sovs and (sud is None or sud.kind != "update"):
                return error_response(404, detail="Not found.")
            entry = output_format_entry(str(fields.get("output_format") or ""))
            if entry is None:
                return self._bad_formats(str(fields.get("output_format") or ""))
            try:
                revision = int(fields.get("revision", -1))
            except (TypeError, ValueError):
                return error_response(400, revision=["A valid integer is required."])
            if sud is not None:
                if sud.revision is None:
                    return error_response(
                        400, message=f"Update {owner} has not completed; no output exists yet."
                    )
                sov_id, revision = sud.sov_id, sud.revision
            else:
                sov_id = owner
                sov = self.sovs[sov_id]
                if revision == -1:
                    revision = sov.revision
                if revision < -1 or revision not in sov.revisions:
                    return error_response(400, revision=[f"Revision {revision} does not exist for {sov_id}."])
            key = (sov_id, revision, entry[0])
            running = self.jobs.get(self.output_running.get(key, ""))
            if running is not None:
                self._render_output(running)  # finished since: its file is the cached output now
            cached = self.output_cache.get(key)
            if cached and not truthy(fields.get("overwrite_existing")):
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
                and not truthy(fields.get("overwrite_existing"))
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
            entry = output_format_entry(job.output_formats[0])
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
        fields = await form_fields(request, "form")  # the vendor's client sends form fields
        sov_id = request.match_info["sov_id"]
        update_type = str(fields.get("update_type") or "API")
        with self.server.lock:
            sov = self.sovs.get(sov_id)
            if sov is None:
                return error_response(404, detail="Not found.")
            if update_type not in UPDATE_TYPES:
                return error_response(400, update_type=[f'"{update_type}" is not a valid choice.'])
            sov.updates += 1
            job = self._new_job(
                "update",
                f"{sov_id}-r{sov.updates:03d}",
                sov_id,
                self.server.job_seconds,
                fields.get("client_ref"),
            )
            job.update_type = update_type
        return web.json_response({"message": "OK", "id": job.job_id})

    async def add_locations(self, request: web.Request) -> web.Response:
        sud_id = request.match_info["sud_id"]
        with self.server.lock:
            job = self._job(sud_id, "update")
            if job.started_at is not None:
                return error_response(409, message="rejected locations file as SUD not pending")
        if not request.content_type.startswith("multipart/"):
            return error_response(400, file=["No file was submitted."])
        reader = await request.multipart()
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            found = False
            while (part := await reader.next()) is not None:
                if isinstance(part, BodyPartReader) and part.name == "file":
                    found = True
                    while chunk := await part.read_chunk(1 << 20):
                        spool.write(chunk)
            if not found:
                return error_response(400, file=["No file was submitted."])
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
                    return error_response(400, file=f"{name}: unknown attribute")
            if "item_key" not in header and not {"sheet_name", "sheet_row_number"} <= set(header):
                return error_response(400, file="each row needs item_key, or sheet_name and sheet_row_number")
            pending: dict[str, dict[str, str]] = {}
            rows = 0
            for row in reader_csv:
                rows += 1
                values = {k.strip(): v for k, v in row.items() if k and v not in (None, "")}
                key = values.get("item_key") or f"{values.get('sheet_name')}#{values.get('sheet_row_number')}"
                new_row = job.submission and "item_key" not in values  # a new SOV's rows add buildings
                if key not in keys and key not in sheet_keys and not new_row:
                    return error_response(400, file=f"row {rows}: no building matches {key!r}")
                pending.setdefault(key, {}).update(
                    {
                        k: v
                        for k, v in values.items()
                        if k not in ("item_key", "sheet_name", "sheet_row_number")
                    }
                )
        except UnicodeDecodeError:
            return error_response(400, file="the file is not UTF-8 text")
        for key, values in pending.items():
            job.corrections.setdefault(key, {}).update(values)
        job.rows_received += rows
        return web.json_response({"message": "OK"})

    async def start_update(self, request: web.Request) -> web.Response:
        fields = await form_fields(request, "json")  # the vendor's client sends JSON
        with self.server.lock:
            job = self._job(request.match_info["sud_id"], "update")
            if job.started_at is not None:
                return error_response(409, message="SUD not pending")
            extra = fields.get("extra_data") or {}
            if isinstance(extra, str):
                try:
                    extra = json.loads(extra)
                except ValueError:
                    return error_response(400, extra_data=["Must be a JSON object."])
            if not isinstance(extra, dict):
                return error_response(400, extra_data=["Must be a JSON object."])
            formats = fields.get("output_formats") or ["json"]
            formats = [formats] if isinstance(formats, str) else formats
            bad = [f for f in formats if output_format_entry(str(f)) is None]
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
            return error_response(404, detail="Not found.")
        return await serve_bytes(request, data)

    async def history_page(self, request: web.Request) -> web.Response:
        try:
            page_size = int(request.query.get("page_size", "100"))
        except ValueError:
            page_size = -1
        if not 1 <= page_size <= 250:
            return error_response(400, page_size=["Ensure this value is between 1 and 250."])
        cursor = request.query.get("cursor_id")
        start = request.query.get("start")
        with self.server.lock:
            records = self.history
            if cursor:
                at = next((i for i, r in enumerate(records) if r["id"] == cursor), None)
                if at is None:
                    return error_response(400, cursor_id=["Invalid cursor."])
                # Pages overlap by one record, as the real feed's may (clients de-duplicate by id),
                # yet always move on: a page of one starts after the cursor.
                records = records[at if page_size > 1 else at + 1 :]
            elif start:
                since = dt.datetime.strptime(start, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
                records = [r for r in records if completed_since(r, since)]
            page = records[:page_size]
        body: dict[str, Any] = {"results": page}
        if page:
            body["cursor_id"] = str(page[-1]["id"])
        return web.json_response(body)

    async def history_item(self, request: web.Request) -> web.Response:
        # The real shape (the vendor client's SOVHistoryResponse): everything under "result", the
        # SOV chain's IDs and outputs with their format, and no revision. It takes an SOV ID or a
        # SUD ID (the vendor's client says so), the ID of a finished job.
        wanted = request.match_info["id"]
        with self.server.lock:
            for record_id, job_id in self.history_jobs.items():
                if job_id == wanted:
                    record = next(r for r in self.history if r["id"] == record_id)
                    job = self.jobs[job_id]
                    outputs = [
                        {
                            "url": self._url(request, job.job_id, o["filename"]),
                            "output_format": o["output_format"],
                            "completed_time": record["completed_time"],
                        }
                        for o in job.outputs
                    ]
                    result = {
                        "sovid": job.sov_id,
                        "previous_sovid": job.sov_id,
                        "original_sovid": job.sov_id,
                        "sheet_name": "SOV",
                        "outputs": outputs,
                    }
                    return web.json_response({"result": result})
        return error_response(404, detail="Not found.")
