"""Hook for the SOV Fixer (Ping Extraction) API: parse, update and export insurance SOVs."""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from airflow_provider_sov._shared.files import (
    CsvSummary,
    DownloadedFile,
    as_source,
    check_locations_csv,
    multipart_file,
)
from airflow_provider_sov._shared.hook import ApiHook
from airflow_provider_sov._shared.http import Route, check_id, require_keys
from airflow_provider_sov.exceptions import SovInputError, SovJobFailedError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from airflow_provider_sov._shared.connection import ConnSettings
    from airflow_provider_sov._shared.files import Destination

DEFAULT_HOST = "https://api.sovfixer.com"

#: ``update_type`` values the API documents for ``initiate_update``.
UPDATE_TYPES = ("API", "SCRUB", "AIR", "RMS", "RMS_ANALYSIS", "COMPLETE", "PINGREADY")
#: ``document_type`` values the API documents for a new parse.
DOCUMENT_TYPES = ("SOV", "PREM_BDX", "CLAIM_BDX", "SOV_BDX", "ACORD")
#: File extensions a parse accepts.
PARSE_EXTENSIONS = (".xls", ".xlsx", ".xlsm", ".xlsb", ".pdf")

#: ``request.status`` values after which a job never changes. Anything else means keep waiting.
TERMINAL_STATUSES = frozenset({"COMPLETE", "FAILED"})
#: ``request.status`` values the API documents as in flight (others are logged, and waited on).
RUNNING_STATUSES = frozenset({"PENDING", "IN_PROGRESS", "ENRICHING", "REENRICHING"})
#: ``result.status`` values that mean the job did what was asked.
SUCCESS_RESULTS = frozenset({"SUCCESS"})

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The SOV or SUD an output URL belongs to (``/api/v1/sov/{id}/output/{filename}``).
_OUTPUT_OWNER = re.compile(r"/sov/([^/]+)/output/")

R = Route
ROUTES = {
    r.name: r
    for r in (
        R("parse", "POST", "/api/v1/sov", idempotent=False, action="start parse"),
        R("parse_status", "GET", "/api/v1/sov/{sov_id}", True, "SOV", "read parse status"),
        R("output_formats", "GET", "/api/v1/output_formats", True, "SOV", "list output formats"),
        R("get_or_create_output", "POST", "/api/v1/sov/{id}/get_or_create_output", True, "SOV/SUD"),
        R("output_request", "GET", "/api/v1/sov/get_or_create_output/{request_id}", True, "output request"),
        R("initiate_update", "POST", "/api/v1/sov/{sov_id}/initiate_update", False, "SOV", "initiate update"),
        R(
            "add_locations",
            "POST",
            "/api/v1/sov/update/{sud_id}/add_locations",
            False,
            "SUD",
            "add locations",
        ),
        R("start_update", "POST", "/api/v1/sov/update/{sud_id}/start", False, "SUD", "start update"),
        R("update_status", "GET", "/api/v1/sov/update/{sud_id}", True, "SUD", "read update status"),
        R("history", "GET", "/api/v1/sov/history", True, "", "read history"),
        R("history_item", "GET", "/api/v1/sov/history/{id}", True, "history item", "read history item"),
    )
}
del R


