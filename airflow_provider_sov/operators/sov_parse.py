"""The operator that parses a new SOV workbook: upload, wait, download its outputs."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.operator import JobOperator
from airflow_provider_sov.hooks.sov_jobs import PARSE, SovJobRef
from airflow_provider_sov.hooks.sov_rules import ParseOptions
from airflow_provider_sov.links import SOV_LINKS
from airflow_provider_sov.operators.sov_outputs import output_files
from airflow_provider_sov.operators.sov_update import client_ref_of, created_jobs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_sov._shared.files import FileToFetch
    from airflow_provider_sov._shared.jobs import JobRef, Reading
    from airflow_provider_sov._shared.task_state import StateStore
    from airflow_provider_sov.hooks.sov import SovHook  # noqa: F401 - the hook type of the base class


class SovParseOperator(JobOperator["SovHook"]):
    """
    Upload a new SOV workbook (streamed), parse it, and optionally download its outputs.

    The file is checked locally first (exists, not empty, ``.xls/.xlsx/.xlsm/.xlsb/.pdf``). A retried
    task reattaches to the SOV its earlier try created instead of uploading the file again, found by
    its ``client_ref`` when the upload's answer was lost.

    :param file: Local path or ``ObjectStoragePath`` of the workbook, or a list of them parsed as
        one SOV (templated).
    :param document_type: ``SOV`` (default), ``PREM_BDX``, ``CLAIM_BDX``, ``SOV_BDX`` or ``ACORD``.
    :param output_formats: Formats to produce, e.g. ``["json", "xlsx"]`` (default JSON) (templated).
    :param extra_data: Sent as ``extra_data_<key>`` fields, e.g. ``{"insured_name": "Acme"}`` (templated).
    :param client_ref: Your own reference, sent with the upload and returned in the result
        (templated; default ``airflow:<dag_id>/<run_id>/<task_id>/<map_index>``): a retry whose
        earlier try lost the answer finds the job by it instead of creating another.
    :param callback_url: Optional webhook for the parse.
    :param update_callback_url: Optional webhook for later updates.
    :param integrations: Optional integrations to run.
    :param workflow: Optional workflow name.
    :param delegate_to_team: Parse as this team (its UUID or ID).
    :param allow_ping_data_api: Let the parse enrich from Ping Data's API (sent only when set;
        the vendor's ``fix_sov`` sets it to True).
    :param company: The company the SOV belongs to.
    :param team: The team the SOV belongs to.
    :param destination: Download the outputs here when done (templated).
    :param overwrite: Replace files already at the destination.
    :param wait_for_completion: Wait for the parse (default); otherwise return the SOV ID at once.
    :param accept_partial: Treat ``PARTIAL_PARSE`` as usable (with a warning).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :return: The common result (``job_id`` is the new SOV's ID) with ``client_ref``,
        ``result_status``, ``outputs`` and the written ``files``; the SOV ID is also pushed under the
        XCom key ``job_id`` as soon as it exists (wire it with ``parse.output["job_id"]``).
    """

    kind = PARSE
    operator_extra_links = SOV_LINKS
    template_fields: Sequence[str] = ("file", "output_formats", "extra_data", "client_ref", "destination")

    def __init__(
        self,
        *,
        file: Any,
        document_type: str = "SOV",
        output_formats: list[str] | None = None,
        extra_data: dict[str, Any] | None = None,
        client_ref: str | None = None,
        callback_url: str | None = None,
        update_callback_url: str | None = None,
        integrations: list[str] | None = None,
        workflow: str | None = None,
        delegate_to_team: str | int | None = None,
        allow_ping_data_api: bool | None = None,
        company: str | None = None,
        team: str | None = None,
        accept_partial: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.file = file
        self.document_type = document_type
        self.output_formats = output_formats
        self.extra_data = extra_data
        self.client_ref = client_ref
        self.callback_url = callback_url
        self.update_callback_url = update_callback_url
        self.integrations = integrations
        self.workflow = workflow
        self.delegate_to_team = delegate_to_team
        self.allow_ping_data_api = allow_ping_data_api
        self.company = company
        self.team = team
        self.accept_partial = accept_partial

    def start_job(self, context: Context, store: StateStore) -> tuple[SovJobRef, Reading | None]:
        (upload,) = PARSE.steps
        client_ref = client_ref_of(self, context)
        find = created_jobs(self.hook, PARSE)
        return self.steps(context, store).create(
            upload, partial(self.upload, client_ref), client_ref=client_ref, find=find
        ), None

    def upload(self, client_ref: str) -> SovJobRef:
        """Upload the workbook and start its parse (the step ``uploaded``); return the new SOV's ref."""
        options = {name: getattr(self, name) for name in ParseOptions.__annotations__}
        options["client_ref"] = client_ref
        sov_id = self.hook.start_parse(self.file, **options)
        self.log.info("Uploaded %s; parsing as SOV %s.", self.file, sov_id)
        return SovJobRef(sov_id)

    def options(self) -> dict[str, Any]:
        return {"accept_partial": self.accept_partial}

    def result_extras(self, result: dict[str, Any], ref: JobRef, context: Context) -> dict[str, Any]:
        return {"client_ref": client_ref_of(self, context)}

    def files_to_fetch(self, result: dict[str, Any], ref: JobRef, reading: Reading) -> list[FileToFetch]:
        if self.destination in (None, ""):
            return []
        return output_files(result["outputs"], self.destination, result["job_id"])

    def file_meta(self, result: dict[str, Any], ref: JobRef) -> dict[str, Any]:
        return {"sov_id": result["job_id"], "revision": 0}
