"""The operator that builds a new SOV from rows: create a submission, add locations, start, wait, download."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks.sov_jobs import SUBMISSION, SovJobRef
from airflow_provider_sov.hooks.sov_rules import (
    SUBMISSION_DOCUMENT_TYPES,
    check_batch_rows,
    check_name,
)
from airflow_provider_sov.links import SOV_LINKS
from airflow_provider_sov.operators.sov_update import LocationsJobOperator, client_ref_of, created_jobs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_sov._shared.jobs import JobRef, Reading
    from airflow_provider_sov._shared.task_state import StateStore


class SovCreateSubmissionOperator(LocationsJobOperator):
    """
    Build a new SOV from locations CSVs in one task: create a submission, add the CSVs, start it,
    wait, and download its outputs.

    Every CSV is checked locally before the first call. Each step is recorded in the task's state
    store as it completes (the submission's ID first), so a retried task resumes the same
    submission from the step it reached, and says so in the log, instead of creating another.
    The wait works in every mode (deferrable, or on the worker).

    Rows name their buildings as an update's do (``sheet_name`` and ``sheet_row_number``, or
    ``item_key``); their other columns are the buildings' attributes.

    :param locations: The rows: a CSV path, a glob, an ``ObjectStoragePath`` or a list (templated).
    :param document_type: ``SOV`` (default), ``PREM_BDX``, ``CLAIM_BDX`` or ``SOV_BDX``.
    :param client_ref: Your own reference for the new SOV, returned in the result
        (templated; default ``airflow:<dag_id>/<run_id>/<task_id>/<map_index>``): a retry whose
        earlier try lost the answer finds the job by it instead of creating another.
    :param extra_data: Policy-level fields, e.g. ``{"insured_name": "Acme"}``: sent when the
        submission is created and again at start, where they name the output files (templated).
    :param filename: A name for the submission (templated).
    :param output_formats: e.g. ``["json", "xlsx"]`` (default JSON) (templated).
    :param policy_terms: Optional policy terms, passed through at start.
    :param outputter_name: Optional outputter, passed through at start.
    :param metadata: Optional metadata dict, passed through at start.
    :param integrations: Optional integrations to run on the result.
    :param delegate_to_team: Add the locations and start as this team (its UUID or ID).
    :param batch_rows: Upload large CSVs in batches of at most this many rows, header repeated.
    :param destination: Where to download the outputs; omit to only wait (templated).
    :param descriptions: Download only outputs with these descriptions.
    :param extensions: Download only outputs with these extensions.
    :param overwrite: Replace files already at the destination.
    :param accept_partial: Treat ``PARTIAL_PARSE`` as usable (with a warning).
    :param wait_for_completion: Wait for the new SOV (default); otherwise return once started.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between polls while waiting.
    :param timeout: Seconds to wait in all.
    :return: The common result with kind ``submission`` (``job_id`` is the submission's ID, also
        pushed to XCom as ``job_id`` as soon as it exists), ``client_ref``, ``document_type``,
        ``result_status``, ``outputs`` and the written ``files``.
    """

    kind = SUBMISSION
    operator_extra_links = SOV_LINKS
    template_fields: Sequence[str] = (
        "locations",
        "client_ref",
        "extra_data",
        "filename",
        "output_formats",
        "metadata",
        "destination",
    )

    def __init__(
        self,
        *,
        locations: Any,
        document_type: str = "SOV",
        client_ref: str | None = None,
        extra_data: dict[str, Any] | None = None,
        filename: str | None = None,
        output_formats: list[str] | None = None,
        policy_terms: Any = None,
        outputter_name: str | None = None,
        metadata: dict[str, Any] | None = None,
        integrations: list[str] | None = None,
        delegate_to_team: str | int | None = None,
        batch_rows: int | None = None,
        descriptions: Sequence[str] | None = None,
        extensions: Sequence[str] | None = None,
        accept_partial: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if locations in (None, "", [], ()):
            raise SovInputError(
                f"Task {self.task_id}: locations must name at least one CSV of rows, got {locations!r}.",
                hint="A new SOV is built from its locations; pass a path, a glob or a list of CSVs.",
            )
        self.locations = locations
        self.document_type = check_name(document_type, SUBMISSION_DOCUMENT_TYPES, "document_type")
        self.client_ref = client_ref
        self.extra_data = extra_data
        self.filename = filename
        self.output_formats = output_formats
        self.policy_terms = policy_terms
        self.outputter_name = outputter_name
        self.metadata = metadata
        self.integrations = integrations
        self.delegate_to_team = delegate_to_team
        self.batch_rows = check_batch_rows(batch_rows)
        self.descriptions = descriptions
        self.extensions = extensions
        self.accept_partial = accept_partial

    def start_job(self, context: Context, store: StateStore) -> tuple[SovJobRef, Reading | None]:
        return self.run_steps(context, store, self.create, created_jobs(self.hook, SUBMISSION)), None

    def create(self, client_ref: str) -> SovJobRef:
        """Create the submission (the step ``created``) with ``client_ref``; return its ref."""
        submission_id = self.hook.create_submission(
            document_type=self.document_type,
            client_ref=client_ref,
            extra_data=self.extra_data,
            filename=self.filename,
        )
        self.log.info("Created submission %s (%s).", submission_id, self.document_type)
        return SovJobRef(submission_id)

    def result_extras(self, result: dict[str, Any], ref: JobRef, context: Context) -> dict[str, Any]:
        return {"document_type": self.document_type, "client_ref": client_ref_of(self, context)}

    def file_meta(self, result: dict[str, Any], ref: JobRef) -> dict[str, Any]:
        return {"submission_id": result["job_id"], "document_type": self.document_type}
