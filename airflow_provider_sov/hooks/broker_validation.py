"""
A DATA Act Broker submission's validations (``check_status``) as a job kind: final when every
watched type ``finished`` or one ``failed`` (the words of the Broker's ``fileHandler.py``); the
final read adds the error and warning counts from ``submission_metadata``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.jobs import JobRef, Reading, Step
from airflow_provider_sov.exceptions import SovBadRequestError, SovJobFailedError
from airflow_provider_sov.hooks.broker_jobs import BrokerJobKind
from airflow_provider_sov.hooks.broker_lifecycle import UPLOAD_VALIDATIONS, validation_types
from airflow_provider_sov.hooks.broker_rules import check_int_id

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_sov.hooks.broker import DataActBrokerHook

#: ``check_status`` statuses: ``ready`` (not started), ``uploading``, ``running``, ``finished``, ``failed``.
VALIDATION_STATUSES = ("ready", "uploading", "running", "finished", "failed")


@dataclass(frozen=True)
class ValidationRef(JobRef):
    """A submission's validations to wait on: those of ``file_types`` (empty: the submission's own)."""

    submission_id: int
    file_types: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        types = f" of {','.join(self.file_types)}" if self.file_types else ""
        return f"submission {self.submission_id} validations{types}"

    @property
    def job_id(self) -> str:
        return str(self.submission_id)

    def to_json(self) -> dict[str, Any]:
        return {"submission_id": self.submission_id, "file_types": list(self.file_types)}


def watched_types(body: Mapping[str, Any], ref: ValidationRef) -> tuple[str, ...]:
    """The file types a reading judges: the ref's, or the submission's own uploads."""
    if ref.file_types:
        return ref.file_types
    return ("fabs",) if "fabs" in body else UPLOAD_VALIDATIONS


def cross_file_blocked(body: Mapping[str, Any], types: tuple[str, ...]) -> bool:
    """
    Whether a watched cross-file validation will never start: the Broker starts it only once every
    A/B/C validation finished without errors (``check_job_dependencies``), so one with errors ends
    the wait with the cross-file one not run.
    """
    if "cross" not in types or str((body.get("cross") or {}).get("status")) not in ("ready", "waiting"):
        return False
    uploads = [body.get(t) or {} for t in UPLOAD_VALIDATIONS]
    return all(u.get("status") == "finished" for u in uploads) and any(u.get("has_errors") for u in uploads)


def validations_ended(body: Mapping[str, Any], ref: ValidationRef) -> bool:
    """Whether every watched validation is ``finished`` or one ``failed`` (then counts are read too)."""
    types = watched_types(body, ref)
    states = [str((body.get(t) or {}).get("status") or "") for t in types]
    return "failed" in states or all(s == "finished" for s in states) or cross_file_blocked(body, types)


def classify_validation(body: Mapping[str, Any], ref: ValidationRef) -> Reading:
    """Read ``check_status`` (and, once ended, the counts under ``_metadata``)."""
    metadata = body.get("_metadata") or {}
    types = watched_types(body, ref)
    missing = [t for t in types if not isinstance(body.get(t), dict)]
    files: dict[str, Mapping[str, Any]] = {t: body[t] for t in types if t not in missing}
    states = {t: str(state.get("status") or "unknown") for t, state in files.items()}
    failed = [t for t, s in states.items() if s == "failed"]
    errors = [t for t, state in files.items() if state.get("has_errors")]
    warnings = [t for t, state in files.items() if state.get("has_warnings")]
    blocked = cross_file_blocked(body, types)
    done = not missing and (blocked or all(s == "finished" for s in states.values()))
    if missing:
        status = "missing"
    elif failed:
        status = "failed"
    elif done:
        status = "finished"
    else:
        status = next(s for s in states.values() if s != "finished")
    odd = [t for t, s in states.items() if s not in VALIDATION_STATUSES]
    messages = [f"{t}: {files[t]['message']}" for t in failed + errors if files[t].get("message")]
    detail = ", ".join(f"{t} {s}" for t, s in states.items())
    if odd:
        detail += " (unrecognised status; still waiting)"
    return Reading(
        job_id=str(ref.submission_id),
        status=status,
        terminal=bool(missing or failed or done),
        succeeded=done and not errors,
        message="; ".join(dict.fromkeys(messages)) or None,
        detail=f"- {detail}" if detail else "",
        extras={
            "submission_id": ref.submission_id,
            "file_types": list(types),
            "validations": {
                t: {k: state.get(k) for k in ("status", "has_errors", "has_warnings", "message", "file_name")}
                for t, state in files.items()
            },
            "with_errors": errors,
            "with_warnings": warnings,
            "missing": missing,
            "number_of_errors": metadata.get("number_of_errors"),
            "number_of_warnings": metadata.get("number_of_warnings"),
        },
    )


def validation_outcome(
    reading: Reading | None, ref: ValidationRef, options: Mapping[str, Any], log: Any
) -> dict[str, Any]:
    """The validations' result, or the typed failure (failed, errors, a missing type, ``fail_on_warnings``)."""
    keys = ("submission_id", "file_types", "validations", "number_of_errors", "number_of_warnings")
    if reading is None:
        return {
            "submission_id": ref.submission_id,
            "file_types": list(ref.file_types),
            "validations": {},
            "number_of_errors": None,
            "number_of_warnings": None,
        }
    extras = {k: reading.extras.get(k) for k in keys}
    if not reading.terminal:
        return extras
    name = f"submission {ref.submission_id}"
    counts = (
        f"the Broker counts {reading.extras.get('number_of_errors')} error(s) and "
        f"{reading.extras.get('number_of_warnings')} warning(s)"
    )
    if reading.extras.get("missing"):
        raise SovJobFailedError(
            f"Submission {ref.submission_id} has no {', '.join(reading.extras['missing'])} file to validate.",
            result_status="missing",
            job_id=ref.key,
            hint="A DABS submission has A, B, C (and cross-file) validations; a FABS one has 'fabs'. "
            "Check file_types.",
        )
    if reading.status == "failed" or reading.extras.get("with_errors"):
        validations: dict[str, Any] = extras["validations"] or {}
        which = reading.extras.get("with_errors") or [
            t for t, v in validations.items() if v["status"] == "failed"
        ]
        verb = "failed" if reading.status == "failed" else "found errors"
        raise SovJobFailedError(
            f"Validation of {name} {verb} ({', '.join(which)}): {counts}. "
            f"{reading.message or 'The Broker gave no message.'}",
            result_status=reading.status if reading.status == "failed" else "errors",
            job_id=ref.key,
            server_message=reading.message,
            hint="Open the submission in the Broker: its error reports list each row. Fix the files and "
            "upload them again; the Broker validates anew.",
        )
    warned = reading.extras.get("with_warnings") or []
    if warned and options.get("fail_on_warnings"):
        raise SovJobFailedError(
            f"Validation of {name} found warnings ({', '.join(warned)}): {counts}; fail_on_warnings=True.",
            result_status="warnings",
            job_id=ref.key,
            hint="Read the warning reports in the Broker; pass fail_on_warnings=False to accept warnings.",
        )
    if warned and log is not None:
        log.warning("Validation of %s passed with warnings (%s): %s.", name, ", ".join(warned), counts)
    return extras


