"""Operators for DATA Act Broker files: generate (and wait, and download), or download one."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.files import check_destination
from airflow_provider_sov._shared.jobs import templated
from airflow_provider_sov._shared.operator import JobOperator
from airflow_provider_sov._shared.task_state import saved_ref
from airflow_provider_sov._shared.waiting import as_seconds
from airflow_provider_sov.exceptions import SovError, SovInputError, SovResponseError
from airflow_provider_sov.hooks.broker_jobs import DEFAULT_INVALID_GRACE, GENERATION, GenerationRef
from airflow_provider_sov.hooks.broker_rules import (
    REQUEST_FIELDS,
    FinishedFile,
    GenerationRequest,
    GenerationTarget,
    generation_request,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from airflow.sdk import Context

    from airflow_provider_sov._shared.downloads import FileToFetch
    from airflow_provider_sov._shared.jobs import JobRef, Reading
    from airflow_provider_sov._shared.task_state import StateStore
    from airflow_provider_sov.hooks.broker import DataActBrokerHook  # noqa: F401 - the hook type of the base class


class GeneratedFileOperator(JobOperator["DataActBrokerHook"]):
    """
    What both Broker operators share: the one file of a finished generation, written into
    ``destination`` (as ``filename``, replacing with ``overwrite``), by
    :meth:`~airflow_provider_sov.hooks.broker.DataActBrokerHook.fetch_file` from the reading that
    found it finished.
    """

    kind = GENERATION
    filename: str | None

    def files_to_fetch(self, result: dict[str, Any], ref: JobRef, reading: Reading) -> list[FileToFetch]:
        if self.destination in (None, ""):
            return []
        from airflow_provider_sov._shared.downloads import FileToFetch

        assert isinstance(ref, GenerationRef)
        finished = FinishedFile(ref.target, dict(reading.private))
        return [
            FileToFetch(ref.target.file_type or "file", finished, self.destination, self.filename, ref.key)
        ]

    def file_meta(self, result: dict[str, Any], ref: JobRef) -> dict[str, Any]:
        return {
            k: result[k] for k in ("job_id", "submission_id", "file_type", "start", "end", "generated_at")
        }


class DFileGenerateOperator(GeneratedFileOperator):
    """
    Generate a D1, D2, E, F (within a submission), A or BOC (detached) file; wait; download it.

    With ``submission_id`` the file is generated for that submission (D1, D2, E, F); without it,
    for the agency named by ``cgac_code`` or ``frec_code`` (D1, D2, A, BOC). Everything is checked
    before the first call. A cached file comes back ``finished`` at once and never defers. A
    retried task reattaches to the generation it requested (unless that one failed).

    Returns the common result (``kind`` ``generation``; ``job_id`` the Broker's job ID, also pushed
    to XCom as ``job_id`` before waiting) with ``submission_id``, ``file_type``, ``start``, ``end``
    and ``generated_at``; when ``destination`` is set, ``files`` holds the written file
    (``filename``, ``uri``, ``size``, ``sha256``).

    The Broker refuses to generate before the submission's validations have finished: that raises
    :class:`~airflow_provider_sov.exceptions.SovPrerequisiteError`; give the task ``retries`` and a
    ``retry_delay`` to try again later. Regenerating D files of a published submission sets it back
    to "updated": it must be certified again.

    :param submission_id: The submission (templated); None for a detached file.
    :param file_type: ``D1``, ``D2``, ``E``, ``F`` (submission) or ``D1``, ``D2``, ``A``, ``BOC``.
    :param start: First day, ``MM/DD/YYYY`` (templated; D1/D2 only).
    :param end: Last day, ``MM/DD/YYYY`` (templated; D1/D2 only).
    :param agency_type: ``awarding`` or ``funding`` (D1/D2).
    :param file_format: ``csv`` or pipe-delimited ``txt`` (D1/D2).
    :param cgac_code: The agency's 3-digit CGAC code (detached); or
    :param frec_code: its 4-digit FREC code (detached).
    :param year: Fiscal year (A and BOC).
    :param period: Fiscal period, 2-12 (A and BOC).
    :param element_numbers: Put element numbers in D1/D2 headers (detached).
    :param wait_for_completion: Wait until the file is generated (and download it).
    :param destination: Folder or object-storage URL to save the file in (templated); None: no download.
    :param filename: Save under this name instead of the Broker's.
    :param overwrite: Replace an existing file of the same name.
    :param data_act_broker_conn_id: The Airflow connection.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between status reads (default 30; the Broker asks for 10 or more).
    :param timeout: Seconds to wait in all (default 6 hours; the Broker itself never gives up).
    :param invalid_grace: Seconds during which ``invalid`` after requesting is not final (default 120).
    """

    #: Every part of the request but the flag ``element_numbers``, and where the file goes.
    template_fields: Sequence[str] = (*(f for f in REQUEST_FIELDS if f != "element_numbers"), "destination")
    ui_color = "#eef6ec"

    def __init__(
        self,
        *,
        file_type: str,
        submission_id: int | str | None = None,
        start: str | None = None,
        end: str | None = None,
        agency_type: str = "awarding",
        file_format: str = "csv",
        cgac_code: str | None = None,
        frec_code: str | None = None,
        year: int | str | None = None,
        period: int | str | None = None,
        element_numbers: bool = False,
        filename: str | None = None,
        invalid_grace: timedelta | float = DEFAULT_INVALID_GRACE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.file_type = file_type
        self.submission_id = submission_id
        self.start = start
        self.end = end
        self.agency_type = agency_type
        self.file_format = file_format
        self.cgac_code = cgac_code
        self.frec_code = frec_code
        self.year = year
        self.period = period
        self.element_numbers = element_numbers
        self.filename = filename
        self.invalid_grace = as_seconds(invalid_grace, "invalid_grace") or 0.0
        if self.destination is not None and not self.wait_for_completion:
            raise SovInputError(
                "destination needs wait_for_completion=True: the file must exist to be saved."
            )
        if not templated(*(getattr(self, field) for field in self.template_fields)):
            self._checked()  # a literal mistake fails when the DAG is parsed, not at run time

    def _checked(self) -> GenerationRequest:
        check_destination(self.destination, required=False)
        return generation_request(**{name: getattr(self, name) for name in REQUEST_FIELDS})

    def start_job(self, context: Context, store: StateStore) -> tuple[GenerationRef, Reading | None]:
        checked = self._checked()
        earlier = self._reattach(store, checked)
        if earlier is not None:
            return earlier
        body = self.hook.generate(checked)
        requested_at = time.time()
        if checked.detached:
            if not str(body.get("job_id") or "").isdigit():
                raise SovResponseError(
                    f"The Broker accepted the detached {checked.file_type} request but sent no job_id "
                    f"(got {body.get('job_id')!r}); nothing can be waited on.",
                    hint="Run the task again; if it persists, the Broker's response has changed.",
                )
            target = GenerationTarget.of(job_id=body["job_id"], file_type=checked.file_type)
        else:
            target = GenerationTarget.of(checked.body["submission_id"], checked.file_type)
        ref = GenerationRef(target, requested_at, self.invalid_grace)
        reading = GENERATION.classify(body, ref)
        self.log.info("Requested the %s. %s", target.label, reading.progress_line(target.label))
        return ref, reading

    def _reattach(
        self, store: StateStore, checked: GenerationRequest
    ) -> tuple[GenerationRef, Reading] | None:
        """Return the generation an earlier try of this task requested, if it is still usable."""
        saved = saved_ref(GENERATION, store)
        if saved is None:
            return None
        earlier = saved.target
        submission = None if checked.detached else checked.body["submission_id"]
        if earlier.file_type != checked.file_type or earlier.submission_id != submission:
            return None
        reading = self.read_job(GENERATION, saved)
        if reading.terminal and not reading.succeeded:
            self.log.info(
                "The %s requested by an earlier try ended %s; requesting it again.",
                earlier.label,
                reading.status,
            )
            return None
        self.log.info("Reattaching to the %s requested by an earlier try of this task.", earlier.label)
        return saved, reading


class DFileDownloadOperator(GeneratedFileOperator):
    """
    Download a finished generation's file: within a submission, or a detached job's.

    The status is read right before downloading (signed URLs live 60 seconds); the file is fetched
    with no credentials and lands whole or not at all; a 403 from storage gets a new URL once.
    Returns the common result (``kind`` ``generation``), the written file in ``files``.

    :param destination: Folder or object-storage URL to save the file in (templated).
    :param submission_id: The submission (templated), with ``file_type``; or
    :param job_id: a detached generation's job ID (templated).
    :param file_type: ``D1``, ``D2``, ``E`` or ``F`` (templated).
    :param filename: Save under this name instead of the Broker's.
    :param overwrite: Replace an existing file of the same name.
    :param data_act_broker_conn_id: The Airflow connection.
    """

    can_wait = False
    waits_by_default = False
    template_fields: Sequence[str] = ("submission_id", "file_type", "job_id", "destination")
    ui_color = "#eef6ec"

    def __init__(
        self,
        *,
        submission_id: int | str | None = None,
        file_type: str | None = None,
        job_id: int | str | None = None,
        filename: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.submission_id = submission_id
        self.file_type = file_type
        self.job_id = job_id
        self.filename = filename
        check_destination(self.destination)
        if not templated(submission_id, file_type, job_id, self.destination):
            GenerationTarget.of(submission_id, file_type, job_id)

    def start_job(self, context: Context, store: StateStore) -> tuple[GenerationRef, Reading | None]:
        check_destination(self.destination)
        ref = GenerationRef(GenerationTarget.of(self.submission_id, self.file_type, self.job_id))
        reading = self.read_job(GENERATION, ref)
        if not reading.terminal:
            target = ref.target
            raise SovError(
                f"The {target.label} is not ready to download: its status is {reading.status!r}.",
                job_id=target.key,
                server_message=reading.message,
                hint="Wait for it with DFileGenerationSensor (or DFileGenerateOperator) first.",
            )
        return ref, reading
