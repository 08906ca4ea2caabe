"""The loop-lag probe the distributed load runs in each triggerer reports how late its loop ran."""

from __future__ import annotations

import asyncio
import time

from airflow_provider_sov.testing.lag import LoopLagProbe, percentile


async def test_the_probe_reports_a_stall_of_its_loop(tmp_path):
    stop = tmp_path / "stop"
    probe = LoopLagProbe(str(stop))
    assert probe.serialize() == ("airflow_provider_sov.testing.lag.LoopLagProbe", {"stop_file": str(stop)})

    async def stall_then_stop() -> None:
        await asyncio.sleep(0.3)
        time.sleep(0.4)  # another trigger blocking the loop
        await asyncio.sleep(0.3)
        stop.touch()

    helper = asyncio.create_task(stall_then_stop())
    event = await anext(probe.run())
    await helper
    report = event.payload
    assert report["samples"] >= 5
    assert 0.35 <= report["max"] < 2.0
    assert report["p50"] < 0.35  # most ticks were on time


def test_percentile_is_nearest_rank():
    assert percentile([0.1, 0.2, 0.3, 0.4], 50) == 0.2
    assert percentile([0.1, 0.2, 0.3, 0.4], 99) == 0.4
    assert percentile(list(range(1, 101)), 99) == 99
