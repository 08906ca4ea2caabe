"""The trigger that polls a DATA Act Broker file generation for deferrable waits; it only reads."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

# Imported with the module (in the triggerer's startup), never lazily on the event loop.
import aiohttp  # noqa: F401
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_sov._shared.http import RetryPolicy
from airflow_provider_sov._shared.waiting import poll_for_event
from airflow_provider_sov.hooks.broker import (
    DEFAULT_INVALID_GRACE,
    DataActBrokerHook,
    GenerationStatus,
    GenerationTarget,
    classify_generation,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class DFileGenerationTrigger(BaseTrigger):
    """
    Poll one file generation until ``finished``, ``failed`` or a final ``invalid``; send one event.

    ``waiting`` keeps it polling (the Broker never times a generation out: the deadline here is
    the only one). ``invalid`` is final only ``invalid_grace`` seconds after ``requested_at``. It
    only reads, so running twice at once (as Airflow may) is harmless; a 401 is cured by a new
    session where the connection's mode allows it.

    :param submission_id: The submission, with ``file_type``; or
    :param job_id: the detached generation's job ID.
    :param file_type: The file type (required with ``submission_id``).
    :param deadline: Absolute UNIX time after which the wait times out; fixed when the wait began.
    :param data_act_broker_conn_id: The Airflow connection.
    :param poll_interval: Seconds between polls (the Broker asks for 10 or more).
    :param timeout: The configured timeout, reported in a timeout event.
    :param wait_started: UNIX time the wait began.
    :param requested_at: UNIX time the generation was requested, if this task requested it.
    :param invalid_grace: Seconds after ``requested_at`` during which ``invalid`` is not final.
    :param max_errors: Failed polls in a row tolerated before giving up.
    """

    retry_policy: ClassVar[RetryPolicy] = RetryPolicy(attempts=3, min_wait=1.0, max_wait=10.0)

    def __init__(
        self,
        *,
        deadline: float,
        submission_id: int | None = None,
        file_type: str = "",
        job_id: int | None = None,
        data_act_broker_conn_id: str = DataActBrokerHook.default_conn_name,
        poll_interval: float = 30.0,
        timeout: float | None = None,
        wait_started: float | None = None,
        requested_at: float | None = None,
        invalid_grace: float = DEFAULT_INVALID_GRACE,
        max_errors: int = 5,
    ) -> None:
        super().__init__()
        self.target = GenerationTarget.of(submission_id, file_type, job_id)
        self.deadline = float(deadline)
        self.data_act_broker_conn_id = data_act_broker_conn_id
        self.poll_interval = float(poll_interval)
        self.wait_started = float(wait_started if wait_started is not None else time.time())
        self.timeout = float(timeout if timeout is not None else self.deadline - self.wait_started)
        self.requested_at = None if requested_at is None else float(requested_at)
        self.invalid_grace = float(invalid_grace)
        self.max_errors = int(max_errors)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and plain-JSON kwargs; the deadline travels as an absolute time."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self.target.to_kwargs(),
                "deadline": self.deadline,
                "data_act_broker_conn_id": self.data_act_broker_conn_id,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "wait_started": self.wait_started,
                "requested_at": self.requested_at,
                "invalid_grace": self.invalid_grace,
                "max_errors": self.max_errors,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until final or past the deadline; yield exactly one event, then return."""
        hook = DataActBrokerHook(self.data_act_broker_conn_id, retry_policy=self.retry_policy)

        async def read() -> GenerationStatus:
            body = await hook.aread_status(self.target)
            return classify_generation(
                body, self.target, requested_at=self.requested_at, grace=self.invalid_grace
            )

        try:
            event = await poll_for_event(
                read,
                job_id=self.target.key,
                deadline=self.deadline,
                poll_interval=self.poll_interval,
                wait_started=self.wait_started,
                timeout=self.timeout,
                max_errors=self.max_errors,
                label="D-file generation",
                log=self.log,
            )
        finally:
            await hook.aclose()
        yield TriggerEvent(event)
