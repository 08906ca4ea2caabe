"""
The shared poll loop: waits on one connection share one loop, one request per job, one budget.

Real triggers against the emulator over HTTP; every status read is recorded as it is sent.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections import Counter
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sov._shared.jobs import JobKind
from airflow_provider_sov._shared.poller import SLOT_SLACK, ConnectionPoller
from airflow_provider_sov.exceptions import SovConnectionConfigError
from airflow_provider_sov.hooks.sov import SovHook
from airflow_provider_sov.hooks.sov_jobs import SOV_FIXER
from airflow_provider_sov.triggers.sov import SovParseTrigger, SovUpdateTrigger
from tests.conftest import finish
from tests.harness import collect_events, eventually, waited_for_a_cpu

if TYPE_CHECKING:
    from airflow_provider_sov._shared.jobs import Reading

SOV = "s-no-ping-hggcsk"


@pytest.fixture
def reads(monkeypatch) -> list[tuple[float, str]]:
    """Every status read as it is sent: (monotonic time, job key). The hook's retries are inside one."""
    seen: list[tuple[float, str]] = []
    real = JobKind.aread

    async def recording(self: JobKind, hook: Any, ref: Any) -> Reading:
        seen.append((time.monotonic(), ref.key))
        return await real(self, hook, ref)

    monkeypatch.setattr(JobKind, "aread", recording)
    return seen


@pytest.fixture
def started(hook, corrections_csv, sov_emulator):
    """Start ``n`` updates; return their SUD IDs (the emulator's counters start from zero after)."""

    def start(n: int) -> list[str]:
        ids = []
        for _ in range(n):
            sud_id = hook.initiate_update(SOV)
            hook.add_locations(sud_id, corrections_csv)
            hook.start_update(sud_id)
            ids.append(sud_id)
        sov_emulator.reset_counts()
        return ids

    return start


def waiting(sud_id: str, *, poll: float, seconds: float = 30, **kwargs: Any) -> asyncio.Task[list[Any]]:
    trigger = SovUpdateTrigger(sud_id, deadline=time.time() + seconds, poll_interval=poll, **kwargs)
    return asyncio.create_task(collect_events(trigger))


async def test_waits_on_one_job_share_its_requests_and_each_gets_the_reading(started, sov_emulator, reads):
    a, b = started(2)
    tasks = [waiting(a, poll=0.2) for _ in range(20)] + [waiting(b, poll=0.2) for _ in range(5)]
    await asyncio.sleep(1.0)
    finish(sov_emulator)
    results = await asyncio.gather(*tasks)
    for sud_id, events in zip([a] * 20 + [b] * 5, results, strict=True):
        (event,) = events
        assert event.payload["status"] == "terminal" and event.payload["reading"]["succeeded"] is True
        assert event.payload["key"] == sud_id and event.payload["ref"] == {"job_id": sud_id}
    per_job = Counter(key for _, key in reads)
    # About 1.2 s at one read per 0.2 s: 6-8 reads per job; 25 waits reading alone would make 150.
    assert per_job[a] <= 9 and per_job[b] <= 9, per_job
    assert sov_emulator.count("update_status") == per_job[a] + per_job[b]


async def test_a_wait_joining_a_job_read_moments_ago_gets_that_reading_without_a_request(started, reads):
    (a,) = started(1)
    first = waiting(a, poll=1.0)
    assert await eventually(lambda: len(reads) == 1)
    joined = SovUpdateTrigger(a, deadline=time.time() + 30, poll_interval=1.0)
    async with ConnectionPoller.watch(
        joined.kind,
        joined.ref,
        joined.conn_id,
        interval=1.0,
        deadline=joined.deadline,
        policy=joined.retry_policy,
    ) as watch:
        reading = await asyncio.wait_for(watch.next(), 0.5)
        assert reading.job_id == a and reading.status and len(reads) == 1  # the first wait's reading, shared
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)


async def test_a_jobs_kept_reading_is_nothing_the_garbage_collector_carries(started, reads):
    """Kept for an interval, objects reach the collector's oldest generation: its full passes stall the loop."""
    (a,) = started(1)
    first = waiting(a, poll=1.0)
    assert await eventually(lambda: len(reads) == 1)
    (poller,) = ConnectionPoller.running(SOV_FIXER, "sovfixer_default")
    assert await eventually(lambda: ("update", a) in poller.last)  # the reading, once answered
    gc.collect()  # what holds only untracked values stops being tracked itself
    assert not [v for v in poller.last.values() if gc.is_tracked(v)]
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)


