"""
The Broker's file generation as a job kind: named by its target, plus ``requested_at`` and
``invalid_grace`` when this task requested it (the Broker says ``invalid`` until the job is picked
up, so ``invalid`` is final only after the grace).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.jobs import Api, JobKind, JobRef, Reading, RefT
from airflow_provider_sov.exceptions import SovJobFailedError
from airflow_provider_sov.hooks import broker_rules
from airflow_provider_sov.hooks.broker_rules import GenerationTarget

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_sov.hooks.broker import DataActBrokerHook


DATA_ACT_BROKER: Api[DataActBrokerHook] = Api(
    broker_rules.API_NAME,
    broker_rules.CONN_NAME_ATTR,
    broker_rules.DEFAULT_CONN_NAME,
    hook="airflow_provider_sov.hooks.broker.DataActBrokerHook",
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


@dataclass(frozen=True)
class GenerationRef(JobRef):
    """One generation to wait on; ``requested_at`` None: not requested by this task (``invalid`` is final)."""

    target: GenerationTarget
    requested_at: float | None = None
    invalid_grace: float = DEFAULT_INVALID_GRACE

    @property
    def key(self) -> str:
        return self.target.key

    @property
    def job_id(self) -> str | None:
        return None if self.target.job_id is None else str(self.target.job_id)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.target.to_kwargs(),
            "requested_at": self.requested_at,
            "invalid_grace": self.invalid_grace,
        }


def classify(body: Mapping[str, Any], ref: GenerationRef) -> Reading:
    """Read a status body; the signed ``url`` (a credential) is carried in-process only."""
    target = ref.target
    status = str(body.get("status") or "unknown").strip().lower()
    message = str(body.get("message") or "") or None
    note = ""
    terminal = status in ("finished", "failed")
    if status == "invalid" and message == NO_SUCH_JOB:
        terminal = True  # no grace: no job will ever appear under that ID
    elif status == "invalid":
        since = None if ref.requested_at is None else time.time() - ref.requested_at
        terminal = since is None or since >= ref.invalid_grace
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


def outcome(reading: Reading | None, ref: GenerationRef) -> dict[str, Any]:
    """Return the extras of a generation's result, or :class:`SovJobFailedError` saying what to do."""
    target = ref.target
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


class BrokerJobKind(JobKind[RefT, "DataActBrokerHook"]):
    """What every kind of Broker job shares: its API, and how often and how long it is polled."""

    api = DATA_ACT_BROKER
    poll_interval = DEFAULT_POLL_INTERVAL
    timeout = DEFAULT_TIMEOUT
    min_poll_interval = 10.0  # the Broker asks clients to poll no more often


class GenerationKind(BrokerJobKind[GenerationRef]):
    """A file generation (D1, D2, E, F within a submission; D1, D2, A, BOC detached)."""

    name = "generation"
    label = "D-file generation"
    task_fields = ("submission_id", "file_type", "job_id")
    trigger = "airflow_provider_sov.triggers.broker.DFileGenerationTrigger"

    def ref_from_task(
        self, values: Mapping[str, Any], started: float, options: Mapping[str, Any]
    ) -> GenerationRef:
        target = GenerationTarget.of(
            values.get("submission_id"), values.get("file_type"), values.get("job_id")
        )
        grace = options.get("invalid_grace", DEFAULT_INVALID_GRACE)
        return GenerationRef(target, started, float(grace))

    def ref_from_json(self, data: Mapping[str, Any]) -> GenerationRef:
        target = GenerationTarget.of(data.get("submission_id"), data.get("file_type"), data.get("job_id"))
        requested_at, grace = data.get("requested_at"), data.get("invalid_grace")
        return GenerationRef(
            target,
            None if requested_at is None else float(requested_at),
            DEFAULT_INVALID_GRACE if grace is None else float(grace),
        )

    def describe(self, ref: GenerationRef) -> str:
        return ref.target.label

    def read_status(self, hook: DataActBrokerHook, ref: GenerationRef) -> Mapping[str, Any]:
        return hook.read_status(ref.target)

    async def aread_status(self, hook: DataActBrokerHook, ref: GenerationRef) -> Mapping[str, Any]:
        return await hook.aread_status(ref.target)

    def classify(self, body: Mapping[str, Any], ref: GenerationRef) -> Reading:
        return classify(body, ref)

    def pages(
        self, hook: DataActBrokerHook, ref: GenerationRef, known: Mapping[str, Any], ended: bool
    ) -> dict[str, str]:
        submission_id = ref.target.submission_id
        return {} if submission_id is None else hook.submission_pages(submission_id)

    def outcome(
        self, reading: Reading | None, ref: GenerationRef, options: Mapping[str, Any], log: Any
    ) -> dict[str, Any]:
        return outcome(reading, ref)


#: A file generation (D1, D2, E, F within a submission; D1, D2, A, BOC detached).
GENERATION = GenerationKind()
