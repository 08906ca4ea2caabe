"""
Operators for DATA Act Broker files: generate (and wait, and download), download one, or the latest
published; and, from :mod:`.broker_submit` and :mod:`.broker_publish`, submitting: DABS and FABS
uploads validated, their reports, publishing. All importable from here.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.files import check_destination
from airflow_provider_sov._shared.jobs import templated
from airflow_provider_sov._shared.operator import JobOperator
from airflow_provider_sov._shared.task_state import saved_ref
from airflow_provider_sov._shared.waiting import as_seconds, read_job
from airflow_provider_sov.exceptions import SovError, SovInputError, SovResponseError
from airflow_provider_sov.hooks.broker_jobs import DEFAULT_INVALID_GRACE, GENERATION, GenerationRef
from airflow_provider_sov.hooks.broker_lifecycle import REPUBLISHED, PublishedFile
from airflow_provider_sov.hooks.broker_published import PUBLISHED, PublishedRef, published_kinds
from airflow_provider_sov.hooks.broker_rules import (
    D_FILE_TYPES,
    REQUEST_FIELDS,
    FinishedFile,
    GenerationRequest,
    GenerationTarget,
    generation_request,
)
from airflow_provider_sov.links import BROKER_LINKS
from airflow_provider_sov.operators.broker_publish import (
    SubmissionPublishOperator,
    SubmissionReportsDownloadOperator,
)
from airflow_provider_sov.operators.broker_submit import (
    DabsSubmissionOperator,
    FabsSubmissionOperator,
    _flag,
)

__all__ = [
    "DFileDownloadOperator",
    "DFileGenerateOperator",
    "DabsSubmissionOperator",
    "FabsSubmissionOperator",
    "PublishedFilesDownloadOperator",
    "SubmissionPublishOperator",
    "SubmissionReportsDownloadOperator",
]

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from airflow.sdk import Context

    from airflow_provider_sov._shared.files import FileToFetch
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
    operator_extra_links = BROKER_LINKS
    filename: str | None

    def files_to_fetch(self, result: dict[str, Any], ref: JobRef, reading: Reading) -> list[FileToFetch]:
        if self.destination in (None, ""):
            return []
        from airflow_provider_sov._shared.files import FileToFetch

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
    before the first call. A D1 or D2 within a submission takes ``start`` and ``end`` from the
    submission's own reporting period when neither is given (read from ``submission_metadata``
    and logged). A detached file found in the Broker's cache comes back ``finished`` at once and
    never defers; within a submission a cached D file still reads ``waiting`` until the Broker has
    validated it. A retried task reattaches to the generation it requested (unless that one failed).

    Generating a D1 or D2 file of a submission that was published sets it back to "updated": it must
    be certified again. So a published, updating, publishing or certified submission is refused
    (before any generation is requested, naming its status) unless ``allow_republish=True``.
    E and F files do not change a submission's publish status, and are never refused for it.

    Returns the common result (``kind`` ``generation``; ``job_id`` the Broker's job ID, also pushed
    to XCom as ``job_id`` before waiting) with ``submission_id``, ``file_type``, ``start``, ``end``
    and ``generated_at``; when ``destination`` is set, ``files`` holds the written file
    (``filename``, ``uri``, ``size``, ``sha256``).

    The Broker refuses to generate before the submission's validations have finished: that raises
    :class:`~airflow_provider_sov.exceptions.SovPrerequisiteError`; give the task ``retries`` and a
    ``retry_delay`` to try again later, or wait for them first with
    :class:`~airflow_provider_sov.sensors.broker.SubmissionValidationSensor`.

    :param submission_id: The submission (templated); None for a detached file.
    :param file_type: ``D1``, ``D2``, ``E``, ``F`` (submission) or ``D1``, ``D2``, ``A``, ``BOC``.
    :param start: First day, ``MM/DD/YYYY`` (templated; D1/D2 only; within a submission, default its
        reporting period's).
    :param end: Last day, ``MM/DD/YYYY`` (templated; D1/D2 only; as ``start``).
    :param allow_republish: Regenerate a D1/D2 of a published or certified submission (it then
        reads "updated" and must be certified again) (templated: a bool, or "true"/"false").
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
    template_fields: Sequence[str] = (
        *(f for f in REQUEST_FIELDS if f != "element_numbers"),
        "destination",
        "allow_republish",
    )
    ui_color = "#eef6ec"
    retry_requests_a_new_job = True  # a failed generation is requested anew

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
        allow_republish: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.allow_republish = allow_republish
        if not templated(allow_republish):
            _flag(allow_republish, "allow_republish")
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
        return generation_request(**{name: getattr(self, name) for name in REQUEST_FIELDS}, period_later=True)

    def start_job(self, context: Context, store: StateStore) -> tuple[GenerationRef, Reading | None]:
        checked = self._checked()
        earlier = self._reattach(store, checked)
        if earlier is not None:
            return earlier
        checked = self._in_its_submission(checked)
        waiting = self._still_generating(context, checked)
        if waiting is not None:
            return waiting
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

    def _still_generating(
        self, context: Context, checked: GenerationRequest
    ) -> tuple[GenerationRef, Reading] | None:
        """
        On a retry, a file within a submission that the Broker is generating already: the earlier
        try's request, whose record was lost (the try died between the request and its record, or
        Airflow keeps no records). Wait on it rather than request it again: the Broker keeps one
        generation per submission and file type, and requests E and F again for each call.
        """
        try_number = getattr(context.get("ti"), "try_number", None)
        if checked.detached or not isinstance(try_number, int) or try_number <= 1:
            return None
        target = GenerationTarget.of(checked.body["submission_id"], checked.file_type)
        ref = GenerationRef(target, time.time(), self.invalid_grace)
        # The Broker says 'invalid' for a moment around a request's pickup: within invalid_grace an
        # 'invalid' may still turn out to be that request, so it is read again before requesting.
        grace_ends = time.monotonic() + self.invalid_grace
        while (
            reading := read_job(self, GENERATION, ref)
        ).status == "invalid" and time.monotonic() < grace_ends:
            time.sleep(min(1.0, max(0.1, self.invalid_grace / 10)))
        if reading.status != "waiting":
            return None
        self.log.info(
            "The %s is being generated already (an earlier try's request): waiting on it, not "
            "requesting it again.",
            target.label,
        )
        return ref, reading

    def _in_its_submission(self, checked: GenerationRequest) -> GenerationRequest:
        """
        A D1/D2 within a submission: refuse a published or certified one (unless
        ``allow_republish``) and take the dates of its reporting period when none were given, from
        one read of ``submission_metadata`` (none when neither is needed).
        """
        if checked.detached or checked.file_type not in D_FILE_TYPES:
            return checked
        allow_republish = _flag(self.allow_republish, "allow_republish")  # rendered by now
        dated = "start" in checked.body
        if dated and allow_republish:
            return checked
        submission_id = checked.body["submission_id"]
        metadata = self.hook.submission_metadata(submission_id)
        status, certified = metadata.get("publish_status"), metadata.get("certified") is True
        if not allow_republish and (status in REPUBLISHED or certified):
            state = f"its publish status is {status!r}" + (" and it is certified" if certified else "")
            raise SovInputError(
                f"Submission {submission_id}: {state}. Generating its {checked.file_type} file again "
                "would set it back to 'updated' (if it is not already), to be certified again.",
                job_id=str(submission_id),
                hint="Pass allow_republish=True to regenerate it anyway (and certify it again afterwards).",
            )
        if dated:
            return checked
        start, end = metadata.get("reporting_start_date"), metadata.get("reporting_end_date")
        if not start or not end:
            raise SovResponseError(
                f"Submission {submission_id} has no reporting period to generate its {checked.file_type} "
                f"file for (reporting_start_date {start!r}, reporting_end_date {end!r}).",
                job_id=str(submission_id),
                hint="Pass start and end (MM/DD/YYYY).",
            )
        self.log.info(
            "The %s file of submission %s covers its reporting period %s: %s to %s.",
            checked.file_type,
            submission_id,
            metadata.get("reporting_period") or "",
            start,
            end,
        )
        values = {name: getattr(self, name) for name in REQUEST_FIELDS}
        return generation_request(**{**values, "start": start, "end": end})

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
        reading = read_job(self, GENERATION, saved)
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
        reading = read_job(self, GENERATION, ref)
        if not reading.terminal:
            target = ref.target
            raise SovError(
                f"The {target.label} is not ready to download: its status is {reading.status!r}.",
                job_id=target.key,
                server_message=reading.message,
                hint="Wait for it with DFileGenerationSensor (or DFileGenerateOperator) first.",
            )
        return ref, reading


class PublishedFilesDownloadOperator(JobOperator["DataActBrokerHook"]):
    """
    Download the latest published DABS or FABS files of an agency, fiscal year and period.

    One read of ``list_latest_published_files`` finds them (the latest publication of each
    submission of that agency and period); each is then fetched from a URL signed for it just now
    (``get_published_file``; no credentials go to storage), into ``destination``, whole or not at
    all. A retried task keeps the files an earlier try wrote whole. Agency comments files, which
    the Broker lists with no ID, cannot be fetched that way: they are listed in the result, not
    downloaded (with a log line).

    Returns the common result (``kind`` ``published``; ``job_id`` the ID of the submission the files
    were published from, comma-separated when several are) with ``type``, ``agency``, ``year``,
    ``period``, ``published`` (each listed file: ``id``, ``label``, ``filetype``, ``submission_id``)
    and the written ``files``. No file published for that period raises
    :class:`~airflow_provider_sov.exceptions.SovJobFailedError`.

    :param type: ``dabs`` or ``fabs`` (templated).
    :param agency: The agency's CGAC (3 digits) or FREC (4 digits) code (templated).
    :param year: The fiscal year (templated).
    :param period: The fiscal period, 1-12 (templated; DABS quarters are 3, 6, 9 and 12).
    :param destination: Folder or object-storage URL to save the files in (templated).
    :param file_types: Only these: ``A``, ``B``, ``C``, ``D1``, ``D2``, ``E``, ``F``, ``FABS``
        (default: every file listed).
    :param overwrite: Replace files of the same names.
    :param data_act_broker_conn_id: The Airflow connection (needs a login: any Broker user may list them).
    """

    kind = PUBLISHED
    can_wait = False
    waits_by_default = False
    template_fields: Sequence[str] = (*PUBLISHED.task_fields, "destination")
    ui_color = "#eef6ec"

    def __init__(
        self,
        *,
        type: str,
        agency: str,
        year: int | str,
        period: int | str,
        file_types: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.type = type
        self.agency = agency
        self.year = year
        self.period = period
        self.file_types = published_kinds(file_types)
        check_destination(self.destination)
        if not templated(type, agency, year, period):
            self._ref()  # a literal mistake fails when the DAG is parsed

    def _ref(self) -> PublishedRef:
        return PUBLISHED.ref_from_task(
            {n: getattr(self, n) for n in PUBLISHED.task_fields}, 0.0, self.options()
        )

    def options(self) -> dict[str, Any]:
        return {"file_types": list(self.file_types)}

    def start_job(self, context: Context, store: StateStore) -> tuple[PublishedRef, Reading | None]:
        check_destination(self.destination)
        ref = self._ref()
        return ref, read_job(self, PUBLISHED, ref)

    def files_to_fetch(self, result: dict[str, Any], ref: JobRef, reading: Reading) -> list[FileToFetch]:
        from airflow_provider_sov._shared.files import FileToFetch

        files = []
        for listed in result["published"]:
            if listed.get("id") is None or listed.get("submission_id") is None:
                self.log.info(
                    "Not downloading %s: the Broker lists it with no ID to fetch it by.", listed.get("label")
                )
                continue
            source = PublishedFile(
                int(listed["id"]), int(listed["submission_id"]), str(listed.get("label") or "")
            )
            describe = {"filetype": listed.get("filetype"), "submission_id": listed.get("submission_id")}
            files.append(
                FileToFetch(f"published-{listed['id']}", source, self.destination, None, ref.key, describe)
            )
        return files

    def file_meta(self, result: dict[str, Any], ref: JobRef) -> dict[str, Any]:
        return {k: result[k] for k in ("type", "agency", "year", "period")}