async def test_one_cancelled_wait_leaves_the_others_waiting(started, sov_emulator, reads):
    (a,) = started(1)
    leaving, staying = waiting(a, poll=0.05), waiting(a, poll=0.05)
    await asyncio.sleep(0.3)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    before = len(reads)
    await asyncio.sleep(0.3)
    assert len(reads) > before  # still polled for the wait that stayed
    finish(sov_emulator)
    (event,) = await staying
    assert event.payload["status"] == "terminal"
    # The loop ends (and closes its session) once it runs after its last wait left.
    assert await eventually(lambda: ConnectionPoller.running(SOV_FIXER, "sovfixer_default") == [])


async def test_a_poll_error_reaches_only_the_waits_on_that_job(started, sov_emulator, reads):
    (a,) = started(1)
    unknown = f"{SOV}-r099"  # no such update: 404, which ends a wait at once
    on_a = [waiting(a, poll=0.05) for _ in range(3)]
    on_unknown = [waiting(unknown, poll=0.05) for _ in range(3)]
    for events in await asyncio.gather(*on_unknown):
        (event,) = events
        assert event.payload["status"] == "error" and event.payload["http_status"] == 404
        assert unknown in event.payload["message"]
    assert not any(t.done() for t in on_a)  # the waits on a heard nothing of it
    finish(sov_emulator)
    for events in await asyncio.gather(*on_a):
        assert [e.payload["status"] for e in events] == ["terminal"]
    assert Counter(key for _, key in reads)[unknown] == 1  # one read answered all three


async def test_a_429_pauses_every_wait_on_the_connection(started, sov_emulator, reads):
    a, b = started(2)
    sov_emulator.inject("update_status", "status", status=429, retry_after="0.6", times=1, path_contains=a)
    tasks = [waiting(a, poll=0.05), waiting(b, poll=0.05)]
    await asyncio.sleep(1.2)
    finish(sov_emulator)
    await asyncio.gather(*tasks)
    times_b = [t for t, key in reads if key == b]
    gaps = [later - earlier for earlier, later in pairwise(times_b)]
    # b polls every 0.05 s, except while the loop waits out a's Retry-After: b waits with it.
    assert max(gaps) >= 0.5, gaps


async def test_waits_of_different_kinds_on_one_connection_share_its_loop_and_a_429s_pause(
    started, hook, sov_emulator, reads, tmp_path
):
    (update,) = started(1)
    workbook = tmp_path / "Harbor Storage.xlsx"
    workbook.write_bytes(b"PK\x03\x04 a workbook's bytes")
    parse = hook.start_parse(workbook)
    sov_emulator.reset_counts()
    sov_emulator.inject("update_status", "status", status=429, retry_after="0.6", times=1)
    deadline = time.time() + 30
    tasks = [
        waiting(update, poll=0.05),
        asyncio.create_task(collect_events(SovParseTrigger(parse, deadline=deadline, poll_interval=0.05))),
    ]
    assert await eventually(lambda: len(ConnectionPoller.running(SOV_FIXER, "sovfixer_default")) > 0, 5)
    # One loop for the connection, whatever the kinds: one budget and one pause for all of them.
    assert len(ConnectionPoller.running(SOV_FIXER, "sovfixer_default")) == 1
    await asyncio.sleep(1.2)
    finish(sov_emulator)
    await asyncio.gather(*tasks)
    times = [t for t, key in reads if key == parse]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    # The parse polls every 0.05 s, except while the loop waits out the update's Retry-After.
    assert max(gaps) >= 0.5, gaps


