"""
The DATA Act Broker's submission routes: validation status, metadata, the submission list and the
latest published files; mixed into :class:`~airflow_provider_sov.hooks.broker.DataActBrokerHook`.

What each route requires is taken from its definition in the Broker's source
(``dataactbroker/routes/file_routes.py``): the permission its decorators ask for and its webargs
parameters, checked here (:mod:`.broker_lifecycle`) before anything is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.http import malformed_response
from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks.broker_lifecycle import (
    check_status_params,
    list_submissions_body,
    published_files_params,
)
from airflow_provider_sov.hooks.broker_rules import ROUTES, check_download_url, check_int_id

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_sov._shared.hook import ApiHook

    _Base = ApiHook
else:
    _Base = object


class BrokerSubmissionsMixin(_Base):
    """The Broker's submission reads; see :class:`~airflow_provider_sov.hooks.broker.DataActBrokerHook`."""

    def check_status(self, submission_id: int | str, file_type: str | None = None) -> dict[str, Any]:
        """
        ``GET /v1/check_status``: each file type's validation, ``{type: {"status", "has_errors",
        "has_warnings", "message", "upload_progress", "validation_progress", "file_name",
        "validation_last_updated"}}``. ``status`` is ``ready`` (not started), ``uploading``,
        ``running``, ``finished`` or ``failed``.

        Needs reader permission on the submission (``requires_submission_perms("reader")``).

        :param file_type: Only this type: ``appropriations`` (or ``A``), ``program_activity`` (``B``),
            ``award_financial`` (``C``), ``award_procurement`` (``D1``), ``award`` (``D2``),
            ``executive_compensation`` (``E``), ``sub_award`` (``F``), ``cross`` or ``fabs``.
        """
        params = check_status_params(submission_id, file_type)
        return dict(self.request(ROUTES["check_status"], params=params, job_id=params["submission_id"]))

    async def acheck_status(self, submission_id: int | str, file_type: str | None = None) -> dict[str, Any]:
        """Do what :meth:`check_status` does, on the async path, for triggers."""
        params = check_status_params(submission_id, file_type)
        body: dict[str, Any] = await self.arequest(
            ROUTES["check_status"], params=params, job_id=params["submission_id"]
        )
        return body

    def submission_metadata(self, submission_id: int | str) -> dict[str, Any]:
        """
        ``GET /v1/submission_metadata``: ``cgac_code``/``frec_code``, ``agency_name``,
        ``number_of_errors``, ``number_of_warnings``, ``reporting_period`` (``Q2/2026``, ``P07/2026``),
        ``reporting_start_date``/``reporting_end_date`` (``MM/DD/YYYY``), ``publish_status``
        (``unpublished``, ``published``, ``updated``, ``publishing``), ``certified``,
        ``test_submission``, ``fabs_submission``... Needs reader permission on the submission.
        """
        submission = check_int_id(submission_id, "submission_id")
        route = ROUTES["submission_metadata"]
        return dict(self.request(route, params={"submission_id": submission}, job_id=submission))

    async def asubmission_metadata(self, submission_id: int | str) -> dict[str, Any]:
        """Do what :meth:`submission_metadata` does, on the async path, for triggers."""
        submission = check_int_id(submission_id, "submission_id")
        body: dict[str, Any] = await self.arequest(
            ROUTES["submission_metadata"], params={"submission_id": submission}, job_id=submission
        )
        return body

    def list_submissions(
        self,
        *,
        published: str | bool = "mixed",
        page: int = 1,
        limit: int = 5,
        sort: str = "modified",
        order: str = "desc",
        fabs: bool = False,
        filters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """
        ``POST /v1/list_submissions`` (JSON; needs a login): one page of the submissions of every
        agency the account belongs to, ``{"submissions": [...], "total", "min_last_modified"}``.

        :param published: ``mixed`` (default), ``true`` (published or certified) or ``false``.
        :param page: Page number, from 1 (the Broker's default 1).
        :param limit: Submissions per page (the Broker's default 5).
        :param sort: ``modified`` (default), ``submission_id``, ``reporting_start``,
            ``reporting_end``, ``agency``, ``submitted_by``, ``last_pub_or_cert``, ``quarterly_submission``.
        :param order: ``desc`` (default) or ``asc``.
        :param fabs: FABS submissions instead of DABS.
        :param filters: The Broker's ``filters``: ``submission_ids``, ``last_modified_range``
            (``start_date``/``end_date``, ``MM/DD/YYYY``), ``agency_codes``, ``file_names``,
            ``user_ids``, ``submission_type`` (``test`` or ``certifiable``).
        """
        body = list_submissions_body(
            published=published, page=page, limit=limit, sort=sort, order=order, fabs=fabs, filters=filters
        )
        answer = self.request(ROUTES["list_submissions"], json=body)
        if not isinstance(answer, dict) or not isinstance(answer.get("submissions"), list):
            raise malformed_response(
                self._call(ROUTES["list_submissions"], self.settings, None, None), "no 'submissions' list"
            )
        return answer

    def iter_submissions(
        self,
        *,
        published: str | bool = "mixed",
        limit: int = 100,
        sort: str = "modified",
        order: str = "desc",
        fabs: bool = False,
        filters: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """
        Yield every submission :meth:`list_submissions` finds, page after page, each once (a
        submission modified meanwhile can move between pages; it is not yielded twice).
        """
        seen: set[Any] = set()
        page = 1
        while True:
            answer = self.list_submissions(
                published=published,
                page=page,
                limit=limit,
                sort=sort,
                order=order,
                fabs=fabs,
                filters=filters,
            )
            rows = [s for s in answer["submissions"] if isinstance(s, dict)]
            for row in rows:
                if row.get("submission_id") not in seen:
                    seen.add(row.get("submission_id"))
                    yield row
            total = answer.get("total")
            if not rows or (isinstance(total, int) and page * limit >= total):
                return
            page += 1

    def list_latest_published_files(
        self,
        type: str,
        *,
        agency: str | None = None,
        year: int | str | None = None,
        period: int | str | None = None,
    ) -> list[dict[str, Any]]:
        """
        ``GET /v1/list_latest_published_files`` (needs a login): the latest published files,
        drilled down level by level. With ``type`` only: the agencies (``{"id": "097", "label"}``);
        with ``agency``: its fiscal years; with ``year``: its periods; with ``period`` too: the
        files, ``{"id": <published_files_history_id>, "label": <file name>, "filetype": "A"... or
        "comments", "submission_id"}``.

        :param type: ``dabs`` or ``fabs``.
        :param agency: CGAC (3 digits) or FREC (4 digits) code.
        :param year: Fiscal year.
        :param period: Fiscal period (1-12; for DABS the submission's period, e.g. 3 for Q1).
        """
        params = published_files_params(type, agency, year, period)
        return self._published_rows(self.request(ROUTES["list_latest_published_files"], params=params))

    async def alist_latest_published_files(
        self,
        type: str,
        *,
        agency: str | None = None,
        year: int | str | None = None,
        period: int | str | None = None,
    ) -> list[dict[str, Any]]:
        """Do what :meth:`list_latest_published_files` does, on the async path."""
        params = published_files_params(type, agency, year, period)
        return self._published_rows(await self.arequest(ROUTES["list_latest_published_files"], params=params))

    def _published_rows(self, answer: Any) -> list[dict[str, Any]]:
        """The rows of a published-files answer (a JSON list), for the sync and async reads alike."""
        if not isinstance(answer, list):
            raise malformed_response(
                self._call(ROUTES["list_latest_published_files"], self.settings, None, None), "no list"
            )
        return [row for row in answer if isinstance(row, dict)]

    def get_published_file(
        self, submission_id: int | str, published_files_history_id: int | str, *, is_warning: bool = False
    ) -> str:
        """
        ``GET /v1/get_published_file``: a signed URL (valid about 60 seconds) of one published file.

        Needs reader permission on the submission, which must be the file's own.

        :param published_files_history_id: The file's ``id`` in :meth:`list_latest_published_files`.
        :param is_warning: The file's warning report instead of the file.
        """
        submission = check_int_id(submission_id, "submission_id")
        history_id = check_int_id(published_files_history_id, "published_files_history_id")
        if not isinstance(is_warning, bool):
            raise SovInputError(f"is_warning must be True or False, got {is_warning!r}.")
        params: dict[str, Any] = {"submission_id": submission, "published_files_history_id": history_id}
        if is_warning:
            params["is_warning"] = "true"
        route = ROUTES["get_published_file"]
        body = self.request(route, params=params, job_id=submission)
        url = body.get("url") if isinstance(body, dict) else None
        return check_download_url(
            url, f"published file {history_id} of submission {submission}", str(submission)
        )
