"""
The DATA Act Broker emulator's write path: DABS and FABS uploads, validation reports behind signed
URLs, revalidation, publishing and certifying, as the Broker's source has them.

Sources: the routes in ``dataactbroker/routes/file_routes.py`` (each route's permission decorator
and its order of checks); ``validate_upload_dabs_files``, ``validate_submit_file_params``,
``submit``, ``check_submission_dates``, ``upload_fabs_file``, ``finalize``,
``publish_fabs_submission``, ``restart_validation`` and ``submission_report_url`` in
``handlers/fileHandler.py``; ``publish_checks`` and the three DABS publishing handlers in
``handlers/submission_handler.py``; ``requires_agency_perms``, ``requires_sub_agency_perms``,
``requires_submission_perms`` and ``check_existing_submission_perms`` in ``permissions.py``;
``report_file_name`` in ``dataactcore/utils/report.py`` (the ``DEV-8325`` names) and the report
columns of ``validationManager.py``; ``get_fabs_meta`` in ``dataactcore/interfaces/function_bag.py``.

Which rows fail, and the reports' rows, are :mod:`.broker_reports`; publishing is :mod:`.broker_publish`.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from airflow_provider_sov.testing.broker_lifecycle import BrokerSubmissions
from airflow_provider_sov.testing.broker_model import (
    MISSING,
    UPLOADS,
    Submission,
    Validation,
    _json_error,
    webargs_error,
)
from airflow_provider_sov.testing.broker_reports import (
    CROSS_PAIRS,
    CROSS_REPORT_HEADERS,
    DABS_LEVELS,
    FABS_LEVELS,
    LETTERS,
    MONTHLY,
    REPORT_FILE_TYPES,
    REPORT_HEADERS,
    SUB_TIERS,
    VALUE_ERROR,
    _findings,
    _fiscal,
    _id_or_none,
    _report,
    _true,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


class BrokerSubmitting(BrokerSubmissions):
    """The routes that write to submissions; their state lives in :class:`~.broker_app.BrokerState`."""

    #: Each agency's DABS and FABS permission of the one user (a test may lower or remove one).
    dabs_permissions: dict[str, str]
    fabs_permissions: dict[str, str]
    #: How long a validation runs, and how long a publishing request takes (``publishing`` meanwhile).
    validation_seconds: float
    publish_seconds: float
    #: The bytes each submission's uploaded files hold, by file type (what a correction replaced).
    uploaded: dict[int, dict[str, bytes]]
    #: Every request that reached a write route: (route, submission ID or None).
    writes: list[tuple[str, int | None]]
    _next_submission: int

    def _setup_submitting(self) -> None:
        self.dabs_permissions = {"097": "submitter"}
        self.fabs_permissions = {"097": "fabs"}
        self.validation_seconds = 2.0
        self.publish_seconds = 0.5
        self.uploaded = {}
        self.writes = []
        self._next_submission = 3000

    def submitting_routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("POST", "upload_dabs_files", self.upload_dabs_files),
            ("POST", "upload_fabs_file", self.upload_fabs_file),
            ("GET", "report_url", self.report_url),
            ("POST", "restart_validation", self.restart_validation),
        ]

    # --- Test controls ----------------------------------------------------------------------------

    def submissions_of(self, route: str) -> list[int | None]:
        """The submission each request to a write route named (``None``: a new one), in order."""
        with self.server.lock:
            return [sid for name, sid in self.writes if name == route]

    def report_bytes(
        self, submission_id: int, file_type: str, *, warning: bool = False, cross_type: str | None = None
    ) -> bytes:
        """The bytes storage serves for one report (for comparing with a download)."""
        with self.server.lock:
            sub = self.submissions[submission_id]
            return self.stored[self._report_path(sub, file_type, warning, cross_type)]

    # --- Permissions ------------------------------------------------------------------------------

    def _can(self, needed: str, agency: str | None, fabs: bool) -> bool:
        levels, granted = (
            (FABS_LEVELS, self.fabs_permissions) if fabs else (DABS_LEVELS, self.dabs_permissions)
        )
        have = granted.get(agency or "")
        return have is not None and levels.index(have) >= levels.index(needed)

    def _on_submission(
        self, request: web.Request, data: Mapping[str, Any], needed: str, fabs_needed: str | None = None
    ) -> Submission | web.Response:
        """``convert_to_submission_id`` then ``requires_submission_perms(needed, check_fabs=...)``."""
        sub = self._submission(request, dict(data))
        if isinstance(sub, web.Response):
            return sub
        level = fabs_needed if fabs_needed and sub.fabs else needed
        if not self._can(level, sub.cgac_code, sub.fabs):
            return _json_error(403, "User does not have permission to access that submission")
        return sub

    def _existing(self, raw: Any, needed: str, fabs: bool) -> Submission | web.Response:
        """``check_existing_submission_perms``."""
        sub = self.submissions.get(int(raw)) if str(raw).strip().isdigit() else None
        if sub is None:
            return _json_error(400, "existing_submission_id must be a valid submission_id")
        if not self._can(needed, sub.cgac_code, fabs):
            return _json_error(403, "User does not have permissions to write to that submission")
        return sub

    # --- Uploads ----------------------------------------------------------------------------------

    async def _form(
        self, request: web.Request
    ) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]] | web.Response:
        if "multipart/form-data" not in request.headers.get("Content-Type", ""):
            return _json_error(400, "Request must be a multipart/form-data type", VALUE_ERROR)
        form = await request.post()
        fields: dict[str, str] = {}
        files: dict[str, tuple[str, bytes]] = {}
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = (value.filename, value.file.read())
            else:
                fields[name] = str(value)
        return fields, files

    def _validate(self, sub: Submission, file_type: str, data: bytes, start: float) -> None:
        """Start validating one file: its reports are written when it finishes (see :meth:`_settle`)."""
        findings = _findings(data, file_type)
        rows = max(0, data.decode("utf-8-sig", errors="replace").strip().count("\n"))
        sub.validations[file_type] = Validation(
            start,
            self.validation_seconds,
            len(findings["error"]),
            len(findings["warning"]),
            file_name=sub.validations.get(file_type, Validation()).file_name,
            findings=findings,
            rows=rows,
        )

    def _start_cross(self, sub: Submission, start: float) -> None:
        """
        Cross-file validation starts when every upload's has finished without errors, and runs as
        long (``check_job_dependencies``); after one with errors it never starts (``ready``).
        """
        if any(sub.validation(name).errors for name in UPLOADS):
            sub.validations["cross"] = Validation()
            return
        errors = warnings = 0
        for name in UPLOADS:
            findings = sub.validation(name).findings or {}
            errors += len(findings.get("cross_error", []))
            warnings += len(findings.get("cross_warning", []))
        sub.validations["cross"] = Validation(
            start + self.validation_seconds, self.validation_seconds, errors, warnings
        )

    def _generated_a(self, sub: Submission) -> bytes:
        """The File A the Broker generates for a new submission (from GTAS): clean, a few rows."""
        return (
            "AllocationTransferAgencyIdentifier,AgencyIdentifier,BudgetAuthorityAppropriatedAmount_CPE\n"
            + "".join(f",{sub.cgac_code},{1000 * (i + 1)}.00\n" for i in range(3))
        ).encode()

    async def upload_dabs_files(self, request: web.Request) -> web.Response:
        parsed = await self._form(request)
        if isinstance(parsed, web.Response):
            return parsed
        fields, files = parsed
        with self.server.lock:
            existing_id = fields.get("existing_submission_id")
            self.writes.append(("upload_dabs_files", _id_or_none(existing_id)))
            # requires_agency_perms("writer")
            if existing_id is None and fields.get("cgac_code") is None and fields.get("frec_code") is None:
                return _json_error(
                    400, "Missing required parameter: cgac_code, frec_code, or existing_submission_id"
                )
            existing: Submission | None = None
            if existing_id is not None:
                found = self._existing(existing_id, "writer", fabs=False)
                if isinstance(found, web.Response):
                    return found
                existing = found
            elif not self._can("writer", fields.get("cgac_code") or fields.get("frec_code"), fabs=False):
                return _json_error(403, "User does not have permissions to write to that agency")
            # validate_upload_dabs_files: the monthly rule, when both dates are given
            start_text, end_text = (
                fields.get("reporting_period_start_date"),
                fields.get("reporting_period_end_date"),
            )
            quarter = _true(fields.get("is_quarter"))
            if start_text is not None and end_text is not None:
                dates = self._dates(start_text, end_text, quarter, existing)
                if isinstance(dates, web.Response):
                    return dates
                start, end = dates
                if not quarter and (
                    start.year != end.year
                    or (start.month != end.month and start.month != 10 and end.month != 11)
                    or ((start.month == 10) != (end.month == 11))
                ):
                    return web.json_response({"message": MONTHLY}, status=400)
            return self._submit(fields, files, existing)

    def _dates(
        self, start_text: str | None, end_text: str | None, quarter: bool, existing: Submission | None
    ) -> tuple[dt.date, dt.date] | web.Response:
        """``check_submission_dates``: ``MM/YYYY``, in order, a quarter's three months."""
        kept = (existing.reporting_start_date, existing.reporting_end_date) if existing else ("", "")
        try:
            start = (
                dt.datetime.strptime(start_text, "%m/%Y").date()
                if start_text is not None
                else dt.datetime.strptime(kept[0], "%m/%d/%Y").date()
            )
            end = (
                dt.datetime.strptime(end_text, "%m/%Y").date()
                if end_text is not None
                else dt.datetime.strptime(kept[1], "%m/%d/%Y").date().replace(day=1)
            )
        except ValueError:
            return _json_error(400, "Date must be provided as MM/YYYY", VALUE_ERROR)
        if start > end:
            return _json_error(400, f"Submission start date {start} is after the end date {end}")
        if quarter:
            months = (end.year - start.year) * 12 + end.month - start.month + 1
            if months != 3:
                return _json_error(400, "Quarterly submission must span 3 months")
            if end.month % 3 != 0:
                return _json_error(400, f"Invalid end month for a quarterly submission: {end.month}")
        return start, end.replace(day=calendar.monthrange(end.year, end.month)[1])

    def _submit(
        self, fields: dict[str, str], files: dict[str, tuple[str, bytes]], existing: Submission | None
    ) -> web.Response:
        """``submit``: the files' checks, then the submission made or corrected, then its validations."""
        given = [t for t in ("appropriations", "program_activity", "award_financial") if files.get(t)]
        if existing is None and sorted(t for t in given if t != "appropriations") != [
            "award_financial",
            "program_activity",
        ]:
            return _json_error(400, "Must include files B and C for a new submission")
        if existing is not None and not given:
            return _json_error(400, "Must include at least one file for an existing submission")
        for name, _data in files.values():
            if name.rsplit(".", 1)[-1].lower() not in ("csv", "txt") or "." not in name:
                return _json_error(400, "All submitted files must be CSV or TXT format")
        now = self.server.clock.now()
        if existing is not None:
            if existing.fabs:
                return _json_error(400, "Existing submission must be a DABS submission")
            if existing.publish_status in ("publishing", "reverting"):
                return _json_error(
                    400, "Existing submission must not be publishing, certifying, or reverting"
                )
            if any(v.status(now) == "running" for v in existing.validations.values()):
                return _json_error(400, "Submission already has a running job")
            sub = existing
            if sub.publish_status == "published":
                sub.publish_status = "updated"
        else:
            for key in (
                "cgac_code",
                "frec_code",
                "reporting_period_start_date",
                "reporting_period_end_date",
                "is_quarter",
            ):
                if key not in fields:
                    return _json_error(400, f"{key} is required", VALUE_ERROR)
            cgac, frec = (fields[k].strip() or None for k in ("cgac_code", "frec_code"))
            if cgac and frec:
                return _json_error(
                    400, "New DABS submissions must have either a CGAC or a FREC code but not both"
                )
            if not cgac and not frec:
                return _json_error(400, "New DABS submissions must have either a CGAC or a FREC code")
            quarter = _true(fields["is_quarter"])
            dates = self._dates(
                fields["reporting_period_start_date"], fields["reporting_period_end_date"], quarter, None
            )
            if isinstance(dates, web.Response):
                return dates
            start, end = dates
            year, period = _fiscal(end)
            if year >= 2022 and quarter:
                return _json_error(400, "Quarterly submissions may not be created for FY22 or later")
            agency = str(cgac or frec)
            test = _true(fields.get("test_submission")) or any(
                s.cgac_code == agency
                and not s.fabs
                and s.publish_status != "unpublished"
                and (s.reporting_fiscal_year, s.reporting_fiscal_period) == (year, period)
                for s in self.submissions.values()
            )
            self._next_submission += 1
            sub = Submission(
                self._next_submission,
                cgac_code=agency,
                is_quarter=quarter,
                reporting_start_date=start.strftime("%m/%d/%Y"),
                reporting_end_date=end.strftime("%m/%d/%Y"),
                reporting_period=f"Q{period // 3}/{year}" if quarter else f"P{period:02d}/{year}",
                reporting_fiscal_year=year,
                reporting_fiscal_period=period,
                test_submission=test,
            )
            self.submissions[sub.submission_id] = sub
            self.uploaded[sub.submission_id] = {"appropriations": self._generated_a(sub)}
            sub.validations["appropriations"] = Validation(file_name=f"SubID-{sub.submission_id}_File-A.csv")
        sub.modified_wall = self.server.clock.wall()
        kept = self.uploaded.setdefault(sub.submission_id, {})
        for file_type in given:
            if existing is None and file_type == "appropriations":
                continue  # a new submission's A is the Broker's own
            name, data = files[file_type]
            kept[file_type] = data
            sub.validations[file_type] = Validation(file_name=name)
        for file_type in UPLOADS:  # every A/B/C file is validated again, with the cross-file after
            self._validate(sub, file_type, kept.get(file_type, b""), now)
        self._start_cross(sub, now)
        return web.json_response({"success": "true", "submission_id": sub.submission_id})

    async def upload_fabs_file(self, request: web.Request) -> web.Response:
        parsed = await self._form(request)
        if isinstance(parsed, web.Response):
            return parsed
        fields, files = parsed
        with self.server.lock:
            existing_id = fields.get("existing_submission_id")
            self.writes.append(("upload_fabs_file", _id_or_none(existing_id)))
            # requires_sub_agency_perms("editfabs")
            agency_code = fields.get("agency_code")
            if agency_code is None and existing_id is None:
                return _json_error(400, "Missing required parameter: agency_code or existing_submission_id")
            existing: Submission | None = None
            if existing_id is not None:
                found = self._existing(existing_id, "editfabs", fabs=True)
                if isinstance(found, web.Response):
                    return found
                existing = found
            else:
                if agency_code not in SUB_TIERS:
                    return _json_error(400, "sub_tier_agency must be a valid sub_tier_agency_code")
                if not self._can("editfabs", SUB_TIERS[str(agency_code)], fabs=True):
                    return _json_error(403, "User does not have permissions to write to that subtier agency")
            if "fabs" not in files:
                return _json_error(
                    400, "fabs field must be present and contain a file", "<class 'Exception'>"
                )
            name, data = files["fabs"]
            if "." not in name or name.rsplit(".", 1)[-1].lower() not in ("csv", "txt"):
                return _json_error(400, "FABS files must be CSV or TXT format", VALUE_ERROR)
            now = self.server.clock.now()
            if existing is not None:
                if not existing.fabs:
                    return _json_error(400, "Existing submission must be a FABS submission")
                if existing.publish_status != "unpublished":
                    return _json_error(400, "FABS submission has already been published")
                if any(v.status(now) == "running" for v in existing.validations.values()):
                    return _json_error(400, "Submission already has a running job")
                sub = existing
            else:
                self._next_submission += 1
                cgac = SUB_TIERS[str(agency_code)]
                sub = Submission(
                    self._next_submission,
                    fabs=True,
                    cgac_code=cgac,
                    test_submission=_true(fields.get("test_submission")) or cgac == "999",
                )
                self.submissions[sub.submission_id] = sub
            sub.modified_wall = self.server.clock.wall()
            self.uploaded.setdefault(sub.submission_id, {})["fabs"] = data
            sub.validations["fabs"] = Validation(file_name=name)
            self._validate(sub, "fabs", data, now)
            return web.json_response({"success": True, "submission_id": sub.submission_id})

    # --- Reports ----------------------------------------------------------------------------------

    def _report_path(self, sub: Submission, file_type: str, warning: bool, cross_type: str | None) -> str:
        """``report_file_name`` (the ``DEV-8325`` names), under the submission's folder in storage."""
        kind = "warning" if warning else "error"
        fyp = "" if sub.fabs else f"_FY{str(sub.reporting_fiscal_year)[2:]}P{sub.reporting_fiscal_period:02d}"
        if cross_type:
            name = (
                f"SubID-{sub.submission_id}_File-{LETTERS[file_type]}-to-{LETTERS[cross_type]}-crossfile-"
                f"{kind}-report{fyp}.csv"
            )
        else:
            name = f"SubID-{sub.submission_id}_File-{LETTERS[file_type]}-{kind}-report{fyp}.csv"
        return f"/files/r{sub.submission_id}/{quote(name)}"

    def _settle(self, sub: Submission) -> None:
        """Write the reports of every validation of ``sub`` that has finished (as the validator does)."""
        now = self.server.clock.now()
        for file_type, validation in sub.validations.items():
            findings = validation.findings
            if findings is None or validation.status(now) != "finished":
                continue
            for warning in (False, True):
                rows = findings["warning" if warning else "error"]
                self.stored.setdefault(
                    self._report_path(sub, file_type, warning, None), _report(REPORT_HEADERS, rows)
                )
                if file_type in CROSS_PAIRS and sub.validation("cross").status(now) == "finished":
                    cross = findings["cross_warning" if warning else "cross_error"]
                    path = self._report_path(sub, CROSS_PAIRS[file_type], warning, file_type)
                    self.stored.setdefault(path, _report(CROSS_REPORT_HEADERS, cross))

    async def report_url(self, request: web.Request) -> web.Response:
        with self.server.lock:
            sub = self._on_submission(request, {}, "reader")
            if isinstance(sub, web.Response):
                return sub
            query = request.query
            bad: dict[str, str] = {}
            file_type, cross_type = query.get("file_type"), query.get("cross_type")
            if file_type is None:
                bad["file_type"] = MISSING
            elif file_type not in REPORT_FILE_TYPES:
                bad["file_type"] = f"Must be one of: {', '.join(sorted(REPORT_FILE_TYPES))}."
            if cross_type is not None and cross_type not in CROSS_PAIRS:
                bad["cross_type"] = (
                    "Must be one of: program_activity, award_financial, award_procurement, award."
                )
            if query.get("warning", "false").lower() not in ("true", "false", "1", "0"):
                bad["warning"] = "Not a valid boolean."
            if bad:
                return webargs_error(**bad)
            assert file_type is not None
            if cross_type and CROSS_PAIRS[cross_type] != file_type:
                return _json_error(
                    400, f"{file_type} and {cross_type} is not a valid cross-pair.", VALUE_ERROR
                )
            self._settle(sub)
            path = self._report_path(
                sub, file_type, query.get("warning", "").lower() in ("true", "1"), cross_type
            )
            # Signed whether or not the report exists yet: storage answers 404 for one not written.
            return web.json_response({"url": self._file_url(path, path.rsplit("/", 1)[-1])})

    # --- Revalidation --------------------------------------------------------------

    async def restart_validation(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        with self.server.lock:
            sub = self._on_submission(request, data, "writer", "editfabs")
            if isinstance(sub, web.Response):
                return sub
            self.writes.append(("restart_validation", sub.submission_id))
            if sub.publish_status in ("publishing", "reverting"):
                return _json_error(400, "Submission is certifying or reverting", VALUE_ERROR)
            if sub.fabs and sub.publish_status == "published":
                return _json_error(400, "Submission has already been published", VALUE_ERROR)
            now = self.server.clock.now()
            if any(v.status(now) == "running" for v in sub.validations.values()):
                return _json_error(400, "Submission is still uploading or validating", VALUE_ERROR)
            kept = self.uploaded.get(sub.submission_id, {})
            for file_type in ("fabs",) if sub.fabs else UPLOADS:
                self._validate(sub, file_type, kept.get(file_type, b""), now)
                for warning in (False, True):  # the old reports are replaced when these finish
                    self.stored.pop(self._report_path(sub, file_type, warning, None), None)
                    if file_type in CROSS_PAIRS:
                        self.stored.pop(
                            self._report_path(sub, CROSS_PAIRS[file_type], warning, file_type), None
                        )
            if not sub.fabs:
                self._start_cross(sub, now)
            return web.json_response({"message": "Success"})
