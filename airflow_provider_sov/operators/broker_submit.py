"""
Operators that submit to the DATA Act Broker: a DABS or FABS submission uploaded and its validations
waited on (its reports kept when they find something), a submission's validation reports
downloaded, and a submission published, only ever with ``confirm=True``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_sov._shared.files import check_destination
from airflow_provider_sov._shared.operator import JobOperator
from airflow_provider_sov._shared.task_state import task_instance_name
from airflow_provider_sov._shared.waiting import JobWait
from airflow_provider_sov.exceptions import SovInputError, SovJobFailedError
from airflow_provider_sov.hooks.broker_lifecycle import UPLOAD_VALIDATIONS
from airflow_provider_sov.hooks.broker_validation import VALIDATION, ValidationRef
from airflow_provider_sov.links import BROKER_LINKS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_sov._shared.files import FileToFetch
    from airflow_provider_sov._shared.jobs import JobRef, Reading
    from airflow_provider_sov._shared.task_state import StateStore
    from airflow_provider_sov.hooks.broker import DataActBrokerHook  # noqa: F401 - the hook type of the base class
    from airflow_provider_sov.hooks.broker_uploads import Upload

#: The validations a DABS submission's upload waits on: A, B, C, then the cross-file one.
DABS_VALIDATIONS = (*UPLOAD_VALIDATIONS, "cross")
UPLOADED, CORRECTED, FILE_A_SENT = VALIDATION.steps


def task_upload_tag(context: Context) -> str:
    """The mark this task instance puts in its uploaded files' names (the same on every try)."""
    from airflow_provider_sov.hooks.broker_uploads import upload_tag

    ti = context["ti"]
    name = task_instance_name(
        "airflow:", "/", ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1), 10**6
    )
    return upload_tag(name)


