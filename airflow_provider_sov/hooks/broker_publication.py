"""
A DATA Act Broker submission's validation reports (one ``check_status`` read, then the downloads)
and its publication (``submission_metadata``'s ``publish_status`` and ``certified`` until done), as
kinds of the one job model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.jobs import JobRef, Reading, Step
from airflow_provider_sov.exceptions import SovInputError, SovJobFailedError
from airflow_provider_sov.hooks.broker_jobs import BrokerJobKind
from airflow_provider_sov.hooks.broker_rules import check_int_id

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_sov.hooks.broker import DataActBrokerHook

#: What a publishing task does, and the hook method (route) each sends. A FABS submission's
#: ``publish`` is ``publish_fabs_file``.
PUBLISH_ACTIONS = {
    "publish": "publish_dabs_submission",
    "certify": "certify_dabs_submission",
    "publish_and_certify": "publish_and_certify_dabs_submission",
}


def publish_action(value: object) -> str:
    if value not in PUBLISH_ACTIONS:
        raise SovInputError(f"action must be one of {', '.join(PUBLISH_ACTIONS)}, got {value!r}.")
    return str(value)


@dataclass(frozen=True)
class ReportsRef(JobRef):
    """A submission whose validation reports are to be fetched."""

    submission_id: int

    @property
    def key(self) -> str:
        return f"submission {self.submission_id} reports"

    @property
    def job_id(self) -> str:
        return str(self.submission_id)

    def to_json(self) -> dict[str, Any]:
        return {"submission_id": self.submission_id}


class ReportsKind(BrokerJobKind[ReportsRef]):
    """A submission's validation reports: the ones its ``check_status`` says exist, read once."""

    name = "reports"
    label = "validation reports"
    task_fields = ("submission_id",)

    def ref_from_task(
        self, values: Mapping[str, Any], started: float, options: Mapping[str, Any]
    ) -> ReportsRef:
        return ReportsRef(check_int_id(values.get("submission_id"), "submission_id"))

    def ref_from_json(self, data: Mapping[str, Any]) -> ReportsRef:
        return ReportsRef(check_int_id(data.get("submission_id"), "submission_id"))

    def describe(self, ref: ReportsRef) -> str:
        return f"validation reports of submission {ref.submission_id}"

    def read_status(self, hook: DataActBrokerHook, ref: ReportsRef) -> Mapping[str, Any]:
        return hook.check_status(ref.submission_id)

    async def aread_status(self, hook: DataActBrokerHook, ref: ReportsRef) -> Mapping[str, Any]:
        return await hook.acheck_status(ref.submission_id)

    def classify(self, body: Mapping[str, Any], ref: ReportsRef) -> Reading:
        from airflow_provider_sov.hooks.broker_uploads import validation_reports  # a running task's

        reports = validation_reports(ref.submission_id, dict(body))
        return Reading(
            job_id=str(ref.submission_id),
            status="listed" if reports else "none",
            terminal=True,
            succeeded=bool(reports),
            detail=f"- {len(reports)} report(s)",
            extras={
                "submission_id": ref.submission_id,
                "reports": [
                    {
                        "file_type": r.file_type,
                        "warning": r.warning,
                        "cross_type": r.cross_type,
                        "name": r.name,
                    }
                    for r in reports
                ],
            },
        )

    def pages(
        self, hook: DataActBrokerHook, ref: ReportsRef, known: Mapping[str, Any], ended: bool
    ) -> dict[str, str]:
        return hook.submission_pages(ref.submission_id)

    def outcome(
        self, reading: Reading | None, ref: ReportsRef, options: Mapping[str, Any], log: Any
    ) -> dict[str, Any]:
        if reading is None:
            return {"submission_id": ref.submission_id, "reports": []}
        if not reading.succeeded:
            raise SovJobFailedError(
                f"Submission {ref.submission_id} has no validation report yet: no validation of it has finished.",
                result_status="none",
                job_id=ref.key,
                hint="Wait for its validations first (SubmissionValidationSensor), then download the reports.",
            )
        return {k: reading.extras[k] for k in ("submission_id", "reports")}