@dataclass(frozen=True)
class JobStatus:
    """
    One reading of a parse job, update job or output request, classified once for sync and async.

    :param job_id: SOV ID, SUD ID or output request ID.
    :param status: ``request.status`` as the API sent it.
    :param terminal: Whether the job will not change again.
    :param succeeded: Terminal and ``COMPLETE`` with a successful (or absent) ``result.status``.
    :param result_status: ``result.status`` once terminal, e.g. ``SUCCESS`` or ``FAILED_TO_PROCESS``.
    :param message: ``result.message`` once terminal.
    :param outputs: Files to download: ``[{"url", "filename", "description"}]``.
    """

    job_id: str
    status: str
    terminal: bool
    succeeded: bool
    pct_complete: float | None = None
    health: str | None = None
    result_status: str | None = None
    message: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def known(self) -> bool:
        """Whether ``status`` is one the API documents."""
        return self.status in TERMINAL_STATUSES or self.status in RUNNING_STATUSES

    def progress_line(self) -> str:
        """One short line for the task log: ID, status, percent, health message."""
        pct = "" if self.pct_complete is None else f" {self.pct_complete:g}%"
        health = f" - {self.health}" if self.health else ""
        unknown = "" if self.known else " (unrecognised status; still waiting)"
        return f"{self.job_id}: {self.status}{pct}{health}{unknown}"

    def to_event(self) -> dict[str, Any]:
        """Plain JSON for XCom and trigger events."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "result_status": self.result_status,
            "message": self.message,
            "outputs": self.outputs,
        }


def classify(body: Mapping[str, Any], job_id: str) -> JobStatus:
    """
    Classify a status body (``{"request": {...}, "result": {...}}``) of any SOV Fixer job kind.

    ``result`` may carry ``outputs`` (parse and update jobs) or a single output described by
    ``url``/``scrubbed_filename``/``label`` (output requests); both come back as ``outputs``.
    """
    request = body.get("request") or {}
    result = body.get("result") or {}
    status = str(request.get("status") or "UNKNOWN")
    terminal = status in TERMINAL_STATUSES
    result_status = result.get("status")
    outputs = [dict(o) for o in result.get("outputs") or [] if isinstance(o, dict)]
    if not outputs and result.get("url"):
        outputs = [
            {
                "url": result["url"],
                "filename": result.get("scrubbed_filename") or result.get("filename"),
                "description": result.get("label") or result.get("output_format"),
                "output_format": result.get("output_format"),
            }
        ]
    succeeded = status == "COMPLETE" and (result_status is None or result_status in SUCCESS_RESULTS)
    pct = request.get("pct_complete")
    return JobStatus(
        job_id=job_id,
        status=status,
        terminal=terminal,
        succeeded=succeeded,
        pct_complete=float(pct) if isinstance(pct, (int, float)) else None,
        health=request.get("last_health_status"),
        result_status=result_status,
        message=result.get("message"),
        outputs=outputs,
    )


@dataclass(frozen=True)
class JobKind:
    """
    One kind of SOV Fixer job that can be waited on, declared once for sensors, triggers and operators.

    :param name: ``"update"``, ``"parse"`` or ``"output"``.
    :param label: How messages name its ID (``"SUD"``, ``"SOV"``, ``"output request"``).
    :param read: The hook's sync status read; ``aread`` its async twin.
    """

    name: str
    label: str
    read: str
    aread: str

    def status(self, hook: SovHook, job_id: str) -> JobStatus:
        """Read and classify the job's status (sync)."""
        return classify(getattr(hook, self.read)(job_id), job_id)

    async def astatus(self, hook: SovHook, job_id: str) -> JobStatus:
        """Read and classify the job's status (async, for triggers)."""
        return classify(await getattr(hook, self.aread)(job_id), job_id)


JOB_KINDS = {
    k.name: k
    for k in (
        JobKind("update", "SUD", "get_update_status", "aget_update_status"),
        JobKind("parse", "SOV", "get_parse_status", "aget_parse_status"),
        JobKind("output", "output request", "get_output_request", "aget_output_request"),
    )
}


def check_outcome(
    status: JobStatus, kind: JobKind, *, accept_partial: bool = False, log: Any = None
) -> dict[str, Any]:
    """
    Return a terminal job's result for XCom, or raise :class:`SovJobFailedError`.

    One rule for every wait mode: ``COMPLETE`` with ``SUCCESS`` (or no result status) succeeds;
    ``PARTIAL_PARSE`` succeeds only with ``accept_partial`` (with a warning); anything else fails
    with the API's status and message.
    """
    result = {"kind": kind.name, **status.to_event()}
    if status.succeeded:
        return result
    if status.result_status == "PARTIAL_PARSE" and accept_partial:
        if log is not None:
            log.warning(
                "%s %s ended PARTIAL_PARSE (%s); accept_partial=True, so its %d output(s) are used.",
                kind.label,
                status.job_id,
                status.message or "no message",
                len(status.outputs),
            )
        return result
    hint = (
        "Pass accept_partial=True to use the outputs of a partial parse."
        if status.result_status == "PARTIAL_PARSE"
        else ("Check the input in the SOV Fixer app, correct it and run the task again.")
    )
    raise SovJobFailedError(
        f"{kind.label} {status.job_id} ended {status.status} with result {status.result_status or 'none'}: "
        f"{status.message or 'no message'}.",
        result_status=status.result_status,
        job_id=status.job_id,
        server_message=status.message,
        hint=hint,
    )