def confirmed(value: object) -> bool:
    """``confirm``: True, or a template rendered ``True``/``true``; anything else is a no."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _flag(value: object, name: str) -> bool:
    """A True/False argument, also as a rendered template gives it (``"True"``, ``"false"``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise SovInputError(f"{name} must be True or False, got {value!r}.")


def report_files(
    submission_id: int, status: dict[str, Any], destination: Any, job_key: str
) -> list[FileToFetch]:
    """The files for every validation report the submission's ``check_status`` says exists."""
    from airflow_provider_sov._shared.files import FileToFetch
    from airflow_provider_sov.hooks.broker_uploads import validation_reports

    return [
        FileToFetch(
            f"report-{report.name}",
            report,
            destination,
            report.name,
            job_key,
            {"file_type": report.file_type, "warning": report.warning, "cross_type": report.cross_type},
        )
        for report in validation_reports(submission_id, status)
    ]


class SubmissionUploadOperator(JobOperator["DataActBrokerHook"]):
    """
    What the DABS and FABS submission operators share: the upload (a new submission, found again by
    its files' names after a lost answer; or corrections), the wait on its validations in any mode,
    and its reports kept in ``reports_destination`` when they find errors or warnings.
    """

    kind = VALIDATION
    operator_extra_links = BROKER_LINKS
    ui_color = "#eef6ec"
    is_fabs: ClassVar[bool] = False
    #: What the task uploads (its templated arguments), in the hook method's words.
    upload_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        existing_submission_id: int | str | None = None,
        test_submission: bool | str = False,
        reports_destination: Any = None,
        fail_on_warnings: bool = False,
        **kwargs: Any,
    ) -> None:
        if not isinstance(fail_on_warnings, bool):
            raise SovInputError(f"fail_on_warnings must be True or False, got {fail_on_warnings!r}.")
        self.fail_on_warnings = fail_on_warnings
        super().__init__(**kwargs)
        self.existing_submission_id = existing_submission_id
        self.test_submission = test_submission
        self.reports_destination = reports_destination
        check_destination(reports_destination, required=False)

    def options(self) -> dict[str, Any]:
        types = ["fabs"] if self.is_fabs else list(DABS_VALIDATIONS)
        return {"file_types": types, "fail_on_warnings": self.fail_on_warnings}

    def upload_arguments(self) -> dict[str, Any]:
        """The hook method's arguments, as rendered (checked by :meth:`checked_upload`)."""
        values = {name: getattr(self, name) for name in self.upload_fields}
        values["test_submission"] = _flag(self.test_submission, "test_submission")
        existing = self.existing_submission_id
        values["existing_submission_id"] = None if existing in (None, "") else existing
        return values

    def checked_upload(self, arguments: dict[str, Any]) -> Upload:
        """Every local check of the upload (files, codes, periods), before any request."""
        from airflow_provider_sov.hooks.broker_uploads import dabs_upload, fabs_upload

        return (fabs_upload if self.is_fabs else dabs_upload)(**arguments)

    def send(self, upload: Upload, tag: str | None) -> int:
        """Send the checked upload (each file's name carrying ``tag``); return the submission's ID."""
        return self.hook.send_upload(upload, fabs=self.is_fabs, file_name_tag=tag)

    def start_job(self, context: Context, store: StateStore) -> tuple[ValidationRef, Reading | None]:
        from airflow_provider_sov._shared.lineage import dataset
        from airflow_provider_sov.hooks.broker_uploads import check_upload_file

        check_destination(self.reports_destination, required=False)
        arguments = self.upload_arguments()
        own_a = arguments.get("appropriations")
        if own_a is not None and arguments["existing_submission_id"] is None:
            # The Broker makes a new submission's File A: this one is sent as a correction later.
            check_upload_file(own_a, "File A (appropriations)")
            arguments = {**arguments, "appropriations": None}
        upload = self.checked_upload(arguments)
        for _field, path, _name, _type in upload.files:
            self.lineage.inputs.append(dataset(str(path)))
        types = tuple(self.options()["file_types"])
        steps = self.steps(context, store)
        if upload.existing_submission_id is not None:
            ref = ValidationRef(upload.existing_submission_id, types)
            steps.attach(ref)
            steps.run(ref, CORRECTED, lambda: self.send(upload, None))
            return ref, None
        tag = task_upload_tag(context)

        def find(mark: str, since: float) -> list[ValidationRef]:
            return [
                ValidationRef(i, types) for i in self.hook.find_uploads(mark, fabs=self.is_fabs, since=since)
            ]

        ref = steps.create(
            UPLOADED, lambda: ValidationRef(self.send(upload, tag), types), client_ref=tag, find=find
        )
        self.log.info(
            "Submission %s holds the uploaded files (their names carry %s).", ref.submission_id, tag
        )
        return ref, None

    def finish(self, context: Context, ref: JobRef, reading: Reading | None) -> dict[str, Any]:
        assert isinstance(ref, ValidationRef)
        if reading is not None and reading.terminal:
            reading = self.send_file_a(context, ref, reading)
        try:
            result = super().finish(context, ref, reading)
        except SovJobFailedError as failure:
            if reading is None or not reading.terminal or self.reports_destination in (None, ""):
                raise
            kept = self.keep_reports(context, ref)
            names = ", ".join(entry["filename"] for entry in kept)
            raise SovJobFailedError(
                f"{failure.message} Its {len(kept)} validation report(s) are in {self.reports_destination}: {names}.",
                result_status=failure.result_status,
                job_id=failure.job_id,
                server_message=failure.server_message,
                hint="Read the reports, fix the files, and upload them as corrections "
                f"(existing_submission_id={ref.submission_id}); the Broker validates them anew.",
            ) from None
        if reading is not None and reading.terminal and self.reports_destination not in (None, ""):
            warned = reading.extras.get("with_warnings") or []
            result["reports"] = self.keep_reports(context, ref) if warned else []
        return result

    def send_file_a(self, context: Context, ref: ValidationRef, reading: Reading) -> Reading:
        """
        A new DABS submission given its own File A: once B and C validated without errors, send A
        as a correction and wait again (deferring again where the task defers); the same reading
        otherwise.
        """
        appropriations = getattr(self, "appropriations", None)
        if self.is_fabs or appropriations is None or self.existing_submission_id not in (None, ""):
            return reading
        from airflow_provider_sov._shared.task_state import StateStore

        steps = self.steps(context, StateStore(context, self.log))
        if steps.done(ref, FILE_A_SENT) or reading.extras.get("with_errors") or reading.status == "failed":
            return reading
        steps.run(
            ref,
            FILE_A_SENT,
            lambda: self.hook.upload_dabs_files(
                existing_submission_id=ref.submission_id, appropriations=appropriations
            ),
        )
        self.log.info(
            "Sent File A to submission %s as a correction; waiting for its validations again.",
            ref.submission_id,
        )
        return JobWait(self, self.kind, context).until_final(ref)

    def keep_reports(self, context: Context, ref: ValidationRef) -> list[dict[str, Any]]:
        """Write every validation report of the submission into ``reports_destination``; return the entries."""
        from airflow_provider_sov._shared.downloads import download_and_record

        status = self.hook.check_status(ref.submission_id)
        files = report_files(ref.submission_id, status, self.reports_destination, ref.key)
        return download_and_record(
            context, self, self.hook, files, overwrite=True, meta={"submission_id": ref.submission_id}
        )


