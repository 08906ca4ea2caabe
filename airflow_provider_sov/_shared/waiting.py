"""
One way to wait, for every job kind of both APIs: check once, then defer or poll; events back to readings.

The deadline is an absolute wall-clock time computed once, when the wait starts, and carried in
the trigger's kwargs, so a triggerer restart neither extends nor resets it. Trigger events are
plain JSON with a ``status`` from :data:`EVENT_STATUSES`; anything else fails the task loudly.
Every sensor (:class:`~.sensor.JobSensor`) and every operator that waits uses
:class:`JobWaitMixin`, given a :class:`~airflow_provider_sov._shared.jobs.JobKind`: neither knows
which API it talks to. A task resumed after a deferral recovers its job and its deadline in one
place (:meth:`JobWaitMixin.resume`).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from airflow_provider_sov import exceptions
from airflow_provider_sov._shared.compat import conf
from airflow_provider_sov._shared.jobs import DEFERRAL_GRACE, HookT, Reading
from airflow_provider_sov._shared.outage import Outage, next_poll_in
from airflow_provider_sov._shared.task_state import OUTAGE, WAIT, StateStore, saved_ref
from airflow_provider_sov.exceptions import SovError, SovInputError, SovTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow.sdk import Context

    from airflow_provider_sov._shared.hook import ApiHook
    from airflow_provider_sov._shared.jobs import Api, JobKind, JobRef
    from airflow_provider_sov._shared.trigger import JobTrigger

H = TypeVar("H", bound="ApiHook")

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


def trigger_for(kind: JobKind[Any, Any]) -> type[JobTrigger]:
    """Return the trigger class that polls ``kind`` (imported now: only a wait about to defer needs it)."""
    from airflow_provider_sov.triggers import trigger_for as find

    return find(kind)


class JobWaitMixin(Generic[HookT]):
    """
    How any task waits on one job of any kind, in every mode; used by every sensor and operator.

    The deferrable path checks once before deferring (a finished job never defers), then hands the
    kind's trigger an absolute deadline, fixed once and kept in the task's state; the in-process
    path polls until the same deadline. Both end in a final :class:`Reading`, which the kind turns
    into the result, so they cannot disagree. The task sets ``deferrable``, ``timeout`` and
    ``poll_interval`` (seconds) and its connection argument (the kind's API's ``conn_name_attr``).
    """

    #: The kind this task waits on (an operator that starts another kind passes that one in).
    kind: JobKind[Any, HookT]
    #: A sensor may end a successful wait in the triggerer; an operator has work left on the worker.
    end_from_trigger: bool = False
    #: Whether a wait that does not defer ends the try between reads (an operator's
    #: ``mode="reschedule"``; a sensor's reschedule mode is Airflow's own).
    reschedules: bool = False
    #: Seconds of API failure a wait rides out (the task's ``outage_tolerance``); None: the connection's.
    outage_tolerance: float | None = None
    deferrable: bool
    timeout: float
    poll_interval: float
    log: Any
    defer: Any
    task_id: str

    def options(self) -> dict[str, Any]:
        """
        Return the task's options for its kind's refs and outcome (``accept_partial``,
        ``invalid_grace``): plain JSON, carried in the trigger's kwargs.
        """
        return {}

    def hook_for(self, api: Api[H]) -> H:
        """Return the hook of ``api`` on this task's connection (created on first use, then kept)."""
        hooks = self.__dict__.setdefault("_job_hooks", {})
        conn_id = getattr(self, api.conn_name_attr)
        if (api, conn_id) not in hooks:
            hooks[(api, conn_id)] = api.hook_class()(conn_id)
        hook: H = hooks[(api, conn_id)]
        return hook

    @property
    def hook(self) -> HookT:
        """Return the hook of this task's API (:attr:`kind`), typed as that API's hook."""
        return self.hook_for(self.kind.api)

    def read_job(self, kind: JobKind[Any, Any], ref: JobRef) -> Reading:
        """Read the job's status once, logging one progress line."""
        reading = kind.read(self.hook_for(kind.api), ref)
        self.log.info("%s", reading.progress_line(kind.describe(ref)))
        return reading

    def outage(self, context: Context | None) -> Outage:
        """
        Return this wait's :class:`~.outage.Outage`: kept on the task while it runs, and in its state
        between the runs of a task that reschedules (read back once per run).
        """
        ti = None if context is None else context.get("ti")
        kept = self.__dict__.get("_outage")
        if kept is not None and kept[0] is ti:
            outage: Outage = kept[1]
            return outage
        tolerance = self.outage_tolerance
        if tolerance is None:
            tolerance = self.hook.settings.outage_tolerance
        saved = None
        if context is not None and self.mode_reschedules():
            saved = StateStore(context, self.log).get(OUTAGE)
        outage = Outage.from_json(tolerance, saved)
        self.__dict__["_outage"] = (ti, outage)
        return outage

    def mode_reschedules(self) -> bool:
        """Whether each read of a wait on a worker runs in a new run of the task (``mode="reschedule"``)."""
        return getattr(self, "mode", "poke") == "reschedule"

    def read_riding_out(
        self, kind: JobKind[Any, Any], ref: JobRef, context: Context | None
    ) -> Reading | None:
        """
        Read the job's status once; None when the read failed but the wait rides it out (a transient
        failure within the outage tolerance, logged once). Any other failure, or one that has lasted
        past the tolerance, raises.
        """
        outage, name = self.outage(context), kind.describe(ref)
        # A task that reschedules keeps its outage in its state between runs; others keep it in memory.
        store = StateStore(context, self.log) if context is not None and self.mode_reschedules() else None
        try:
            reading = self.read_job(kind, ref)
        except SovError as exc:
            if not outage.rides_out(exc):
                if store is not None:
                    store.delete(OUTAGE)
                raise outage.gave_up(name, exc) from None
            self.log.warning("%s", outage.describe(name, exc, self.poll_interval))
            if store is not None:
                store.set(OUTAGE, outage.to_json())
            return None
        if outage.since is not None:
            self.log.info("%s: the API answers again after %.0fs.", name, outage.failing_for())
            outage.ok()
            if store is not None:
                store.delete(OUTAGE)
        return reading

    def task_ref(self, context: Context) -> JobRef | None:
        """Return the job the task's own arguments name, if they name one (a sensor's do)."""
        return None

    def wait_for_job(
        self,
        kind: JobKind[Any, Any],
        ref: JobRef,
        first: Reading | None = None,
        *,
        context: Context | None = None,
        deadline: tuple[float, float] | None = None,
        method_name: str = "execute_complete",
    ) -> Reading:
        """
        Wait for the job to be final; defer when ``deferrable`` (this call then does not return).

        :param first: A reading taken just now (e.g. the answer that created the job); without it
            the status is read once before deciding whether to wait at all.
        :param context: The task's context: the wait's deadline is kept in its state store, so a task
            resumed without its trigger's event waits until the same deadline.
        :param deadline: ``(deadline, wait_started)`` of a wait that began earlier (resumed); default now.
        """
        started = time.time()
        reading = first if first is not None else self.read_riding_out(kind, ref, context)
        if reading is not None and reading.terminal:
            return reading
        until, wait_started = deadline or (deadline_after(self.timeout), started)
        if context is not None and deadline is None:
            until, wait_started = self._keep_deadline(context, ref, until, wait_started)
        if self.deferrable and until > time.time():  # past its deadline, it times out here and now
            self.defer_for_job(kind, ref, deadline=until, wait_started=wait_started, method_name=method_name)
        if self.reschedules and context is not None and until > time.time():
            self.reschedule_wait(kind, ref, reading, until)
        outage = self.outage(context)
        return poll_in_process(
            lambda: self.read_riding_out(kind, ref, context),
            reading,
            name=kind.describe(ref),
            started=wait_started,
            timeout=self.timeout,
            poll_interval=self.poll_interval,
            deadline=until,
            failures=lambda: outage.failures,
        )

    def _keep_deadline(
        self, context: Context, ref: JobRef, until: float, wait_started: float
    ) -> tuple[float, float]:
        """
        Save the wait's deadline in the task's state; a rescheduled run of the same try keeps the
        one its wait began with (a new try, a retry, begins a new wait).
        """
        store = StateStore(context, self.log)
        attempt = getattr(context.get("ti"), "try_number", None)
        kept = store.get(WAIT)
        if (
            self.reschedules
            and isinstance(kept, dict)
            and kept.get("key") == ref.key
            and kept.get("try") == attempt
            and "deadline" in kept
        ):
            return float(kept["deadline"]), float(kept.get("wait_started") or wait_started)
        wait = {"key": ref.key, "ref": ref.to_json(), "deadline": until, "wait_started": wait_started}
        store.set(WAIT, {**wait, "try": attempt} if attempt is not None else wait)
        return until, wait_started

    def reschedule_wait(
        self, kind: JobKind[Any, Any], ref: JobRef, reading: Reading | None, until: float
    ) -> NoReturn:
        """
        End this run of the task until the next read is due (never past the wait's deadline; later
        while the API fails: the outage's backoff).
        """
        from datetime import UTC, datetime

        from airflow_provider_sov._shared.compat import AirflowRescheduleException

        failures = self.__dict__["_outage"][1].failures if "_outage" in self.__dict__ else 0
        wake = min(time.time() + next_poll_in(self.poll_interval, failures), until)
        self.log.info(
            "%s is %s; rescheduling the task to read it again in %.0fs.",
            kind.describe(ref),
            "unknown while the API fails" if reading is None else reading.status,
            max(0.0, wake - time.time()),
        )
        raise AirflowRescheduleException(reschedule_date=datetime.fromtimestamp(wake, UTC))

    def wait_kwargs(self) -> dict[str, Any]:
        """
        Return the trigger kwargs that carry the task's settings: the connection, the poll interval and
        timeout, its options (when it has any) and, with ``end_from_trigger``, what lets the trigger
        end a successful wait itself.
        """
        conn_attr = self.kind.api.conn_name_attr
        kwargs: dict[str, Any] = {
            conn_attr: getattr(self, conn_attr),
            "poll_interval": self.poll_interval,
            "timeout": self.timeout,
        }
        if self.outage_tolerance is not None:
            kwargs["outage_tolerance"] = self.outage_tolerance
        if options := self.options():
            kwargs["options"] = options
        if self.end_from_trigger:
            kwargs.update(end_from_trigger=True, xcom_push=bool(getattr(self, "do_xcom_push", True)))
        return kwargs

    def defer_for_job(
        self, kind: JobKind[Any, Any], ref: JobRef, *, deadline: float, wait_started: float, method_name: str
    ) -> NoReturn:
        """Hand the wait to the kind's trigger with its absolute deadline."""
        trigger = trigger_for(kind)(
            **ref.to_json(), **self.wait_kwargs(), deadline=deadline, wait_started=wait_started
        )
        self.log.info("Deferring the wait for %s (timeout %.0fs).", kind.describe(ref), self.timeout)
        self.defer(
            trigger=trigger,
            method_name=method_name,
            timeout=timedelta(seconds=max(0.0, deadline - time.time()) + DEFERRAL_GRACE),
        )
        raise AssertionError("unreachable")  # pragma: no cover - defer() always raises

    def resume(self, context: Context, event: Any) -> tuple[JobRef, Reading]:
        """
        Return the job a task resumed after its trigger waits on, and its final reading: the one way
        every ``execute_complete`` recovers them.

        The job is the one in the task's state (the job it started, else the wait it began), else the
        event's ``ref``, else the one its own arguments name. A known event gives the reading (an
        unknown or missing-status event fails loudly). Airflow can resume a deferred task without its
        trigger's event: then the status is read once, and a job still running is waited on again
        until the deadline the wait began with, never a new one.
        """
        kind, store = self.kind, StateStore(context, self.log)
        kept = store.get(WAIT)
        wait = kept if isinstance(kept, dict) else {}
        ref = saved_ref(kind, store)
        if ref is None and isinstance(wait.get("ref"), dict):
            ref = kind.ref_from_json(wait["ref"])
        if ref is None and isinstance(event, dict) and isinstance(event.get("ref"), dict):
            ref = kind.ref_from_json(event["ref"])
        if ref is None:
            ref = self.task_ref(context)
        if ref is None:
            raise SovError(
                f"Task {self.task_id!r} resumed without knowing its {kind.label}: neither the task "
                "state store nor the trigger event names it.",
                hint="Run the task again.",
            )
        if event is not None:
            return ref, check_event(event, ref.key, kind.describe(ref))
        return ref, self._reread(kind, ref, wait if wait.get("key") == ref.key else {})

    def _reread(self, kind: JobKind[Any, Any], ref: JobRef, wait: Mapping[str, Any]) -> Reading:
        """Resumed with no event: read the status once; wait on a running job until the same deadline."""
        name = kind.describe(ref)
        self.log.warning("Resumed without the trigger's event; reading the status of %s once.", name)
        try:
            reading = self.read_job(kind, ref)
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
            self.log.info("Waiting again for %s until the wait's own deadline.", name)
        else:
            deadline = None
            self.log.warning("The deadline of the wait for %s was not kept; its timeout starts again.", name)
        return self.wait_for_job(kind, ref, reading, deadline=deadline)
