"""
One way to wait, for every job kind of both APIs: check once, then defer or poll; events back to readings.

The deadline is an absolute wall-clock time computed once, when the wait starts, and carried in
the trigger's kwargs, so a triggerer restart neither extends nor resets it. Trigger events are
plain JSON with a ``status`` from :data:`EVENT_STATUSES`; anything else fails the task loudly.
Every sensor is a :class:`JobSensor` and every operator that waits uses :class:`JobWaitMixin`,
given a :class:`~airflow_provider_sov._shared.jobs.JobSpec`: neither knows which API it talks to.
"""

from __future__ import annotations

import time
import warnings
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_sov import exceptions
from airflow_provider_sov._shared.jobs import DEFERRAL_GRACE, Reading
from airflow_provider_sov.exceptions import SovError, SovInputError, SovTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow.sdk import Context
    from airflow.triggers.base import StartTriggerArgs

    from airflow_provider_sov._shared.hook import ApiHook
    from airflow_provider_sov._shared.jobs import JobSpec

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


def poll_seconds(spec: JobSpec, value: timedelta | float | None, log: Any) -> float:
    """Return a poll interval for ``spec`` (its default when None); below the API's floor it warns."""
    seconds = positive_seconds(spec.poll_interval if value is None else value, "poll_interval")
    if seconds < spec.min_poll_interval:
        log.warning(
            "poll_interval %.1fs is below the %gs the %s API asks clients to keep to.",
            seconds,
            spec.min_poll_interval,
            spec.api.name,
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
    read: Callable[[], Reading],
    first: Reading,
    *,
    name: str,
    started: float,
    timeout: float,
    poll_interval: float,
) -> Reading:
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
                name,
                timeout=timeout,
                waited=time.time() - started,
                last_status=reading.status,
                job_id=reading.job_id or None,
            )
        time.sleep(min(poll_interval, remaining))
        reading = read()
    return reading


def pop_conn_id(spec: JobSpec, kwargs: dict[str, Any]) -> str:
    """Take a task's connection argument (named by the spec's API) out of ``kwargs``; default it."""
    return str(kwargs.pop(spec.api.conn_name_attr, None) or spec.api.default_conn_name)


