"""
Completion latency: from the emulator marking an SOV update COMPLETE to the deferred
``SovUpdateSensor`` task's success, under a real scheduler and triggerer. Several waits run at
once, their jobs ending at different points of the poll cycle. Goal: <= poll interval + 1 s.

The peer is the floor this wait cannot beat: a poll every ``poll`` seconds sees a finished job
up to one interval late (half an interval on average); the rest is Airflow resuming the task.

    python benchmarks/latency.py --waits 4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _airflow import airflow_stack, task_instance, wait_parsed
from _measure import table

if TYPE_CHECKING:
    from airflow_provider_sov.testing.stack import AirflowStack

POLL = 5.0  # the bench DAG's poke_interval
DAG_ID = "bench_wait_deferrable"


def start(stack: AirflowStack, waits: int, job_seconds: float) -> list[tuple[str, str]]:
    """Start ``waits`` updates, ending 1.3 s apart (not a multiple of POLL), and a run per update."""
    wait_parsed(stack, DAG_ID)
    runs = []
    for i in range(waits):
        sud_id = stack.emulator.sov.add_running_update(job_seconds + 1.3 * i)
        runs.append((sud_id, stack.trigger(DAG_ID, {"sud_id": sud_id})))
    return runs


def report(stack: AirflowStack, runs: list[tuple[str, str]], job_seconds: float) -> str:
    """Wait for the runs to end; the table and the verdict."""
    for _, run_id in runs:
        stack.wait_run(DAG_ID, run_id, timeout=job_seconds + 300)
    latencies, states = [], []
    for sud_id, run_id in runs:
        ti = task_instance(stack, DAG_ID, run_id)
        finished = stack.emulator.sov.finished_at(sud_id)
        states.append(ti["state"])
        latencies.append((ti["end"] or time.time()) - (finished or time.time()))
    rows = [[f"wait {i + 1}", states[i], f"{lat:.2f}"] for i, lat in enumerate(latencies)]
    worst, median = max(latencies), statistics.median(latencies)
    ok = worst <= POLL + 1 and all(s == "success" for s in states)
    return "\n".join(
        [
            table(
                f"Completion latency: job COMPLETE -> deferred task success (poll every {POLL:g} s)",
                ["wait", "state", "seconds"],
                rows,
            ),
            f"median {median:.2f} s, worst {worst:.2f} s",
            f"ratio, worst latency / poll interval: {worst / POLL:.2f}",
            "",
            f"goal <= poll interval + 1 s ({POLL + 1:g} s): {'met' if ok else 'MISSED'} ({worst:.2f} s)",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waits", type=int, default=4, help="waits, their jobs 1.3 s apart")
    parser.add_argument("--job-seconds", type=float, default=25.0, help="the shortest job")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, airflow_stack(Path(tmp)) as stack:
        runs = start(stack, args.waits, args.job_seconds)
        print(report(stack, runs, args.job_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
