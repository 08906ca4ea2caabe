"""SovHistoryTrigger: one event per new record, filters, and a position that survives restarts."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.triggers.sov import SovHistoryTrigger
from tests.conftest import finish

SOV = "s-no-ping-hggcsk"
PAST = "20000101000000"


class FakeAssetStore:
    """The asset state store the triggerer injects, kept in memory."""

    def __init__(self) -> None:
        self.data: dict = {}

    async def aget(self, key, default=None):
        return self.data.get(key, default)

    async def aset(self, key, value):
        self.data[key] = json.loads(json.dumps(value))  # stored as JSON, as Airflow does


async def take(trigger: SovHistoryTrigger, n: int, timeout: float = 3.0) -> list[dict]:
    """Up to ``n`` event payloads, or what came before ``timeout`` (the trigger never ends)."""
    events: list[dict] = []
    stream = trigger.run()
    try:
        async with asyncio.timeout(timeout):
            async for event in stream:
                events.append(event.payload)
                if len(events) == n:
                    break
    except TimeoutError:
        pass
    finally:
        await stream.aclose()
    return events


def watcher(store: FakeAssetStore | None = None, **kwargs) -> SovHistoryTrigger:
    kwargs.setdefault("poll_interval", 0.05)
    trigger = SovHistoryTrigger(**kwargs)
    trigger.asset_state_store = store  # type: ignore[assignment]
    return trigger


def record_ids(server) -> list[str]:
    """The feed's record IDs, oldest first: opaque strings, as the vendor's types have them."""
    return [r["id"] for r in server.sov.history]


def run_update(hook, server, *, client_ref=None, fail=False, update_type="SCRUB") -> str:
    """Run one update to its end; return its ``client_ref`` (a fresh one unless given), which
    names its history record: a record carries no SUD ID."""
    client_ref = client_ref or f"ref-{len(server.sov.history)}"
    if fail:
        server.sov.script_next("update", "FAILED_TO_PROCESS", "boom")
    server.advance(5)  # each update completes in a later second than the last
    sud_id = hook.initiate_update(SOV, update_type=update_type, client_ref=client_ref)
    hook.start_update(sud_id)
    finish(server, 60)
    return client_ref


def test_serialize_round_trip_and_bad_start():
    trigger = SovHistoryTrigger(
        record_types=["SCRUB"], client_ref_prefix="n", start="20260101000000", page_size=50
    )
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs and SovHistoryTrigger(**kwargs).serialize() == (
        classpath,
        kwargs,
    )
    with pytest.raises(SovInputError, match="YYYYmmddHHMMSS"):
        SovHistoryTrigger(start="2026-01-01")


async def test_each_record_once_across_overlapping_pages(sov_connection, sov_emulator):
    events = await take(watcher(start=PAST, page_size=1), n=10, timeout=1.5)
    assert [e["id"] for e in events] == record_ids(sov_emulator) and len(events) == 3
    assert all(isinstance(e["id"], str) and e["client_ref"] is None for e in events)
    assert [e["sovid"] for e in events] == list(sov_emulator.sov.sovs)
    assert {e["record_type"] for e in events} == {"ORIG"} and all(e["status"] == "C" for e in events)
    assert set(events[0]) == {
        "id",
        "sovid",
        "pingid",
        "record_type",
        "revision",
        "status",
        "client_ref",
        "is_data_ready",
        "completed_time",
        "incremental",
    }


async def test_filters(hook, sov_emulator):
    ok = run_update(hook, sov_emulator, client_ref="nightly-1")
    bad = run_update(hook, sov_emulator, client_ref="nightly-2", fail=True)
    run_update(hook, sov_emulator, client_ref="adhoc", update_type="API")
    scrubs = await take(watcher(start=PAST, record_types=["SCRUB"]), n=5, timeout=1)
    assert [e["client_ref"] for e in scrubs] == [ok, bad]
    ready = await take(watcher(start=PAST, client_ref_prefix="nightly", only_data_ready=True), n=5, timeout=1)
    assert [e["client_ref"] for e in ready] == [ok]
    failures = await take(watcher(start=PAST, only_failures=True), n=5, timeout=1)
    assert [(e["client_ref"], e["status"], e["is_data_ready"]) for e in failures] == [(bad, "F", False)]


async def test_restart_resumes_without_replaying(hook, sov_emulator):
    store = FakeAssetStore()
    first = await take(watcher(store, start=PAST), n=10, timeout=1)  # runs on after its events
    assert [e["id"] for e in first] == record_ids(sov_emulator) and len(first) == 3
    client_ref = run_update(hook, sov_emulator)
    # A new trigger instance (as after a triggerer restart) with the same asset state.
    second = await take(watcher(store, start=PAST), n=5, timeout=1.5)
    assert [e["client_ref"] for e in second] == [client_ref]
    assert store.data[SovHistoryTrigger.STATE_KEY]["since"] == sov_emulator.sov.history[-1]["completed_time"][
        :19
    ].replace("-", "").replace("T", "").replace(":", "")


async def test_without_a_start_only_new_completions_count(hook, sov_emulator):
    trigger = watcher()

    async def later():
        await asyncio.sleep(0.3)
        return run_update(hook, sov_emulator)

    updater = asyncio.create_task(later())
    events = await take(trigger, n=5, timeout=1.5)
    client_ref = await updater
    assert [e["client_ref"] for e in events] == [client_ref]


async def test_transient_feed_errors_are_survived(hook, sov_emulator):
    sov_emulator.inject("history", "status", status=503, times=4)
    events = await take(watcher(start=PAST), n=3, timeout=3)
    assert [e["id"] for e in events] == record_ids(sov_emulator) and len(events) == 3


async def test_a_crash_right_after_an_event_repeats_only_that_event(sov_connection, sov_emulator):
    """At least once: stopped between handing over an event and saving, it repeats that one."""
    store = FakeAssetStore()
    ids = record_ids(sov_emulator)
    assert [e["id"] for e in await take(watcher(store, start=PAST), n=2)] == ids[:2]  # stops at the 2nd yield
    again = await take(watcher(store, start=PAST), n=10, timeout=1)
    assert [e["id"] for e in again] == ids[1:3]


async def test_a_malformed_record_is_skipped_not_fatal(sov_connection, sov_emulator):
    sov_emulator.sov.history[1]["completed_time"] = "yesterday"
    events = await take(watcher(start=PAST), n=10, timeout=1)
    ids = record_ids(sov_emulator)
    assert [e["id"] for e in events] == [ids[0], ids[2]]
