"""
Hook for the DATA Act Broker API: authentication, D/E/F/A/BOC file generation, status, download;
and, from :mod:`.broker_submissions`, a submission's validations, metadata and published files.

What the Broker accepts is checked once, for the hook, the operators and the sensor alike
(:mod:`.broker_rules`); how a status body reads is :mod:`.broker_jobs`; sessions are
:mod:`.broker_session`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.connection import ui_field_behaviour
from airflow_provider_sov._shared.hook import ApiHook
from airflow_provider_sov._shared.http import read_error_body, require_keys
from airflow_provider_sov.exceptions import SovAuthError, SovBadRequestError, SovError, SovPrerequisiteError
from airflow_provider_sov.hooks import broker_rules
from airflow_provider_sov.hooks.broker_lifecycle import PublishedFile
from airflow_provider_sov.hooks.broker_rules import (
    D_FILE_TYPES,
    DEFAULT_HOST,
    ROUTES,
    FinishedFile,
    GenerationRequest,
    GenerationTarget,
    check_download_url,
    generation_request,
    status_request,
)
from airflow_provider_sov.hooks.broker_session import _SESSIONS, BrokerAuth
from airflow_provider_sov.hooks.broker_submissions import BrokerSubmissionsMixin
from airflow_provider_sov.hooks.broker_uploads import ValidationReport

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Mapping

    from airflow_provider_sov._shared.files import Destination, DownloadedFile, FileToFetch

__all__ = ["ROUTES", "_SESSIONS", "DataActBrokerHook", "GenerationTarget", "generation_request"]

#: Fields the Broker adds to every error body in its debug mode (always on): the exception's type
#: and the server's stack trace. Neither is for the user; its ``message`` is.
DEBUG_FIELDS = frozenset({"errorType", "trace", "wrappedType", "wrappedMessage"})


class DataActBrokerHook(BrokerSubmissionsMixin, ApiHook):
    """
    Talk to the DATA Act Broker, authenticating one of three ways chosen from the connection.

    - ``proxy``: the Treasury API proxy (host ``https://api.fiscal.treasury.gov/ap/exp/v1/data-act-broker``).
      Login = ``client_id``, Password = ``client_secret``; both go as headers on every request;
      ``GET /v1/active_user`` starts the session (again after a 401).
    - ``session``: Password = an ``x-session-id`` from an interactive login. It cannot be renewed
      here: on a 401 the error says how to get a new one.
    - ``login``: Login and Password exchanged at ``POST /v1/login`` for a session, again after a
      401 (local and test Brokers only).

    The mode is the connection extra ``auth_mode``; when it is ``auto`` or empty: ``proxy`` for a host on
    ``api.fiscal.treasury.gov``, ``login`` when Login is set, else ``session``.

    :param data_act_broker_conn_id: The Airflow connection to use.
    """

    conn_name_attr = broker_rules.CONN_NAME_ATTR
    default_conn_name = broker_rules.DEFAULT_CONN_NAME
    conn_type = "data_act_broker"
    hook_name = broker_rules.API_NAME
    default_host = DEFAULT_HOST
    auth: BrokerAuth

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return the connection form's shape (Airflow 3.0 and 3.1 ask the hook for it)."""
        return ui_field_behaviour(cls.conn_type)

    def __init__(self, data_act_broker_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(data_act_broker_conn_id, auth=BrokerAuth(), **kwargs)
        self.data_act_broker_conn_id = self.conn_id

    def auth_mode(self) -> str:
        """Return the authentication mode this connection uses (see the class docstring)."""
        return self.auth.mode(self.settings)

    def establish_session(self) -> None:
        """Start a session now where the mode allows it (log in, or ``/v1/active_user`` via the proxy)."""
        self.auth.establish(self)

    def read_error(self, body: bytes | str | None) -> tuple[str, bool]:
        """The Broker's error text, without the debug fields it adds to every error body."""
        return read_error_body(body, DEBUG_FIELDS)

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials: ``/v1/active_user`` via the proxy, else ``/v1/session``."""
        try:
            mode = self.auth_mode()
            if mode == "proxy":
                self.establish_session()
                return True, f"Connected to {self.settings.base_url} through the Treasury API proxy."
            if mode == "login":
                self.establish_session()
            body = self.request(ROUTES["session"])
        except Exception as exc:
            return False, str(exc)
        if str(body.get("status")) == "True":
            return True, f"Connected to {self.settings.base_url}; the session is active."
        return False, (
            f"Connected to {self.settings.base_url}, but the session is not active: renew the session ID "
            f"in connection {self.conn_id!r} (log in again and copy the new x-session-id)."
        )

    def submission_pages(self, submission_id: int | str) -> dict[str, str]:
        """
        Return the submission's page on the Broker website, ``{"broker_submission": url}``, or
        nothing when the connection names no website (see :func:`~.broker_rules.submission_page`).
        No request is sent.
        """
        page = broker_rules.submission_page(self.settings.base_url, self.settings.extra, submission_id)
        return {"broker_submission": page} if page else {}

    def generate(self, checked: GenerationRequest) -> dict[str, Any]:
        """Send a checked :func:`generation_request`; return the status body the Broker answers with."""
        job_id = checked.body.get("submission_id")
        try:
            return dict(self.request(ROUTES[checked.route], json=checked.body, job_id=job_id))
        except SovBadRequestError as error:
            if "prerequisite" not in (error.server_message or "").lower():
                raise
            raise SovPrerequisiteError(
                error.message,
                action=error.action,
                job_id=job_id,
                http_status=error.http_status,
                server_message=error.server_message,
                hint=(
                    f"The {checked.file_type} file can be generated once the submission's "
                    f"{'A/B/C' if checked.file_type in D_FILE_TYPES else 'cross-file'} validations "
                    "have finished without errors. Give the task retries with a retry_delay (e.g. "
                    "retries=6, retry_delay=timedelta(minutes=10)) to try again later."
                ),
            ) from None

    def generate_file(
        self,
        submission_id: int | str,
        file_type: str,
        start: str | dt.date | None = None,
        end: str | dt.date | None = None,
        agency_type: str = "awarding",
        file_format: str = "csv",
    ) -> dict[str, Any]:
        """
        Start (or restart) generating ``file_type`` for a submission; return its status body.

        :param submission_id: The submission.
        :param file_type: ``D1``, ``D2``, ``E`` or ``F``.
        :param start: First day (``MM/DD/YYYY``), D1/D2 only.
        :param end: Last day (``MM/DD/YYYY``), D1/D2 only.
        :param agency_type: ``awarding`` or ``funding`` (D1/D2).
        :param file_format: ``csv`` or pipe-delimited ``txt`` (D1/D2).
        """
        return self.generate(generation_request(**_arguments(locals())))

    def generate_detached_file(
        self,
        file_type: str,
        *,
        cgac_code: str | None = None,
        frec_code: str | None = None,
        start: str | dt.date | None = None,
        end: str | dt.date | None = None,
        agency_type: str = "awarding",
        file_format: str = "csv",
        element_numbers: bool = False,
        year: int | str | None = None,
        period: int | None = None,
    ) -> dict[str, Any]:
        """
        Start generating a file for an agency, outside any submission; return its status body.

        :param file_type: ``D1``, ``D2``, ``A`` or ``BOC``.
        :param cgac_code: The agency's CGAC code (3 digits); or ``frec_code`` (4 digits).
        :param year: Fiscal year (A and BOC).
        :param period: Fiscal period 2-12 (A and BOC).
        """
        return self.generate(generation_request(**_arguments(locals())))

    def read_status(self, target: GenerationTarget) -> dict[str, Any]:
        """Return the status body of a generation (signed ``url`` included while ``finished``)."""
        route, where = status_request(target)
        return dict(self.request(route, **where))

    async def aread_status(self, target: GenerationTarget) -> dict[str, Any]:
        """Do what :meth:`read_status` does, on the async path, for triggers."""
        route, where = status_request(target)
        body: dict[str, Any] = await self.arequest(route, **where)  # as decoded: no copy per poll
        return body

    def check_generation_status(self, submission_id: int | str, file_type: str) -> dict[str, Any]:
        """``GET /v1/check_generation_status`` for a submission's file."""
        return self.read_status(GenerationTarget.of(submission_id, file_type))

    def check_detached_generation_status(self, job_id: int | str) -> dict[str, Any]:
        """``GET /v1/check_detached_generation_status`` (an unknown job reads ``invalid``)."""
        return self.read_status(GenerationTarget.of(job_id=job_id))

    def get_file_url(self, submission_id: int | str, file_type: str) -> str:
        """Return a freshly signed URL (valid about 60 seconds) of a submission's generated file."""
        return self.file_url(GenerationTarget.of(submission_id, file_type))

    def get_detached_file_url(self, job_id: int | str) -> str:
        """Return a freshly signed URL (valid about 60 seconds) of a detached generation's file."""
        return self.file_url(GenerationTarget.of(job_id=job_id))

    def finished_file_url(self, target: GenerationTarget, body: Mapping[str, Any]) -> str:
        """
        Return the signed URL in the status ``body`` that found ``target`` finished, or a freshly signed
        one when that body carries none usable.
        """
        url = body.get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return url
        if isinstance(url, str) and url not in ("", "#"):
            return check_download_url(url, target.label, target.key)  # a local Broker's path: say so
        return self.file_url(target)

    def file_url(self, target: GenerationTarget) -> str:
        """Return a freshly signed URL (valid about 60 seconds) of a finished generation's file."""
        route, where = status_request(target, url=True)
        body = self.request(route, **where)
        url = require_keys(body, ("url",), self._call(route, self.settings, where["job_id"], None))["url"]
        return check_download_url(url, target.label, target.key)

    def fetch_file(self, item: FileToFetch, *, overwrite: bool) -> DownloadedFile:
        """
        Write a task's file (its ``source`` a :class:`FinishedFile`): from the signed URL of the status
        read that found it finished when that is at hand, else a freshly signed one, never by asking
        again whether it is finished (an odd answer to that now would fail a finished task). A
        published file (its ``source`` a :class:`~.broker_published.PublishedFile`) is fetched from
        a URL signed for it just now.
        """
        if isinstance(item.source, PublishedFile):
            return self.download_published_file(
                item.source, item.destination, item.filename, overwrite=overwrite
            )
        if isinstance(item.source, ValidationReport):
            report = item.source
            return self.download_signed(
                lambda: self.report_url(
                    report.submission_id,
                    report.file_type,
                    warning=report.warning,
                    cross_type=report.cross_type,
                ),
                item.destination,
                item.filename or report.name,
                overwrite=overwrite,
                key=report.name.removesuffix(".csv"),
                what=f"{'warning' if report.warning else 'error'} report",
                label=f"report {report.name}",
            )
        finished: FinishedFile = item.source
        url = self.finished_file_url(finished.target, finished.status_body)
        return self.download_file(
            finished.target, item.destination, filename=item.filename, overwrite=overwrite, url=url
        )

    def download_published_file(
        self, file: PublishedFile, destination: Destination, filename: str | None, *, overwrite: bool
    ) -> DownloadedFile:
        """
        Download one published file, whole or not at all, from a URL signed for it just now
        (``get_published_file``), with no credentials; a 403 from storage (expired) gets a new URL, once.
        """
        return self.download_signed(
            lambda: self.get_published_file(file.submission_id, file.published_files_history_id),
            destination,
            filename or file.label,
            overwrite=overwrite,
            key=f"published file {file.published_files_history_id}",
            what="published file",
            label=f"published file {file.label}",
        )

    def download_signed(
        self,
        sign: Callable[[], str],
        destination: Destination,
        filename: str | None,
        *,
        overwrite: bool,
        key: str,
        what: str,
        label: str,
        signed: str | None = None,
    ) -> DownloadedFile:
        """
        Download a file from a URL ``sign`` signs for it just now, whole or not at all, with no
        credentials (the signature is the credential); a 403 from storage (expired) gets a new URL, once.
        ``label``: how messages name the file; ``signed``: a URL signed just now, for the first try.
        """
        for attempt in (1, 2):
            url = signed if attempt == 1 and signed else sign()
            try:
                return self.download(
                    url,
                    destination,
                    filename=filename,
                    overwrite=overwrite,
                    job_id=key,
                    what=what,
                    credentials=False,
                )
            except SovAuthError as error:
                if error.http_status != 403:
                    raise
                if attempt == 2:
                    raise SovAuthError(
                        f"Storage refused the {label} twice (HTTP 403), even at a freshly signed URL: "
                        f"{error.server_message or 'no message'}.",
                        action=error.action,
                        job_id=key,
                        http_status=403,
                        server_message=error.server_message,
                        hint=(
                            "Signed URLs expire soon after they are issued (60 seconds for generated files): "
                            "check this machine's clock, and that the download can start right after."
                        ),
                    ) from None
                self.log.info(
                    "Storage refused the signed URL of the %s (expired?); signing a new one.", label
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def download_file(
        self,
        target: GenerationTarget,
        destination: Destination,
        *,
        filename: str | None = None,
        overwrite: bool = False,
        url: str | None = None,
    ) -> DownloadedFile:
        """
        Download a finished generation's file into ``destination``, whole or not at all.

        The signed URL lives about 60 seconds, so it is read right before downloading (unless
        ``url`` was just read). It is fetched with no credentials of any kind: the signature is
        the credential. A 403 from storage (expired) gets a freshly signed URL, once. The byte
        count is checked against ``Content-Length`` (the Broker's ``size`` is usually null).
        """
        if url is None:
            body = self.read_status(target)
            status = str(body.get("status") or "unknown")
            if status != "finished":
                raise SovError(
                    f"The {target.label} is not ready to download: its status is {status!r}.",
                    job_id=target.key,
                    server_message=body.get("message") or None,
                    hint="Wait for it with DFileGenerationSensor (or DFileGenerateOperator) first.",
                )
            url = check_download_url(body.get("url"), target.label, target.key)
        return self.download_signed(
            lambda: self.file_url(target),
            destination,
            filename,
            overwrite=overwrite,
            key=target.key,
            what=f"{target.file_type or 'generated'} file".strip(),
            label=target.label,
            signed=url,
        )


def _arguments(values: dict[str, Any]) -> dict[str, Any]:
    """Return a method's own arguments, from its ``locals()``: what it passes on to :func:`generation_request`."""
    return {k: v for k, v in values.items() if k != "self"}
