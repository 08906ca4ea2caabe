"""
The DATA Act Broker emulator's publishing: FABS publication, DABS publication and certification,
and a FABS submission's row counts, as the Broker's source has them (``publish_fabs_submission`` in
``handlers/fileHandler.py``; ``publish_checks`` and the three DABS handlers in
``handlers/submission_handler.py``; ``get_fabs_meta`` in ``dataactcore/interfaces/function_bag.py``).
Each publishes within its request, as the Broker does: ``publishing`` meanwhile, then ``published``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from aiohttp import web

from airflow_provider_sov.testing.broker_model import UPLOADS, Submission, _json_error
from airflow_provider_sov.testing.broker_reports import VALUE_ERROR
from airflow_provider_sov.testing.broker_submit import BrokerSubmitting


class BrokerPublishing(BrokerSubmitting):
    """The publishing routes; their state lives in :class:`~.broker_app.BrokerState`."""

    def submitting_routes(self) -> list[tuple[str, str, Any]]:
        return [
            *super().submitting_routes(),
            ("POST", "publish_fabs_file", self.publish_fabs_file),
            ("POST", "publish_dabs_submission", self.publish_dabs_submission),
            ("POST", "certify_dabs_submission", self.certify_dabs_submission),
            ("POST", "publish_and_certify_dabs_submission", self.publish_and_certify_dabs_submission),
            ("GET", "get_fabs_meta", self.get_fabs_meta),
        ]

    async def _publishing(self, sub: Submission, certify: bool) -> None:
        """
        Publish in the request, as the Broker does: ``publishing`` (set by the caller, under the lock
        its checks ran under) for ``publish_seconds``, then ``published``.
        """
        await asyncio.sleep(self.publish_seconds)
        files = ("FABS",) if sub.fabs else ("A", "B", "C")
        self.publish(sub.submission_id, certified=certify or sub.certified, files=files)

    async def publish_fabs_file(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        with self.server.lock:
            sub = self._on_submission(request, data, "fabs")
            if isinstance(sub, web.Response):
                return sub
            self.writes.append(("publish_fabs_file", sub.submission_id))
            if not sub.fabs:
                return _json_error(400, "Submission is not a FABS submission")
            if sub.publish_status == "publishing":
                return _json_error(400, "Submission is already publishing")
            if sub.publish_status != "unpublished":
                return _json_error(400, "Submission has already been published")
            if sub.test_submission:
                return _json_error(400, "Test submissions cannot be published", VALUE_ERROR)
            now = self.server.clock.now()
            if any(v.status(now) != "finished" for v in sub.validations.values()):
                return _json_error(400, "Submission has unfinished jobs and cannot be published")
            sub.publish_status = "publishing"
        await self._publishing(sub, certify=False)
        return web.json_response({"submission_id": sub.submission_id})

    def _publish_checks(self, sub: Submission) -> web.Response | None:
        """``publish_checks``, in its order (every period has a window open here)."""
        now = self.server.clock.now()
        errors = sum(v.errors for v in sub.validations.values())
        finished = all(sub.validation(t).status(now) == "finished" for t in (*UPLOADS, "cross"))
        if errors or not finished:
            return _json_error(400, "Submission cannot be published due to critical errors", VALUE_ERROR)
        if sub.test_submission:
            return _json_error(400, "Test submissions cannot be published", VALUE_ERROR)
        if sub.publish_status == "published":
            return _json_error(400, "Submission has already been published", VALUE_ERROR)
        if sub.publish_status in ("publishing", "reverting"):
            return _json_error(400, "Submission is publishing or reverting", VALUE_ERROR)
        rows = [sub.validation(t).rows for t in ("appropriations", "program_activity")]
        if any(r == 0 for r in rows):
            return _json_error(400, "Cannot publish while file A or B is blank.", VALUE_ERROR)
        for other in self.submissions.values():
            if (
                other is not sub
                and not other.fabs
                and other.cgac_code == sub.cgac_code
                and other.publish_status == "published"
                and (other.reporting_fiscal_year, other.reporting_fiscal_period)
                == (sub.reporting_fiscal_year, sub.reporting_fiscal_period)
            ):
                return _json_error(
                    400, "This period already has published submission(s) by this agency.", VALUE_ERROR
                )
        return None

    async def _dabs(self, request: web.Request, route: str) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        with self.server.lock:
            sub = self._on_submission(request, data, "submitter")
            if isinstance(sub, web.Response):
                return sub
            self.writes.append((route, sub.submission_id))
            if sub.fabs:
                return _json_error(400, "Submission must be a DABS submission.")
            quarter = sub.is_quarter
            if route == "certify_dabs_submission":
                if quarter:
                    return _json_error(
                        400,
                        "Quarterly submissions cannot be certified separate from publication. "
                        "Use the publish_and_certify_dabs_submission endpoint to publish and certify.",
                        VALUE_ERROR,
                    )
                if sub.publish_status != "published":
                    return _json_error(
                        400,
                        "Submissions must be published before certification. Use the "
                        "publish_dabs_submission endpoint to publish first.",
                        VALUE_ERROR,
                    )
                if sub.certified:
                    return _json_error(
                        400,
                        "Submissions that have been certified cannot be recertified separately. "
                        "Use the publish_and_certify_dabs_submission endpoint to recertify.",
                        VALUE_ERROR,
                    )
                sub.certified = True
                return web.json_response({"message": "Success"})
            if route == "publish_dabs_submission":
                if quarter:
                    return _json_error(
                        400,
                        "Quarterly submissions cannot be published separate from certification. "
                        "Use the publish_and_certify_dabs_submission endpoint to publish and certify.",
                        VALUE_ERROR,
                    )
                if sub.certified:
                    return _json_error(
                        400,
                        "Submissions that have been certified cannot be republished separately. "
                        "Use the publish_and_certify_dabs_submission endpoint to republish.",
                        VALUE_ERROR,
                    )
            elif quarter and sub.reporting_fiscal_year >= 2022:
                return _json_error(
                    400, "Quarterly submissions from FY22 onward cannot be published.", VALUE_ERROR
                )
            refused = self._publish_checks(sub)
            if refused is not None:
                return refused
            sub.publish_status = "publishing"
        await self._publishing(sub, certify=route == "publish_and_certify_dabs_submission")
        return web.json_response({"message": "Success"})

    async def publish_dabs_submission(self, request: web.Request) -> web.Response:
        return await self._dabs(request, "publish_dabs_submission")

    async def certify_dabs_submission(self, request: web.Request) -> web.Response:
        return await self._dabs(request, "certify_dabs_submission")

    async def publish_and_certify_dabs_submission(self, request: web.Request) -> web.Response:
        return await self._dabs(request, "publish_and_certify_dabs_submission")

    async def get_fabs_meta(self, request: web.Request) -> web.Response:
        with self.server.lock:
            sub = self._on_submission(request, {}, "reader")
            if isinstance(sub, web.Response):
                return sub
            validation = sub.validation("fabs")
            total = validation.rows or 0
            finished = validation.status(self.server.clock.now()) == "finished"
            error_rows = {row[7] for row in (validation.findings or {}).get("error", [])}
            published = sub.publish_status == "published"
            return web.json_response(
                {
                    "valid_rows": total - len(error_rows) if finished else 0,
                    "total_rows": total if finished else 0,
                    "publish_date": dt.datetime.fromtimestamp(self.server.clock.wall(), dt.UTC).strftime(
                        "%Y-%m-%dT%H:%M:%S"
                    )
                    if published
                    else None,
                    "published_file": None,
                }
            )
