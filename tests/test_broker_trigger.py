"""DFileGenerationTrigger against the emulated Broker: deadline-bound, fault-tolerant, never blocks."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_sov.hooks.broker import DataActBrokerHook
from airflow_provider_sov.triggers.broker import DFileGenerationTrigger
from tests.harness import LoopWatch, collect_events, eventually

D1 = {"start": "10/01/2025", "end": "12/31/2025"}


@pytest.fixture
def d1(broker_emulator):
    DataActBrokerHook().generate_file(1001, "D1", **D1)
    broker_emulator.reset_counts()
    return {"submission_id": 1001, "file_type": "D1"}


def trigger(target: dict, *, in_seconds: float = 30, poll: float = 0.05, **kw) -> DFileGenerationTrigger:
    return DFileGenerationTrigger(**target, deadline=time.time() + in_seconds, poll_interval=poll, **kw)


async def test_still_waiting_at_the_deadline_times_out_with_figures(d1):
    (event,) = await collect_events(trigger(d1, in_seconds=0.3, poll=0.1, timeout=0.3))
    assert event.payload["status"] == "timeout" and event.payload["last_status"] == "waiting"
    assert event.payload["waited"] >= 0.3 and event.payload["key"] == "submission 1001 D1"


@pytest.mark.parametrize(
    ("kind", "options"),
    [("status", {"status": 503, "times": 4}), ("reset", {"times": 3}), ("malformed_json", {"times": 2})],
)
async def test_transient_faults_within_budget_are_survived(d1, broker_emulator, kind, options):
    broker_emulator.inject("check_generation_status", kind, **options)
    broker_emulator.advance(60)
    (event,) = await collect_events(trigger(d1))
    assert event.payload["reading"]["status"] == "finished" and event.payload["reading"]["succeeded"]


async def test_faults_beyond_the_outage_tolerance_end_with_an_error_event(d1, broker_emulator):
    broker_emulator.inject("check_generation_status", "status", status=503, times=None)
    (event,) = await collect_events(trigger(d1, outage_tolerance=0))
    assert event.payload["status"] == "error" and event.payload["error_class"] == "SovServerError"
    assert broker_emulator.count("check_generation_status") == 1 * 3  # 1 poll x 3 tries


async def test_a_permanent_error_ends_at_once(broker_emulator):
    (event,) = await collect_events(trigger({"submission_id": 999999, "file_type": "D1"}))
    assert event.payload["error_class"] == "SovBadRequestError"
    assert "No such submission" in event.payload["message"]
    assert broker_emulator.count("check_generation_status") == 1


@pytest.mark.parametrize(
    "unknown", ["running", "done", "complete", "succeeded", "cancelled", "error", "ready"]
)
async def test_an_unknown_status_keeps_waiting(d1, broker_emulator, capsys, unknown):
    """A status the Broker does not document, however final it looks, is waited on, never judged."""
    broker_emulator.inject("check_generation_status", "unknown_status", value=unknown, times=3)
    broker_emulator.advance(60)
    (event,) = await collect_events(trigger(d1))
    assert event.payload["reading"]["status"] == "finished"
    assert broker_emulator.count("check_generation_status") == 4
    assert f"{unknown} (unrecognised status; still waiting)" in capsys.readouterr().out


async def test_invalid_within_the_grace_period_keeps_waiting(broker_emulator):
    DataActBrokerHook().generate_file(1001, "F")  # reads invalid until picked up (5 s)

    async def pick_up_later():
        while broker_emulator.count("check_generation_status") < 3:
            await asyncio.sleep(0.01)
        broker_emulator.advance(60)

    helper = asyncio.create_task(pick_up_later())
    target = {"submission_id": 1001, "file_type": "F"}
    events = await collect_events(trigger(target, requested_at=time.time(), invalid_grace=30))
    await helper
    assert [e.payload["reading"]["status"] for e in events] == ["finished"]


async def test_invalid_after_the_grace_period_is_final(broker_emulator):
    target = {"submission_id": 1001, "file_type": "D2"}  # never requested
    (event,) = await collect_events(trigger(target, requested_at=time.time() - 10, invalid_grace=5))
    assert event.payload["reading"]["status"] == "invalid" and not event.payload["reading"]["succeeded"]
    assert broker_emulator.count("check_generation_status") == 1


async def test_cancellation_propagates_and_releases_the_session(d1, broker_emulator):
    from airflow_provider_sov._shared import hook as hook_module

    task = asyncio.create_task(collect_events(trigger(d1, poll=30)))
    while broker_emulator.count("check_generation_status") < 1:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The connection's poll loop closes the session once its last wait has gone.
    assert await eventually(lambda: hook_module._POOL._entries() == {})


@pytest.mark.loop_timing
async def test_run_never_blocks_the_event_loop(d1, broker_emulator):
    """A loop-stall detector: no step of run() may hold the loop for 50 ms, log-in included."""

    async def finish_later():
        while broker_emulator.count("check_generation_status") < 5:
            await asyncio.sleep(0.01)
        broker_emulator.advance(60)

    broker_emulator.broker.expire_sessions()  # the trigger logs in again on the way
    broker_emulator.inject("check_generation_status", "status", status=503, times=2)
    helper = asyncio.create_task(finish_later())
    async with LoopWatch() as watch:
        (event,) = await collect_events(trigger(d1, poll=0.02))
        await helper
    assert event.payload["reading"]["status"] == "finished"
    assert watch.worst < 0.05, str(watch)


@pytest.mark.parametrize(("mode", "start_route"), [("login", "login"), ("proxy", "active_user")])
async def test_many_triggers_on_one_account_start_one_session(
    broker_emulator, monkeypatch, mode, start_route
):
    """A triggerer full of waits logs in once, and renews an expired session once for all of them."""
    from tests.conftest import use_broker

    use_broker(monkeypatch, broker_emulator, mode)
    targets = [{"submission_id": 1001, "file_type": t} for t in ("D1", "D2")]
    DataActBrokerHook().generate_file(1001, "D2", **D1)
    DataActBrokerHook().generate_file(1001, "D1", **D1)
    broker_emulator.broker.expire_sessions()
    broker_emulator.reset_counts()

    async def finish_later():
        while broker_emulator.count("check_generation_status") < 20:
            await asyncio.sleep(0.01)
        broker_emulator.advance(60)

    helper = asyncio.create_task(finish_later())
    runs = [collect_events(trigger(targets[i % 2], poll=0.05)) for i in range(10)]
    results = await asyncio.gather(*runs)
    await helper
    assert all(events[0].payload["reading"]["status"] == "finished" for events in results)
    assert broker_emulator.count(start_route) == 1  # the stale session is renewed once, for all ten
