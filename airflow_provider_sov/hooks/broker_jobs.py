"""
The DATA Act Broker's file generation as a spec of the one job model.

A generation is named by its target (a file type within a submission, or a detached job) plus,
when this task requested it, ``requested_at`` and ``invalid_grace``: the Broker reports ``invalid``
for a moment after a request, before the job is picked up, so ``invalid`` is final only once the
grace has passed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.jobs import Api, JobSpec, Reading
from airflow_provider_sov.exceptions import SovJobFailedError
from airflow_provider_sov.hooks.broker_rules import GenerationTarget, status_call

if TYPE_CHECKING:
    from collections.abc import Mapping

#: The Broker as tasks name it; :class:`~airflow_provider_sov.hooks.broker.DataActBrokerHook` takes
#: its names from here.
DATA_ACT_BROKER = Api(
    name="DATA Act Broker",
    hook="airflow_provider_sov.hooks.broker.DataActBrokerHook",
    conn_name_attr="data_act_broker_conn_id",
    default_conn_name="data_act_broker_default",
)

#: Seconds between polls unless told otherwise (the Broker asks for 10 or more).
DEFAULT_POLL_INTERVAL = 30.0
#: Default wait. Nothing on the Broker ever times a generation out, so this is the only deadline:
#: six hours covers the largest agencies' D files with room to spare, and still ends.
DEFAULT_TIMEOUT = 6 * 60 * 60.0
#: Status values the Broker documents; anything else is logged and waited on.
GENERATION_STATUSES = ("waiting", "finished", "failed", "invalid")
#: Seconds after a generation is requested during which ``invalid`` means "not picked up yet".
DEFAULT_INVALID_GRACE = 120.0
#: The Broker's words for a detached job ID it does not know (with status ``invalid``): final at once.
NO_SUCH_JOB = "No generation job found with the specified ID"


def target_of(ref: Mapping[str, Any]) -> GenerationTarget:
    """Return the generation a ref names (checked)."""
    return GenerationTarget.of(ref.get("submission_id"), ref.get("file_type"), ref.get("job_id"))


def generation_ref(
    target: GenerationTarget, requested_at: float | None = None, invalid_grace: float = DEFAULT_INVALID_GRACE
) -> dict[str, Any]:
    """Return the ref of a wait on ``target``; ``requested_at`` when this task requested it (or began waiting)."""
    return {**target.to_kwargs(), "requested_at": requested_at, "invalid_grace": invalid_grace}


def classify(body: Mapping[str, Any], ref: Mapping[str, Any]) -> Reading:
    """
    Read a status body. ``invalid`` is final only ``invalid_grace`` seconds after ``requested_at``;
    without ``requested_at`` (nothing was requested by this task) it is final at once. The signed
    ``url`` is kept out of the result (it is a credential) and only carried in-process.
    """
    target = target_of(ref)
    status = str(body.get("status") or "unknown").strip().lower()
    message = str(body.get("message") or "") or None
    note = ""
    terminal = status in ("finished", "failed")
    if status == "invalid" and message == NO_SUCH_JOB:
        terminal = True  # no grace: no job will ever appear under that ID
    elif status == "invalid":
        requested_at = ref.get("requested_at")
        grace = float(ref.get("invalid_grace", DEFAULT_INVALID_GRACE) or 0)
        since = None if requested_at is None else time.time() - float(requested_at)
        terminal = since is None or since >= grace
        if not terminal:
            note = f"(requested {since:.0f}s ago; not picked up yet, still waiting)"
    elif status not in GENERATION_STATUSES:
        note = "(unrecognised status; still waiting)"
    job_id = body.get("job_id") or target.job_id
    return Reading(
        job_id="" if job_id is None else str(job_id),
        status=status,
        terminal=terminal,
        succeeded=status == "finished",
        message=message,
        detail=" ".join(p for p in (f"- {message}" if message else "", note) if p),
        extras={
            "submission_id": target.submission_id,
            "file_type": body.get("file_type") or target.file_type or None,
            "start": body.get("start"),
            "end": body.get("end"),
            "generated_at": body.get("generated_at"),
        },
        private={"url": body.get("url")},
    )


def outcome(reading: Reading | None, ref: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the extras of a generation's result, or :class:`SovJobFailedError` saying what to do."""
    target = target_of(ref)
    if reading is None:
        return {
            "submission_id": target.submission_id,
            "file_type": target.file_type or None,
            "start": None,
            "end": None,
            "generated_at": None,
        }
    if not reading.terminal or reading.succeeded:
        return dict(reading.extras)
    if reading.status == "invalid" and reading.message == NO_SUCH_JOB:
        raise SovJobFailedError(
            f"The Broker has no generation job {target.job_id}: {NO_SUCH_JOB}.",
            result_status="invalid",
            job_id=target.key,
            server_message=reading.message,
            hint=(
                "Check the job_id: it is the one generate_detached_file (or DFileGenerateOperator's XCom "
                "'job_id') returned, on this same Broker."
            ),
        )
    if reading.status == "invalid":
        raise SovJobFailedError(
            f"No generation was requested for the {target.label}: the Broker reports it 'invalid'.",
            result_status="invalid",
            job_id=target.key,
            hint=(
                "Start one with DFileGenerateOperator (or DataActBrokerHook.generate_file) before "
                "waiting. If one was just requested and your Broker is slow to pick it up, raise "
                "invalid_grace."
            ),
        )
    raise SovJobFailedError(
        f"Generating the {target.label} failed: {reading.message or 'the Broker gave no reason'}.",
        result_status=reading.status,
        job_id=target.key,
        server_message=reading.message,
        hint=(
            "Check the submission in the Broker, then request the file again (a retry of "
            "DFileGenerateOperator requests a failed generation anew)."
        ),
    )


#: A file generation (D1, D2, E, F within a submission; D1, D2, A, BOC detached).
GENERATION = JobSpec(
    kind="generation",
    label="D-file generation",
    api=DATA_ACT_BROKER,
    trigger="airflow_provider_sov.triggers.broker.DFileGenerationTrigger",
    status_call=lambda ref: status_call(target_of(ref)),
    classify=classify,
    outcome=outcome,
    name=lambda ref: target_of(ref).label,
    task_fields=("submission_id", "file_type", "job_id"),
    task_ref=lambda values, started, options: generation_ref(
        target_of(values), started, options.get("invalid_grace", DEFAULT_INVALID_GRACE)
    ),
    key=lambda ref: target_of(ref).key,
    poll_interval=DEFAULT_POLL_INTERVAL,
    timeout=DEFAULT_TIMEOUT,
    min_poll_interval=10.0,  # the Broker asks clients to poll no more often
)