async def test_the_connection_budget_spaces_every_waits_requests(started, sov_emulator, reads, monkeypatch):
    conn = {
        "conn_type": "sovfixer",
        "host": sov_emulator.url,
        "password": sov_emulator.token,
        "extra": {"max_requests_per_second": 20},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SOV_BUDGET", json.dumps(conn))
    jobs = started(30)
    sov_emulator.rate_limit = 25  # a throttled API: 429 above 25 requests in any second
    tasks = [waiting(sud_id, poll=0.5, sovfixer_conn_id="sov_budget") for sud_id in jobs]  # 60 reads/s wanted
    waited = waited_for_a_cpu()
    await asyncio.sleep(3.0)
    # Seconds this loop was ready to run but another process had the CPU: on a busy machine the
    # loop cannot send in that time, and the budget is not to blame.
    starved = waited_for_a_cpu() - waited
    finish(sov_emulator)
    await asyncio.gather(*tasks)
    assert sov_emulator.throttled == 0  # under the budget the API never had to say no
    during = sorted(t for t, _ in reads)
    start = during[0]
    during = [t for t in during if t < start + 3.0]
    per_second = Counter(int(t - start) for t in during)
    assert max(per_second.values()) <= 20 * (1 + SLOT_SLACK) + 1, per_second  # never above the budget
    assert len(during) >= 50 * (3.0 - starved) / 3.0, (len(during), starved)  # and close to it: 20/s
    for sud_id in jobs:  # fair: most overdue first, so every wait is read at least every 2 s
        times = [t for t, key in reads if key == sud_id and t < start + 3.0]
        assert times and times[0] - start <= 2.0 + starved
        assert all(later - earlier <= 2.0 + starved for earlier, later in pairwise(times)), sud_id


async def test_without_a_budget_a_throttling_api_slows_the_loop_and_every_wait_ends(started, sov_emulator):
    jobs = started(30)
    sov_emulator.rate_limit = 25
    tasks = [waiting(sud_id, poll=0.2) for sud_id in jobs]  # 150 reads/s wanted, no budget
    await asyncio.sleep(2.0)
    finish(sov_emulator)
    for events in await asyncio.gather(*tasks):
        assert [e.payload["status"] for e in events] == ["terminal"]  # 429s paused the loop, failed nothing
    # The first 429s pause the whole loop for the API's Retry-After (15 requests refused here); waits
    # backing off one by one keep knocking (65 refused in the same run without the shared pause).
    assert 0 < sov_emulator.throttled <= 35, sov_emulator.throttled


@pytest.mark.parametrize("value", ["fast", 0, -5])
def test_a_bad_budget_names_the_extra(sov_emulator, monkeypatch, value):
    conn = {
        "conn_type": "sovfixer",
        "host": sov_emulator.url,
        "password": "t",
        "extra": {"max_requests_per_second": value},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SOV_BAD_BUDGET", json.dumps(conn))
    with pytest.raises(
        SovConnectionConfigError, match="extra 'max_requests_per_second' must be a positive number"
    ):
        _ = SovHook("sov_bad_budget").settings


def test_the_budget_is_read_from_the_connection_form_or_plain_extra(sov_emulator, monkeypatch):
    from airflow_provider_sov import get_provider_info

    forms = {c["connection-type"]: c["conn-fields"] for c in get_provider_info()["connection-types"]}
    assert all("max_requests_per_second" in fields for fields in forms.values())
    for conn_id, extra in (
        ("sov_form", {"extra__sovfixer__max_requests_per_second": "20"}),
        ("sov_plain", {}),
    ):
        conn = {"conn_type": "sovfixer", "host": sov_emulator.url, "password": "t", "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    assert SovHook("sov_form").settings.max_requests_per_second == 20.0
    assert SovHook("sov_plain").settings.max_requests_per_second is None


def test_the_loop_closes_its_session_when_the_event_loop_ends_as_the_last_wait_leaves(
    sov_connection, sov_emulator, monkeypatch
):
    # asyncio.run (as `airflow dags test` and a stopping triggerer do) cancels the loop while it is
    # cleaning up after its last wait: the session must be closed all the same.
    from airflow_provider_sov._shared.hook import ApiHook

    closed: list[bool] = []
    real_close = ApiHook.aclose

    async def recording_close(self: ApiHook) -> None:
        await real_close(self)
        closed.append(True)

    monkeypatch.setattr(ApiHook, "aclose", recording_close)
    sud_id = sov_emulator.sov.add_running_update(1)
    finish(sov_emulator)
    trigger = SovUpdateTrigger(sud_id, deadline=time.time() + 30, poll_interval=0.05)
    (event,) = asyncio.run(collect_events(trigger))
    assert event.payload["status"] == "terminal"
    assert closed == [True]