class JobWaitMixin:
    """
    How any task waits on one job of any kind, in every mode; used by every sensor and operator.

    The deferrable path checks once before deferring (a finished job never defers), then hands the
    spec's trigger an absolute deadline; the in-process path polls until the same deadline. Both
    end in a final :class:`Reading`, which the spec turns into the result, so they cannot disagree.
    The task sets ``deferrable``, ``timeout`` and ``poll_interval`` (seconds) and its connection
    argument (the spec's API's ``conn_name_attr``).
    """

    #: The kind this task waits on (operators that start more than one kind pass the spec in).
    spec: ClassVar[JobSpec]
    #: A sensor may end a successful wait in the triggerer; an operator has work left on the worker.
    end_from_trigger: bool = False
    deferrable: bool
    timeout: float
    poll_interval: float
    log: Any
    defer: Any

    def wait_settings(self) -> tuple[float, float]:
        """Return ``(timeout, poll_interval)`` in seconds, as the task was configured."""
        return self.timeout, self.poll_interval

    def options(self) -> dict[str, Any]:
        """Return the task's options for its spec's ``task_ref`` and ``outcome``: plain JSON, for trigger kwargs."""
        return {}

    def outcome_options(self) -> dict[str, Any]:
        """Return what the spec's outcome takes: :meth:`options` and this task's log."""
        return {**self.options(), "log": self.log}

    def trigger_settings(self) -> dict[str, Any]:
        """
        Return the trigger kwargs that carry the task's own settings: its options (when it has any),
        and, with ``end_from_trigger``, what lets the trigger end a successful wait itself.
        """
        settings: dict[str, Any] = {"options": options} if (options := self.options()) else {}
        if self.end_from_trigger:
            settings.update(end_from_trigger=True, xcom_push=bool(getattr(self, "do_xcom_push", True)))
        return settings

    def hook_for(self, spec: JobSpec) -> ApiHook:
        """Return the hook for ``spec``'s API on this task's connection (created on first use, then kept)."""
        hooks = self.__dict__.setdefault("_job_hooks", {})
        conn_id = getattr(self, spec.api.conn_name_attr)
        if (spec.api, conn_id) not in hooks:
            hooks[(spec.api, conn_id)] = spec.api.hook_class()(conn_id)
        return hooks[(spec.api, conn_id)]

    @property
    def hook(self) -> Any:
        """Return the hook of this task's own kind (:attr:`spec`)."""
        return self.hook_for(self.spec)

    def read_job(self, spec: JobSpec, ref: Mapping[str, Any]) -> Reading:
        """Read the job's status once, logging one progress line."""
        reading = spec.read(self.hook_for(spec), ref)
        self.log.info("%s", reading.progress_line(spec.name(ref)))
        return reading

    def wait_for_job(
        self,
        spec: JobSpec,
        ref: Mapping[str, Any],
        first: Reading | None = None,
        *,
        method_name: str = "execute_complete",
    ) -> Reading:
        """
        Wait for the job to be final; defer when ``deferrable`` (this call then does not return).

        :param first: A reading taken just now (e.g. the answer that created the job); without it
            the status is read once before deciding whether to wait at all.
        """
        started = time.time()
        reading = first if first is not None else self.read_job(spec, ref)
        if reading.terminal:
            return reading
        timeout, poll_interval = self.wait_settings()
        if self.deferrable:
            self.defer_for_job(
                spec, ref, timeout=timeout, poll_interval=poll_interval, method_name=method_name
            )
        return poll_in_process(
            lambda: self.read_job(spec, ref),
            reading,
            name=spec.name(ref),
            started=started,
            timeout=timeout,
            poll_interval=poll_interval,
        )

    def defer_for_job(
        self, spec: JobSpec, ref: Mapping[str, Any], *, timeout: float, poll_interval: float, method_name: str
    ) -> NoReturn:
        """Hand the wait to the spec's trigger with an absolute deadline fixed now."""
        conn_attr = spec.api.conn_name_attr
        now = time.time()
        trigger = spec.trigger_class()(
            **ref,
            **{conn_attr: getattr(self, conn_attr)},
            deadline=deadline_after(timeout),
            poll_interval=poll_interval,
            timeout=timeout,
            wait_started=now,
            **self.trigger_settings(),
        )
        self.log.info("Deferring the wait for %s (timeout %.0fs).", spec.name(ref), timeout)
        self.defer(
            trigger=trigger, method_name=method_name, timeout=timedelta(seconds=timeout + DEFERRAL_GRACE)
        )
        raise AssertionError("unreachable")  # pragma: no cover - defer() always raises

    def reading_from_event(self, spec: JobSpec, ref: Mapping[str, Any], event: Any) -> Reading:
        """
        Validate a trigger event for this job and return the final reading it carries (or raise).

        A task resumed with no event at all (Airflow can resume a deferred task without its
        trigger's event) knows its job all the same: it reads the status once and carries on from
        there, finishing a final job or waiting again for one still running. It fails, saying
        why, only when the status cannot be read.
        """
        if event is not None:
            return check_event(event, spec.key_of(ref), spec.name(ref))
        name = spec.name(ref)
        self.log.warning("Resumed without the trigger's event; reading the status of %s once.", name)
        try:
            reading = self.read_job(spec, ref)
        except SovError as exc:
            raise type(exc)(
                f"The task resumed without hearing how the wait for {name} ended, and could not read its "
                f"status: {exc.message}",
                action=exc.action,
                job_id=exc.job_id or spec.key_of(ref),
                http_status=exc.http_status,
                server_message=exc.server_message,
                hint="Clear the task to run it again: it reattaches to the same job.",
            ) from None
        return reading if reading.terminal else self.wait_for_job(spec, ref, reading)


