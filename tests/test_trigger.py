"""SovUpdateTrigger: serialisable, deadline-bound, fault-tolerant, one event, never blocks the loop."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_provider_sov.triggers.sov import SovUpdateTrigger
from tests.conftest import finish
from tests.harness import LoopWatch, collect_events, eventually

SOV = "s-no-ping-hggcsk"


@pytest.fixture
def sud(hook, sov_emulator, corrections_csv):
    sud_id = hook.initiate_update(SOV)
    hook.add_locations(sud_id, corrections_csv)
    hook.start_update(sud_id)
    sov_emulator.reset_counts()
    return sud_id


def trigger(sud_id: str, *, in_seconds: float = 30, poll: float = 0.05, **kw) -> SovUpdateTrigger:
    return SovUpdateTrigger(sud_id, deadline=time.time() + in_seconds, poll_interval=poll, **kw)


def test_serialize_round_trip_is_plain_json():
    original = SovUpdateTrigger(
        "s-1-r001", deadline=1_900_000_000.5, sovfixer_conn_id="c", poll_interval=7, timeout=60
    )
    classpath, kwargs = original.serialize()
    assert classpath == "airflow_provider_sov.triggers.sov.SovUpdateTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = SovUpdateTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["deadline"] == 1_900_000_000.5  # absolute: a restart does not move it


async def test_deadline_already_past_times_out_at_once(sov_connection, sov_emulator):
    events = await collect_events(SovUpdateTrigger("s-1-r001", deadline=time.time() - 1, timeout=60))
    assert [e.payload["status"] for e in events] == ["timeout"]
    assert events[0].payload["timeout"] == 60
    assert sum(sov_emulator.counts.values()) == 0


async def test_finishing_on_the_last_poll_before_the_deadline_succeeds(sud, sov_emulator):
    async def complete_after_first_poll():
        while sov_emulator.count("update_status") < 1:
            await asyncio.sleep(0.01)
        finish(sov_emulator)

    helper = asyncio.create_task(complete_after_first_poll())
    events = await collect_events(trigger(sud, in_seconds=0.5, poll=60))
    await helper
    assert [e.payload["status"] for e in events] == ["terminal"]
    assert events[0].payload["reading"]["succeeded"] is True
    assert sov_emulator.count("update_status") == 2


async def test_not_finished_by_the_deadline_times_out_with_figures(sud, sov_emulator):
    events = await collect_events(trigger(sud, in_seconds=0.3, poll=0.1, timeout=0.3))
    payload = events[0].payload
    assert payload["status"] == "timeout" and payload["last_status"] == "PENDING"
    assert payload["waited"] >= 0.3 and payload["timeout"] == 0.3


@pytest.mark.parametrize(
    ("kind", "options"),
    [("status", {"status": 503, "times": 4}), ("reset", {"times": 3}), ("malformed_json", {"times": 2})],
)
async def test_transient_faults_within_budget_are_survived(sud, sov_emulator, kind, options):
    sov_emulator.inject("update_status", kind, **options)
    finish(sov_emulator)
    events = await collect_events(trigger(sud))
    assert events[0].payload["status"] == "terminal" and events[0].payload["reading"]["succeeded"]


async def test_faults_beyond_the_outage_tolerance_end_with_an_error_event(sud, sov_emulator):
    sov_emulator.inject("update_status", "status", status=503, times=None)
    events = await collect_events(trigger(sud, outage_tolerance=0))
    payload = events[0].payload
    assert payload["status"] == "error" and payload["error_class"] == "SovServerError"
    assert "kept failing for 0s (1 polls in a row; 0s tolerated)" in payload["message"], payload
    assert sov_emulator.count("update_status") == 1 * 3  # 1 poll x 3 tries


async def test_permanent_error_ends_at_once(sov_connection, sov_emulator):
    events = await collect_events(trigger("s-no-ping-nope-r001"))
    assert events[0].payload["status"] == "error" and events[0].payload["error_class"] == "SovNotFoundError"
    assert sov_emulator.count("update_status") == 1


@pytest.mark.parametrize(
    "unknown", ["REINDEXING", "DONE", "CANCELLED", "CANCELED", "ERROR", "SUCCEEDED", "TIMED_OUT", "complete"]
)
async def test_unknown_status_keeps_waiting(sud, sov_emulator, capsys, unknown):
    """A status the API does not document, however final it looks, is waited on, never judged."""
    sov_emulator.inject("update_status", "unknown_status", value=unknown, times=3)
    sov_emulator.advance(sov_emulator.job_seconds * 2)
    events = await collect_events(trigger(sud))
    assert events[0].payload["status"] == "terminal"
    assert events[0].payload["reading"]["status"] == "COMPLETE"  # the documented one, read after
    assert sov_emulator.count("update_status") == 4
    logged = capsys.readouterr().out
    assert f": {unknown} " in logged and "(unrecognised status; still waiting)" in logged


async def test_one_event_then_return(sud, sov_emulator):
    finish(sov_emulator)
    events = await collect_events(trigger(sud), limit=10)
    assert len(events) == 1


async def test_cancellation_propagates_and_releases_the_session(sud, sov_emulator):
    from airflow_provider_sov._shared import hook as hook_module

    task = asyncio.create_task(collect_events(trigger(sud, poll=30)))
    while sov_emulator.count("update_status") < 1:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The connection's poll loop closes the session once its last wait has gone.
    assert await eventually(lambda: hook_module._POOL._entries() == {})


@pytest.mark.loop_timing
async def test_run_never_blocks_the_event_loop(sud, sov_emulator):
    """A loop-stall detector: no step of run() may hold the loop for 50 ms."""

    async def complete_later():
        while sov_emulator.count("update_status") < 5:
            await asyncio.sleep(0.01)
        finish(sov_emulator)

    sov_emulator.inject("update_status", "status", status=503, times=2)
    helper = asyncio.create_task(complete_later())
    async with LoopWatch() as watch:
        events = await collect_events(trigger(sud, poll=0.02))
        await helper
    assert events[0].payload["status"] == "terminal"
    assert watch.worst < 0.05, str(watch)


async def test_the_stall_detector_catches_a_blocking_call_but_not_the_collector():
    """The two tests above can fail: a blocking sleep is charged, a full GC pause is not."""
    import gc

    async with LoopWatch() as blocked:
        await asyncio.sleep(0.01)
        time.sleep(0.08)
    assert blocked.worst >= 0.07, str(blocked)

    heap = [[n] for n in range(1_000_000)]  # enough objects for a collection to take tens of ms
    async with LoopWatch() as collected:
        await asyncio.sleep(0.01)
        gc.collect()
        await asyncio.sleep(0.01)
    del heap
    assert collected.gc_pauses > collected.worst + 0.01, str(collected)


async def test_the_stall_detector_leaves_out_waiting_for_a_busy_cpu_but_not_a_blocking_call():
    """On a busy machine the loop waits for a core: not a stall of ours. A blocking call still is."""
    import os
    import subprocess
    import sys

    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    hogs = [
        subprocess.Popen(
            [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"]
        )
        for _ in range(24)
    ]
    try:
        os.sched_setaffinity(0, {cpu})  # share one core with 24 busy processes
        await asyncio.sleep(0.3)
        async with LoopWatch() as busy:
            for _ in range(40):
                await asyncio.sleep(0.005)
        async with LoopWatch() as blocked:
            await asyncio.sleep(0.01)
            time.sleep(0.08)
    finally:
        os.sched_setaffinity(0, before)
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert busy.preempted > 0.05, str(busy)  # the loop did wait for the core ...
    assert busy.worst < 0.05, str(busy)  # ... and that was not charged as a stall
    assert blocked.worst >= 0.07, str(blocked)
