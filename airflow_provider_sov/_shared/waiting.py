"""
One way to wait, for every job kind of both APIs: deadlines, trigger events, timeout errors.

The deadline is an absolute wall-clock time computed once, when the wait starts, and carried in
the trigger's kwargs, so a triggerer restart neither extends nor resets it. Trigger events are
plain JSON with a ``status`` from :data:`EVENT_STATUSES`; anything else fails the task loudly.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from airflow_provider_sov import exceptions
from airflow_provider_sov.exceptions import SovError, SovTimeoutError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

#: The only trigger-event statuses a task accepts.
EVENT_STATUSES = frozenset({"terminal", "timeout", "error"})

#: Errors that no amount of polling will cure: a trigger gives up on them at once.
PERMANENT_ERRORS = (
    exceptions.SovInputError,
    exceptions.SovConnectionConfigError,
    exceptions.SovAuthError,
    exceptions.SovNotFoundError,
    exceptions.SovBadRequestError,
)


def as_seconds(value: timedelta | float | int | None, name: str) -> float | None:
    """Normalise a duration argument to seconds; refuse negatives."""
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise exceptions.SovInputError(f"{name} must not be negative, got {value!r}.")
    return seconds


def deadline_after(timeout: float) -> float:
    """The absolute wall-clock deadline of a wait that starts now."""
    return time.time() + timeout


def timeout_error(
    label: str, job_id: str, *, timeout: float, waited: float, last_status: str | None
) -> SovTimeoutError:
    """The error for a wait that reached its deadline: configured timeout and time waited."""
    return SovTimeoutError(
        f"Timed out waiting for {label} {job_id}: waited {waited:.0f}s, the timeout is {timeout:.0f}s; "
        f"last status {last_status or 'unknown'}.",
        job_id=job_id,
        hint="The job may still finish: raise `timeout`, or wait again for the same ID.",
    )


def error_event(job_id: str, error: BaseException) -> dict[str, Any]:
    """
    A trigger event for a failure, carrying the error's class and message (never a secret). The
    message names the job even when the failure was elsewhere (e.g. logging in).
    """
    message = str(error)
    if not all(part in message for part in str(job_id).split()):
        message = f"While waiting for {job_id}: {message}"
    return {
        "status": "error",
        "job_id": job_id,
        "error_class": type(error).__name__,
        "message": message,
        "http_status": getattr(error, "http_status", None),
    }


def check_event(event: Any, job_id: str, label: str) -> dict[str, Any]:
    """
    Accept a trigger event only if it is one this provider sends, for this job.

    A missing or unknown event fails the task with an error saying so; it never succeeds by accident.
    """
    if not isinstance(event, dict):
        raise SovError(
            f"Waiting for {label} {job_id} ended without a valid event (got {type(event).__name__}).",
            job_id=job_id,
            hint="Run the task again; it reattaches to the same job.",
        )
    status = event.get("status")
    if status not in EVENT_STATUSES:
        raise SovError(
            f"Waiting for {label} {job_id} ended with an unknown event status {status!r}.",
            job_id=job_id,
            hint="Run the task again; it reattaches to the same job.",
        )
    if str(event.get("job_id")) != str(job_id):
        raise SovError(
            f"Waiting for {label} {job_id} received an event for {event.get('job_id')!r}.",
            job_id=job_id,
        )
    if status == "error":
        cls = getattr(exceptions, str(event.get("error_class")), None)
        if not (isinstance(cls, type) and issubclass(cls, SovError)):
            cls = SovError
        raise cls(
            f"Waiting for {label} {job_id} failed: {event.get('message') or 'no message'}",
            job_id=job_id,
            http_status=event.get("http_status"),
        )
    if status == "timeout":
        raise timeout_error(
            label,
            job_id,
            timeout=float(event.get("timeout") or 0),
            waited=float(event.get("waited") or 0),
            last_status=event.get("last_status"),
        )
    return event


class Reading(Protocol):
    """One classified status reading of any job either API runs (SOV job, D-file generation)."""

    @property
    def status(self) -> str: ...

    @property
    def terminal(self) -> bool: ...

    @property
    def succeeded(self) -> bool: ...

    def progress_line(self) -> str: ...

    def to_event(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=Reading)


def poll_in_process(
    read: Callable[[], R],
    first: R,
    *,
    label: str,
    job_id: str,
    started: float,
    timeout: float,
    poll_interval: float,
    log: Any,
) -> R:
    """
    Poll ``read`` in the task's own process until terminal or the deadline (poke-style waits).

    ``first`` is the reading taken before deciding whether to defer; the deadline is ``started``
    plus ``timeout``, the same one a deferred wait would carry.
    """
    reading = first
    deadline = started + timeout
    while not reading.terminal:
        remaining = deadline - time.time()
        if remaining <= 0:
            raise timeout_error(
                label, job_id, timeout=timeout, waited=time.time() - started, last_status=reading.status
            )
        time.sleep(min(poll_interval, remaining))
        reading = read()
        log.info("%s", reading.progress_line())
    return reading


async def poll_for_event(
    aread: Callable[[], Awaitable[Reading]],
    *,
    job_id: str,
    deadline: float,
    poll_interval: float,
    wait_started: float,
    timeout: float,
    max_errors: int,
    label: str,
    log: Any,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """
    A trigger's whole wait: poll ``aread`` until terminal or ``deadline``; return the one event.

    Permanent errors (401, 404, bad input) end the wait at once; other failed polls are tolerated
    up to ``max_errors`` in a row. Sleeps never pass the deadline, so the last poll happens at it.
    ``extra`` is merged into every event (e.g. the job kind).
    """
    extra = extra or {}

    def timed_out(last: str | None) -> dict[str, Any]:
        return {
            "status": "timeout",
            "job_id": job_id,
            "last_status": last,
            "timeout": timeout,
            "waited": time.time() - wait_started,
            **extra,
        }

    if time.time() >= deadline:
        return timed_out(None)
    errors = 0
    last: str | None = None
    while True:
        try:
            reading = await aread()
        except PERMANENT_ERRORS as exc:
            return {**error_event(job_id, exc), **extra}
        except SovError as exc:
            errors += 1
            if errors >= max_errors:
                return {**error_event(job_id, exc), **extra}
            log.warning("%s %s: poll failed (%d/%d): %s", label, job_id, errors, max_errors, exc)
        else:
            errors = 0
            last = reading.status
            log.info("%s", reading.progress_line())
            if reading.terminal:
                return {
                    **reading.to_event(),
                    "status": "terminal",
                    "job_id": job_id,
                    "job_status": reading.status,
                    "succeeded": reading.succeeded,
                    **extra,
                }
            del reading  # keep nothing of the response across the sleep: less for the GC to carry
        remaining = deadline - time.time()
        if remaining <= 0:
            return timed_out(last)
        await asyncio.sleep(min(poll_interval, remaining))