class DabsSubmissionOperator(SubmissionUploadOperator):
    """
    Submit a DABS submission to the Broker: Files B and C (and your own File A) as a new submission,
    or corrections to one; wait for its validations (A, B, C, then cross-file) in any mode; return
    their result.

    Every file (there, not empty, a header row, ``.csv`` or ``.txt``) and argument (the agency code,
    ``MM/YYYY`` months: one month, or periods 1 and 2 together as ``10/YYYY``-``11/YYYY``; quarters
    only before FY22) is checked before any request. The files are streamed from disk or object
    storage. A new submission's File A is made by the Broker (from GTAS); given ``appropriations``,
    this task sends it as a correction once B and C validated without errors, and waits again.

    The upload is never sent twice: a retry reattaches to the submission an earlier try uploaded,
    even when that try's answer was lost (the files are sent under names carrying a mark of the task
    instance, ``file_b.af-<12 hex>.csv``, and found again by it). Corrections sent again after a lost
    answer replace the same file with the same bytes.

    When the validations find errors (or warnings, with ``fail_on_warnings``), every error and warning
    report is written into ``reports_destination`` and the task fails naming the counts and the
    files; with warnings alone they are written too and listed as ``reports``. Returns the common
    result (``kind`` ``validation``, ``job_id`` the submission's ID, also pushed to XCom before the
    wait) with ``submission_id``, ``file_types``, ``validations``, ``number_of_errors``,
    ``number_of_warnings`` (and ``reports``).

    :param program_activity: File B: a local path or object-storage URL (templated).
    :param award_financial: File C (templated).
    :param appropriations: File A (templated; optional).
    :param cgac_code: The agency's 3-digit CGAC code (templated); or
    :param frec_code: its 4-digit FREC code.
    :param reporting_period_start_date: First month, ``MM/YYYY`` (templated).
    :param reporting_period_end_date: Last month, ``MM/YYYY`` (templated).
    :param is_quarter: A quarterly submission (FY21 and before only).
    :param test_submission: A test submission, never publishable (templated: a bool or "true"/"false").
    :param existing_submission_id: Send corrections to this submission instead (templated): only the
        files given are replaced.
    :param reports_destination: Folder or object-storage URL for the validation reports (templated).
    :param fail_on_warnings: Fail when a validation found warnings.
    :param data_act_broker_conn_id: The Airflow connection (``writer`` on the agency).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between status reads (default 30).
    :param timeout: Seconds to wait in all (default 6 hours).
    """

    upload_fields = (
        "program_activity",
        "award_financial",
        "appropriations",
        "cgac_code",
        "frec_code",
        "reporting_period_start_date",
        "reporting_period_end_date",
        "is_quarter",
    )
    template_fields: Sequence[str] = (
        *(f for f in upload_fields if f != "is_quarter"),
        "test_submission",
        "existing_submission_id",
        "reports_destination",
    )

    def __init__(
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.program_activity = program_activity
        self.award_financial = award_financial
        self.appropriations = appropriations
        self.cgac_code = cgac_code
        self.frec_code = frec_code
        self.reporting_period_start_date = reporting_period_start_date
        self.reporting_period_end_date = reporting_period_end_date
        self.is_quarter = is_quarter


class FabsSubmissionOperator(SubmissionUploadOperator):
    """
    Submit a FABS file to the Broker: a new submission for a sub-tier agency, or a new file for an
    unpublished one; wait for its validation in any mode; return its result. As
    :class:`DabsSubmissionOperator`: checked before any request, streamed, never uploaded twice, and
    its reports kept in ``reports_destination`` when the validation finds errors (the task fails,
    naming the counts and the files) or warnings.

    :param fabs: The FABS file: a local path or object-storage URL (templated).
    :param agency_code: The sub-tier agency's 4-character code (templated); or
    :param existing_submission_id: a FABS submission to give this file instead (templated).
    :param test_submission: A test submission, never publishable.
    :param reports_destination: Folder or object-storage URL for the validation reports (templated).
    :param fail_on_warnings: Fail when the validation found warnings.
    :param data_act_broker_conn_id: The Airflow connection (``editfabs`` on the agency).
    """

    is_fabs = True
    upload_fields = ("fabs", "agency_code")
    template_fields: Sequence[str] = (
        *upload_fields,
        "test_submission",
        "existing_submission_id",
        "reports_destination",
    )

    def __init__(self, *, fabs: Any, agency_code: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fabs = fabs
        self.agency_code = agency_code
