"""
One poll loop per API connection in a triggerer process, shared by every wait on that connection.

Each wait (a :class:`~.trigger.JobTrigger`) subscribes with a :class:`Watch`; the loop keeps one
timer, reads each distinct job once however many waits watch it, and hands every watcher the same
reading or error. With the connection extra ``max_requests_per_second`` it spaces all requests to
that budget, most overdue first; a 429 pauses the whole loop for its ``Retry-After``. A wait's own
rules (deadline, tolerance, its one event) stay in its trigger. Nothing outlives the process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
import json
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_sov._shared.http import RetryPolicy
from airflow_provider_sov._shared.jobs import Reading
from airflow_provider_sov._shared.outage import DEFAULT_OUTAGE_TOLERANCE, next_poll_in
from airflow_provider_sov.exceptions import SovError, SovRateLimitError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_sov._shared.connection import ConnSettings
    from airflow_provider_sov._shared.hook import ApiHook
    from airflow_provider_sov._shared.jobs import Api, JobKind, JobRef

#: How far behind the clock the budget's slots may fall and still be caught up (seconds): enough
#: for a busy loop's late wake-ups, too little to burst much above the budget in any one second.
SLOT_SLACK = 0.1
#: A job as the poller knows it: its kind and the key its events are matched on.
JobKey = tuple[str, str]


class Watch:
    """One wait's subscription: its job, how often it wants a reading (the last at ``deadline``), the latest one."""

    __slots__ = (
        "deadline",
        "due",
        "failures",
        "interval",
        "job",
        "kind",
        "outcome",
        "poller",
        "ref",
        "waiter",
    )

    def __init__(self, kind: JobKind[Any, Any], ref: JobRef, interval: float, deadline: float) -> None:
        self.kind, self.ref = kind, ref
        self.job: JobKey = (kind.name, ref.key)
        self.interval, self.deadline = interval, deadline
        self.due = time.time()  # the first reading at once
        self.outcome: Reading | SovError | None = None
        self.waiter: asyncio.Future[None] | None = None
        #: Failed polls in a row: the next is due later (:func:`~.outage.next_poll_in`).
        self.failures = 0
        self.poller: ConnectionPoller | None = None

    @property
    def outage_tolerance(self) -> float:
        """The connection's extra ``outage_tolerance`` (the default while it is unknown)."""
        settings = None if self.poller is None else self.poller.settings
        return DEFAULT_OUTAGE_TOLERANCE if settings is None else settings.outage_tolerance

    def deliver(self, outcome: Reading | SovError, now: float) -> None:
        """Hand over a reading (or error); the next is due an interval on (backing off), never past the deadline."""
        self.outcome = outcome
        self.failures = self.failures + 1 if isinstance(outcome, SovError) else 0
        wait = next_poll_in(self.interval, self.failures)
        self.due = min(now + wait, self.deadline) if self.deadline > now else now + wait
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def next(self) -> Reading | SovError:
        """Return the next reading, or the error a poll of this job ended with."""
        if self.outcome is None:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        outcome, self.outcome = self.outcome, None
        assert outcome is not None
        return outcome


@dataclasses.dataclass(frozen=True)
class _LoopPolicy(RetryPolicy):
    """The waits' retry policy, telling the loop of every 429 it waits out (so all requests pause)."""

    on_rate_limit: Any = dataclasses.field(default=None, compare=False, repr=False)

    def wait_seconds(self, attempt_number: int, error: BaseException | None) -> float:
        seconds = super().wait_seconds(attempt_number, error)
        if isinstance(error, SovRateLimitError) and self.on_rate_limit is not None:
            self.on_rate_limit(seconds)
        return seconds


