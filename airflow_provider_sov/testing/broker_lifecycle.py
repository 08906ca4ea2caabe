"""
The DATA Act Broker emulator's submissions: their validations (``check_status``), metadata,
the submission list, published files, and the webargs errors of every route, as the Broker's
source has them.

Sources: the routes' definitions in ``dataactbroker/routes/file_routes.py`` and
``generation_routes.py``; ``get_status``/``process_job_status``, ``list_submissions``,
``list_published_files`` and ``file_history_url`` in ``dataactbroker/handlers/fileHandler.py``;
``get_submission_metadata`` in ``handlers/submission_handler.py``; the 422-to-400 handler in
``dataactbroker/exception_handler.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from airflow_provider_sov.testing.broker_model import (
    DABS_TYPES,
    MISSING,
    NEVER,
    NOT_INT,
    SEEDED_SUBMISSIONS,
    UPLOADS,
    Submission,
    Validation,
    _json_error,
    _stamp,
    int_arg,
    webargs_error,
)
from airflow_provider_sov.testing.broker_sessions import BrokerSessions

if TYPE_CHECKING:
    from collections.abc import Iterable


class BrokerSubmissions(BrokerSessions):
    """Submissions and their routes; the generation routes are :class:`~.broker_app.BrokerState`'s."""

    submissions: dict[int, Submission]

    def _seed_submissions(self) -> None:
        """The seeded submissions: 1001 validated, 1002 still validating A/B/C, 1003 awaiting cross-file."""
        self.submissions = {}
        self._next_history = 700
        for sid, (uploads, cross) in SEEDED_SUBMISSIONS.items():
            self._create(sid, uploads, cross, fabs=False)

    def _create(self, sid: int, uploads: bool, cross: bool, *, fabs: bool, **metadata: Any) -> Submission:
        sub = Submission(sid, fabs=fabs, **metadata)
        start = self.server.clock.now()
        for name in ("fabs",) if fabs else UPLOADS:
            sub.validations[name] = Validation(start, 0.0 if uploads else NEVER, file_name=f"{name}.csv")
        if not fabs:
            sub.validations["cross"] = Validation(start, 0.0 if cross else NEVER)
        self.submissions[sid] = sub
        return sub

    # --- Test controls ----------------------------------------------------------------------------

    def add_submission(
        self,
        submission_id: int,
        *,
        abc_validated: bool = True,
        cross_file_validated: bool = True,
        fabs: bool = False,
        **metadata: Any,
    ) -> int:
        """
        Create a submission with the given validation state; return its ID.

        :param metadata: ``reporting_start_date``, ``reporting_end_date`` (``MM/DD/YYYY``),
            ``reporting_period``, ``publish_status``, ``certified``, ``cgac_code``...
        """
        with self.server.lock:
            self._create(submission_id, abc_validated, cross_file_validated, fabs=fabs, **metadata)
        return submission_id

    def start_validation(
        self,
        submission_id: int,
        seconds: float,
        *,
        file_types: Iterable[str] = UPLOADS,
        errors: int = 0,
        warnings: int = 0,
        fail: str = "",
    ) -> None:
        """(Re)start validating ``file_types`` of a submission: ``running`` for ``seconds``, then ended."""
        with self.server.lock:
            sub = self.submissions[submission_id]
            for name in file_types:
                sub.validations[name] = Validation(
                    self.server.clock.now(), seconds, errors, warnings, fail, file_name=f"{name}.csv"
                )

    def finish_validations(self, submission_id: int) -> None:
        """Let every validation of a submission end now (as started: clean unless told otherwise)."""
        with self.server.lock:
            now = self.server.clock.now()
            for validation in self.submissions[submission_id].validations.values():
                if validation.started_at is None or validation.status(now) == "running":
                    validation.started_at, validation.duration = now, 0.0

    def publish(
        self, submission_id: int, *, certified: bool = True, files: Iterable[str] = ("A", "B", "C")
    ) -> None:
        """Publish a submission (and certify it): its files become its latest published ones."""
        with self.server.lock:
            sub = self.submissions[submission_id]
            sub.publish_status, sub.certified = "published", certified
            sub.published = []
            stamp = int(self.server.clock.wall())
            for letter in files:
                self._next_history += 1
                name = f"{stamp}_submission_{submission_id}_published_{letter}.csv"
                self.stored[f"/files/p{self._next_history}/{quote(name)}"] = (
                    f"file,submission\n{letter},{submission_id}\n".encode()
                )
                sub.published.append((self._next_history, letter, name))
            sub.published.append((None, "comments", f"submission_{submission_id}_comments.csv"))

    def uploads_clean(self, sub: Submission) -> bool:
        """What D1/D2 generation needs (``check_generation_prereqs``): A, B, C finished without errors."""
        now = self.server.clock.now()
        return all(sub.validation(name).clean(now) for name in UPLOADS)

    def cross_clean(self, sub: Submission) -> bool:
        """What E/F generation needs: the cross-file validation finished without errors."""
        return sub.validation("cross").clean(self.server.clock.now())

    # --- Routes -------------------------------------------------------------------------------------

    def submission_routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", "check_status", self.check_status),
            ("GET", "submission_metadata", self.submission_metadata),
            ("POST", "list_submissions", self.list_submissions),
            ("GET", "list_latest_published_files", self.list_latest_published_files),
            ("GET", "get_published_file", self.get_published_file),
        ]

    def _submission(self, request: web.Request, data: dict[str, Any]) -> Submission | web.Response:
        """
        ``convert_to_submission_id`` (``submission`` or ``submission_id``, the query first, a webargs
        ``Int``), then ``requires_submission_perms``: the ID, then the submission.
        """
        for values in (request.query, data):
            for name in ("submission", "submission_id"):
                found = int_arg(values, name)
                if isinstance(found, web.Response):
                    return found
                if found is not None:
                    sub = self.submissions.get(found)
                    return sub if sub is not None else _json_error(400, "No such submission")
        return _json_error(400, "submission_id is required")

    async def check_status(self, request: web.Request) -> web.Response:
        with self.server.lock:
            sub = self._submission(request, {})
            if isinstance(sub, web.Response):
                return sub
            wanted = request.query.get("type", "").lower()
            if wanted and wanted not in (*DABS_TYPES, "fabs"):
                return _json_error(400, f"{wanted} is not a valid file type", "<class 'ValueError'>")
            if wanted and (sub.fabs != (wanted == "fabs")):
                return _json_error(
                    400, f"{wanted} is not a valid file type for this submission", "<class 'ValueError'>"
                )
            types = [wanted] if wanted else (["fabs"] if sub.fabs else list(DABS_TYPES))
            now = self.server.clock.now()
            return web.json_response({name: self._file_status(sub, name, now) for name in types})

    @staticmethod
    def _file_status(sub: Submission, name: str, now: float) -> dict[str, Any]:
        """One type's entry, as ``process_job_status`` makes it."""
        validation = sub.validations.get(name, Validation())
        status = validation.status(now)
        done = status == "finished"
        return {
            "status": status,
            "has_errors": status == "failed" or (done and validation.errors > 0),
            "has_warnings": done and validation.warnings > 0,
            "message": validation.fail_message,
            "upload_progress": None if validation.started_at is None else 100.0,
            "validation_progress": None if validation.started_at is None else (100.0 if done else 50.0),
            "file_name": validation.file_name,
            "validation_last_updated": None,
        }

    async def submission_metadata(self, request: web.Request) -> web.Response:
        with self.server.lock:
            sub = self._submission(request, {})
            if isinstance(sub, web.Response):
                return sub
            errors = sum(v.errors for v in sub.validations.values())
            warnings = sum(v.warnings for v in sub.validations.values())
            created = dt.datetime.fromtimestamp(self.started_wall, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            return web.json_response(
                {
                    "cgac_code": sub.cgac_code,
                    "frec_code": None,
                    "agency_name": sub.agency_name,
                    "number_of_errors": errors,
                    "number_of_warnings": warnings,
                    "number_of_rows": 0,
                    "total_size": 0,
                    "created_on": created,
                    "last_updated": created,
                    "last_validated": created,
                    "reporting_period": sub.reporting_period,
                    "reporting_start_date": sub.reporting_start_date,
                    "reporting_end_date": sub.reporting_end_date,
                    "publish_status": sub.publish_status,
                    "quarterly_submission": sub.is_quarter,
                    "test_submission": sub.test_submission,
                    "published_submission_ids": [],
                    "certified": sub.certified,
                    "certification_deadline": "",
                    "fabs_submission": sub.fabs,
                    "fabs_meta": None,
                }
            )

    async def list_submissions(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        published = data.get("published")
        if published is None:
            return webargs_error(published=MISSING)
        if published not in ("mixed", "true", "false"):
            return webargs_error(published="Must be one of: false, mixed, true.")
        numbers = {}
        for name, default in (("page", 1), ("limit", 5)):
            found = int_arg(data, name)
            if isinstance(found, web.Response):
                return found
            numbers[name] = default if found is None else found
        with self.server.lock:
            subs = [s for s in self.submissions.values() if s.fabs == bool(data.get("fabs", False))]
        if published != "mixed":
            subs = [s for s in subs if (s.publish_status != "unpublished") == (published == "true")]
        filters = data.get("filters") or {}
        ids = filters.get("submission_ids")
        if ids:
            subs = [s for s in subs if s.submission_id in {int(i) for i in ids}]
        names = [str(n).upper() for n in filters.get("file_names") or []]
        if names:  # add_list_submission_filters: a part of an upload's file name, any case
            subs = [
                s
                for s in subs
                if any(n in str(v.file_name or "").upper() for v in s.validations.values() for n in names)
            ]
        since = (filters.get("last_modified_range") or {}).get("start_date")
        if since:
            start = dt.datetime.strptime(since, "%m/%d/%Y").replace(tzinfo=dt.UTC).timestamp()
            subs = [s for s in subs if (s.modified_wall or self.started_wall) >= start]
        subs.sort(key=lambda s: s.submission_id, reverse=data.get("order", "desc") == "desc")
        start = numbers["limit"] * (numbers["page"] - 1)
        page = subs[start : start + numbers["limit"]]
        return web.json_response(
            {
                "submissions": [self._listed(s) for s in page],
                "total": len(subs),
                "min_last_modified": _stamp(self.started_wall),
            }
        )

    def _listed(self, sub: Submission) -> dict[str, Any]:
        start, end = (
            dt.datetime.strptime(d, "%m/%d/%Y").strftime("%Y-%m-%d")
            for d in (sub.reporting_start_date, sub.reporting_end_date)
        )
        return {
            "submission_id": sub.submission_id,
            "reporting_start_date": start,
            "reporting_end_date": end,
            "user": {"name": "Emulator User", "user_id": 1},
            "files": sorted(v.file_name for v in sub.validations.values() if v.file_name),
            "agency": sub.agency_name,
            "status": "validation_successful" if self.uploads_clean(sub) else "running",
            "last_modified": _stamp(sub.modified_wall or self.started_wall),
            "expiration_date": None,
            "publish_status": sub.publish_status,
            "test_submission": sub.test_submission,
            "publishing_user": "Emulator Certifier" if sub.publish_status != "unpublished" else "",
            "last_pub_or_cert": _stamp(self.started_wall) if sub.publish_status != "unpublished" else "",
            "quarterly_submission": sub.is_quarter,
            "certified": sub.certified,
            "time_period": f"FY {str(sub.reporting_fiscal_year)[2:]} / Q{max(1, sub.reporting_fiscal_period // 3)}",
        }

    async def list_latest_published_files(self, request: web.Request) -> web.Response:
        query = request.query
        kind = query.get("type")
        if kind is None:
            return webargs_error(type=MISSING)
        if kind not in ("dabs", "fabs"):
            return webargs_error(type="Must be one of: dabs, fabs.")
        numbers = {}
        for name in ("year", "period"):
            found = int_arg(query, name)
            if isinstance(found, web.Response):
                return found
            numbers[name] = found
        agency = query.get("agency")
        with self.server.lock:
            subs = [s for s in self.submissions.values() if s.published and s.fabs == (kind == "fabs")]
        # The Broker drills down in order, stopping at the first level not given.
        if agency is None:
            seen = {s.cgac_code: s.agency_name for s in subs}
            rows: list[dict[str, Any]] = [{"id": c, "label": f"{c} - {n}"} for c, n in sorted(seen.items())]
            return web.json_response(rows)
        subs = [s for s in subs if s.cgac_code == agency]
        if numbers["year"] is None:
            years = sorted({s.reporting_fiscal_year for s in subs})
            return web.json_response([{"id": y, "label": str(y)} for y in years])
        subs = [s for s in subs if s.reporting_fiscal_year == numbers["year"]]
        if numbers["period"] is None:
            periods = sorted({s.reporting_fiscal_period for s in subs})
            return web.json_response([{"id": p, "label": _period_label(p)} for p in periods])
        subs = [s for s in subs if s.reporting_fiscal_period == numbers["period"]]
        files = [
            {"id": history_id, "label": name, "filetype": letter, "submission_id": s.submission_id}
            for s in sorted(subs, key=lambda s: s.submission_id)
            for history_id, letter, name in s.published
        ]
        return web.json_response(files)

    async def get_published_file(self, request: web.Request) -> web.Response:
        # use_kwargs comes before requires_submission_perms here: the arguments are checked first.
        problems = {}
        values: dict[str, int | None] = {}
        for name in ("submission_id", "published_files_history_id"):
            found = int_arg(request.query, name, required=True)
            if isinstance(found, web.Response):
                problems[name] = NOT_INT if request.query.get(name) else MISSING
            else:
                values[name] = found
        if problems:
            return webargs_error(**problems)
        with self.server.lock:
            sub = self.submissions.get(int(values["submission_id"] or 0))
            if sub is None:
                return _json_error(400, "No such submission")
            history_id = values["published_files_history_id"]
            for other in self.submissions.values():
                for entry_id, _letter, name in other.published:
                    if entry_id == history_id:
                        if other is not sub:
                            return _json_error(
                                400,
                                "Requested published_files_history_id does not match submission_id provided",
                                "<class 'ValueError'>",
                            )
                        path = f"/files/p{history_id}/{quote(name)}"
                        return web.json_response({"url": self._file_url(path, name)})
            return _json_error(400, "Invalid published_files_history_id", "<class 'ValueError'>")


def _period_label(period: int) -> str:
    """A DABS period's label (``list_published_files``): P01-P02, P03/Q1, or P04."""
    if period == 2:
        return "P01-P02"
    if period % 3 == 0:
        return f"P{period:02d}/Q{period // 3}"
    return f"P{period:02d}"