def check_revision(revision: object) -> int:
    """``revision``: -1 (latest), 0 (original parse) or a positive revision number."""
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise SovInputError(f"revision must be an integer, got {revision!r}.", hint="Use -1 for the latest.")
    if revision < -1:
        raise SovInputError(
            f"revision {revision} is below -1.", hint="Use -1 for the latest, 0 for the original parse, or N."
        )
    return revision


def check_output_format(output_format: object) -> str:
    """A non-empty format name; case does not matter to the API."""
    if not isinstance(output_format, str) or not output_format.strip():
        raise SovInputError(
            f"output_format must be a non-empty string such as 'json', got {output_format!r}.",
            hint="List the formats your organisation may request with SovHook.list_output_formats().",
        )
    return output_format.strip()


def check_choice(value: object, allowed: tuple[str, ...], name: str) -> str:
    """``value`` is one of ``allowed`` (case-insensitive); returns the API's spelling."""
    if isinstance(value, str) and value.upper() in allowed:
        return value.upper()
    raise SovInputError(f"{name} {value!r} is not one of {', '.join(allowed)}.")


def check_extra_data(extra_data: object) -> dict[str, Any]:
    """``extra_data`` is a mapping with plain identifier keys (they become form-field names)."""
    if extra_data is None:
        return {}
    if not isinstance(extra_data, dict):
        raise SovInputError(f"extra_data must be a dict, got {type(extra_data).__name__}.")
    bad = [k for k in extra_data if not isinstance(k, str) or not _IDENTIFIER.match(k)]
    if bad:
        raise SovInputError(
            f"extra_data key(s) {bad!r} are not plain identifiers.",
            hint="Use names like insured_name or inception_date.",
        )
    return dict(extra_data)


