"""
The sensor base of both APIs: wait for one job of a kind, in poke, reschedule or deferrable mode,
or started and ended in the triggerer with no worker at all.
"""

from __future__ import annotations

import time
import warnings
from datetime import timedelta
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, Generic

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_sov._shared.compat import AIRFLOW_3_3
from airflow_provider_sov._shared.jobs import DEFERRAL_GRACE, HookT
from airflow_provider_sov._shared.outage import next_poll_in
from airflow_provider_sov._shared.routes import IdArguments
from airflow_provider_sov._shared.task_state import StateStore, clear_records
from airflow_provider_sov._shared.waiting import (
    JobWait,
    as_seconds,
    default_deferrable,
    poll_seconds,
    pop_conn_id,
    wait_kwargs,
)
from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.links import record_pages

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import StartTriggerArgs

    from airflow_provider_sov._shared.jobs import JobKind, JobRef, Reading


def triggerer_renders_templates() -> bool:
    """Whether this Airflow renders a task's templated fields in the triggerer (3.3 and later)."""
    from airflow.triggers.base import BaseTrigger

    return hasattr(BaseTrigger, "render_template_fields")


class _StartTriggerArgs:
    """
    A sensor's ``start_trigger_args``, built from its arguments when Airflow reads them. None on the
    class, where Airflow reads a mapped task's: a mapped sensor starts on a worker and defers.
    """

    def __get__(self, task: JobSensor[Any] | None, owner: type | None = None) -> StartTriggerArgs | None:
        if task is None or not task.start_from_trigger:
            return None
        return task.start_args()


