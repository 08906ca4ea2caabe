"""Hook for the SOV Fixer (Ping Extraction) API: parse, update and export insurance SOVs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Unpack
from urllib.parse import unquote, urlsplit

from airflow_provider_sov._shared.auth import TokenAuth
from airflow_provider_sov._shared.connection import ui_field_behaviour
from airflow_provider_sov._shared.files import DownloadedFile, as_source
from airflow_provider_sov._shared.hook import ApiHook
from airflow_provider_sov._shared.http import require_keys
from airflow_provider_sov._shared.routes import check_id
from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks import sov_routes
from airflow_provider_sov.hooks.sov_locations import CsvSummary, check_locations_csv
from airflow_provider_sov.hooks.sov_records import SovRecordsMixin
from airflow_provider_sov.hooks.sov_rules import (
    DOCUMENT_TYPES,
    SUBMISSION_DOCUMENT_TYPES,
    UPDATE_TYPES,
    ParseOptions,
    StartOptions,
    check_extra_data,
    check_name,
    check_options,
    check_output_format,
    check_revision,
    check_team,
    start_payload,
    str_list,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_sov._shared.files import Destination, FileToFetch
    from airflow_provider_sov._shared.routes import Route

ROUTES = sov_routes.ROUTES
DEFAULT_HOST = sov_routes.DEFAULT_HOST

#: The SOV or SUD an output URL belongs to (``/api/v1/sov/{id}/output/{filename}``).
_OUTPUT_OWNER = re.compile(r"/sov/([^/]+)/output/")


class SovHook(SovRecordsMixin, ApiHook):
    """
    Talk to SOV Fixer: every endpoint of the API, sync for operators and async for triggers.

    The connection's Password holds the API token (sent as ``Authorization: Token ...``, only to
    the connection's own host and the hosts its extra ``trusted_hosts`` lists); its Host defaults
    to ``https://api.sovfixer.com`` (a host without scheme means HTTPS). Extras: ``verify`` (true
    or false), ``ca_bundle`` (a PEM path), ``trusted_hosts``, ``connect_timeout`` and
    ``read_timeout``.

    :param sovfixer_conn_id: The Airflow connection to use.
    :param retry_policy: Retry budget for transient failures.
    :param timeout: ``(connect, read)`` seconds, overriding the connection's extras.
    """

    conn_name_attr = sov_routes.CONN_NAME_ATTR
    default_conn_name = sov_routes.DEFAULT_CONN_NAME
    conn_type = "sovfixer"
    hook_name = sov_routes.API_NAME
    default_host = DEFAULT_HOST
    routes = ROUTES

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return the connection form's shape (Airflow 3.0 and 3.1 ask the hook for it)."""
        return ui_field_behaviour(cls.conn_type)

    def __init__(self, sovfixer_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(sovfixer_conn_id, auth=TokenAuth("Token"), **kwargs)
        self.sovfixer_conn_id = self.conn_id

    def job_status(
        self, route: Route, job_id: str, *, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """
        Read a job's status body from its kind's status route (:mod:`.sov_routes`), e.g. an update's
        from ``update_status``. ``job_id`` is checked by whoever built it (a job kind's ref).
        """
        return dict(self.request(route, ids={route.id_name: job_id}, params=params, job_id=job_id))

    async def ajob_status(
        self, route: Route, job_id: str, *, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Do what :meth:`job_status` does, on the async path, for triggers."""
        body: dict[str, Any] = await self.arequest(
            route, ids={route.id_name: job_id}, params=params, job_id=job_id
        )
        return body  # as decoded: no copy per poll

    def start_parse(self, file: Any, **options: Unpack[ParseOptions]) -> str:
        """
        Upload one or more workbooks (streamed from disk) as one SOV and start parsing; return its ID.

        Not idempotent: it is retried only when the upload provably never reached the server.

        :param file: Local path or ``ObjectStoragePath`` of the workbook (``.xlsx``, ``.xls``,
            ``.pdf``, ...), or a list of them: one request, one ``file`` part each, as the vendor's
            client sends several. The API judges the format.
        :param options: See :class:`~airflow_provider_sov.hooks.sov_rules.ParseOptions`.
        """
        given = check_options(dict(options), ParseOptions, "start_parse")
        sources = list(file) if isinstance(file, (list, tuple)) else [file]
        if not sources:
            raise SovInputError("start_parse needs at least one SOV file, got an empty list.")
        paths = [as_source(source, "SOV file") for source in sources]
        for source, path in zip(sources, paths, strict=True):
            if path.stat().st_size == 0:
                raise SovInputError(f"SOV file {source!s} is empty.")
        fields: list[tuple[str, str]] = [
            (
                "document_type",
                check_name(given.get("document_type", "SOV"), DOCUMENT_TYPES, "document_type"),
            )
        ]
        for fmt in str_list(given.get("output_formats"), "output_formats") or []:
            fields.append(("output_formats", fmt))
        for integration in str_list(given.get("integrations"), "integrations") or []:
            fields.append(("integrations", integration))
        for key, value in check_extra_data(given.get("extra_data")).items():
            fields.append((f"extra_data_{key}", str(value)))
        for key in ("client_ref", "callback_url", "update_callback_url", "workflow", "company", "team"):
            if given.get(key) is not None:
                fields.append((key, str(given[key])))
        team = check_team(given.get("delegate_to_team"))
        if team is not None:
            fields.append(("delegate_to_team", str(team)))
        allow = given.get("allow_ping_data_api")
        if allow is not None:
            if not isinstance(allow, bool):
                raise SovInputError(f"allow_ping_data_api must be True or False, got {allow!r}.")
            fields.append(("allow_ping_data_api", str(allow)))  # "True", as the vendor's client sends it
        uploads = [("file", path, path.name, _content_type(path.name)) for path in paths]
        body = self.request(ROUTES["parse"], body=self.upload_body(uploads, fields))
        return str(require_keys(body, ("id",), self._call(ROUTES["parse"], self.settings, None, None))["id"])

    def create_submission(
        self,
        *,
        document_type: str = "SOV",
        client_ref: str | None = None,
        extra_data: dict[str, Any] | None = None,
        filename: str | None = None,
    ) -> str:
        """
        Create a new, empty submission; return its ID (the API answers an integer; it comes back as
        a string, as every ID here).

        Follow with :meth:`add_locations` and :meth:`start_update` on that ID (the vendor's client
        says so), then wait on it as an update. Not idempotent: it is retried only when the request
        provably never reached the server.

        :param document_type: ``SOV`` (default), ``PREM_BDX``, ``CLAIM_BDX`` or ``SOV_BDX``.
        :param client_ref: Your own reference for the new SOV.
        :param extra_data: Policy-level fields (``insured_name``, ``inception_date``...), sent as
            ``extra_data_<key>`` form fields.
        :param filename: A name for the submission.
        """
        form: dict[str, Any] = {
            "document_type": check_name(document_type, SUBMISSION_DOCUMENT_TYPES, "document_type")
        }
        if client_ref:
            form["client_ref"] = client_ref
        for key, value in check_extra_data(extra_data).items():
            form[f"extra_data_{key}"] = value
        if filename:
            form["filename"] = filename
        route = ROUTES["create_submission"]
        body = self.request(route, form=form)  # form fields, as the vendor's client sends them
        return str(require_keys(body, ("id",), self._call(route, self.settings, None, None))["id"])

    def get_parse_status(self, sov_id: str) -> dict[str, Any]:
        """Read a parse job's status body (``request``, and ``result`` once terminal)."""
        checked = check_id(sov_id, "sov_id", sov_routes.EXAMPLE_SOV_ID)
        return self.job_status(sov_routes.PARSE_STATUS, checked, params=sov_routes.PARSE_STATUS_PARAMS)

    def list_output_formats(
        self, sov_id: str | None = None, *, division_uuid: str | None = None, team_uuid: str | None = None
    ) -> list[dict[str, Any]]:
        """List the output formats this organisation may request (optionally for one SOV)."""
        params = {}
        if sov_id is not None:
            params["sovid"] = check_id(sov_id, "sov_id", sov_routes.EXAMPLE_SOV_ID)
        if division_uuid is not None:
            params["division_uuid"] = check_id(division_uuid, "division_uuid")
        if team_uuid is not None:
            params["team_uuid"] = check_id(team_uuid, "team_uuid")
        body = self.request(ROUTES["output_formats"], params=params, job_id=sov_id)
        formats = body.get("output_formats") if isinstance(body, dict) else None
        return list(formats or [])

    def get_or_create_output(
        self,
        id: str,
        output_format: str,
        *,
        revision: int = -1,
        overwrite_existing: bool = False,
        delegate_to_team: str | int | None = None,
    ) -> dict[str, Any]:
        """
        Ask for one output of an SOV or SUD; the answer is already ``COMPLETE`` when cached.

        :param id: SOV ID, or SUD ID (then ``revision`` is ignored by the API).
        :param output_format: e.g. ``"json"``; case does not matter.
        :param revision: -1 latest, 0 original parse, N that revision.
        :param overwrite_existing: Discard a cached output and make it again.
        :param delegate_to_team: Make it as this team (its UUID or ID).
        """
        id = check_id(id, "id", sov_routes.EXAMPLE_SOV_ID)
        team = check_team(delegate_to_team)
        output_format = check_output_format(output_format)
        revision = check_revision(revision)
        if not isinstance(overwrite_existing, bool):
            raise SovInputError(f"overwrite_existing must be True or False, got {overwrite_existing!r}.")
        return self.request(
            ROUTES["get_or_create_output"],
            ids={"id": id},
            job_id=id,
            action=f"get or create {output_format} output",
            # Form fields, as the vendor's client sends them; it sends overwrite_existing only when set.
            form={
                "output_format": output_format,
                "revision": revision,
                **({"overwrite_existing": True} if overwrite_existing else {}),
                **({"delegate_to_team": team} if team is not None else {}),
            },
            # Asking twice for a cached output is harmless; asking twice to overwrite makes two jobs.
            idempotent=not overwrite_existing,
        )

    def get_output_request(self, request_id: str) -> dict[str, Any]:
        """Read an output request's status body."""
        checked = check_id(request_id, "request_id", sov_routes.EXAMPLE_REQUEST_ID)
        return self.job_status(sov_routes.OUTPUT_REQUEST, checked)

    def initiate_update(
        self,
        sov_id: str,
        *,
        update_type: str = "API",
        callback_url: str | None = None,
        client_ref: str | None = None,
        username: str | None = None,
        delegate_to_team: str | int | None = None,
    ) -> str:
        """
        Create an update job for an SOV; return its SUD ID.

        Not idempotent: it is retried only when the request provably never reached the server.

        :param username: The user the update is made for.
        :param delegate_to_team: Run it as this team (its UUID or ID).
        """
        sov_id = check_id(sov_id, "sov_id", sov_routes.EXAMPLE_SOV_ID)
        payload: dict[str, Any] = {"update_type": check_name(update_type, UPDATE_TYPES, "update_type")}
        for key, value in (
            ("callback_url", callback_url),
            ("client_ref", client_ref),
            ("username", username),
        ):
            if value is not None:
                payload[key] = value
        team = check_team(delegate_to_team)
        if team is not None:
            payload["delegate_to_team"] = team
        route = ROUTES["initiate_update"]
        # Form fields, as the vendor's client sends them.
        body = self.request(route, ids={"sov_id": sov_id}, job_id=sov_id, form=payload)
        return str(require_keys(body, ("id",), self._call(route, self.settings, sov_id, None))["id"])

    def add_locations(
        self,
        sud_id: str,
        locations_csv: Any,
        *,
        check: bool = True,
        upload_name: str | None = None,
        delegate_to_team: str | int | None = None,
    ) -> CsvSummary:
        """
        Check a locations CSV locally, then stream it to a pending update or new submission; return
        what was sent.

        :param sud_id: The pending update's SUD ID, or a new submission's ID.
        :param locations_csv: Local path or ``ObjectStoragePath`` of the CSV.
        :param check: Run :func:`check_locations_csv` first (on by default; nothing is sent if it fails).
        :param upload_name: File name to send and to name in errors (default: the file's own).
        :param delegate_to_team: Send it as this team (its UUID or ID).
        """
        sud_id = check_id(sud_id, "sud_id", sov_routes.EXAMPLE_SUD_ID)
        path = as_source(locations_csv, "locations CSV")
        team = check_team(delegate_to_team)
        summary = check_locations_csv(path) if check else CsvSummary(str(path), -1, (), path.stat().st_size)
        fields = [("delegate_to_team", str(team))] if team is not None else []
        self.request(
            ROUTES["add_locations"],
            ids={"sud_id": sud_id},
            job_id=sud_id,
            action=f"add locations from {upload_name or path.name}",
            body=self.upload_body([("file", path, upload_name or path.name, "text/csv")], fields),
        )
        return summary

    def start_update(self, sud_id: str, **options: Unpack[StartOptions]) -> dict[str, Any]:
        """
        Start a pending update. ``extra_data`` values (e.g. ``insured_name``) name the output files.

        Not idempotent: it is retried only when the request provably never reached the server.

        :param options: See :class:`~airflow_provider_sov.hooks.sov_rules.StartOptions`.
        """
        sud_id = check_id(sud_id, "sud_id", sov_routes.EXAMPLE_SUD_ID)
        payload = start_payload(dict(options))
        return self.request(ROUTES["start_update"], ids={"sud_id": sud_id}, job_id=sud_id, json=payload)

    def get_update_status(self, sud_id: str) -> dict[str, Any]:
        """Read an update job's status body."""
        return self.job_status(
            sov_routes.UPDATE_STATUS, check_id(sud_id, "sud_id", sov_routes.EXAMPLE_SUD_ID)
        )

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
            label = output.get("description") or output.get("label")
            what = f"{label} output" if label else "output"
        if job_id is None:
            owner = _OUTPUT_OWNER.search(urlsplit(url).path)
            job_id = unquote(owner.group(1)) if owner else None
        return self.download(url, destination, filename=name, overwrite=overwrite, job_id=job_id, what=what)

    def fetch_file(self, item: FileToFetch, *, overwrite: bool) -> DownloadedFile:
        """Write a task's file (its ``source`` an ``outputs[]`` entry): see :meth:`download_output`."""
        return self.download_output(
            item.source, item.destination, filename=item.filename, overwrite=overwrite, job_id=item.job_id
        )

    def test_connection(self) -> tuple[bool, str]:
        """Check host and token with a cheap authenticated read (the output-format list)."""
        try:
            formats = self.list_output_formats()
        except Exception as exc:
            return False, str(exc)
        return True, f"Connected to {self.settings.base_url}; {len(formats)} output format(s) available."


def _content_type(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".pdf"):
        return "application/pdf"
    if lowered.endswith(".xls"):
        return "application/vnd.ms-excel"
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
