"""
Operators for a DATA Act Broker submission once it is uploaded: download its validation reports, and
publish (and certify) it, which cannot be undone and so is done only with ``confirm=True``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.files import check_destination
from airflow_provider_sov._shared.jobs import templated
from airflow_provider_sov._shared.operator import JobOperator
from airflow_provider_sov._shared.task_state import SENT
from airflow_provider_sov._shared.waiting import read_job
from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks.broker_lifecycle import UPLOAD_VALIDATIONS
from airflow_provider_sov.hooks.broker_publication import (
    PUBLICATION,
    REPORTS,
    PublicationRef,
    ReportsRef,
    publish_action,
    published_as_asked,
)
from airflow_provider_sov.hooks.broker_rules import check_int_id
from airflow_provider_sov.links import BROKER_LINKS
from airflow_provider_sov.operators.broker_submit import _flag, confirmed

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_sov._shared.files import FileToFetch
    from airflow_provider_sov._shared.jobs import JobRef, Reading
    from airflow_provider_sov._shared.task_state import StateStore
    from airflow_provider_sov.hooks.broker import DataActBrokerHook  # noqa: F401 - the hook type of the base class

(PUBLISHING_SENT,) = PUBLICATION.steps


class SubmissionReportsDownloadOperator(JobOperator["DataActBrokerHook"]):
    """
    Download every validation report of a submission into ``destination``: the error and warning
    report of each file whose validation finished, and of each cross-file pair (A-B, B-C; C-D1 and
    C-D2 once those were validated), as ``SubID-<id>_File-B-error-report.csv``,
    ``SubID-<id>_File-B-to-C-crossfile-warning-report.csv``. Each is fetched at once from a URL the
    Broker signs for it (no credentials go to storage), whole or not at all; a retried task keeps the
    reports an earlier try wrote whole.

    Returns the common result (``kind`` ``reports``, ``job_id`` the submission's ID) with
    ``submission_id``, ``reports`` (each: ``file_type``, ``warning``, ``cross_type``, ``name``) and the
    written ``files``. A submission with no finished validation raises
    :class:`~airflow_provider_sov.exceptions.SovJobFailedError`.

    :param submission_id: The submission (templated).
    :param destination: Folder or object-storage URL to save the reports in (templated).
    :param overwrite: Replace reports of the same names (default True: a report is the Broker's latest).
    :param data_act_broker_conn_id: The Airflow connection (``reader`` on the submission).
    """

    kind = REPORTS
    can_wait = False
    waits_by_default = False
    operator_extra_links = BROKER_LINKS
    template_fields: Sequence[str] = ("submission_id", "destination")
    ui_color = "#eef6ec"

    def __init__(self, *, submission_id: int | str, overwrite: bool = True, **kwargs: Any) -> None:
        super().__init__(overwrite=overwrite, **kwargs)
        self.submission_id = submission_id
        check_destination(self.destination)
        if not templated(submission_id):
            check_int_id(submission_id, "submission_id")

    def start_job(self, context: Context, store: StateStore) -> tuple[ReportsRef, Reading | None]:
        check_destination(self.destination)
        ref = REPORTS.ref_from_task({"submission_id": self.submission_id}, 0.0, {})
        return ref, read_job(self, REPORTS, ref)

    def files_to_fetch(self, result: dict[str, Any], ref: JobRef, reading: Reading) -> list[FileToFetch]:
        from airflow_provider_sov._shared.files import FileToFetch
        from airflow_provider_sov.hooks.broker_uploads import ValidationReport

        assert isinstance(ref, ReportsRef)
        files = []
        for listed in result["reports"]:
            report = ValidationReport(
                ref.submission_id, listed["file_type"], listed["warning"], listed["cross_type"]
            )
            describe = {k: listed[k] for k in ("file_type", "warning", "cross_type")}
            files.append(
                FileToFetch(f"report-{report.name}", report, self.destination, report.name, ref.key, describe)
            )
        return files

    def file_meta(self, result: dict[str, Any], ref: JobRef) -> dict[str, Any]:
        return {"submission_id": result["submission_id"]}


class SubmissionPublishOperator(JobOperator["DataActBrokerHook"]):
    """
    Publish a submission to USAspending: a DABS one (``action``: ``publish``, ``certify`` a published
    one, or ``publish_and_certify``, the only way for a quarterly one or one past its certification
    deadline), or a FABS one (``publish``). **This cannot be undone**, so nothing is sent unless the
    task is given ``confirm=True`` (templated: a param, or an approval's answer, can set it; only
    ``True`` or a rendered ``"True"``/``"true"`` is a yes).

    Before any publishing call it reads the submission and refuses, naming why: a test submission;
    one whose validations have not finished or found errors; one publishing now; one already
    published (and certified, when asked), unless ``succeed_if_published=True`` says that is the goal
    (then nothing is sent and the task succeeds). The publishing call is sent once: a retry after its
    answer was lost reads the publish status and waits on the publication it finds instead of sending
    again. The task ends when the Broker says ``published`` (and certified when asked), in any mode.

    Returns the common result (``kind`` ``publication``, ``job_id`` the submission's ID, ``status``
    ``published`` or ``certified``) with ``submission_id``, ``action``, ``publish_status`` and
    ``certified``.

    :param submission_id: The submission (templated).
    :param action: ``publish`` (default), ``certify`` or ``publish_and_certify`` (DABS).
    :param confirm: The explicit yes (templated). Anything but True sends nothing and fails.
    :param succeed_if_published: Succeed, sending nothing, when it is already done.
    :param data_act_broker_conn_id: The Airflow connection (``submitter`` on the agency; FABS: ``fabs``).
    """

    kind = PUBLICATION
    operator_extra_links = BROKER_LINKS
    template_fields: Sequence[str] = ("submission_id", "confirm")
    ui_color = "#f6eeec"

    def __init__(
        self,
        *,
        submission_id: int | str,
        action: str = "publish",
        confirm: bool | str = False,
        succeed_if_published: bool = False,
        **kwargs: Any,
    ) -> None:
        self.action = publish_action(action)
        self.succeed_if_published = _flag(succeed_if_published, "succeed_if_published")
        super().__init__(**kwargs)
        self.submission_id = submission_id
        self.confirm = confirm
        if not templated(submission_id):
            check_int_id(submission_id, "submission_id")

    def options(self) -> dict[str, Any]:
        return {"action": self.action}

    def start_job(self, context: Context, store: StateStore) -> tuple[PublicationRef, Reading | None]:
        submission = check_int_id(self.submission_id, "submission_id")
        if not confirmed(self.confirm):
            raise SovInputError(
                f"Not published: submitting submission {submission} to USAspending cannot be undone, and this "
                f"task's confirm is {self.confirm!r}, not True.",
                job_id=submission,
                hint="Set confirm=True (or a template that renders True, such as an approval's answer) once "
                "the submission has been reviewed.",
            )
        ref = PublicationRef(submission, self.action)
        steps = self.steps(context, store)
        if steps.earlier() == ref:
            return ref, None  # an earlier try sent it and heard back: wait on it
        metadata = self.hook.submission_metadata(submission)
        mark = store.get(SENT)
        sent_before = isinstance(mark, dict) and mark.get("client_ref") == ref.key
        went_through = metadata.get("publish_status") == "publishing" or published_as_asked(
            metadata, self.action
        )
        if not (sent_before and went_through):  # else an earlier try's call, whose answer was lost, did it
            done = self.refuse(ref, metadata)
            if done is not None:
                return ref, done

        def find(_client_ref: str, _since: float) -> list[PublicationRef]:
            return [ref] if went_through else []

        ref = steps.create(
            PUBLISHING_SENT, lambda: self.publish(ref, metadata), client_ref=ref.key, find=find
        )
        return ref, None

    def refuse(self, ref: PublicationRef, metadata: dict[str, Any]) -> Reading | None:
        """Fail, before any publishing call, what the Broker would refuse or the task must not do."""
        name = f"submission {ref.submission_id}"
        fabs = bool(metadata.get("fabs_submission"))
        if fabs and ref.action != "publish":
            raise SovInputError(
                f"{name} is a FABS submission: it is published (action='publish'), never certified."
            )
        if metadata.get("test_submission"):
            raise SovInputError(
                f"Not published: {name} is a test submission, which the Broker never publishes.",
                job_id=ref.submission_id,
                hint="Upload the files as a new, certifiable submission (test_submission=False).",
            )
        if published_as_asked(metadata, ref.action):
            if self.succeed_if_published:
                self.log.info(
                    "%s is already %s; nothing sent.",
                    name,
                    "certified" if metadata.get("certified") else "published",
                )
                return PUBLICATION.classify(metadata, ref)
            raise SovInputError(
                f"Not sent: {name} is already published{' and certified' if metadata.get('certified') else ''}.",
                job_id=ref.submission_id,
                hint="Pass succeed_if_published=True if a published submission is this task's goal.",
            )
        if metadata.get("publish_status") == "publishing":
            raise SovInputError(
                f"Not sent: {name} is being published now (publish_status 'publishing').",
                job_id=ref.submission_id,
                hint="Wait for that publication to end (or run this task with succeed_if_published=True).",
            )
        if ref.action == "certify" and metadata.get("publish_status") != "published":
            raise SovInputError(
                f"Not sent: {name} cannot be certified before it is published (publish_status "
                f"{metadata.get('publish_status')!r}).",
                hint="Use action='publish_and_certify', or publish it first.",
            )
        status = self.hook.check_status(ref.submission_id)
        types = ("fabs",) if fabs else (*UPLOAD_VALIDATIONS, "cross")
        unfinished = [t for t in types if (status.get(t) or {}).get("status") != "finished"]
        errors = [t for t in types if (status.get(t) or {}).get("has_errors")]
        if errors or metadata.get("number_of_errors"):
            raise SovInputError(
                f"Not published: the validations of {name} found {metadata.get('number_of_errors')} error(s) "
                f"({', '.join(errors) or 'see the reports'}).",
                job_id=ref.submission_id,
                hint="Download its reports (SubmissionReportsDownloadOperator), fix the files and upload them "
                "as corrections; publish once they validate without errors.",
            )
        if unfinished:
            raise SovInputError(
                f"Not published: the validations of {name} have not finished ({', '.join(unfinished)}).",
                job_id=ref.submission_id,
                hint="Wait for them first (DabsSubmissionOperator or SubmissionValidationSensor).",
            )
        return None

    def publish(self, ref: PublicationRef, metadata: dict[str, Any]) -> PublicationRef:
        """Send the one publishing call."""
        hook = self.hook
        if metadata.get("fabs_submission"):
            hook.publish_fabs_file(ref.submission_id, confirm=True)
        else:
            getattr(hook, f"{ref.action}_dabs_submission")(ref.submission_id, confirm=True)
        self.log.info(
            "The Broker accepted the %s of submission %s.", ref.action.replace("_", " "), ref.submission_id
        )
        return ref