class JobSensor(IdArguments, BaseSensorOperator, Generic[HookT]):
    """
    Wait for one job of the kind :attr:`kind` names; the base of every sensor of both APIs.

    Returns (pushes to XCom) the job's result (``files`` empty: sensors write none). A failed job
    raises :class:`~airflow_provider_sov.exceptions.SovJobFailedError`; a timeout
    :class:`~airflow_provider_sov.exceptions.SovTimeoutError`, in every mode.

    **Waits that use no worker** (Airflow 3.3+; either implies ``deferrable=True``):
    ``start_from_trigger=True`` lets the scheduler hand the wait to the triggerer, which renders the
    templated IDs (mapped tasks and XComArg IDs start on a worker instead, and say so; older Airflow
    warns once). ``end_from_trigger=True`` ends a successful wait in the triggerer with the same
    result in XCom; a failure or timeout still resumes on a worker to raise the same typed error. A
    sensor with ``outlets`` refuses it (the triggerer records no asset events).

    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param start_from_trigger: Start the wait in the triggerer, no worker at all (default False).
    :param end_from_trigger: End a successful wait in the triggerer (default False).
    :param poke_interval: Seconds between polls (default: the kind's).
    :param timeout: Seconds to wait in all, in every mode (default: the kind's).
    :param outage_tolerance: Seconds the wait rides out an outage of the API (refused connections,
        5xx, 429, timeouts) in every mode, from the first failed poll after a good reading (default:
        the connection's extra ``outage_tolerance``, else 600). Never past ``timeout``.
    """

    start_trigger_args = _StartTriggerArgs()
    #: The kind of job it waits on.
    kind: JobKind[Any, HookT]
    #: A sensor's reschedule mode is Airflow's own: its wait never reschedules itself.
    reschedules = False

    def __init__(
        self,
        *,
        deferrable: bool | None = None,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        poke_interval: timedelta | float | None = None,
        timeout: timedelta | float | None = None,
        outage_tolerance: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        conn_id = pop_conn_id(self.kind, kwargs)
        self.outage_tolerance = as_seconds(outage_tolerance, "outage_tolerance")
        poke = poll_seconds(self.kind, poke_interval, self.log)
        seconds = as_seconds(self.kind.timeout if timeout is None else timeout, "timeout") or 0.0
        super().__init__(poke_interval=poke, timeout=seconds, **kwargs)
        self.poll_interval = poke  # the one interval every mode uses (the sensor's poke_interval)
        setattr(self, self.kind.api.conn_name_attr, conn_id)
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
        if end_from_trigger and not AIRFLOW_3_3:
            warnings.warn(
                f"{self.task_id}: end_from_trigger needs Airflow 3.3 or later, whose triggerer stores the "
                "task's result. This task's wait runs in the triggerer and the task ends on a worker.",
                UserWarning,
                stacklevel=2,
            )
            end_from_trigger = False
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
        #: The wait and the job of this run's pokes (poke and reschedule modes), made at its first poke.
        self.poking: tuple[JobWait, JobRef] | None = None

    @property
    def keeps_outage(self) -> bool:
        """Each poke runs in a new run of the task (``mode="reschedule"``): the outage is kept in its state."""
        return self.mode == "reschedule"

    @cached_property
    def hook(self) -> HookT:
        """The hook of this task's API on its connection, typed as that API's hook."""
        return self.kind.api.hook_for(self)

    def options(self) -> dict[str, Any]:
        """The task's options for its kind (``accept_partial``...): plain JSON, in the trigger's kwargs."""
        return {}

    def task_values(self) -> dict[str, Any]:
        """Return the arguments that name the job (the kind's ``task_fields``), as they are now."""
        return {name: getattr(self, name, None) for name in self.kind.task_fields}

    def wait_began(self, context: Context) -> float:
        """Return when this wait began (a kind whose readings depend on it overrides this)."""
        return time.time()

    def task_ref(self, context: Context) -> JobRef:
        """Return what this sensor waits on (its rendered fields, checked) and push its pages for links."""
        ref = self.kind.ref_from_task(self.task_values(), self.wait_began(context), self.options())
        record_pages(
            self,
            context,
            StateStore(context, self.log),
            partial(self.kind.pages, self.hook, ref, self.known_ids()),
        )
        return ref

    def start_args(self) -> StartTriggerArgs | None:
        """
        How the scheduler starts this wait in the triggerer: the kind's trigger, the task's unrendered
        arguments and Airflow's deferral timeout (the deadline). None for an XComArg (a worker resolves it).
        """
        values = self.task_values()
        if not all(value is None or isinstance(value, str | int) for value in values.values()):
            return None
        from airflow.triggers.base import StartTriggerArgs

        assert self.kind.trigger is not None  # every kind a sensor waits on is polled by a trigger
        return StartTriggerArgs(
            trigger_cls=self.kind.trigger,
            trigger_kwargs={**values, **wait_kwargs(self, self.kind)},
            next_method="execute_complete",
            timeout=timedelta(seconds=self.timeout + DEFERRAL_GRACE),
        )

    def _get_next_poke_interval(self, started_at: Any, run_duration: Any, poke_count: int) -> float:
        """Airflow's pause before the next poke, backing off while the API fails and never past the timeout."""
        interval = float(super()._get_next_poke_interval(started_at, run_duration, poke_count))
        failures = 0 if self.poking is None else self.poking[0].outage.failures
        if failures:
            interval = max(interval, next_poll_in(float(self.poke_interval), failures))
        return max(0.0, min(interval, float(self.timeout) - float(run_duration())))

    def poke(self, context: Context) -> PokeReturnValue | bool:
        # The ref is built (and its IDs checked) at the first poke of this run, not at every poke.
        if self.poking is None or self.poking[0].context is not context:
            self.poking = (JobWait(self, self.kind, context), self.task_ref(context))
        wait, ref = self.poking
        reading = wait.read_riding_out(ref)
        if reading is None or not reading.terminal:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.finish(context, ref, reading))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.start_from_trigger:
            self.log.warning("start_from_trigger: %s", self._why_on_a_worker(context))
        ref = self.task_ref(context)
        return self.finish(context, ref, JobWait(self, self.kind, context).until_final(ref))

    def _why_on_a_worker(self, context: Context) -> str:
        """Say why a wait meant to start in the triggerer is running on a worker, and what to do."""
        fields = ", ".join(self.kind.task_fields)
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
        ref, reading = JobWait(self, self.kind, context).resume(event)
        return self.finish(context, ref, reading)

    def post_execute(self, context: Context, result: Any = None) -> None:
        super().post_execute(context, result)
        clear_records(context, self.log)

    def finish(self, context: Context, ref: JobRef, reading: Reading) -> dict[str, Any]:
        """Judge the final reading (a failed job raises), build the result, record the job's pages."""
        result = self.kind.result(reading, ref, self.options(), log=self.log)
        find = partial(self.kind.pages, self.hook, ref, self.known_ids())
        record_pages(self, context, StateStore(context, self.log), find, final=True)
        return result