@dataclass(frozen=True)
class PublicationRef(JobRef):
    """A submission being published (and/or certified): what the task asked the Broker to do."""

    submission_id: int
    action: str = "publish"

    @property
    def key(self) -> str:
        return f"submission {self.submission_id} {self.action.replace('_', ' ')}"

    @property
    def job_id(self) -> str:
        return str(self.submission_id)

    def to_json(self) -> dict[str, Any]:
        return {"submission_id": self.submission_id, "action": self.action}


def published_as_asked(metadata: Mapping[str, Any], action: str) -> bool:
    """Whether a submission's metadata says ``action`` is done: published, and certified when asked."""
    published = metadata.get("publish_status") == "published"
    return published and (
        action == "publish" or bool(metadata.get("certified")) or bool(metadata.get("fabs_submission"))
    )


class PublicationKind(BrokerJobKind[PublicationRef]):
    """
    A submission's publication: the one publishing call is a guarded step (a retry after its lost
    answer reads the publish status and never sends it twice), then a wait until the Broker says
    ``published`` (and ``certified`` when asked). Back at ``unpublished`` or ``updated`` after the
    call, the publication failed.
    """

    name = "publication"
    label = "publication"
    task_fields = ("submission_id",)
    steps = (Step("publishing_sent", "send the publishing call"),)
    poll_interval = 10.0
    timeout = 60 * 60.0
    trigger = "airflow_provider_sov.triggers.broker.SubmissionPublishTrigger"

    def ref_from_task(
        self, values: Mapping[str, Any], started: float, options: Mapping[str, Any]
    ) -> PublicationRef:
        return PublicationRef(
            check_int_id(values.get("submission_id"), "submission_id"),
            publish_action(options.get("action", "publish")),
        )

    def ref_from_json(self, data: Mapping[str, Any]) -> PublicationRef:
        return PublicationRef(
            check_int_id(data.get("submission_id"), "submission_id"),
            publish_action(data.get("action", "publish")),
        )

    def describe(self, ref: PublicationRef) -> str:
        return f"the {ref.action.replace('_', ' ')} of submission {ref.submission_id}"

    def read_status(self, hook: DataActBrokerHook, ref: PublicationRef) -> Mapping[str, Any]:
        return hook.submission_metadata(ref.submission_id)

    async def aread_status(self, hook: DataActBrokerHook, ref: PublicationRef) -> Mapping[str, Any]:
        return await hook.asubmission_metadata(ref.submission_id)

    def classify(self, body: Mapping[str, Any], ref: PublicationRef) -> Reading:
        status = str(body.get("publish_status") or "unknown")
        done = published_as_asked(body, ref.action)
        failed = status in ("unpublished", "updated") or (status == "published" and not done)
        return Reading(
            job_id=str(ref.submission_id),
            status="certified" if done and body.get("certified") else status,
            terminal=done or failed,
            succeeded=done,
            message=None
            if done or not failed
            else f"publish_status is {status!r}, certified {body.get('certified')!r}",
            detail=""
            if status in ("publishing", "published", "unpublished", "updated")
            else "(unrecognised status; still waiting)",
            extras={
                "submission_id": ref.submission_id,
                "action": ref.action,
                "publish_status": status,
                "certified": bool(body.get("certified")),
                "fabs_submission": bool(body.get("fabs_submission")),
            },
        )

    def pages(
        self, hook: DataActBrokerHook, ref: PublicationRef, known: Mapping[str, Any], ended: bool
    ) -> dict[str, str]:
        return hook.submission_pages(ref.submission_id)

    def outcome(
        self, reading: Reading | None, ref: PublicationRef, options: Mapping[str, Any], log: Any
    ) -> dict[str, Any]:
        keys = ("submission_id", "action", "publish_status", "certified")
        if reading is None:
            return {
                "submission_id": ref.submission_id,
                "action": ref.action,
                "publish_status": None,
                "certified": None,
            }
        if reading.terminal and not reading.succeeded:
            raise SovJobFailedError(
                f"The {ref.action.replace('_', ' ')} of submission {ref.submission_id} did not go through: "
                f"{reading.message}.",
                result_status=reading.status,
                job_id=ref.key,
                hint="Open the submission in the Broker to see why, fix it, and run the task again.",
            )
        return {k: reading.extras[k] for k in keys}


#: A submission's validation reports, and its publication.
REPORTS = ReportsKind()
PUBLICATION = PublicationKind()