class ValidationKind(BrokerJobKind[ValidationRef]):
    """A submission's validations (``check_status``), waited on until they finished or failed."""

    name = "validation"
    label = "submission validation"
    task_fields = ("submission_id",)
    #: How a submitting task makes the submission its wait is on: a new one uploaded (found again by
    #: its files' names after a lost answer), or corrections sent; then its own File A, sent as a
    #: correction once the first validations ended. A correction sent again after a lost answer is
    #: refused (400: its validation is running, or it was published meanwhile): it went through.
    steps = (
        Step("uploaded", "upload the submission's files"),
        Step("corrected", "upload the corrected files", guarded=True, done_if=SovBadRequestError),
        Step("file_a_sent", "upload File A as a correction", guarded=True, done_if=SovBadRequestError),
    )
    trigger = "airflow_provider_sov.triggers.broker.SubmissionValidationTrigger"

    def ref_from_task(
        self, values: Mapping[str, Any], started: float, options: Mapping[str, Any]
    ) -> ValidationRef:
        return ValidationRef(
            check_int_id(values.get("submission_id"), "submission_id"),
            validation_types(options.get("file_types")),
        )

    def ref_from_json(self, data: Mapping[str, Any]) -> ValidationRef:
        return ValidationRef(
            check_int_id(data.get("submission_id"), "submission_id"), validation_types(data.get("file_types"))
        )

    def describe(self, ref: ValidationRef) -> str:
        types = f" ({', '.join(ref.file_types)})" if ref.file_types else ""
        return f"validations of submission {ref.submission_id}{types}"

    def read_status(self, hook: DataActBrokerHook, ref: ValidationRef) -> Mapping[str, Any]:
        body = hook.check_status(ref.submission_id)
        if validations_ended(body, ref):
            body = {**body, "_metadata": hook.submission_metadata(ref.submission_id)}
        return body

    async def aread_status(self, hook: DataActBrokerHook, ref: ValidationRef) -> Mapping[str, Any]:
        body = await hook.acheck_status(ref.submission_id)
        if validations_ended(body, ref):
            body = {**body, "_metadata": await hook.asubmission_metadata(ref.submission_id)}
        return body

    def classify(self, body: Mapping[str, Any], ref: ValidationRef) -> Reading:
        return classify_validation(body, ref)

    def pages(
        self, hook: DataActBrokerHook, ref: ValidationRef, known: Mapping[str, Any], ended: bool
    ) -> dict[str, str]:
        return hook.submission_pages(ref.submission_id)

    def outcome(
        self, reading: Reading | None, ref: ValidationRef, options: Mapping[str, Any], log: Any
    ) -> dict[str, Any]:
        return validation_outcome(reading, ref, options, log)


#: A submission's validations.
VALIDATION = ValidationKind()
