"""
How late a triggerer's event loop runs, measured from inside it: :class:`LoopLagProbe` is a trigger
that sleeps in 50 ms ticks beside the waits a triggerer runs, and reports how late each tick woke
(the loop lag every other trigger in that loop suffers) once a stop file appears.

A load test defers a task on it (:class:`LoopLagProbeOperator`) before the load and creates the stop
file after; the task's XCom is the probe's report: ``samples``, ``p50``, ``p99``, ``max`` (seconds)
and ``host`` (the triggerer's host name).
"""

from __future__ import annotations

import asyncio
import math
import os
from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

#: The probe's tick (seconds): short enough to see a stall, long enough to cost nothing.
TICK = 0.05


def percentile(values: list[float], pct: float) -> float:
    """The ``pct``-th percentile (nearest rank) of ``values``, as the benchmarks compute it; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


class LoopLagProbe(BaseTrigger):
    """Tick every 50 ms in the triggerer's loop until ``stop_file`` exists; then report the lateness."""

    def __init__(self, stop_file: str) -> None:
        super().__init__()
        self.stop_file = stop_file

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {"stop_file": self.stop_file}

    async def run(self) -> Any:
        from airflow_provider_sov.testing.distributed import process_name

        loop = asyncio.get_running_loop()
        lags: list[float] = []
        while not os.path.exists(self.stop_file):
            began = loop.time()
            await asyncio.sleep(TICK)
            lags.append(max(0.0, loop.time() - began - TICK))
        yield TriggerEvent(
            {
                "samples": len(lags),
                "p50": percentile(lags, 50),
                "p99": percentile(lags, 99),
                "max": max(lags, default=0.0),
                "host": process_name(),
            }
        )


class LoopLagProbeOperator(BaseOperator):
    """Defer on a :class:`LoopLagProbe`; return its report."""

    template_fields = ("stop_file",)

    def __init__(self, *, stop_file: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stop_file = stop_file

    def execute(self, context: Any) -> None:
        self.defer(trigger=LoopLagProbe(self.stop_file), method_name="execute_complete")

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        return event
