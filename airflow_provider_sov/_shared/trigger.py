"""
The one polling trigger: every job trigger of both APIs is a :class:`JobTrigger` with a spec.

It only reads, so running twice at once (as Airflow may) is harmless. Its kwargs are the job's ref
plus the wait's settings, all plain JSON; the deadline is the absolute time fixed when the wait
began. It yields exactly one event, then returns.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

# Imported with the module (in the triggerer's startup), never lazily on the event loop.
import aiohttp  # noqa: F401
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_sov._shared.http import RetryPolicy, transient
from airflow_provider_sov._shared.poller import ConnectionPoller
from airflow_provider_sov.exceptions import SovError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_sov._shared.jobs import JobSpec

#: Retries within one poll (transient HTTP failures), before the poll counts as failed.
TRIGGER_RETRY_POLICY = RetryPolicy(attempts=3, min_wait=1.0, max_wait=10.0)


def error_event(key: str, job_id: str | None, error: BaseException) -> dict[str, Any]:
    """
    Return a trigger event for a failure, carrying the error's class and message (never a secret). The
    message names the job even when the failure was elsewhere (e.g. logging in).
    """
    message = str(error)
    if not all(part in message for part in str(key).split()):
        message = f"While waiting for {key}: {message}"
    return {
        "status": "error",
        "key": key,
        "job_id": job_id,
        "error_class": type(error).__name__,
        "message": message,
        "http_status": getattr(error, "http_status", None),
    }


class JobTrigger(BaseTrigger):
    """
    Poll one job until it is final or its deadline passes; then send one event.

    Transient failures (the same ones the hook retries: 429, 5xx, resets, timeouts, garbled
    bodies) are retried by the hook within each poll, and up to ``max_errors`` failed polls in a
    row are tolerated before it gives up. Any other error (401, 404, 409, a 400, a TLS failure)
    ends the wait at once with that error. A subclass sets :attr:`spec`; its other kwargs are the
    spec's ref (e.g. ``job_id``) and its connection argument (e.g. ``sovfixer_conn_id``).

    :param deadline: Absolute UNIX time after which the wait times out; fixed when the wait began.
    :param poll_interval: Seconds between polls.
    :param timeout: The configured timeout in seconds, reported in a timeout event.
    :param wait_started: UNIX time the wait began, to report the time waited.
    :param max_errors: Failed polls in a row tolerated before giving up.
    """

    spec: ClassVar[JobSpec]
    retry_policy: ClassVar[RetryPolicy] = TRIGGER_RETRY_POLICY

    def __init__(
        self,
        *,
        deadline: float,
        poll_interval: float = 15.0,
        timeout: float | None = None,
        wait_started: float | None = None,
        max_errors: int = 5,
        **fields: Any,
    ) -> None:
        super().__init__()
        api = self.spec.api
        self.conn_id = str(fields.pop(api.conn_name_attr, None) or api.default_conn_name)
        self.ref = fields
        self.spec.status_call(self.ref)  # a bad ref fails here, not on the triggerer's first poll
        self.deadline = float(deadline)
        self.poll_interval = float(poll_interval)
        self.wait_started = float(wait_started if wait_started is not None else time.time())
        self.timeout = float(timeout if timeout is not None else self.deadline - self.wait_started)
        self.max_errors = int(max_errors)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return classpath and plain-JSON kwargs; the deadline travels as an absolute time."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self.ref,
                self.spec.api.conn_name_attr: self.conn_id,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "wait_started": self.wait_started,
                "max_errors": self.max_errors,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until final or past the deadline; yield exactly one event, then return."""
        event = await self.poll()
        yield TriggerEvent({**event, "kind": self.spec.kind, "ref": self.ref})

    async def poll(self) -> dict[str, Any]:
        """
        Return the whole wait: readings until final or the deadline; return the one event.

        The readings come from the connection's shared poll loop (:mod:`.poller`): one request per
        job however many waits watch it, within the connection's request budget.
        """
        spec, ref = self.spec, self.ref
        key, name = spec.key_of(ref), spec.name(ref)
        job_id: str | None = ref.get("job_id")
        last_status: str | None = None

        def timed_out() -> dict[str, Any]:
            return {
                "status": "timeout",
                "key": key,
                "job_id": job_id,
                "last_status": last_status,
                "timeout": self.timeout,
                "waited": time.time() - self.wait_started,
            }

        if time.time() >= self.deadline:
            return timed_out()
        errors = 0
        async with ConnectionPoller.watch(
            spec,
            ref,
            self.conn_id,
            interval=self.poll_interval,
            deadline=self.deadline,
            policy=self.retry_policy,
        ) as watch:
            while True:
                outcome = await watch.next()
                if isinstance(outcome, SovError):
                    errors += 1
                    if not transient(outcome) or errors >= self.max_errors:
                        return error_event(key, job_id, outcome)
                    self.log.warning("%s: poll failed (%d/%d): %s", name, errors, self.max_errors, outcome)
                else:
                    errors, last_status = 0, outcome.status
                    job_id = outcome.job_id or job_id
                    self.log.info("%s", outcome.progress_line(name))
                    if outcome.terminal:
                        return {
                            "status": "terminal",
                            "key": key,
                            "job_id": job_id,
                            "reading": outcome.to_json(),
                        }
                del outcome  # keep nothing of the response until the next reading: less for the GC to carry
                if time.time() >= self.deadline:
                    return timed_out()