def _str_list(value: object, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if "," in value:
            raise SovInputError(f"{name} must be a list such as ['json', 'xlsx'], got the string {value!r}.")
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SovInputError(f"{name} must be a list of non-empty strings, got {value!r}.")
    return [v.strip() for v in value]


class SovHook(ApiHook):
    """
    Talk to SOV Fixer: every endpoint of the API, sync for operators and async for triggers.

    The connection's Password holds the API token (sent as ``Authorization: Token ...``, only to
    the connection's own host); its Host defaults to ``https://api.sovfixer.com``. Extras:
    ``verify`` (true, false or a CA bundle path), ``connect_timeout`` and ``read_timeout``.

    :param sovfixer_conn_id: The Airflow connection to use.
    :param retry_policy: Retry budget for transient failures.
    :param timeout: ``(connect, read)`` seconds, overriding the connection's extras.
    """

    conn_name_attr = "sovfixer_conn_id"
    default_conn_name = "sovfixer_default"
    conn_type = "sovfixer"
    hook_name = "SOV Fixer"
    default_host = DEFAULT_HOST
    routes = ROUTES

    def __init__(self, sovfixer_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(sovfixer_conn_id, **kwargs)
        self.sovfixer_conn_id = self.conn_id

    def auth_headers(self, settings: ConnSettings) -> dict[str, str]:
        return {"Authorization": f"Token {settings.secret}"}

    # --- Parse a new SOV --------------------------------------------------------------------------

    def start_parse(
        self,
        file: Any,
        *,
        document_type: str = "SOV",
        output_formats: list[str] | None = None,
        extra_data: dict[str, Any] | None = None,
        client_ref: str | None = None,
        callback_url: str | None = None,
        update_callback_url: str | None = None,
        integrations: list[str] | None = None,
        workflow: str | None = None,
    ) -> str:
        """
        Upload a workbook (streamed from disk) and start parsing it; return the new SOV ID.

        Not idempotent: it is retried only when the upload provably never reached the server.

        :param file: Local path or ``ObjectStoragePath`` of a ``.xls/.xlsx/.xlsm/.xlsb/.pdf`` file.
        """
        path = as_source(file, "SOV file")
        name = path.name
        if not name.lower().endswith(PARSE_EXTENSIONS):
            raise SovInputError(
                f"SOV file {name!r} has an unsupported extension.",
                hint=f"SOV Fixer parses {', '.join(PARSE_EXTENSIONS)} files.",
            )
        if path.stat().st_size == 0:
            raise SovInputError(f"SOV file {file!s} is empty.")
        fields: list[tuple[str, str]] = [
            ("document_type", check_choice(document_type, DOCUMENT_TYPES, "document_type"))
        ]
        for fmt in _str_list(output_formats, "output_formats") or []:
            fields.append(("output_formats", fmt))
        for integration in _str_list(integrations, "integrations") or []:
            fields.append(("integrations", integration))
        for key, value in check_extra_data(extra_data).items():
            fields.append((f"extra_data_{key}", str(value)))
        for key, value in (
            ("client_ref", client_ref),
            ("callback_url", callback_url),
            ("update_callback_url", update_callback_url),
            ("workflow", workflow),
        ):
            if value is not None:
                fields.append((key, str(value)))
        body = self.request(ROUTES["parse"], body=self._upload(path, name, _content_type(name), fields))
        return str(require_keys(body, ("id",), self._call(ROUTES["parse"], self.settings, None, None))["id"])

    def get_parse_status(self, sov_id: str) -> dict[str, Any]:
        """Read a parse job's status body (``request``, and ``result`` once terminal)."""
        sov_id = check_id(sov_id, "sov_id", "s-no-ping-hggcsk")
        return self.request(
            ROUTES["parse_status"], ids={"sov_id": sov_id}, job_id=sov_id, params={"include_progress": "true"}
        )

    async def aget_parse_status(self, sov_id: str) -> dict[str, Any]:
        """Async twin of :meth:`get_parse_status`."""
        sov_id = check_id(sov_id, "sov_id", "s-no-ping-hggcsk")
        return await self.arequest(
            ROUTES["parse_status"], ids={"sov_id": sov_id}, job_id=sov_id, params={"include_progress": "true"}
        )

    # --- Outputs ----------------------------------------------------------------------------------

    def list_output_formats(
        self, sov_id: str | None = None, *, division_uuid: str | None = None, team_uuid: str | None = None
    ) -> list[dict[str, Any]]:
        """List the output formats this organisation may request (optionally for one SOV)."""
        params = {}
        if sov_id is not None:
            params["sovid"] = check_id(sov_id, "sov_id", "s-no-ping-hggcsk")
        if division_uuid is not None:
            params["division_uuid"] = check_id(division_uuid, "division_uuid")
        if team_uuid is not None:
            params["team_uuid"] = check_id(team_uuid, "team_uuid")
        body = self.request(ROUTES["output_formats"], params=params, job_id=sov_id)
        formats = body.get("output_formats") if isinstance(body, dict) else None
        return list(formats or [])

    def get_or_create_output(
        self, id: str, output_format: str, *, revision: int = -1, overwrite_existing: bool = False
    ) -> dict[str, Any]:
        """
        Ask for one output of an SOV or SUD; the answer is already ``COMPLETE`` when cached.

        :param id: SOV ID, or SUD ID (then ``revision`` is ignored by the API).
        :param output_format: e.g. ``"json"``; case does not matter.
        :param revision: -1 latest, 0 original parse, N that revision.
        :param overwrite_existing: Discard a cached output and make it again.
        """
        id = check_id(id, "id", "s-no-ping-hggcsk")
        output_format = check_output_format(output_format)
        revision = check_revision(revision)
        if not isinstance(overwrite_existing, bool):
            raise SovInputError(f"overwrite_existing must be True or False, got {overwrite_existing!r}.")
        return self.request(
            ROUTES["get_or_create_output"],
            ids={"id": id},
            job_id=id,
            action=f"get or create {output_format} output",
            json={
                "output_format": output_format,
                "overwrite_existing": overwrite_existing,
                "revision": revision,
            },
            # Asking twice for a cached output is harmless; asking twice to overwrite makes two jobs.
            idempotent=not overwrite_existing,
        )

    def get_output_request(self, request_id: str) -> dict[str, Any]:
        """Read an output request's status body."""
        request_id = check_id(request_id, "request_id", "9f4d8c10-3b7e-4a52-bd91-c823f15e4d76")
        return self.request(ROUTES["output_request"], ids={"request_id": request_id}, job_id=request_id)

    async def aget_output_request(self, request_id: str) -> dict[str, Any]:
        """Async twin of :meth:`get_output_request`."""
        request_id = check_id(request_id, "request_id", "9f4d8c10-3b7e-4a52-bd91-c823f15e4d76")
        return await self.arequest(
            ROUTES["output_request"], ids={"request_id": request_id}, job_id=request_id
        )

    # --- Updates ----------------------------------------------------------------------------------

    def initiate_update(
        self,
        sov_id: str,
        *,
        update_type: str = "API",
        callback_url: str | None = None,
        client_ref: str | None = None,
    ) -> str:
        """
        Create an update job for an SOV; return its SUD ID.

        Not idempotent: it is retried only when the request provably never reached the server.
        """
        sov_id = check_id(sov_id, "sov_id", "s-no-ping-hggcsk")
        payload: dict[str, Any] = {"update_type": check_choice(update_type, UPDATE_TYPES, "update_type")}
        if callback_url is not None:
            payload["callback_url"] = callback_url
        if client_ref is not None:
            payload["client_ref"] = client_ref
        route = ROUTES["initiate_update"]
        body = self.request(route, ids={"sov_id": sov_id}, job_id=sov_id, json=payload)
        return str(require_keys(body, ("id",), self._call(route, self.settings, sov_id, None))["id"])

    def add_locations(
        self, sud_id: str, locations_csv: Any, *, check: bool = True, upload_name: str | None = None
    ) -> CsvSummary:
        """
        Check a locations CSV locally, then stream it to a pending update; return what was sent.

        :param locations_csv: Local path or ``ObjectStoragePath`` of the CSV.
        :param check: Run :func:`check_locations_csv` first (on by default; nothing is sent if it fails).
        :param upload_name: File name to send and to name in errors (default: the file's own).
        """
        sud_id = check_id(sud_id, "sud_id", "s-no-ping-hggcsk-r001")
        path = as_source(locations_csv, "locations CSV")
        summary = check_locations_csv(path) if check else CsvSummary(str(path), -1, (), path.stat().st_size)
        self.request(
            ROUTES["add_locations"],
            ids={"sud_id": sud_id},
            job_id=sud_id,
            action=f"add locations from {upload_name or path.name}",
            body=self._upload(path, upload_name or path.name, "text/csv"),
        )
        return summary

    def start_update(
        self,
        sud_id: str,
        *,
        extra_data: dict[str, Any] | None = None,
        output_formats: list[str] | None = None,
        policy_terms: Any = None,
        outputter_name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """
        Start a pending update. ``extra_data`` values (e.g. ``insured_name``) name the output files.

        Not idempotent: it is retried only when the request provably never reached the server.
        """
        sud_id = check_id(sud_id, "sud_id", "s-no-ping-hggcsk-r001")
        payload: dict[str, Any] = {"extra_data": check_extra_data(extra_data)}
        formats = _str_list(output_formats, "output_formats")
        if formats:
            payload["output_formats"] = formats
        if policy_terms is not None:
            payload["policy_terms"] = policy_terms
        if outputter_name is not None:
            payload["outputter_name"] = outputter_name
        if metadata is not None:
            if not isinstance(metadata, dict):
                raise SovInputError(f"metadata must be a dict, got {type(metadata).__name__}.")
            payload["metadata"] = metadata
        return self.request(ROUTES["start_update"], ids={"sud_id": sud_id}, job_id=sud_id, json=payload)

    def get_update_status(self, sud_id: str) -> dict[str, Any]:
        """Read an update job's status body."""
        sud_id = check_id(sud_id, "sud_id", "s-no-ping-hggcsk-r001")
        return self.request(ROUTES["update_status"], ids={"sud_id": sud_id}, job_id=sud_id)

    async def aget_update_status(self, sud_id: str) -> dict[str, Any]:
        """Async twin of :meth:`get_update_status`."""
        sud_id = check_id(sud_id, "sud_id", "s-no-ping-hggcsk-r001")
        return await self.arequest(ROUTES["update_status"], ids={"sud_id": sud_id}, job_id=sud_id)

    # --- History ------------------------------------------------------------------------------------

    def get_history_page(
        self, *, cursor_id: str | int | None = None, start: str | None = None, page_size: int = 100
    ) -> dict[str, Any]:
        """
        Read one page of completed and failed jobs, oldest first.

        :param cursor_id: Continue after this record (the previous page's ``cursor_id``).
        :param start: Only records completed since ``YYYYmmddHHMMSS`` (UTC).
        :param page_size: 1 to 250.
        """
        return self.request(ROUTES["history"], params=_history_params(cursor_id, start, page_size))

    async def aget_history_page(
        self, *, cursor_id: str | int | None = None, start: str | None = None, page_size: int = 100
    ) -> dict[str, Any]:
        """Async twin of :meth:`get_history_page`, for the history watcher."""
        return await self.arequest(ROUTES["history"], params=_history_params(cursor_id, start, page_size))

    def iter_history(
        self, *, cursor_id: str | int | None = None, start: str | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """
        Yield every history record from a cursor on, each once, until the feed has nothing new.

        Pages may overlap and an empty page may omit ``cursor_id``: records are de-duplicated by
        ``id`` (the record at ``cursor_id`` itself counts as seen) and the last known cursor is kept.
        """
        # The record at the cursor was already seen by whoever holds the cursor.
        seen: set[str] = {str(cursor_id)} if cursor_id is not None else set()
        cursor = cursor_id
        while True:
            page = self.get_history_page(
                cursor_id=cursor, start=start if cursor is None else None, page_size=page_size
            )
            fresh = [r for r in page.get("results") or [] if str(r.get("id")) not in seen]
            for record in fresh:
                seen.add(str(record.get("id")))
                yield record
            next_cursor = page.get("cursor_id") or cursor
            if not fresh or next_cursor == cursor:
                return
            cursor = next_cursor

    def get_history_item(self, id: str | int) -> dict[str, Any]:
        """Read one SOV or update from the history feed, with its outputs."""
        id = check_id(id, "id")
        return self.request(ROUTES["history_item"], ids={"id": id}, job_id=id)

    # --- Files --------------------------------------------------------------------------------------

    def download_output(
        self,
        output: Mapping[str, Any] | str,
        destination: Destination,
        *,
        filename: str | None = None,
        overwrite: bool = False,
        job_id: str | None = None,
    ) -> DownloadedFile:
        """
        Download one output (an ``outputs[]`` entry or its URL) into the folder ``destination``.

        The file is named after the output's ``filename`` (made safe), streamed to a temporary
        name and renamed into place once its size is checked. Errors name the SOV or SUD it
        belongs to (``job_id``, else read from the output's URL).
        """
        if isinstance(output, str):
            url, name, what = output, filename, "output"
        else:
            url = str(output.get("url") or "")
            name = filename or output.get("filename") or output.get("scrubbed_filename")
            what = f"{output.get('description') or output.get('label') or 'output'} output"
        if job_id is None:
            owner = _OUTPUT_OWNER.search(urlsplit(url).path)
            job_id = unquote(owner.group(1)) if owner else None
        return self.download(url, destination, filename=name, overwrite=overwrite, job_id=job_id, what=what)

    # --- Connection test ------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check host and token with a cheap authenticated read (the output-format list)."""
        try:
            formats = self.list_output_formats()
        except Exception as exc:
            return False, str(exc)
        return True, f"Connected to {self.settings.base_url}; {len(formats)} output format(s) available."

    # --- Helpers ------------------------------------------------------------------------------------

    def _upload(
        self, path: Any, name: str, content_type: str, fields: list[tuple[str, str]] | None = None
    ) -> Any:
        @contextmanager
        def body() -> Iterator[tuple[Any, dict[str, str]]]:
            with path.open("rb") as handle:
                encoder = multipart_file("file", name, handle, content_type, fields)
                yield encoder, {"Content-Type": encoder.content_type}

        return body


def _history_params(cursor_id: str | int | None, start: str | None, page_size: int) -> dict[str, Any]:
    """Check and build the history feed's query parameters (shared by the sync and async reads)."""
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 250:
        raise SovInputError(f"page_size must be an integer from 1 to 250, got {page_size!r}.")
    params: dict[str, Any] = {"page_size": page_size}
    if cursor_id is not None:
        params["cursor_id"] = check_id(cursor_id, "cursor_id")
    if start is not None:
        if not (isinstance(start, str) and re.fullmatch(r"\d{14}", start)):
            raise SovInputError(f"start must be a YYYYmmddHHMMSS string, got {start!r}.")
        params["start"] = start
    return params


def _content_type(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".pdf"):
        return "application/pdf"
    if lowered.endswith(".xls"):
        return "application/vnd.ms-excel"
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
