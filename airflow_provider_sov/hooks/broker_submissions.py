"""
The DATA Act Broker's submission routes: uploads, validation status and reports, revalidation,
publishing, metadata, the submission list and the latest published files; mixed into
:class:`~airflow_provider_sov.hooks.broker.DataActBrokerHook`.

What each route requires is taken from its definition in the Broker's source
(``dataactbroker/routes/file_routes.py``): the permission its decorators ask for and its webargs
parameters, checked here (:mod:`.broker_lifecycle`) before anything is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.http import malformed_response, require_keys
from airflow_provider_sov.exceptions import SovError, SovInputError
from airflow_provider_sov.hooks.broker_lifecycle import (
    check_status_params,
    list_submissions_body,
    published_files_params,
)
from airflow_provider_sov.hooks.broker_rules import ROUTES, check_download_url, check_int_id
from airflow_provider_sov.hooks.broker_uploads import Upload, dabs_upload, fabs_upload, report_params, tagged

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

    # --- Submitting: uploads, reports, revalidation, publishing ---------------------------------

    def send_upload(self, upload: Upload, *, fabs: bool = False, file_name_tag: str | None = None) -> int:
        """
        Send an upload already checked by :func:`~.broker_uploads.dabs_upload` (with ``fabs``:
        ``fabs_upload``), streamed from its files, each file's name carrying ``file_name_tag``;
        return the submission's ID. Needs the permission of :meth:`upload_dabs_files` (with
        ``fabs``: :meth:`upload_fabs_file`).
        """
        route = ROUTES["upload_fabs_file" if fabs else "upload_dabs_files"]
        files = [(field, path, tagged(name, file_name_tag), kind) for field, path, name, kind in upload.files]
        body = self.request(
            route, body=self.upload_body(files, list(upload.fields)), job_id=upload.existing_submission_id
        )
        call = self._call(route, self.settings, upload.existing_submission_id, None)
        return check_int_id(require_keys(body, ("submission_id",), call)["submission_id"], "submission_id")

    def upload_dabs_files(
        self,
        *,
        program_activity: Any = None,
        award_financial: Any = None,
        appropriations: Any = None,
        cgac_code: str | None = None,
        frec_code: str | None = None,
        reporting_period_start_date: Any = None,
        reporting_period_end_date: Any = None,
        is_quarter: bool = False,
        test_submission: bool = False,
        existing_submission_id: int | str | None = None,
        file_name_tag: str | None = None,
    ) -> int:
        """
        ``POST /v1/upload_dabs_files/``: a new DABS submission from Files B and C, or corrections to
        one (``existing_submission_id`` and the files to replace, File A included); return its
        ``submission_id``. The Broker starts validating at once. Needs the ``writer`` permission on
        the agency (on the submission's agency for corrections). Every file and argument is checked
        before the request; the files are streamed from disk or object storage.

        Not idempotent: a lost answer is not sent again (see ``DabsSubmissionOperator`` for a task
        that finds its submission again).

        :param program_activity: File B (local path or ``ObjectStoragePath``, ``.csv`` or ``.txt``).
        :param award_financial: File C.
        :param appropriations: File A: corrections only; a new submission's File A is the Broker's.
        :param cgac_code: The agency's CGAC code (3 digits); or ``frec_code`` (4 digits).
        :param reporting_period_start_date: First month, ``MM/YYYY`` (or a date).
        :param reporting_period_end_date: Last month, ``MM/YYYY``: the same month, except periods 1
            and 2 together (``10/YYYY``-``11/YYYY``); a quarter's three months with ``is_quarter``
            (before FY22 only).
        :param test_submission: A test submission, which can never be published.
        :param file_name_tag: Put into each file's name as sent (``file_b.<tag>.csv``), so that
            :meth:`find_uploads` can find the submission (see :func:`~.broker_uploads.upload_tag`).
        """
        upload = dabs_upload(
            appropriations=appropriations,
            program_activity=program_activity,
            award_financial=award_financial,
            cgac_code=cgac_code,
            frec_code=frec_code,
            reporting_period_start_date=reporting_period_start_date,
            reporting_period_end_date=reporting_period_end_date,
            is_quarter=is_quarter,
            test_submission=test_submission,
            existing_submission_id=existing_submission_id,
        )
        return self.send_upload(upload, file_name_tag=file_name_tag)

    def upload_fabs_file(
        self,
        fabs: Any,
        *,
        agency_code: str | None = None,
        existing_submission_id: int | str | None = None,
        test_submission: bool = False,
        file_name_tag: str | None = None,
    ) -> int:
        """
        ``POST /v1/upload_fabs_file/``: a new FABS submission for a sub-tier agency, or a new file
        for an unpublished one; return its ``submission_id``. Validation starts at once. Needs the
        ``editfabs`` permission on the sub-tier agency's agency. Not idempotent.

        :param fabs: The FABS file (local path or ``ObjectStoragePath``, ``.csv`` or ``.txt``).
        :param agency_code: The sub-tier agency's 4-character code; or ``existing_submission_id``.
        :param file_name_tag: As for :meth:`upload_dabs_files`.
        """
        upload = fabs_upload(
            fabs,
            agency_code=agency_code,
            existing_submission_id=existing_submission_id,
            test_submission=test_submission,
        )
        return self.send_upload(upload, fabs=True, file_name_tag=file_name_tag)

    def find_uploads(
        self, file_name_tag: str, *, fabs: bool = False, since: float | None = None
    ) -> list[int]:
        """
        The submissions (DABS, or ``fabs``) with a file uploaded under a name carrying
        ``file_name_tag``, last modified no earlier than the day of ``since`` (UNIX time): how a task
        whose upload answer was lost finds the submission it made (``list_submissions``).
        """
        import datetime as dt

        filters: dict[str, Any] = {"file_names": [file_name_tag]}
        if since is not None:
            day = dt.datetime.fromtimestamp(since, dt.UTC).strftime("%m/%d/%Y")
            filters["last_modified_range"] = {"start_date": day}
        return [
            int(row["submission_id"])
            for row in self.iter_submissions(fabs=fabs, filters=filters)
            if str(row.get("submission_id", "")).isdigit()
        ]

    def report_url(
        self,
        submission_id: int | str,
        file_type: str,
        *,
        warning: bool = False,
        cross_type: str | None = None,
    ) -> str:
        """
        ``GET /v1/report_url/``: a URL signed for about a minute to one validation report: the error
        report (``warning=True``: the warning report) of ``file_type`` (``appropriations``,
        ``program_activity``, ``award_financial``, ``award_procurement``, ``award`` or ``fabs``), or
        of a cross-file pair (``cross_type``: A-B, B-C, C-D1, C-D2). Fetch it at once, with no
        credentials; a report not written yet answers 404 there. Needs ``reader`` on the submission.
        """
        params = report_params(submission_id, file_type, warning, cross_type)
        body = self.request(ROUTES["report_url"], params=params, job_id=params["submission_id"])
        url = body.get("url") if isinstance(body, dict) else None
        return check_download_url(
            url, f"{file_type} report of submission {params['submission_id']}", str(params["submission_id"])
        )

    def restart_validation(self, submission_id: int | str) -> dict[str, Any]:
        """
        ``POST /v1/restart_validation/``: validate a submission's files again (A/B/C, or FABS); its
        generated files are uncached. Refused while it validates or publishes, and for a published
        FABS submission. Needs ``writer`` on the submission (FABS: ``editfabs``).
        """
        return self._submission_call("restart_validation", submission_id)

    def get_fabs_meta(self, submission_id: int | str) -> dict[str, Any]:
        """
        ``GET /v1/get_fabs_meta/``: a FABS submission's ``valid_rows``, ``total_rows``,
        ``publish_date`` and ``published_file``. Needs ``reader`` on the submission.
        """
        submission = check_int_id(submission_id, "submission_id")
        route = ROUTES["get_fabs_meta"]
        return dict(self.request(route, params={"submission_id": submission}, job_id=submission))

    def publish_fabs_file(self, submission_id: int | str, *, confirm: bool = False) -> dict[str, Any]:
        """
        ``POST /v1/publish_fabs_file/``: publish a FABS submission's valid rows to USAspending.
        **Irreversible**: sent only with ``confirm=True``. The Broker publishes within the request
        (``publishing``, then ``published``). Needs the ``fabs`` permission on the submission.
        """
        return self._submission_call("publish_fabs_file", submission_id, confirm=confirm)

    def publish_dabs_submission(self, submission_id: int | str, *, confirm: bool = False) -> dict[str, Any]:
        """
        ``POST /v1/publish_dabs_submission/``: publish a monthly DABS submission (certify it later).
        **Irreversible**: sent only with ``confirm=True``. Needs the ``submitter`` permission.
        """
        return self._submission_call("publish_dabs_submission", submission_id, confirm=confirm)

    def certify_dabs_submission(self, submission_id: int | str, *, confirm: bool = False) -> dict[str, Any]:
        """
        ``POST /v1/certify_dabs_submission/``: certify a published monthly DABS submission.
        **Irreversible**: sent only with ``confirm=True``. Needs the ``submitter`` permission.
        """
        return self._submission_call("certify_dabs_submission", submission_id, confirm=confirm)

    def publish_and_certify_dabs_submission(
        self, submission_id: int | str, *, confirm: bool = False
    ) -> dict[str, Any]:
        """
        ``POST /v1/publish_and_certify_dabs_submission/``: publish and certify a DABS submission in
        one call (the only way for a quarterly one, or one past its certification deadline).
        **Irreversible**: sent only with ``confirm=True``. Needs the ``submitter`` permission.
        """
        return self._submission_call("publish_and_certify_dabs_submission", submission_id, confirm=confirm)

    def _submission_call(
        self, name: str, submission_id: int | str, *, confirm: bool | None = None
    ) -> dict[str, Any]:
        """POST ``{"submission_id"}`` to a write route; a publishing one only when ``confirm`` is True."""
        submission = check_int_id(submission_id, "submission_id")
        route = ROUTES[name]
        if confirm is not None and confirm is not True:
            raise SovInputError(
                f"Not sent: {route.action} {submission} cannot be undone, and confirm is {confirm!r}.",
                job_id=submission,
                hint="Pass confirm=True once the submission has been reviewed.",
            )
        body = self.request(route, json={"submission_id": submission}, job_id=submission)
        answer = dict(body) if isinstance(body, dict) else {}
        message = answer.get("message")
        if name != "publish_fabs_file" and message != "Success":
            raise SovError(
                f"The Broker did not confirm: {route.action} {submission} answered {message!r}.",
                action=route.action,
                job_id=submission,
                server_message=str(message) if message is not None else None,
                hint="Read the submission's publish_status (submission_metadata) before trying again.",
            )
        return answer
