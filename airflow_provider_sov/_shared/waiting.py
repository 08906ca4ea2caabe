"""
One way to wait on any job kind: read once, then defer, reschedule or poll until one absolute
deadline (fixed when the wait starts, carried in the trigger's kwargs: a restart never extends it);
resumed, turn the trigger's event back into a reading. Sensors and operators build a
:class:`JobWait` when they run and call it.
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
    from collections.abc import Mapping

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


def poll_seconds(kind: JobKind[Any, Any], value: timedelta | float | None, log: Any) -> float:
    """Return a poll interval for ``kind`` (its default when None); below the API's floor it warns."""
    given = kind.poll_interval if value is None else value
    seconds = as_seconds(given, "poll_interval")
    if not seconds:
        raise SovInputError(f"poll_interval must be a positive number of seconds, got {given!r}.")
    if seconds < kind.min_poll_interval:
        log.warning(
            "poll_interval %.1fs is below the %gs the %s API asks clients to keep to.",
            seconds,
            kind.min_poll_interval,
            kind.api.name,
        )
    return seconds


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
    Return the final reading of an event this provider sends for this job. Anything else fails the
    task saying so (never succeeds by accident); an error or timeout event raises what it carries.
    """
    status = event.get("status") if isinstance(event, dict) else None
    reading = event.get("reading") if isinstance(event, dict) else None
    if not isinstance(event, dict):
        problem = f"ended without a valid event (got {type(event).__name__})"
    elif status not in EVENT_STATUSES:
        problem = f"ended with an unknown event status {status!r}"
    elif str(event.get("key")) != str(key):
        raise SovError(f"Waiting for {name} received an event for {event.get('key')!r}.", job_id=key)
    elif status == "error":
        cls = getattr(exceptions, str(event.get("error_class")), None)
        cls = cls if isinstance(cls, type) and issubclass(cls, SovError) else SovError
        raise cls(
            f"Waiting for {name} failed: {event.get('message') or 'no message'}",
            job_id=event.get("job_id") or key,
            http_status=event.get("http_status"),
        )
    elif status == "timeout":
        raise timeout_error(
            name,
            timeout=float(event.get("timeout") or 0),
            waited=float(event.get("waited") or 0),
            last_status=event.get("last_status"),
            job_id=event.get("job_id"),
        )
    elif isinstance(reading, dict) and reading.get("terminal"):
        return Reading.from_json(reading)
    else:
        problem = "ended with a final event that carries no final reading"
    raise SovError(
        f"Waiting for {name} {problem}.",
        job_id=key,
        hint="Run the task again; it reattaches to the same job.",
    )


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
    """What a task that waits gives the wait: its settings (seconds), hook, log and deferral."""

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
    def reschedules(self) -> bool: ...  # the wait ends the try between reads (an operator's reschedule)

    @property
    def keeps_outage(self) -> bool: ...  # each read runs in a new run of the task (any reschedule mode)

    def options(self) -> dict[str, Any]: ...

    def task_ref(self, context: Context) -> JobRef | None: ...

    def defer(self, *, trigger: Any, method_name: str, timeout: timedelta | None = None) -> NoReturn: ...


class JobWait:
    """
    One wait of a task on one job: every mode ends in the same final :class:`Reading`, which the kind
    turns into the result, so modes cannot disagree. It keeps the outage it rides out; the deadline
    goes in the task's state (``context``: None outside a task run).
    """

    def __init__(self, task: Waiter, kind: JobKind[Any, Any], context: Context | None) -> None:
        self.task, self.kind, self.context = task, kind, context
        # A task that reschedules keeps its outage in its state between runs; others in memory.
        self.store = StateStore(context, task.log) if context is not None else None
        self.outage_store = self.store if task.keeps_outage else None

    @cached_property
    def outage(self) -> Outage:
        """The outage ridden out (the task's tolerance, else the connection's); kept across reschedules."""
        tolerance = self.task.outage_tolerance
        if tolerance is None:
            tolerance = self.task.hook.settings.outage_tolerance
        saved = self.outage_store.get(OUTAGE) if self.outage_store is not None else None
        return Outage.from_json(tolerance, saved)

    def read_riding_out(self, ref: JobRef) -> Reading | None:
        """Read the status once; None for a failure ridden out (transient, within the tolerance)."""
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
        Return the job's final reading (a deferral does not return). ``first``: a reading taken just
        now, else one is read; ``deadline``: ``(deadline, wait_started)`` of a wait resumed.
        """
        task, kind = self.task, self.kind
        started = time.time()
        reading = first if first is not None else self.read_riding_out(ref)
        if reading is not None and reading.terminal:
            return reading
        until, wait_started = deadline or (time.time() + task.timeout, started)
        if self.store is not None and deadline is None:
            until, wait_started = self._keep_deadline(ref, until, wait_started)
        if task.deferrable and until > time.time():  # past its deadline, it times out here and now
            self.defer(ref, deadline=until, wait_started=wait_started, method_name=method_name)
        if task.reschedules and self.context is not None and until > time.time():
            self.reschedule(ref, reading, until)
        while reading is None or not reading.terminal:  # poll on the worker; a failed poll keeps the last
            remaining = until - time.time()
            if remaining <= 0:
                raise timeout_error(
                    kind.describe(ref),
                    timeout=task.timeout,
                    waited=time.time() - wait_started,
                    last_status=None if reading is None else reading.status,
                    job_id=None if reading is None else reading.job_id or None,
                )
            time.sleep(min(next_poll_in(task.poll_interval, self.outage.failures), remaining))
            reading = self.read_riding_out(ref) or reading
        return reading

    def _keep_deadline(self, ref: JobRef, until: float, wait_started: float) -> tuple[float, float]:
        """Keep the deadline in the task's state; a rescheduled run of the same try reuses it."""
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
        """End this run until the next read is due (backing off while the API fails; never past ``until``)."""
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
        Return the job a resumed task waited on and its final reading. The job: the task's state (the
        job it started, else its wait), else the event's ``ref``, else its own arguments. Resumed
        without an event (Airflow can), it reads once and waits on until the same deadline.
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
    """Return the trigger kwargs that carry a task's wait settings (connection, interval, timeout...)."""
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
