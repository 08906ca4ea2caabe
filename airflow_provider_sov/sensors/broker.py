"""The sensor that waits for a DATA Act Broker file generation: poke, reschedule or deferrable."""

from __future__ import annotations

import functools
import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_sov._shared.waiting import as_seconds, check_event, deadline_after, poll_in_process
from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks.broker import (
    DEFAULT_INVALID_GRACE,
    DataActBrokerHook,
    GenerationStatus,
    GenerationTarget,
    check_generation_outcome,
    classify_generation,
)
from airflow_provider_sov.sensors.sov import DEFERRAL_GRACE, default_deferrable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

#: The Broker asks clients to poll no more often than every 10 seconds.
MIN_POLL_INTERVAL = 10.0
DEFAULT_POLL_INTERVAL = 30.0
#: Default wait. Nothing on the Broker ever times a generation out, so this is the only deadline:
#: six hours covers the largest agencies' D files with room to spare, and still ends.
DEFAULT_TIMEOUT = 6 * 60 * 60.0
LABEL = "D-file generation"


def check_poll_interval(value: timedelta | float, log: Any) -> float:
    """A positive number of seconds; below 10 it works, with a warning (the Broker asks for 10+)."""
    seconds = as_seconds(value, "poll_interval")
    if not seconds:
        raise SovInputError(f"poll_interval must be a positive number of seconds, got {value!r}.")
    if seconds < MIN_POLL_INTERVAL:
        log.warning("poll_interval %.1fs is below the 10s the Broker asks clients to keep to.", seconds)
    return seconds


class DFileWaitMixin:
    """
    How any task waits on one file generation, in every mode; shared by the sensor and operators.

    The deferrable path checks once before deferring (a finished generation never defers), then
    hands :class:`~airflow_provider_sov.triggers.broker.DFileGenerationTrigger` an absolute
    deadline; the in-process path polls until the same deadline.
    """

    data_act_broker_conn_id: str
    invalid_grace: float = DEFAULT_INVALID_GRACE
    log: Any
    defer: Any

    @cached_property
    def hook(self) -> DataActBrokerHook:
        """The hook for this task's connection (created on first use)."""
        return DataActBrokerHook(self.data_act_broker_conn_id)

    def read_generation(self, target: GenerationTarget, requested_at: float | None) -> GenerationStatus:
        """Read and classify the generation's status once, logging one progress line."""
        reading = classify_generation(
            self.hook.read_status(target), target, requested_at=requested_at, grace=self.invalid_grace
        )
        self.log.info("%s", reading.progress_line())
        return reading

    def wait_for_generation(
        self,
        target: GenerationTarget,
        first: GenerationStatus,
        *,
        requested_at: float | None,
        deferrable: bool,
        timeout: float,
        poll_interval: float,
        method_name: str = "execute_complete",
    ) -> GenerationStatus:
        """Wait from ``first`` until final; defer when ``deferrable`` (this call then does not return)."""
        started = time.time()
        if first.terminal:
            return first
        if deferrable:
            self.defer_for_generation(
                target,
                requested_at=requested_at,
                timeout=timeout,
                poll_interval=poll_interval,
                method_name=method_name,
            )
        return poll_in_process(
            functools.partial(self.read_generation, target, requested_at),
            first,
            label=LABEL,
            job_id=target.key,
            started=started,
            timeout=timeout,
            poll_interval=poll_interval,
            log=self.log,
        )

    def defer_for_generation(
        self,
        target: GenerationTarget,
        *,
        requested_at: float | None,
        timeout: float,
        poll_interval: float,
        method_name: str,
    ) -> NoReturn:
        """Hand the wait to the triggerer with an absolute deadline fixed now."""
        from airflow_provider_sov.triggers.broker import DFileGenerationTrigger

        trigger = DFileGenerationTrigger(
            **target.to_kwargs(),
            deadline=deadline_after(timeout),
            data_act_broker_conn_id=self.data_act_broker_conn_id,
            poll_interval=poll_interval,
            timeout=timeout,
            wait_started=time.time(),
            requested_at=requested_at,
            invalid_grace=self.invalid_grace,
        )
        self.log.info("Deferring the wait for the %s (timeout %.0fs).", target.label, timeout)
        self.defer(
            trigger=trigger, method_name=method_name, timeout=timedelta(seconds=timeout + DEFERRAL_GRACE)
        )
        raise AssertionError("unreachable")  # pragma: no cover - defer() always raises

    def reading_from_event(self, target: GenerationTarget, event: Any) -> GenerationStatus:
        """Validate a trigger event and turn it back into a final reading (or raise)."""
        checked = check_event(event, target.key, LABEL)
        body = checked.get("body")
        if not isinstance(body, dict):
            body = {}
        status = str(checked.get("job_status") or body.get("status") or "unknown")
        return GenerationStatus(target.key, status, True, status == "finished", body)


