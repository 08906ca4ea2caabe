"""Sensors that wait for SOV Fixer jobs: poke, reschedule or deferrable, with one meaning of timeout."""

from __future__ import annotations

import functools
import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_sov._shared.http import check_id
from airflow_provider_sov._shared.waiting import as_seconds, check_event, deadline_after, poll_in_process
from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks.sov import JOB_KINDS, JobKind, JobStatus, SovHook, check_outcome

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

DEFAULT_POLL_INTERVAL = 15.0
#: Default wait: SOV Fixer jobs take seconds to many minutes; two hours is a generous, finite cap.
DEFAULT_TIMEOUT = 2 * 60 * 60.0
#: How long after our own deadline Airflow's deferral timeout fires, as a backstop only.
DEFERRAL_GRACE = 300.0


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` from the Airflow configuration."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class SovWaitMixin:
    """
    How any task waits on one SOV Fixer job, in every mode; shared by sensors and operators.

    The deferrable path checks once before deferring (a finished job never defers), then hands a
    trigger an absolute deadline; the in-process path polls until the same deadline. Both end in
    :func:`~airflow_provider_sov.hooks.sov.check_outcome`, so they cannot disagree on a result.
    """

    sovfixer_conn_id: str
    accept_partial: bool
    deferrable: bool
    poll_interval: float
    timeout: float
    log: Any
    defer: Any

    def configure_wait(
        self, deferrable: bool | None, poll_interval: float | timedelta, timeout: float | timedelta
    ) -> None:
        """Set ``deferrable`` (default from the config), ``poll_interval`` (> 0 s) and ``timeout`` (>= 0 s)."""
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        poll = as_seconds(poll_interval, "poll_interval")
        if not poll:
            raise SovInputError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}.")
        self.poll_interval = poll
        self.timeout = as_seconds(timeout, "timeout") or 0.0

    @cached_property
    def hook(self) -> SovHook:
        """The hook for this task's connection (created on first use)."""
        return SovHook(self.sovfixer_conn_id)

    def wait_for_job(
        self,
        kind: JobKind,
        job_id: str,
        *,
        deferrable: bool,
        timeout: float,
        poll_interval: float,
        method_name: str = "execute_complete",
    ) -> JobStatus:
        """Wait for ``job_id`` to be terminal; defer when ``deferrable`` (this call then does not return)."""
        started = time.time()
        status = kind.status(self.hook, job_id)
        self.log.info("%s", status.progress_line())
        if status.terminal:
            return status
        if deferrable:
            self.defer_for_job(
                kind, job_id, timeout=timeout, poll_interval=poll_interval, method_name=method_name
            )
        return poll_in_process(
            functools.partial(kind.status, self.hook, job_id),
            status,
            label=kind.label,
            job_id=job_id,
            started=started,
            timeout=timeout,
            poll_interval=poll_interval,
            log=self.log,
        )

    def defer_for_job(
        self, kind: JobKind, job_id: str, *, timeout: float, poll_interval: float, method_name: str
    ) -> NoReturn:
        """Hand the wait to the triggerer with an absolute deadline fixed now."""
        from airflow_provider_sov.triggers.sov import TRIGGERS

        now = time.time()
        trigger = TRIGGERS[kind.name](
            job_id,
            deadline=deadline_after(timeout),
            sovfixer_conn_id=self.sovfixer_conn_id,
            poll_interval=poll_interval,
            timeout=timeout,
            wait_started=now,
        )
        self.log.info("Deferring the wait for %s %s (timeout %.0fs).", kind.label, job_id, timeout)
        self.defer(
            trigger=trigger, method_name=method_name, timeout=timedelta(seconds=timeout + DEFERRAL_GRACE)
        )
        raise AssertionError("unreachable")  # pragma: no cover - defer() always raises

    def status_from_event(self, kind: JobKind, job_id: str, event: Any) -> JobStatus:
        """Validate a trigger event and turn it back into a :class:`JobStatus` (or raise)."""
        checked = check_event(event, job_id, kind.label)
        return JobStatus(
            job_id=job_id,
            status=str(checked.get("job_status") or checked.get("status_text") or "COMPLETE"),
            terminal=True,
            succeeded=bool(checked.get("succeeded")),
            result_status=checked.get("result_status"),
            message=checked.get("message"),
            outputs=list(checked.get("outputs") or []),
        )

    def outcome(self, kind: JobKind, status: JobStatus) -> dict[str, Any]:
        """The job's result for XCom, or the typed failure."""
        return check_outcome(status, kind, accept_partial=self.accept_partial, log=self.log)


class SovJobSensor(SovWaitMixin, BaseSensorOperator):
    """
    Wait for one SOV Fixer job; the base of the per-kind sensors.

    Returns (pushes to XCom) the job's final result: ``job_id``, ``status``, ``result_status``,
    ``message`` and ``outputs``. A failed job raises :class:`~airflow_provider_sov.exceptions.SovJobFailedError`;
    a timeout raises :class:`~airflow_provider_sov.exceptions.SovTimeoutError` in every mode.

    :param sovfixer_conn_id: The Airflow connection.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param accept_partial: Treat a ``PARTIAL_PARSE`` result as usable (with a warning).
    :param poke_interval: Seconds between polls (default 15).
    :param timeout: Seconds to wait in all, in every mode (default 2 hours).
    """

    kind_name: ClassVar[str] = ""
    #: The argument that holds the ID to wait on (``sud_id``, ``sov_id`` or ``request_id``).
    id_field: ClassVar[str] = ""
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        sovfixer_conn_id: str = SovHook.default_conn_name,
        deferrable: bool | None = None,
        accept_partial: bool = False,
        poke_interval: timedelta | float = DEFAULT_POLL_INTERVAL,
        timeout: timedelta | float = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.sovfixer_conn_id = sovfixer_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.accept_partial = accept_partial

    @property
    def job_kind(self) -> JobKind:
        return JOB_KINDS[self.kind_name]

    @property
    def job_id(self) -> str:
        """The ID this sensor waits on: its ``id_field`` argument, once rendered, checked."""
        return check_id(getattr(self, self.id_field), self.id_field)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        status = self.job_kind.status(self.hook, self.job_id)
        self.log.info("%s", status.progress_line())
        if not status.terminal:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.outcome(self.job_kind, status))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        status = self.wait_for_job(
            self.job_kind,
            self.job_id,
            deferrable=True,
            timeout=as_seconds(self.timeout, "timeout") or 0.0,
            poll_interval=as_seconds(self.poke_interval, "poke_interval") or DEFAULT_POLL_INTERVAL,
        )
        return self.outcome(self.job_kind, status)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: accept only a known event for this job."""
        return self.outcome(self.job_kind, self.status_from_event(self.job_kind, self.job_id, event))


class SovUpdateSensor(SovJobSensor):
    """
    Wait for an SOV update (SUD) to finish; return its status, message and outputs.

    :param sud_id: The SUD ID (templated), e.g. from ``SovInitiateUpdateOperator``'s XCom.
    """

    kind_name = "update"
    id_field = "sud_id"
    template_fields: Sequence[str] = ("sud_id",)

    def __init__(self, *, sud_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sud_id = sud_id


class SovParseSensor(SovJobSensor):
    """
    Wait for a new SOV's parse job to finish; return its status, message and outputs.

    :param sov_id: The SOV ID returned by ``SovParseOperator`` (templated).
    """

    kind_name = "parse"
    id_field = "sov_id"
    template_fields: Sequence[str] = ("sov_id",)

    def __init__(self, *, sov_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sov_id = sov_id


class SovOutputSensor(SovJobSensor):
    """
    Wait for an output request to finish; return its status and the output (in ``outputs``).

    :param request_id: The output request ID from ``get_or_create_output`` (templated).
    """

    kind_name = "output"
    id_field = "request_id"
    template_fields: Sequence[str] = ("request_id",)

    def __init__(self, *, request_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.request_id = request_id