def triggerer_renders_templates() -> bool:
    """Whether this Airflow renders a task's templated fields in the triggerer (3.3 and later)."""
    from airflow.triggers.base import BaseTrigger

    return hasattr(BaseTrigger, "render_template_fields")


class _StartTriggerArgs:
    """
    A sensor's ``start_trigger_args``, built from its arguments when Airflow reads them.

    On the class it is None: Airflow reads a mapped task's start arguments from the class, and it
    cannot start a mapped task in the triggerer (each task's arguments are known only once it is
    expanded), so a mapped sensor starts on a worker and defers from there.
    """

    def __get__(self, task: JobSensor | None, owner: type | None = None) -> StartTriggerArgs | None:
        if task is None or not task.__dict__.get("start_from_trigger"):
            return None
        return task.start_args()


class JobSensor(JobWaitMixin, BaseSensorOperator):
    """
    Wait for one job of the kind :attr:`spec` names; the base of every sensor of both APIs.

    Returns (pushes to XCom) the job's result: ``kind``, ``job_id``, ``status``, ``succeeded``,
    ``message``, ``files`` (empty: sensors write none) and the kind's extras. A failed job raises
    :class:`~airflow_provider_sov.exceptions.SovJobFailedError`; a timeout raises
    :class:`~airflow_provider_sov.exceptions.SovTimeoutError` in every mode.

    **Waits that use no worker.** ``start_from_trigger=True`` lets the scheduler hand the wait to
    the triggerer without starting the task on a worker: the triggerer renders the templated IDs
    and fixes the deadline when the scheduler deferred the task (kept across triggerer restarts).
    ``end_from_trigger=True`` ends a wait whose job succeeded in the triggerer, with the same result
    in XCom (``return_value``). A failed job, a timeout or an error still resumes the task on a
    worker for a moment, which raises the same typed error as ever (so retries, callbacks and the
    message are unchanged). Both default to False: start in the triggerer needs Airflow 3.3 (older
    versions start on a worker, with one warning) and is not available to mapped tasks or to IDs
    given as XComArgs (they start on a worker and say so in the log); end in the triggerer records
    no asset events, so a sensor with ``outlets`` refuses it. Either implies ``deferrable=True``.

    A subclass sets :attr:`spec`; the spec names the task arguments that name the job and turns
    them into its ref. Its connection argument is the spec's API's ``conn_name_attr``
    (e.g. ``sovfixer_conn_id``).

    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param start_from_trigger: Start the wait in the triggerer, no worker at all (default False).
    :param end_from_trigger: End a successful wait in the triggerer (default False).
    :param poke_interval: Seconds between polls (default: the kind's).
    :param timeout: Seconds to wait in all, in every mode (default: the kind's).
    """

    start_trigger_args = _StartTriggerArgs()

    def __init__(
        self,
        *,
        deferrable: bool | None = None,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        poke_interval: timedelta | float | None = None,
        timeout: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        conn_id = pop_conn_id(self.spec, kwargs)
        poke = poll_seconds(self.spec, poke_interval, self.log)
        super().__init__(
            poke_interval=poke, timeout=self.spec.timeout if timeout is None else timeout, **kwargs
        )
        setattr(self, self.spec.api.conn_name_attr, conn_id)
        in_triggerer = bool(start_from_trigger or end_from_trigger)
        if in_triggerer and deferrable is False:
            raise SovInputError(
                f"{self.task_id}: start_from_trigger and end_from_trigger wait in the triggerer, but "
                "deferrable=False waits on a worker.",
                hint="Drop deferrable=False (either option implies deferrable=True), or drop both options.",
            )
        if end_from_trigger and self.outlets:
            raise SovInputError(
                f"{self.task_id}: end_from_trigger ends the task in the triggerer, where Airflow records no "
                "asset events, so its outlets would never be updated.",
                hint="Drop end_from_trigger, or move the outlets to a downstream task.",
            )
        self.deferrable = in_triggerer or (default_deferrable() if deferrable is None else deferrable)
        self.end_from_trigger = bool(end_from_trigger)
        if start_from_trigger and not triggerer_renders_templates():
            warnings.warn(
                f"{self.task_id}: start_from_trigger needs Airflow 3.3 or later, where the triggerer renders "
                "the task's templated fields. This task starts on a worker and defers from there.",
                UserWarning,
                stacklevel=2,
            )
            start_from_trigger = False
        self.start_from_trigger = bool(start_from_trigger)

    def task_values(self) -> dict[str, Any]:
        """Return the arguments that name the job (the spec's ``task_fields``), as they are now."""
        return {name: getattr(self, name, None) for name in self.spec.task_fields}

    def wait_began(self, context: Context) -> float:
        """Return when this wait began (a kind whose readings depend on it overrides this)."""
        return time.time()

    def job_ref(self, context: Context) -> dict[str, Any]:
        """Return what this sensor waits on, from its rendered fields (checked before any call)."""
        return self.spec.task_ref(self.task_values(), self.wait_began(context), self.options())

    def start_args(self) -> StartTriggerArgs | None:
        """
        Return how the scheduler starts this wait in the triggerer: the spec's trigger with the task's
        own (unrendered) arguments and settings, and Airflow's deferral timeout, from which the trigger
        takes its deadline. None when an argument is not a value or a template (an XComArg is
        resolved on a worker).
        """
        values = self.task_values()
        if not all(value is None or isinstance(value, str | int) for value in values.values()):
            return None
        from airflow.triggers.base import StartTriggerArgs

        timeout, poll_interval = self.wait_settings()
        conn_attr = self.spec.api.conn_name_attr
        return StartTriggerArgs(
            trigger_cls=self.spec.trigger,
            trigger_kwargs={
                **values,
                conn_attr: getattr(self, conn_attr),
                "poll_interval": poll_interval,
                "timeout": timeout,
                **self.trigger_settings(),
            },
            next_method="execute_complete",
            timeout=timedelta(seconds=timeout + DEFERRAL_GRACE),
        )

    def wait_settings(self) -> tuple[float, float]:
        return as_seconds(self.timeout, "timeout") or 0.0, positive_seconds(
            self.poke_interval, "poke_interval"
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        ref = self.job_ref(context)
        reading = self.read_job(self.spec, ref)
        if not reading.terminal:
            return False
        return PokeReturnValue(
            is_done=True, xcom_value=self.spec.result(reading, ref, self.outcome_options())
        )

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.start_from_trigger:
            self.log.warning("start_from_trigger: %s", self._why_on_a_worker(context))
        ref = self.job_ref(context)
        return self.spec.result(self.wait_for_job(self.spec, ref), ref, self.outcome_options())

    def _why_on_a_worker(self, context: Context) -> str:
        """Say why a wait meant to start in the triggerer is running on a worker, and what to do."""
        fields = ", ".join(self.spec.task_fields)
        if self.start_args() is None:
            return (
                f"this task started on a worker because {fields} holds a value Airflow resolves on a "
                "worker (an XComArg); pass a Jinja template instead, e.g. "
                "\"{{ ti.xcom_pull(task_ids='...', key='job_id') }}\", to start in the triggerer."
            )
        if getattr(context.get("ti"), "map_index", -1) not in (-1, None):
            return (
                "this mapped task started on a worker: Airflow cannot start a mapped task in the triggerer "
                "yet (its arguments are known only once it is expanded). It defers from here."
            )
        return "this task started on a worker (e.g. under `airflow dags test`); it defers from here."

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: accept only a known event for this job."""
        ref = self.job_ref(context)
        return self.spec.result(self.reading_from_event(self.spec, ref, event), ref, self.outcome_options())
