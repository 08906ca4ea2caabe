"""A wait rides out an outage of the API by time, in every mode; occasional failures never add up."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from airflow_provider_sov._shared.outage import Outage, next_poll_in
from airflow_provider_sov._shared.waiting import JobWait, wait_kwargs
from airflow_provider_sov.exceptions import SovConnectionConfigError, SovServerError
from airflow_provider_sov.sensors.sov import SovUpdateSensor
from airflow_provider_sov.triggers.sov import SovUpdateTrigger
from tests.conftest import SENSOR_MODES, finish
from tests.harness import collect_events, make_context, run_task

SOV = "s-no-ping-hggcsk"
#: An outage of every status read (503s), against a tolerance half again as long: the proportions of
#: two minutes of outage against three of tolerance, at a third of the wall-clock time.
OUTAGE_SECONDS = 40.0
TOLERANCE_SECONDS = 60.0


def started_update(csv) -> str:
    from airflow_provider_sov.hooks.sov import SovHook

    hook = SovHook()
    sud_id = hook.initiate_update(SOV)
    hook.add_locations(sud_id, csv)
    hook.start_update(sud_id)
    return sud_id


@pytest.mark.slow
@pytest.mark.timeout(OUTAGE_SECONDS + 660)  # the outage itself, then up to 600 s for the waits to end
def test_every_mode_rides_out_an_outage_shorter_than_its_tolerance(live, corrections_csv, monkeypatch):
    """
    Deferred, poking and rescheduling waits (no task retry) each outlast 40 s of 503s with the
    connection's outage_tolerance at 60 s: polling on with backoff, none ends while the API is down.
    """
    import json

    conn = {"conn_type": "sovfixer", "host": live.url, "password": live.token}
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOVFIXER_DEFAULT",
        json.dumps({**conn, "extra": {"outage_tolerance": TOLERANCE_SECONDS}}),
    )
    sud_ids = {mode.id: started_update(corrections_csv) for mode in SENSOR_MODES}
    live.inject("update_status", "status", status=503, times=None)
    began = time.time()
    results: dict[str, object] = {}

    def wait(mode) -> None:
        sensor = SovUpdateSensor(
            task_id=f"wait_{mode.id}", sud_id=sud_ids[mode.id], poke_interval=1, timeout=900, **mode.values[0]
        )
        try:
            results[mode.id] = run_task(sensor, make_context())
        except BaseException as exc:  # reported by the assertion below
            results[mode.id] = exc

    threads = [threading.Thread(target=wait, args=(mode,)) for mode in SENSOR_MODES]
    for thread in threads:
        thread.start()
    while time.time() - began < OUTAGE_SECONDS:
        assert not results, results  # nothing ends while the API is down: no wait gives up
        time.sleep(1)
    failed_reads = live.count("update_status")
    live.clear_faults()
    finish(live)
    for thread in threads:
        thread.join(timeout=600)
    assert {mode: r["status"] if isinstance(r, dict) else r for mode, r in results.items()} == {
        "deferrable": "COMPLETE",
        "poke": "COMPLETE",
        "reschedule": "COMPLETE",
    }, results
    assert failed_reads >= 3 * 2  # every mode kept polling through the outage (each read retried)


async def test_occasional_failures_never_add_up_to_an_outage(sov_connection, sov_emulator, corrections_csv):
    """
    A failed poll after a good reading starts a new outage: failures spread over ten times the
    tolerance, each followed by a good reading, do not end the wait.
    """
    from airflow_provider_sov.hooks.sov import SovHook

    hook = SovHook()
    sud_id = hook.initiate_update(SOV)
    hook.add_locations(sud_id, corrections_csv)
    hook.start_update(sud_id)
    sov_emulator.reset_counts()
    tolerance = 0.3
    trigger = SovUpdateTrigger(
        sud_id, deadline=time.time() + 60, poll_interval=0.05, outage_tolerance=tolerance
    )
    failed_polls = 0

    async def fail_every_other_poll() -> None:
        nonlocal failed_polls
        began = time.time()
        while failed_polls < 5 or time.time() - began < 10 * tolerance:  # however slow the machine
            seen = sov_emulator.count("update_status")
            sov_emulator.inject("update_status", "status", status=503, times=3)  # one poll: 3 tries
            while sov_emulator.count("update_status") < seen + 4:  # the failed poll, then a good one
                await asyncio.sleep(0.01)
            failed_polls += 1
        finish(sov_emulator)

    helper = asyncio.create_task(fail_every_other_poll())
    events = await collect_events(trigger)
    await helper
    assert [e.payload["status"] for e in events] == ["terminal"], events[0].payload
    assert events[0].payload["reading"]["succeeded"] is True


async def test_the_outage_is_measured_in_time_not_in_polls(sov_connection, sov_emulator, corrections_csv):
    """With a tolerance of 1 s and polls every 0.05 s, a lasting outage ends the wait after about 1 s."""
    from airflow_provider_sov.hooks.sov import SovHook

    hook = SovHook()
    sud_id = hook.initiate_update(SOV)
    sov_emulator.inject("update_status", "status", status=503, times=None)
    began = time.time()
    trigger = SovUpdateTrigger(sud_id, deadline=time.time() + 60, poll_interval=0.05, outage_tolerance=1.0)
    (event,) = await collect_events(trigger)
    assert event.payload["status"] == "error" and event.payload["error_class"] == "SovServerError"
    assert re.search(
        r"the API kept failing for \d+s \(\d+ polls in a row; 1s tolerated\)", event.payload["message"]
    )
    assert "outage_tolerance" in event.payload["message"]
    assert 1.0 <= time.time() - began < 30


def test_the_backoff_doubles_to_a_cap_and_a_good_reading_resets_the_outage():
    assert [next_poll_in(5, n) for n in range(6)] == [5, 5, 10, 20, 40, 60]
    assert next_poll_in(300, 4) == 300  # never shorter than the wait's own interval
    outage = Outage(tolerance=10)
    error = SovServerError("HTTP 503", transient=True)
    assert outage.rides_out(error, now=100) and outage.rides_out(error, now=109)
    assert not outage.rides_out(error, now=110)
    outage.ok()
    assert outage.rides_out(error, now=200) and outage.failures == 1
    assert not Outage(tolerance=10).rides_out(SovServerError("not marked transient"), now=0)


def test_the_connection_and_the_task_set_the_tolerance(monkeypatch, sov_emulator):
    import json

    from airflow_provider_sov.hooks.sov import SovHook

    def connection(**extra) -> None:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SOVFIXER_DEFAULT",
            json.dumps({"conn_type": "sovfixer", "host": sov_emulator.url, "password": "t", "extra": extra}),
        )

    connection()
    assert SovHook().settings.outage_tolerance == 600
    connection(outage_tolerance="1800")
    assert SovHook().settings.outage_tolerance == 1800
    sensor = SovUpdateSensor(task_id="w", sud_id="s-1-r001")
    assert JobWait(sensor, sensor.kind, None).outage.tolerance == 1800
    sensor = SovUpdateSensor(task_id="w", sud_id="s-1-r001", outage_tolerance=60)
    assert JobWait(sensor, sensor.kind, None).outage.tolerance == 60
    assert wait_kwargs(sensor, sensor.kind)["outage_tolerance"] == 60
    connection(outage_tolerance="ten minutes")
    with pytest.raises(SovConnectionConfigError, match=r"outage_tolerance.*ten minutes"):
        SovHook().settings  # noqa: B018 - the property reads the connection
