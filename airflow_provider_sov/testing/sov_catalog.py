"""
The SOV Fixer emulator's routes for new submissions, the activity list, buildings and shareable
links, over :class:`~.sov_state.SovFixerState`.

Bodies take the vendor client's types (``pingintel_api/sov_fixer/types.py``: ``SOVData``,
``UpdateData``, ``ActivityResponse``, ``CreateSubmissionResponse``,
``GetPublicShareableUrlResponse``) field for field, with one exception the rest of the API
forces: SOV and SUD IDs are strings here, as every other route has them, where ``UpdateData``
types them ``int``. What no source shows is ours, and marked so below.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_provider_sov.testing.sov_fixtures import ATTRIBUTES, ISO, Sov
from airflow_provider_sov.testing.sov_render import output_format_entry
from airflow_provider_sov.testing.sov_state import SovFixerState, error_response, form_fields

if TYPE_CHECKING:
    from airflow_provider_sov.testing.sov_fixtures import Job

#: ``request.status`` as the activity list's one-letter ``status`` (its filter's values).
STATUS_LETTERS = {
    "PENDING": "P",
    "IN_PROGRESS": "I",
    "ENRICHING": "E",
    "REENRICHING": "R",
    "COMPLETE": "C",
    "FAILED": "F",
}
#: The first submission's ID: the API answers an integer.
FIRST_SUBMISSION_ID = 80412
#: Activity filters on a completed time, with how each compares.
TIME_FILTERS = {
    "completed_time__gt": lambda t, x: t > x,
    "completed_time__gte": lambda t, x: t >= x,
    "completed_time__lt": lambda t, x: t < x,
    "completed_time__lte": lambda t, x: t <= x,
}


class SovCatalogRoutes(SovFixerState):
    """New submissions, activity, buildings and shareable links; see the module's docstring."""

    def add_catalog_routes(self, app: web.Application) -> None:
        add = app.router.add_route
        add("POST", "/api/v1/submission", self.create_submission, name="create_submission")
        add("GET", "/api/v1/sov/activity", self.activity, name="activity")
        add("POST", "/api/v1/sov/{sov_id}/add_building", self.add_building, name="add_building")
        add("GET", "/api/v1/building/{item_key}", self.building, name="building")
        add(
            "GET",
            "/api/v1/pli/policy/{sov_id}/get_public_shareable_url",
            self.public_shareable_url,
            name="public_shareable_url",
        )

    # --- New submissions ----------------------------------------------------------------------

    async def create_submission(self, request: web.Request) -> web.Response:
        fields = await form_fields(request, "form")  # the vendor's client sends form fields
        with self.server.lock:
            number = FIRST_SUBMISSION_ID + self.created["submission"]
            self.created["submission"] += 1
            # The new SOV's own ID is ours: no source says what a submission's SOV is called.
            sov_id = f"s-no-ping-sub{number}"
            extra = {k[len("extra_data_") :]: v for k, v in fields.items() if k.startswith("extra_data_")}
            self.sovs[sov_id] = Sov(
                sov_id,
                [],
                {},
                extra,
                client_ref=fields.get("client_ref"),
                document_type=str(fields.get("document_type") or "SOV"),
            )
            # Read as an update (the client follows create_submission with the update routes).
            job = self._new_job(
                "update", str(number), sov_id, self.server.job_seconds, fields.get("client_ref")
            )
            job.submission, job.update_type = True, "API"
            job.extra_data = dict(extra)
        return web.json_response({"id": number, "message": "OK"})

    # --- Activity ---------------------------------------------------------------------------------

    async def activity(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            page_size = int(query.get("page_size", "50"))
        except ValueError:
            page_size = -1
        if not 1 <= page_size <= 250:
            return error_response(400, page_size=["Ensure this value is between 1 and 250."])
        with self.server.lock:
            records = [self._sov_data(request, sov) for sov in reversed(list(self.sovs.values()))]
        records = [r for r in records if self._selected(r, query)]
        cursor = query.get("cursor_id") or query.get("prev_cursor_id")
        start = 0
        if cursor:
            at = next((i for i, r in enumerate(records) if r["id"] == cursor), None)
            if at is None:
                return error_response(400, cursor_id=["Invalid cursor."])
            start = at + 1 if query.get("cursor_id") else max(0, at - page_size)
        page = records[start : start + page_size]
        remaining = max(0, len(records) - start - len(page))
        fields = query.getall("fields", [])
        if fields:
            page = [{k: v for k, v in r.items() if k in fields} for r in page]
        return web.json_response(
            {
                "results": page,
                "cursor_id": records[start + len(page) - 1]["id"] if page and remaining else None,
                "prev_cursor_id": records[start]["id"] if page and start else None,
                "remaining_count": remaining,
                "has_remaining": remaining > 0,
                "total_count": len(records),
                "total_size_without_cursors": str(len(records)),
            }
        )

    @staticmethod
    def _selected(record: dict[str, Any], query: Any) -> bool:
        """Whether an ``SOVData`` passes the list's filters (``search``: over the fields we chose)."""
        for name in ("id", "status", "origin", "pingid"):
            if name in query and record.get(name) != query[name]:
                return False
        for name in ("company__short_name", "division__short_name"):
            if name in query and record.get(name) not in query.getall(name):
                return False
        if "search" in query:  # which "key fields" the service searches is not said: these are ours
            text = query["search"].lower()
            searched = (record["id"], record["client_ref"], record["filename"], *record["updates"])
            if not any(text in str(v or "").lower() for v in searched):
                return False
        for name, compare in TIME_FILTERS.items():
            if name in query:
                done = record.get("completed_time")
                stamp = "".join(ch for ch in str(done or "")[:19] if ch.isdigit())
                if not done or not compare(stamp, query[name]):
                    return False
        return True

    def _sov_data(self, request: web.Request, sov: Sov) -> dict[str, Any]:
        """An SOV as the vendor's ``SOVData``, its updates as ``UpdateData``."""
        parse = self.jobs.get(sov.sov_id)
        submission = next((j for j in self.jobs.values() if j.submission and j.sov_id == sov.sov_id), None)
        first = parse or submission
        status, pct, health = self._view(first) if first is not None else ("COMPLETE", 100, "")
        # A new submission is listed as an update of its own SOV, its ID the ``sudid`` (as the
        # vendor's ``UpdateData`` types it; when the service lists it is not documented).
        updates = [j for j in self.jobs.values() if j.kind == "update" and j.sov_id == sov.sov_id]
        all_updates = [self._update_data(request, sov, j) for j in updates]
        done = self._stamp(first.finished_at) if first is not None and first.finished_at is not None else None
        outputs = (first.outputs if first is not None else []) or []
        return {
            "id": sov.sov_id,
            "document_type": sov.document_type,
            "pct_complete": float(pct),
            "filename": f"{sov.extra_data.get('insured_name') or sov.sov_id}.xlsx",
            "additional_filenames": [],
            "status": STATUS_LETTERS.get(status, "P"),
            "status_display": status.replace("_", " ").title(),
            "last_health_status": health,
            "client_ref": sov.client_ref or (first.client_ref if first is not None else None),
            "input_data": [],
            "output_data": [self._output_data(request, first.job_id, o) for o in outputs] if first else [],
            "origin": "api",
            "organization__short_name": "emulator",
            "company__short_name": None,
            "team__name": None,
            "division__short_name": None,
            "global_request_id": first.request_uuid if first is not None else None,
            "ping_maps_url": self._link(request, "pingmaps", sov.sov_id),
            "ping_vision_url": self._link(request, "pingvision", sov.sov_id),
            "input_file_url": None,
            "extra_data": dict(sov.extra_data),
            "updates": {u["sudid"]: u for u in all_updates},
            "all_updates": all_updates,
            "latest_revision": sov.revision,
            "completed_time": done,
            "created_time": self._stamp(first.created_at) if first is not None else None,
            "subject": None,
            "from_email": None,
            "to_email": None,
            "num_buildings": len(sov.buildings),
            "progress_started_time": self._stamp(first.started_at) if first and first.started_at else None,
            "parsing_completed_time": done,
            "pingdata_stats": None,
        }

    def _update_data(self, request: web.Request, sov: Sov, job: Job) -> dict[str, Any]:
        status, _, _ = self._view(job)
        return {
            "sovid": sov.sov_id,
            "sudid": job.job_id,
            "status": STATUS_LETTERS.get(status, "P"),
            "filename": f"{job.job_id}.csv",
            "document_type": sov.document_type,
            "record_type": job.update_type,
            "sheet_name": "SOV",
            "original_sovid": None,
            "posted_time": self._stamp(job.created_at),
            "num_rows": job.rows_received,
            "sov_data_last_updated_date": self._stamp(job.finished_at or job.created_at),
            "outputs": [
                {
                    "url": self._url(request, job.job_id, o["filename"]),
                    "output_format": o["output_format"],
                    "completed_time": self._stamp(job.finished_at) if job.finished_at else None,
                    "scrubbed_filename": o["filename"],
                    "label": o["description"],
                }
                for o in job.outputs
            ],
            "output_formats": list(job.output_formats),
            "client_ref": job.client_ref,
            "extra_data": dict(job.extra_data),
        }

    def _output_data(self, request: web.Request, owner: str, output: dict[str, str]) -> dict[str, Any]:
        entry = output_format_entry(output["output_format"])
        return {
            "label": entry[1] if entry else output["description"],
            "scrubbed_filename": output["filename"],
            "output_format": output["output_format"],
            "url": self._url(request, owner, output["filename"]),
        }

    def _stamp(self, at: float) -> str:
        """A clock time as the API writes times (UTC, ISO 8601)."""
        wall = self.server.clock.wall() - (self.server.clock.now() - at)
        return dt.datetime.fromtimestamp(wall, dt.UTC).strftime(ISO)

    @staticmethod
    def _link(request: web.Request, product: str, sov_id: str) -> str:
        """A page link (the address is ours, the real ones are Ping's; :mod:`.pages` serves it)."""
        return f"{request.scheme}://{request.host}/{product}/{sov_id}"

    # --- Buildings and links ----------------------------------------------------------------------

    async def add_building(self, request: web.Request) -> web.Response:
        fields = await form_fields(request, "json")  # the vendor's client sends JSON
        data = fields.get("building_data")
        with self.server.lock:
            sov = self.sovs.get(request.match_info["sov_id"])
            if sov is None:
                return error_response(404, detail="Not found.")
            if not isinstance(data, dict) or not data:
                return error_response(400, building_data=["This field is required."])
            unknown = [k for k in data if k not in ATTRIBUTES]
            if unknown:
                return error_response(400, building_data=[f"{unknown[0]}: unknown attribute"])
            short, number = sov.sov_id.rsplit("-", 1)[-1], len(sov.buildings) + 1
            # A building added is a row of its own, after the SOV's last (ours: no source says).
            place = {"sheet_name": "SOV", "sheet_row_number": str(number + 1)}
            sov.buildings.append({"item_key": f"b-{short}-{number:04d}", **place, **data})
        return web.json_response({"message": "OK"})

    async def building(self, request: web.Request) -> web.Response:
        key = request.match_info["item_key"]
        with self.server.lock:
            for sov in self.sovs.values():
                for building in sov.buildings:
                    if building["item_key"] == key:
                        return web.json_response(dict(building))
        return error_response(404, detail="Not found.")

    async def public_shareable_url(self, request: web.Request) -> web.Response:
        sov_id = request.match_info["sov_id"]
        with self.server.lock:
            if sov_id not in self.sovs:
                return error_response(404, detail="Not found.")
        return web.json_response(
            {"url": self._link(request, "pingmaps/shared", uuid.uuid5(uuid.NAMESPACE_URL, sov_id).hex)}
        )