class ConnectionPoller:
    """The poll loop of one API connection in this process; it starts with its first :meth:`watch`, ends after its last."""

    _running: ClassVar[dict[tuple[Any, ...], ConnectionPoller]] = {}

    def __init__(self, api: Api[Any], conn_id: str, policy: RetryPolicy, name: tuple[Any, ...]) -> None:
        self.api, self.conn_id, self.name = api, conn_id, name
        fields = {f.name: getattr(policy, f.name) for f in dataclasses.fields(policy)}
        self.policy = _LoopPolicy(**{**fields, "on_rate_limit": self.pause})
        self.watches: dict[JobKey, set[Watch]] = {}
        self.heap: list[tuple[float, int, JobKey]] = []
        self.due: dict[JobKey, float] = {}
        #: Each watched job's latest reading and when it was read (errors are not kept: a new wait reads),
        #: as JSON text: a reading kept for an interval would be promoted to the collector's oldest
        #: generation and make its full passes (the loop's longest stalls) more frequent; a string is
        #: not tracked at all. Only what a trigger uses is kept (not ``private``).
        self.last: dict[JobKey, tuple[float, str]] = {}
        self.in_flight: set[JobKey] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.order = itertools.count()
        #: What the loop sleeps on until its next read is due; set early by :meth:`wake`.
        self.sleeping: asyncio.Future[None] | None = None
        self.paused_until = 0.0
        self.next_slot = 0.0
        self.rate: float | None = None
        self.settings: ConnSettings | None = None
        self.loop_task: asyncio.Task[None] | None = None

    @classmethod
    @asynccontextmanager
    async def watch(
        cls,
        kind: JobKind[Any, Any],
        ref: JobRef,
        conn_id: str,
        *,
        interval: float,
        deadline: float,
        policy: RetryPolicy,
    ) -> AsyncIterator[Watch]:
        """Watch one job on ``conn_id`` until the block ends (a cancelled wait ends it too)."""
        name = (asyncio.get_running_loop(), kind.api, conn_id, policy)
        poller = cls._running.get(name)
        if poller is None:
            poller = cls._running[name] = cls(kind.api, conn_id, policy, name)
        watch = Watch(kind, ref, interval, deadline)
        watch.poller = poller
        poller.add(watch)
        try:
            yield watch
        finally:
            poller.remove(watch)
            if not poller.watches and poller.loop_task is not None:
                # The last wait out sees the loop end and its HTTP session closed before its event
                # goes out; an event loop stopping right after it would otherwise leave it open.
                await asyncio.wait({poller.loop_task})

    @classmethod
    def running(cls, api: Api[Any], conn_id: str) -> list[ConnectionPoller]:
        """Return this event loop's pollers for a connection (for tests and benchmarks)."""
        loop = asyncio.get_running_loop()
        return [p for (lp, a, conn, _), p in cls._running.items() if (lp, a, conn) == (loop, api, conn_id)]

    def add(self, watch: Watch) -> None:
        """Start watching; a job read less than this wait's interval ago hands it that reading at once."""
        watchers = self.watches.setdefault(watch.job, set())
        watchers.add(watch)
        last = self.last.get(watch.job)
        if last is not None and time.time() - last[0] < watch.interval:
            kept, detail = json.loads(last[1])
            reading = dataclasses.replace(Reading.from_json(kept), detail=detail)
            watch.deliver(reading, last[0])  # the job's latest reading: no second request for it
        self.schedule(watch.job)
        if self.loop_task is None:
            self.loop_task = asyncio.get_running_loop().create_task(self.run(), name=f"poll {self.conn_id}")

    def remove(self, watch: Watch) -> None:
        watchers = self.watches.get(watch.job)
        if watchers is not None:
            watchers.discard(watch)
            if not watchers:
                del self.watches[watch.job]
                self.due.pop(watch.job, None)
                self.last.pop(watch.job, None)
        if not self.watches:
            if self._running.get(self.name) is self:
                del self._running[self.name]  # a wait that comes now starts a new loop: this one ends
            self.wake()  # the loop sees it has nothing left and ends

    def schedule(self, job: JobKey) -> None:
        """(Re)queue ``job`` for when its soonest watcher is due (not while it is being read)."""
        watchers = self.watches.get(job)
        if not watchers or job in self.in_flight:
            return
        due = min(w.due for w in watchers)
        if self.due.get(job) == due:
            return
        self.due[job] = due
        heapq.heappush(self.heap, (due, next(self.order), job))
        if self.heap[0][2] == job:
            self.wake()

    def wake(self) -> None:
        """Wake the loop if it sleeps: a job became due sooner, or the last watch left."""
        if self.sleeping is not None and not self.sleeping.done():
            self.sleeping.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` or until :meth:`wake`: one future and one timer, no task per sleep."""
        loop = asyncio.get_running_loop()
        self.sleeping = loop.create_future()
        timer = loop.call_later(seconds, self.wake)
        try:
            await self.sleeping
        finally:
            timer.cancel()
            self.sleeping = None

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a 429 said so): every wait on the connection slows, none alone."""
        self.paused_until = max(self.paused_until, time.time() + seconds)

    async def run(self) -> None:
        hook = self.api.hook_class()(self.conn_id, retry_policy=self.policy)
        cancelled = False
        try:
            await self.read_budget(hook)
            started = 0
            while True:
                if not self.watches:
                    break  # the last watch left and took the loop out of the registry: no new one joins
                now = time.time()
                while self.heap and self.due.get(self.heap[0][2]) != self.heap[0][0]:
                    heapq.heappop(self.heap)  # stale: re-queued later, read already, or no longer watched
                start = max(self.heap[0][0] if self.heap else now + 3600.0, self.paused_until, self.next_slot)
                if start > now:
                    await self.sleep(start - now)
                    continue
                _, _, job = heapq.heappop(self.heap)
                del self.due[job]
                self.in_flight.add(job)
                if self.rate:
                    # Slots follow each other, not the clock: a loop that woke a little late sends the
                    # next request sooner, so the budget is used in full (never more than SLOT_SLACK ahead).
                    self.next_slot = max(now - SLOT_SLACK, self.next_slot) + 1.0 / self.rate
                task = asyncio.get_running_loop().create_task(self.read(hook, job))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                started += 1
                if started % 100 == 0:
                    await asyncio.sleep(0)  # thousands due at once: let the loop breathe between them
        except asyncio.CancelledError:
            cancelled = True  # the process is stopping: its waits are cancelled too, and resume elsewhere
            raise
        finally:
            if self._running.get(self.name) is self:
                del self._running[self.name]
            if not cancelled:
                stopped = SovError(
                    f"The poll loop of connection {self.conn_id!r} stopped before this wait ended.",
                    hint="Clear the task to wait again; it reattaches to the same job.",
                )
                for watchers in list(self.watches.values()):
                    for watch in watchers:
                        watch.deliver(stopped, time.time())  # no wait is left waiting for a loop that is gone
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await hook.aclose()

    async def read_budget(self, hook: ApiHook) -> None:
        """Read the connection's budget and tolerance (a bad connection fails each wait instead)."""
        try:
            self.settings = await hook.asettings()
            self.rate = self.settings.max_requests_per_second
        except SovError:
            self.rate = None  # the first read fails the same way, with the same message, for every wait

    async def read(self, hook: ApiHook, job: JobKey) -> None:
        """Read one job's status and hand the outcome to every wait watching it."""
        watchers = self.watches.get(job)
        if not watchers:
            self.in_flight.discard(job)
            return
        some = next(iter(watchers))
        outcome: Reading | SovError
        try:
            outcome = await some.kind.aread(hook, some.ref)
        except SovError as exc:
            outcome = exc
        finally:
            self.in_flight.discard(job)
        now = time.time()
        if job in self.watches:
            if isinstance(outcome, SovError):
                self.last.pop(job, None)
            else:
                self.last[job] = (now, json.dumps([outcome.to_json(), outcome.detail]))
        for watch in list(self.watches.get(job, ())):
            watch.deliver(outcome, now)
        self.schedule(job)
