"""Triggers that poll SOV Fixer jobs for deferrable waits; they poll and report, nothing else."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, ClassVar

# Imported with the module (in the triggerer's startup), never lazily on the event loop.
import aiohttp  # noqa: F401
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_sov._shared.http import RetryPolicy
from airflow_provider_sov._shared.waiting import PERMANENT_ERRORS, error_event
from airflow_provider_sov.exceptions import SovError
from airflow_provider_sov.hooks.sov import JOB_KINDS, SovHook

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class SovJobTrigger(BaseTrigger):
    """
    Poll one SOV Fixer job until it is terminal or its deadline passes; then send one event.

    Safe to run twice at once (Airflow may): it only reads. Transient failures are retried by the
    hook within each poll, and up to ``max_errors`` failed polls in a row are tolerated before it
    gives up; errors no poll can cure (401, 404, bad input) end the wait at once.

    :param job_id: The ID to poll (SUD ID, SOV ID or output request ID, by kind).
    :param deadline: Absolute UNIX time after which the wait times out; fixed when the wait began.
    :param sovfixer_conn_id: The Airflow connection.
    :param poll_interval: Seconds between polls.
    :param timeout: The configured timeout in seconds, reported in a timeout event.
    :param wait_started: UNIX time the wait began, to report the time waited.
    :param max_errors: Failed polls in a row tolerated before giving up.
    """

    kind: ClassVar[str] = ""
    #: Retries within one poll (transient HTTP failures), before the poll counts as failed.
    retry_policy: ClassVar[RetryPolicy] = RetryPolicy(attempts=3, min_wait=1.0, max_wait=10.0)

    def __init__(
        self,
        job_id: str,
        *,
        deadline: float,
        sovfixer_conn_id: str = SovHook.default_conn_name,
        poll_interval: float = 15.0,
        timeout: float | None = None,
        wait_started: float | None = None,
        max_errors: int = 5,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.deadline = float(deadline)
        self.sovfixer_conn_id = sovfixer_conn_id
        self.poll_interval = float(poll_interval)
        self.wait_started = float(wait_started if wait_started is not None else time.time())
        self.timeout = float(timeout if timeout is not None else self.deadline - self.wait_started)
        self.max_errors = int(max_errors)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and plain-JSON kwargs; the deadline travels as an absolute time."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "deadline": self.deadline,
                "sovfixer_conn_id": self.sovfixer_conn_id,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "wait_started": self.wait_started,
                "max_errors": self.max_errors,
            },
        )

    def _timeout_event(self, last_status: str | None) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": "timeout",
                "job_id": self.job_id,
                "kind": self.kind,
                "last_status": last_status,
                "timeout": self.timeout,
                "waited": time.time() - self.wait_started,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until terminal or past the deadline; yield exactly one event, then return."""
        kind = JOB_KINDS[self.kind]
        if time.time() >= self.deadline:
            yield self._timeout_event(None)
            return
        hook = SovHook(self.sovfixer_conn_id, retry_policy=self.retry_policy)
        errors = 0
        last: str | None = None
        try:
            while True:
                try:
                    status = await kind.astatus(hook, self.job_id)
                except PERMANENT_ERRORS as exc:
                    yield TriggerEvent(error_event(self.job_id, exc))
                    return
                except SovError as exc:
                    errors += 1
                    if errors >= self.max_errors:
                        yield TriggerEvent(error_event(self.job_id, exc))
                        return
                    self.log.warning(
                        "%s %s: poll failed (%d/%d): %s",
                        kind.label,
                        self.job_id,
                        errors,
                        self.max_errors,
                        exc,
                    )
                else:
                    errors = 0
                    last = status.status
                    self.log.info("%s", status.progress_line())
                    if status.terminal:
                        yield TriggerEvent(
                            {
                                **status.to_event(),
                                "status": "terminal",
                                "kind": self.kind,
                                "job_status": status.status,
                                "succeeded": status.succeeded,
                            }
                        )
                        return
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    yield self._timeout_event(last)
                    return
                # Sleep to the deadline at most, so the last poll happens right at it.
                await asyncio.sleep(min(self.poll_interval, remaining))
        finally:
            await hook.aclose()


class SovUpdateTrigger(SovJobTrigger):
    """Poll an SOV update (SUD) until it is ``COMPLETE`` or ``FAILED``."""

    kind = "update"


class SovParseTrigger(SovJobTrigger):
    """Poll a new SOV's parse job until it is ``COMPLETE`` or ``FAILED``."""

    kind = "parse"


class SovOutputTrigger(SovJobTrigger):
    """Poll an output request (``get_or_create_output``) until it is ``COMPLETE`` or ``FAILED``."""

    kind = "output"


#: The trigger for each job kind.
TRIGGERS: dict[str, type[SovJobTrigger]] = {
    "update": SovUpdateTrigger,
    "parse": SovParseTrigger,
    "output": SovOutputTrigger,
}
