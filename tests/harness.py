"""Drive operators and sensors the way Airflow does, in-process: deferrals, reschedules, retries."""

from __future__ import annotations

import asyncio
import copy
import functools
import gc
import threading
import time
from datetime import UTC, datetime
from typing import Any

from airflow_provider_sov._shared.compat import AirflowRescheduleException, TaskDeferred


class FakeTI:
    """The bits of a task instance our tasks and BaseSensorOperator use."""

    def __init__(self) -> None:
        self.dag_id, self.run_id, self.task_id, self.map_index = "dag", "run", "task", -1
        self.first_reschedule: Any = None
        self.xcoms: dict[str, Any] = {}

    def get_first_reschedule_date(self, context: Any) -> Any:
        return self.first_reschedule

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


class MemoryStateStore(dict):
    """A task state store that survives "retries" within one test; like Airflow's, it refuses None."""

    def set(self, key: str, value: Any) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def make_context(store: MemoryStateStore | None = None) -> dict[str, Any]:
    return {"ti": FakeTI(), "task_state_store": MemoryStateStore() if store is None else store}


async def eventually(condition: Any, seconds: float = 1.0) -> bool:
    """Whether ``condition()`` holds within ``seconds``, letting the event loop run meanwhile."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def collect_events(trigger: Any, limit: int = 5) -> list[Any]:
    """Every event a trigger yields (it must stop by itself)."""
    events = []
    async for event in trigger.run():
        events.append(event)
        if len(events) >= limit:
            break
    return events


def waited_for_a_cpu() -> float:
    """
    Seconds this thread has spent runnable but waiting for a CPU (Linux's schedstat run delay): time
    another process took, not time the code under test held the loop. 0 where the kernel has none.
    """
    try:
        with open("/proc/thread-self/schedstat") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class LoopWatch:
    """
    A loop-stall detector: ``worst`` is the longest the event loop was held past a 5 ms tick
    while the ``async with`` body ran, not counting time the garbage collector took, nor time the
    loop's thread waited for a CPU that other processes had.

    A full collection stops every thread for as long as the process's heap takes to walk (over
    150 ms late in a long test session); that is the interpreter's pause, not a blocking call in
    the code under test, so it is measured apart (``gc_pauses``) and left out of ``worst``. On a
    busy machine the thread also waits for a core while runnable (``preempted``): a blocking call
    sleeps instead, so leaving that wait out keeps every blocking call in ``worst``.
    """

    def __init__(self) -> None:
        self.worst = 0.0
        self.gc_pauses = 0.0
        self.preempted = 0.0
        self._collecting_since = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._collecting_since = time.perf_counter()
        else:
            self.gc_pauses += time.perf_counter() - self._collecting_since

    async def _watch(self) -> None:
        while not self._stop.is_set():
            before, gc_before, waited_before = time.perf_counter(), self.gc_pauses, waited_for_a_cpu()
            await asyncio.sleep(0.005)
            waited = waited_for_a_cpu() - waited_before
            self.preempted += waited
            held = time.perf_counter() - before - 0.005 - (self.gc_pauses - gc_before) - waited
            self.worst = max(self.worst, held)

    def __str__(self) -> str:
        return (
            f"the event loop stalled for {self.worst * 1000:.0f} ms ({self.gc_pauses * 1000:.0f} ms of GC "
            f"and {self.preempted * 1000:.0f} ms waiting for a CPU left out)"
        )

    async def __aenter__(self) -> LoopWatch:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task
        gc.callbacks.remove(self._on_gc)


def finish_after_reads(server, route: str, reads: int, seconds: float) -> threading.Thread:
    """Move the emulator's clock ``seconds`` on once ``route`` has been read ``reads`` times."""

    def run() -> None:
        deadline = time.monotonic() + 120
        while server.count(route) < reads and time.monotonic() < deadline:
            time.sleep(0.01)
        server.advance(seconds)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def rebuilt(trigger: Any) -> Any:
    """The trigger as the triggerer builds it: from its classpath and its kwargs, through JSON."""
    import importlib
    import json

    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))


def run_task(task: Any, context: dict[str, Any], *, between: Any = None) -> Any:
    """
    Execute ``task`` like Airflow: a deferral runs its trigger to its one event and resumes the
    task's method with it; a reschedule waits until the date it asks for and runs the task again.
    """
    # Each run after a reschedule is a new process in Airflow, with the task as the DAG file made it:
    # nothing a run kept on the task object may reach the next.
    pristine = copy.deepcopy(task)
    step: Any = functools.partial(task.execute, context)
    while True:
        try:
            return step()
        except TaskDeferred as deferred:
            events = asyncio.run(collect_events(rebuilt(deferred.trigger)))
            assert len(events) == 1, events
            method = getattr(task, deferred.method_name)
            step = functools.partial(method, context, event=events[0].payload, **(deferred.kwargs or {}))
        except AirflowRescheduleException as rescheduled:
            if context["ti"].first_reschedule is None:
                context["ti"].first_reschedule = datetime.now(UTC)
            if between is not None:
                between()
            # As the scheduler does: the task runs again at the date it asked for.
            time.sleep(max(0.0, (rescheduled.reschedule_date - datetime.now(UTC)).total_seconds()))
            task = copy.deepcopy(pristine)
            step = functools.partial(task.execute, context)


async def sov_status_body(hook: Any, kind: str, job_id: str) -> Any:
    """An SOV Fixer job's status body on the async path (``kind``: update, parse, output): what triggers read."""
    from airflow_provider_sov.hooks import sov_jobs

    job_kind = {"update": sov_jobs.UPDATE, "parse": sov_jobs.PARSE, "output": sov_jobs.OUTPUT}[kind]
    return await job_kind.aread_status(hook, job_kind.ref_from_json({"job_id": job_id}))
