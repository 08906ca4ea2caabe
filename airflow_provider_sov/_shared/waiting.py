"""
One way to wait, for every job kind of both APIs: check once, then defer or poll; events back to readings.

The deadline is an absolute wall-clock time computed once, when the wait starts, and carried in
the trigger's kwargs, so a triggerer restart neither extends nor resets it. Trigger events are
plain JSON with a ``status`` from :data:`EVENT_STATUSES`; anything else fails the task loudly.
Every sensor (:class:`~.sensor.JobSensor`) and every operator that waits builds a :class:`JobWait`
when it runs and calls it, given a :class:`~airflow_provider_sov._shared.jobs.JobKind`: neither
knows which API it talks to. A task resumed after a deferral recovers its job and its deadline in
one place (:meth:`JobWait.resume`).
"""

from __future__ import annotations

import importlib
import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from airflow_provider_sov import exceptions
from airflow_provider_sov._shared.compat import conf
from airflow_provider_sov._shared.jobs import DEFERRAL_GRACE, Reading
from airflow_provider_sov._shared.outage import Outage, next_poll_in
from airflow_provider_sov._shared.task_state import OUTAGE, WAIT, StateStore, saved_ref
from airflow_provider_sov.exceptions import SovError, SovInputError, SovTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow.sdk import Context

    from airflow_provider_sov._shared.hook import ApiHook
    from airflow_provider_sov._shared.jobs import JobKind, JobRef
    from airflow_provider_sov._shared.trigger import JobTrigger