class DFileGenerationSensor(DFileWaitMixin, BaseSensorOperator):
    """
    Wait for a DATA Act Broker file generation to finish; return its status.

    Give ``submission_id`` and ``file_type`` for a file within a submission, or ``job_id`` for a
    detached one. ``waiting`` keeps it waiting; ``finished`` returns ``job_id``, ``file_type``,
    ``status``, ``start``, ``end``, ``generated_at`` and ``message``; ``failed`` raises
    :class:`~airflow_provider_sov.exceptions.SovJobFailedError` with the Broker's message.
    ``invalid`` means nothing was requested: it fails once ``invalid_grace`` has passed since the
    wait began (a just-requested E, F, A or BOC file reads ``invalid`` for a moment). The Broker
    never times a generation out, so ``timeout`` is the only deadline: 6 hours by default.

    :param submission_id: The submission (templated).
    :param file_type: ``D1``, ``D2``, ``E`` or ``F`` (templated); with ``job_id``, optional.
    :param job_id: A detached generation's job ID (templated).
    :param data_act_broker_conn_id: The Airflow connection.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poke_interval: Seconds between polls (default 30; the Broker asks for 10 or more).
    :param timeout: Seconds to wait in all, in every mode (default 6 hours).
    :param invalid_grace: Seconds during which ``invalid`` is not yet final (default 120).
    """

    template_fields: Sequence[str] = ("submission_id", "file_type", "job_id")
    ui_color = "#eef6ec"

    def __init__(
        self,
        *,
        submission_id: int | str | None = None,
        file_type: str | None = None,
        job_id: int | str | None = None,
        data_act_broker_conn_id: str = DataActBrokerHook.default_conn_name,
        deferrable: bool | None = None,
        poke_interval: timedelta | float = DEFAULT_POLL_INTERVAL,
        timeout: timedelta | float = DEFAULT_TIMEOUT,
        invalid_grace: timedelta | float = DEFAULT_INVALID_GRACE,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.submission_id = submission_id
        self.file_type = file_type
        self.job_id = job_id
        self.data_act_broker_conn_id = data_act_broker_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.invalid_grace = as_seconds(invalid_grace, "invalid_grace") or 0.0
        check_poll_interval(poke_interval, self.log)
        if not _templated(submission_id, file_type, job_id):
            GenerationTarget.of(submission_id, file_type, job_id)
        self._wait_started: float | None = None

    @property
    def target(self) -> GenerationTarget:
        """What this sensor waits on, once its fields are rendered (checked before any call)."""
        return GenerationTarget.of(self.submission_id, self.file_type, self.job_id)

    def _grace_from(self, context: Context) -> float:
        """When this wait began: the first poke, or the first reschedule in reschedule mode."""
        if self.reschedule:
            first = context["ti"].get_first_reschedule_date(context)
            if first is not None:
                return first.timestamp()
        if self._wait_started is None:
            self._wait_started = time.time()
        return self._wait_started

    def poke(self, context: Context) -> PokeReturnValue | bool:
        target = self.target
        reading = self.read_generation(target, self._grace_from(context))
        if not reading.terminal:
            return False
        return PokeReturnValue(is_done=True, xcom_value=check_generation_outcome(reading, target))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        target = self.target
        started = time.time()
        reading = self.wait_for_generation(
            target,
            self.read_generation(target, started),
            requested_at=started,
            deferrable=True,
            timeout=as_seconds(self.timeout, "timeout") or 0.0,
            poll_interval=as_seconds(self.poke_interval, "poke_interval") or DEFAULT_POLL_INTERVAL,
        )
        return check_generation_outcome(reading, target)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: accept only a known event for this generation."""
        target = self.target
        return check_generation_outcome(self.reading_from_event(target, event), target)


def _templated(*values: Any) -> bool:
    """Whether any value is still a Jinja template (checked only once rendered)."""
    return any(isinstance(v, str) and "{{" in v for v in values)
