"""
The one polling trigger: every job trigger of both APIs is a :class:`JobTrigger` naming its kind.
It only reads (running twice at once, as Airflow may, is harmless), takes plain-JSON kwargs (the
job's ref, the wait's settings, the absolute deadline) and yields exactly one event.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

from airflow_provider_sov._shared.http import RetryPolicy
from airflow_provider_sov._shared.jobs import DEFERRAL_GRACE, Reading
from airflow_provider_sov._shared.outage import Outage
from airflow_provider_sov._shared.poller import ConnectionPoller
from airflow_provider_sov.exceptions import SovError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_sov._shared.jobs import JobKind, JobRef

#: Retries within one poll (transient HTTP failures), before the poll counts as failed.
TRIGGER_RETRY_POLICY = RetryPolicy(attempts=3, min_wait=1.0, max_wait=10.0)
#: One harmless Task SDK request per event loop (see :meth:`JobTrigger.warm_up_task_api`).
_warm_up: asyncio.Task[None] | None = None


def error_event(key: str, job_id: str | None, error: BaseException) -> dict[str, Any]:
    """Return the event for a failure: the error's class and message (naming the job), never a secret."""
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
    Poll one job of :attr:`kind` until it is final or its deadline passes; then send one event.

    Each poll's transient failures are retried by the hook; the wait rides out an outage for
    ``outage_tolerance`` seconds (None: the connection's) with backoff (:mod:`.outage`); any other
    error ends it at once. Its other kwargs are the kind's ref as JSON and its connection argument.

    :param deadline: Absolute UNIX time the wait times out. None when the scheduler started the wait
        (``start_from_trigger``): the other kwargs are then the task's ``task_fields``, rendered by
        Airflow before :meth:`run`, and the deadline is Airflow's deferral timeout less the grace.
    :param timeout: The configured timeout, for the timeout event; ``wait_started``: for the time waited.
    :param max_errors: Ignored (rows serialized by an earlier version carry it).
    :param end_from_trigger: End a successful wait here, storing the task's result in XCom unless
        ``xcom_push`` is False; anything else resumes the task.
    :param options: The task's options for the kind (``accept_partial``, ``invalid_grace``).
    """

    kind: ClassVar[JobKind[Any, Any]]
    retry_policy: ClassVar[RetryPolicy] = TRIGGER_RETRY_POLICY

    def __init__(
        self,
        *,
        deadline: float | None = None,
        poll_interval: float = 15.0,
        timeout: float | None = None,
        wait_started: float | None = None,
        outage_tolerance: float | None = None,
        max_errors: int | None = None,
        end_from_trigger: bool = False,
        options: dict[str, Any] | None = None,
        xcom_push: bool = True,
        **fields: Any,
    ) -> None:
        super().__init__()
        api = self.kind.api
        self.conn_id = str(fields.pop(api.conn_name_attr, None) or api.default_conn_name)
        self.poll_interval = float(poll_interval)
        self.outage_tolerance = None if outage_tolerance is None else float(outage_tolerance)
        self.end_from_trigger = bool(end_from_trigger)
        self.options = dict(options or {})
        self.xcom_push = bool(xcom_push)
        self.ref: JobRef | None
        if deadline is None:  # started by the scheduler: Airflow renders these before run()
            if timeout is None:
                raise TypeError(
                    f"{type(self).__name__} needs a deadline, or a timeout when the scheduler starts it"
                )
            if unknown := set(fields) - set(self.kind.task_fields):
                raise TypeError(f"{type(self).__name__} got unexpected arguments {sorted(unknown)}")
            for name in self.kind.task_fields:
                setattr(self, name, fields.get(name))
            self.ref, self.deadline, self.timeout = None, None, float(timeout)
            self.wait_started = float(wait_started) if wait_started is not None else None
            return
        self.ref = self.kind.ref_from_json(fields)  # a bad ref fails here, not on the triggerer's first poll
        self.deadline = float(deadline)
        self.wait_started = float(wait_started if wait_started is not None else time.time())
        self.timeout = float(timeout if timeout is not None else self.deadline - self.wait_started)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return classpath and plain-JSON kwargs; the deadline travels as an absolute time."""
        if self.ref is None:
            named = {name: getattr(self, name) for name in self.kind.task_fields}
        else:
            named = {**self.ref.to_json(), "deadline": self.deadline}
        settings: dict[str, Any] = {"options": self.options} if self.options else {}
        if self.outage_tolerance is not None:
            settings["outage_tolerance"] = self.outage_tolerance
        if self.end_from_trigger:
            settings.update(end_from_trigger=True, xcom_push=self.xcom_push)
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **named,
                self.kind.api.conn_name_attr: self.conn_id,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "wait_started": self.wait_started,
                **settings,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until final or past the deadline; yield exactly one event, then return."""
        if self.ref is None:
            try:
                self.begin()
            except SovError as exc:  # the task, resumed, raises the same error from the same arguments
                yield TriggerEvent({**error_event("", None, exc), "kind": self.kind.name, "ref": None})
                return
        if self.end_from_trigger and self.xcom_push and self.task_instance is not None:
            self.warm_up_task_api()
        event = await self.poll()
        if self.end_from_trigger and event["status"] == "terminal":
            result = self.task_result(event)
            if result is not None and (not self.xcom_push or await self.push_result(result)):
                yield TaskSuccessEvent()
                return
        assert self.ref is not None
        yield TriggerEvent({**event, "kind": self.kind.name, "ref": self.ref.to_json()})

    def begin(self) -> None:
        """Fix the ref and deadline of a wait the scheduler started (the deadline from Airflow's timeout)."""
        values = {name: getattr(self, name) for name in self.kind.task_fields}
        timeout_after = getattr(self, "timeout_after", None)
        if timeout_after is not None:
            self.deadline = timeout_after.timestamp() - DEFERRAL_GRACE
        else:  # not from a task's start arguments (e.g. created by hand): the wait begins now
            self.deadline = (self.wait_started or time.time()) + self.timeout
        self.wait_started = self.deadline - self.timeout
        self.ref = self.kind.ref_from_task(values, self.wait_started, self.options)  # checks the IDs
        self.log.info(
            "Started by the scheduler: waiting for %s until %s (timeout %.0fs).",
            self.kind.describe(self.ref),
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.deadline)),
            self.timeout,
        )

    def warm_up_task_api(self) -> None:
        """
        Make one harmless Task SDK request per event loop, in the background: the triggerer builds its
        execution API on the first one (seconds), which a stored result would otherwise wait for.
        """
        global _warm_up
        loop = asyncio.get_running_loop()
        if _warm_up is not None and _warm_up.get_loop() is loop:
            return
        ti = self.task_instance
        assert ti is not None

        async def read() -> None:
            from airflow.sdk.execution_time.xcom import XCom

            try:
                await XCom.aget_one(
                    key="return_value",
                    dag_id=ti.dag_id,
                    task_id=ti.task_id,
                    run_id=ti.run_id,
                    map_index=ti.map_index,
                )
            except Exception as exc:  # only a head start: storing the result later reports any failure
                self.log.debug("Warming up the Task SDK's API failed: %s", exc)

        _warm_up = loop.create_task(read(), name="airflow-provider-sov: warm up the Task SDK API")

    async def push_result(self, result: dict[str, Any]) -> bool:
        """
        Store ``result`` as the task's ``return_value`` XCom through the Task SDK, as a worker does
        (not as the event's ``xcoms``: Airflow 3.3 encodes those twice). False: the worker returns it.
        """
        ti = self.task_instance
        if ti is None:
            return False
        from airflow.sdk.execution_time.xcom import XCom  # the configured XCom backend

        try:
            await XCom.aset(
                key="return_value",
                value=result,
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                map_index=ti.map_index,
            )
        except Exception as exc:  # any failure: the worker can still return the result
            self.log.warning(
                "Could not store the result in XCom here (%s); the task resumes on a worker.", exc
            )
            return False
        return True

    def task_result(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The task's result for a final event, as the task would make it; None for a failed job."""
        assert self.ref is not None
        reading = Reading.from_json(event["reading"])
        try:
            return self.kind.result(reading, self.ref, self.options, log=self.log)
        except SovError as exc:
            self.log.info("%s; the task resumes on a worker to fail with this error.", exc.message)
            return None

    async def poll(self) -> dict[str, Any]:
        """The whole wait, on the connection's shared poll loop (:mod:`.poller`); return its one event."""
        kind, ref, wait_started = self.kind, self.ref, self.wait_started
        # Set by __init__, or by begin() for a wait the scheduler started.
        assert ref is not None and self.deadline is not None and wait_started is not None
        key, name = ref.key, kind.describe(ref)
        job_id: str | None = ref.job_id
        last_status: str | None = None

        def timed_out() -> dict[str, Any]:
            return {
                "status": "timeout",
                "key": key,
                "job_id": job_id,
                "last_status": last_status,
                "timeout": self.timeout,
                "waited": time.time() - wait_started,
            }

        if time.time() >= self.deadline:
            return timed_out()
        outage: Outage | None = None
        async with ConnectionPoller.watch(
            kind,
            ref,
            self.conn_id,
            interval=self.poll_interval,
            deadline=self.deadline,
            policy=self.retry_policy,
        ) as watch:
            while True:
                outcome = await watch.next()
                if isinstance(outcome, SovError):
                    if outage is None:
                        tolerance = self.outage_tolerance
                        outage = Outage(watch.outage_tolerance if tolerance is None else tolerance)
                    if not outage.rides_out(outcome):
                        return error_event(key, job_id, outage.gave_up(name, outcome))
                    self.log.warning("%s", outage.describe(name, outcome, self.poll_interval))
                else:
                    if outage is not None:
                        outage.ok()
                    last_status = outcome.status
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