#: The only trigger-event statuses a task accepts.
EVENT_STATUSES = frozenset({"terminal", "timeout", "error"})


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` from the Airflow configuration."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def as_seconds(value: timedelta | float | int | None, name: str) -> float | None:
    """Normalise a duration argument to seconds; refuse negatives."""
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise SovInputError(f"{name} must not be negative, got {value!r}.")
    return seconds


def positive_seconds(value: timedelta | float | int, name: str) -> float:
    """Return a duration that must be more than zero seconds (a poll interval)."""
    seconds = as_seconds(value, name)
    if not seconds:
        raise SovInputError(f"{name} must be a positive number of seconds, got {value!r}.")
    return seconds


def poll_seconds(kind: JobKind[Any, Any], value: timedelta | float | None, log: Any) -> float:
    """Return a poll interval for ``kind`` (its default when None); below the API's floor it warns."""
    seconds = positive_seconds(kind.poll_interval if value is None else value, "poll_interval")
    if seconds < kind.min_poll_interval:
        log.warning(
            "poll_interval %.1fs is below the %gs the %s API asks clients to keep to.",
            seconds,
            kind.min_poll_interval,
            kind.api.name,
        )
    return seconds


def deadline_after(timeout: float) -> float:
    """Return the absolute wall-clock deadline of a wait that starts now."""
    return time.time() + timeout


def timeout_error(
    name: str, *, timeout: float, waited: float, last_status: str | None, job_id: str | None = None
) -> SovTimeoutError:
    """Return the error for a wait that reached its deadline: configured timeout and time waited."""
    return SovTimeoutError(
        f"Timed out waiting for {name}: waited {waited:.0f}s, the timeout is {timeout:.0f}s; "
        f"last status {last_status or 'unknown'}.",
        job_id=job_id or name,
        hint="The job may still finish: raise `timeout`, or wait again for the same ID.",
    )


def check_event(event: Any, key: str, name: str) -> Reading:
    """
    Accept a trigger event only if it is one this provider sends, for this job; return its reading.

    A missing or unknown event fails the task with an error saying so; it never succeeds by
    accident. An error or timeout event raises the typed error it carries.
    """
    if not isinstance(event, dict):
        raise SovError(
            f"Waiting for {name} ended without a valid event (got {type(event).__name__}).",
            job_id=key,
            hint="Run the task again; it reattaches to the same job.",
        )
    status = event.get("status")
    if status not in EVENT_STATUSES:
        raise SovError(
            f"Waiting for {name} ended with an unknown event status {status!r}.",
            job_id=key,
            hint="Run the task again; it reattaches to the same job.",
        )
    if str(event.get("key")) != str(key):
        raise SovError(f"Waiting for {name} received an event for {event.get('key')!r}.", job_id=key)
    if status == "error":
        cls = getattr(exceptions, str(event.get("error_class")), None)
        if not (isinstance(cls, type) and issubclass(cls, SovError)):
            cls = SovError
        raise cls(
            f"Waiting for {name} failed: {event.get('message') or 'no message'}",
            job_id=event.get("job_id") or key,
            http_status=event.get("http_status"),
        )
    if status == "timeout":
        raise timeout_error(
            name,
            timeout=float(event.get("timeout") or 0),
            waited=float(event.get("waited") or 0),
            last_status=event.get("last_status"),
            job_id=event.get("job_id"),
        )
    reading = event.get("reading")
    if not isinstance(reading, dict) or not reading.get("terminal"):
        raise SovError(
            f"Waiting for {name} ended with a final event that carries no final reading.",
            job_id=key,
            hint="Run the task again; it reattaches to the same job.",
        )
    return Reading.from_json(reading)


def poll_in_process(
    read: Callable[[], Reading | None],
    first: Reading | None,
    *,
    name: str,
    started: float,
    timeout: float,
    poll_interval: float,
    deadline: float,
    failures: Callable[[], int] = lambda: 0,
) -> Reading:
    """
    Poll ``read`` in the task's own process until terminal or ``deadline`` (poke-style waits).

    ``first`` is the reading taken before deciding whether to defer (None: that read failed and the
    outage is being ridden out); ``read`` returns None for a failed poll it rides out, and
    ``failures`` says how many failed in a row (the next poll backs off). ``deadline`` is the one a
    deferred wait would carry (``started`` plus ``timeout`` when the wait began); the last reading is
    taken at it.
    """
    last = first  # the latest good reading (a failed poll keeps it)
    while last is None or not last.terminal:
        remaining = deadline - time.time()
        if remaining <= 0:
            raise timeout_error(
                name,
                timeout=timeout,
                waited=time.time() - started,
                last_status=None if last is None else last.status,
                job_id=None if last is None else last.job_id or None,
            )
        time.sleep(min(next_poll_in(poll_interval, failures()), remaining))
        last = read() or last
    return last


def pop_conn_id(kind: JobKind[Any, Any], kwargs: dict[str, Any]) -> str:
    """Take a task's connection argument (named by the kind's API) out of ``kwargs``; default it."""
    return str(kwargs.pop(kind.api.conn_name_attr, None) or kind.api.default_conn_name)


def trigger_class(kind: JobKind[Any, Any]) -> type[JobTrigger]:
    """Return the trigger class that polls ``kind``: the one its ``trigger`` names (imported now)."""
    if kind.trigger is None:
        raise LookupError(f"job kind {kind.name!r} is never waited on in the triggerer")
    module, _, name = kind.trigger.rpartition(".")
    found: type[JobTrigger] = getattr(importlib.import_module(module), name)
    return found


def read_job(task: Waiter, kind: JobKind[Any, Any], ref: JobRef) -> Reading:
    """Read the job's status once on the task's hook, logging one progress line."""
    reading = kind.read(task.hook, ref)
    task.log.info("%s", reading.progress_line(kind.describe(ref)))
    return reading


class Waiter(Protocol):
    """What a task that waits gives the wait: its settings (seconds), its hook, its log, its deferral."""

    task_id: str
    deferrable: bool
    timeout: float
    poll_interval: float
    outage_tolerance: float | None
    end_from_trigger: bool
    do_xcom_push: bool

    @property
    def log(self) -> Any: ...

    @property
    def hook(self) -> ApiHook: ...

    @property
    def reschedules(self) -> bool:
        """Whether a wait on the worker ends the try between reads (an operator's ``mode="reschedule"``)."""

    @property
    def keeps_outage(self) -> bool:
        """Whether each read runs in a new run of the task (any ``mode="reschedule"``)."""

    def options(self) -> dict[str, Any]: ...

    def task_ref(self, context: Context) -> JobRef | None: ...

    def defer(self, *, trigger: Any, method_name: str, timeout: timedelta | None = None) -> NoReturn: ...


class JobWait:
    """
    One wait of a task on one job of a kind, built when the task runs and called: read once, fix the
    deadline, then defer, reschedule or poll; or, resumed, recover the job and its final reading.

    Deferring checks once first (a finished job never defers) and hands the kind's trigger an
    absolute deadline, fixed once and kept in the task's state; a wait on the worker polls until the
    same deadline. Both end in a final :class:`Reading`, which the kind turns into the result, so
    they cannot disagree. What the wait keeps while it runs (the outage it rides out) is kept here.

    :param task: The task that waits (its settings, hook and log; :class:`Waiter`).
    :param kind: The kind of job it waits on.
    :param context: The task's context (None outside a task run): where the deadline is kept.
    """

    def __init__(self, task: Waiter, kind: JobKind[Any, Any], context: Context | None) -> None:
        self.task, self.kind, self.context = task, kind, context
        # A task that reschedules keeps its outage in its state between runs; others in memory.
        self.store = StateStore(context, task.log) if context is not None else None
        self.outage_store = self.store if task.keeps_outage else None

    @cached_property
    def outage(self) -> Outage:
        """The outage this wait rides out: the task's tolerance, else its connection's; a task that
        reschedules reads back the one its last run kept."""
        tolerance = self.task.outage_tolerance
        if tolerance is None:
            tolerance = self.task.hook.settings.outage_tolerance
        saved = self.outage_store.get(OUTAGE) if self.outage_store is not None else None
        return Outage.from_json(tolerance, saved)

    def read_riding_out(self, ref: JobRef) -> Reading | None:
        """
        Read the job's status once; None when the read failed but the wait rides it out (a transient
        failure within the outage tolerance, logged once). Any other failure, or one that has lasted
        past the tolerance, raises.
        """
        outage, name, store, log = self.outage, self.kind.describe(ref), self.outage_store, self.task.log
        try:
            reading = read_job(self.task, self.kind, ref)
        except SovError as exc:
            if not outage.rides_out(exc):
                if store is not None:
                    store.delete(OUTAGE)
                raise outage.gave_up(name, exc) from None
            log.warning("%s", outage.describe(name, exc, self.task.poll_interval))
            if store is not None:
                store.set(OUTAGE, outage.to_json())
            return None
        if outage.since is not None:
            log.info("%s: the API answers again after %.0fs.", name, outage.failing_for())
            outage.ok()
            if store is not None:
                store.delete(OUTAGE)
        return reading

    def until_final(
        self,
        ref: JobRef,
        first: Reading | None = None,
        *,
        deadline: tuple[float, float] | None = None,
        method_name: str = "execute_complete",
    ) -> Reading:
        """
        Wait for the job to be final; defer when the task is ``deferrable`` (this call then does not return).

        :param first: A reading taken just now (e.g. the answer that created the job); without it
            the status is read once before deciding whether to wait at all.
        :param deadline: ``(deadline, wait_started)`` of a wait that began earlier (resumed); default now.
        """
        task, kind = self.task, self.kind
        started = time.time()
        reading = first if first is not None else self.read_riding_out(ref)
        if reading is not None and reading.terminal:
            return reading
        until, wait_started = deadline or (deadline_after(task.timeout), started)
        if self.store is not None and deadline is None:
            until, wait_started = self._keep_deadline(ref, until, wait_started)
        if task.deferrable and until > time.time():  # past its deadline, it times out here and now
            self.defer(ref, deadline=until, wait_started=wait_started, method_name=method_name)
        if task.reschedules and self.context is not None and until > time.time():
            self.reschedule(ref, reading, until)
        return poll_in_process(
            lambda: self.read_riding_out(ref),
            reading,
            name=kind.describe(ref),
            started=wait_started,
            timeout=task.timeout,
            poll_interval=task.poll_interval,
            deadline=until,
            failures=lambda: self.outage.failures,
        )

    def _keep_deadline(self, ref: JobRef, until: float, wait_started: float) -> tuple[float, float]:
        """
        Save the wait's deadline in the task's state; a rescheduled run of the same try keeps the
        one its wait began with (a new try, a retry, begins a new wait).
        """
        assert self.store is not None and self.context is not None
        attempt = getattr(self.context.get("ti"), "try_number", None)
        kept = self.store.get(WAIT)
        if (
            self.task.reschedules
            and isinstance(kept, dict)
            and kept.get("key") == ref.key
            and kept.get("try") == attempt
            and "deadline" in kept
        ):
            return float(kept["deadline"]), float(kept.get("wait_started") or wait_started)
        wait = {"key": ref.key, "ref": ref.to_json(), "deadline": until, "wait_started": wait_started}
        self.store.set(WAIT, {**wait, "try": attempt} if attempt is not None else wait)
        return until, wait_started

    def reschedule(self, ref: JobRef, reading: Reading | None, until: float) -> NoReturn:
        """
        End this run of the task until the next read is due (never past the wait's deadline; later
        while the API fails: the outage's backoff).
        """
        from datetime import UTC, datetime

        from airflow_provider_sov._shared.compat import AirflowRescheduleException

        wake = min(time.time() + next_poll_in(self.task.poll_interval, self.outage.failures), until)
        self.task.log.info(
            "%s is %s; rescheduling the task to read it again in %.0fs.",
            self.kind.describe(ref),
            "unknown while the API fails" if reading is None else reading.status,
            max(0.0, wake - time.time()),
        )
        raise AirflowRescheduleException(reschedule_date=datetime.fromtimestamp(wake, UTC))

    def defer(self, ref: JobRef, *, deadline: float, wait_started: float, method_name: str) -> NoReturn:
        """Hand the wait to the kind's trigger with its absolute deadline."""
        trigger = trigger_class(self.kind)(
            **ref.to_json(), **wait_kwargs(self.task, self.kind), deadline=deadline, wait_started=wait_started
        )
        self.task.log.info(
            "Deferring the wait for %s (timeout %.0fs).", self.kind.describe(ref), self.task.timeout
        )
        self.task.defer(
            trigger=trigger,
            method_name=method_name,
            timeout=timedelta(seconds=max(0.0, deadline - time.time()) + DEFERRAL_GRACE),
        )

    def resume(self, event: Any) -> tuple[JobRef, Reading]:
        """
        Return the job a task resumed after its trigger waits on, and its final reading: the one way
        every ``execute_complete`` recovers them.

        The job is the one in the task's state (the job it started, else the wait it began), else the
        event's ``ref``, else the one its own arguments name. A known event gives the reading (an
        unknown or missing-status event fails loudly). Airflow can resume a deferred task without its
        trigger's event: then the status is read once, and a job still running is waited on again
        until the deadline the wait began with, never a new one.
        """
        kind, store, context = self.kind, self.store, self.context
        assert store is not None and context is not None
        kept = store.get(WAIT)
        wait = kept if isinstance(kept, dict) else {}
        ref = saved_ref(kind, store)
        if ref is None and isinstance(wait.get("ref"), dict):
            ref = kind.ref_from_json(wait["ref"])
        if ref is None and isinstance(event, dict) and isinstance(event.get("ref"), dict):
            ref = kind.ref_from_json(event["ref"])
        if ref is None:
            ref = self.task.task_ref(context)
        if ref is None:
            raise SovError(
                f"Task {self.task.task_id!r} resumed without knowing its {kind.label}: neither the task "
                "state store nor the trigger event names it.",
                hint="Run the task again.",
            )
        if event is not None:
            return ref, check_event(event, ref.key, kind.describe(ref))
        return ref, self._reread(ref, wait if wait.get("key") == ref.key else {})

    def _reread(self, ref: JobRef, wait: Mapping[str, Any]) -> Reading:
        """Resumed with no event: read the status once; wait on a running job until the same deadline."""
        name = self.kind.describe(ref)
        self.task.log.warning("Resumed without the trigger's event; reading the status of %s once.", name)
        try:
            reading = read_job(self.task, self.kind, ref)
        except SovError as exc:
            raise type(exc)(
                f"The task resumed without hearing how the wait for {name} ended, and could not read its "
                f"status: {exc.message}",
                action=exc.action,
                job_id=exc.job_id or ref.key,
                http_status=exc.http_status,
                server_message=exc.server_message,
                hint="Clear the task to run it again: it reattaches to the same job.",
            ) from None
        if reading.terminal:
            return reading
        if "deadline" in wait:
            deadline = (float(wait["deadline"]), float(wait.get("wait_started") or time.time()))
            self.task.log.info("Waiting again for %s until the wait's own deadline.", name)
        else:
            deadline = None
            self.task.log.warning(
                "The deadline of the wait for %s was not kept; its timeout starts again.", name
            )
        return self.until_final(ref, reading, deadline=deadline)


def wait_kwargs(task: Waiter, kind: JobKind[Any, Any]) -> dict[str, Any]:
    """
    Return the trigger kwargs that carry a task's wait settings: the connection, the poll interval and
    timeout, its options (when it has any) and, with ``end_from_trigger``, what lets the trigger end a
    successful wait itself.
    """
    conn_attr = kind.api.conn_name_attr
    kwargs: dict[str, Any] = {
        conn_attr: getattr(task, conn_attr),
        "poll_interval": task.poll_interval,
        "timeout": task.timeout,
    }
    if task.outage_tolerance is not None:
        kwargs["outage_tolerance"] = task.outage_tolerance
    if options := task.options():
        kwargs["options"] = options
    if task.end_from_trigger:
        kwargs.update(end_from_trigger=True, xcom_push=bool(task.do_xcom_push))
    return kwargs
