"""
The one polling trigger: every job trigger of both APIs is a :class:`JobTrigger` naming its kind.

It only reads, so running twice at once (as Airflow may) is harmless. Its kwargs are the job's ref
plus the wait's settings, all plain JSON; the deadline is the absolute time fixed when the wait
began. It yields exactly one event, then returns.

A wait the scheduler starts in the triggerer (a sensor's ``start_from_trigger``) is created from
the task's own arguments instead of a ref: Airflow renders them in the triggerer before
:meth:`JobTrigger.run`, which then makes the ref with the kind's ``ref_from_task`` and takes the deadline
from Airflow's deferral timeout (fixed in the metadata DB when the scheduler deferred the task).
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
#: The triggerer's first Task SDK request builds its execution API (seconds); one harmless request
#: per event loop, made when a wait that may store a result begins, takes that off the result's path.
_warm_up: asyncio.Task[None] | None = None


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
    bodies) are retried by the hook within each poll, and the wait rides out an outage of the API
    for ``outage_tolerance`` seconds from its first failed poll, polling with backoff meanwhile
    (:mod:`.outage`); a good reading ends the outage. Any other error (401, 404, 409, a 400, a TLS
    failure) ends the wait at once with that error. A subclass sets :attr:`kind` (whose ``trigger``
    names the subclass: the class its waits defer to); its other kwargs are the kind's ref as JSON (e.g. ``job_id``) and its
    connection argument (e.g. ``sovfixer_conn_id``).

    :param deadline: Absolute UNIX time after which the wait times out; fixed when the wait began.
        None when the scheduler started the wait: its other kwargs are then the task's arguments that
        name the job (the kind's ``task_fields``), rendered by Airflow before :meth:`run`, and the
        deadline is Airflow's deferral timeout less :data:`DEFERRAL_GRACE`.
    :param poll_interval: Seconds between polls.
    :param timeout: The configured timeout in seconds, reported in a timeout event.
    :param wait_started: UNIX time the wait began, to report the time waited.
    :param outage_tolerance: Seconds of failed polls ridden out (the task's ``outage_tolerance``);
        None: the connection's extra ``outage_tolerance``, else 600.
    :param max_errors: Ignored (a trigger serialized by an earlier version may still carry it).
    :param end_from_trigger: End the task here when its job succeeded: a ``TaskSuccessEvent`` with
        the task's result as its ``return_value`` XCom. Anything else resumes the task as usual.
    :param options: The task's options for the kind (``accept_partial``, ``invalid_grace``).
    :param xcom_push: Whether a wait it ends stores the result (the task's ``do_xcom_push``).
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
        """
        Fix the ref and the deadline of a wait the scheduler started, from the task's rendered
        arguments and Airflow's deferral timeout (absolute, in the metadata DB: a restart keeps it).
        """
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
        Read this task's own (not yet stored) result in the background, once per event loop: the
        triggerer builds its execution API on the first Task SDK request (about 4 s here), and a
        result stored without this would wait for that at the moment the job finished.
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
        Store ``result`` as the task's ``return_value`` XCom through the Task SDK, as a worker does.

        Not as the event's ``xcoms``: Airflow 3.3 stores those JSON-encoded twice, so a downstream
        task would get a string, not the result. Return False when it cannot be stored here (no task
        instance, or the call failed): the task then resumes on a worker and returns it from there.
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
        """
        Return the task's result for a final event, exactly as the task would make it from the same
        event; None when that raises (a failed job): the task then resumes on a worker to raise it.
        """
        assert self.ref is not None
        reading = Reading.from_json(event["reading"])
        try:
            return self.kind.result(reading, self.ref, self.options, log=self.log)
        except SovError as exc:
            self.log.info("%s; the task resumes on a worker to fail with this error.", exc.message)
            return None

    async def poll(self) -> dict[str, Any]:
        """
        Return the whole wait: readings until final or the deadline; return the one event.

        The readings come from the connection's shared poll loop (:mod:`.poller`): one request per
        job however many waits watch it, within the connection's request budget.
        """
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
