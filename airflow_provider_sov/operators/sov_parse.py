"""The operator that parses a new SOV workbook: upload, wait, download its outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.jobs import keep_arguments
from airflow_provider_sov._shared.operator import JobOperator
from airflow_provider_sov.hooks.sov_jobs import PARSE
from airflow_provider_sov.hooks.sov_rules import ParseOptions
from airflow_provider_sov.operators.sov_outputs import output_files

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

    from airflow_provider_sov._shared.downloads import FileToFetch
    from airflow_provider_sov._shared.jobs import Reading
    from airflow_provider_sov._shared.task_state import StateStore


class SovParseOperator(JobOperator):
    """
    Upload a new SOV workbook (streamed), parse it, and optionally download its outputs.

    The file is checked locally first (exists, not empty, ``.xls/.xlsx/.xlsm/.xlsb/.pdf``). A retried
    task reattaches to the SOV its earlier try created instead of uploading the file again.

    :param file: Local path or ``ObjectStoragePath`` of the workbook (templated).
    :param document_type: ``SOV`` (default), ``PREM_BDX``, ``CLAIM_BDX``, ``SOV_BDX`` or ``ACORD``.
    :param output_formats: Formats to produce, e.g. ``["json", "xlsx"]`` (default JSON) (templated).
    :param extra_data: Sent as ``extra_data_<key>`` fields, e.g. ``{"insured_name": "Acme"}`` (templated).
    :param client_ref: Your own reference (templated).
    :param callback_url: Optional webhook for the parse.
    :param update_callback_url: Optional webhook for later updates.
    :param integrations: Optional integrations to run.
    :param workflow: Optional workflow name.
    :param destination: Download the outputs here when done (templated).
    :param overwrite: Replace files already at the destination.
    :param wait_for_completion: Wait for the parse (default); otherwise return the SOV ID at once.
    :param accept_partial: Treat ``PARTIAL_PARSE`` as usable (with a warning).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :return: The common result (``job_id`` is the new SOV's ID) with ``result_status``, ``outputs``
        and the written ``files``; the SOV ID is also pushed under the XCom key ``job_id`` as soon
        as it exists (wire it with ``parse.output["job_id"]``).
    """

    spec = PARSE
    file: Any
    document_type: str
    output_formats: list[str] | None
    extra_data: dict[str, Any] | None
    client_ref: str | None
    callback_url: str | None
    update_callback_url: str | None
    integrations: list[str] | None
    workflow: str | None
    accept_partial: bool
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
        accept_partial: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        keep_arguments(self, locals())

    def start_job(self, context: Context, store: StateStore) -> tuple[dict[str, Any], Reading | None]:
        if earlier := self.earlier_job(
            store, "Reattaching to SOV %s uploaded by an earlier try; not sending again."
        ):
            return earlier, None
        options = {name: getattr(self, name) for name in ParseOptions.__annotations__}
        sov_id = self.hook.start_parse(self.file, **options)
        self.log.info("Uploaded %s; parsing as SOV %s.", self.file, sov_id)
        return {"job_id": sov_id}, None

    def outcome_options(self) -> dict[str, Any]:
        return {"accept_partial": self.accept_partial, "log": self.log}

    def files_to_fetch(
        self, result: dict[str, Any], ref: Mapping[str, Any], reading: Reading
    ) -> list[FileToFetch]:
        if self.destination in (None, ""):
            return []
        return output_files(self.hook, result["outputs"], self.destination, result["job_id"])

    def file_meta(self, result: dict[str, Any], ref: Mapping[str, Any]) -> dict[str, Any]:
        return {"sov_id": result["job_id"], "revision": 0}
