"""
Worker time: a 120 s SOV update waited on by ``SovUpdateSensor``, deferrable and in poke mode,
under a real scheduler and triggerer (LocalExecutor), both runs at the same time. Reported: the
worker-slot seconds each wait held (sampled from the LocalExecutor workers' process titles) and
its wall time. Goal: deferrable <= 2 s.

    python benchmarks/worker_time.py --job-seconds 120
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _airflow import SlotMeter, airflow_stack, provider_seconds, task_instance, wait_parsed
from _measure import table

if TYPE_CHECKING:
    from airflow_provider_sov.testing.stack import AirflowStack

RUNS = {"deferrable": "bench_wait_deferrable", "poke": "bench_wait_poke"}


def start(stack: AirflowStack, job_seconds: float) -> dict[str, tuple[str, str, float]]:
    """Start a ``job_seconds`` update per mode and the DAG run waiting on it."""
    wait_parsed(stack, *RUNS.values())
    runs = {}
    for mode, dag_id in RUNS.items():
        sud_id = stack.emulator.sov.add_running_update(job_seconds)
        runs[mode] = (dag_id, stack.trigger(dag_id, {"sud_id": sud_id}), time.time())
    return runs


def report(
    stack: AirflowStack, meter: SlotMeter, runs: dict[str, tuple[str, str, float]], job_seconds: float
) -> str:
    """Wait for the runs to end; the table and the verdicts."""
    for dag_id, run_id, _ in runs.values():
        stack.wait_run(dag_id, run_id, timeout=job_seconds + 300)
    rows, slots, ours = [], {}, {}
    for mode, (dag_id, run_id, started) in runs.items():
        ti = task_instance(stack, dag_id, run_id)
        slots[mode] = meter.busy.get(ti["id"], 0.0)
        ours[mode] = provider_seconds(stack, dag_id, run_id)
        wall = (ti["end"] or time.time()) - started
        rows.append(
            [
                f"SovUpdateSensor, {mode}",
                ti["state"],
                f"{slots[mode]:.1f}",
                f"{ours[mode]:.2f}",
                f"{wall:.0f}",
            ]
        )
    overhead = slots["deferrable"] - ours["deferrable"]
    lines = [
        table(
            f"Worker-slot time of one {job_seconds:g} s update wait (real scheduler and triggerer)",
            ["wait", "state", "worker-slot s", "in our code s", "wall s"],
            rows,
        ),
        f"ratio, worker-slot seconds deferrable / poke: {slots['deferrable'] / max(slots['poke'], 1e-9):.3f}",
        f"Airflow's own start-up and teardown of the deferrable task's workloads: {overhead:.1f} s",
        "",
        f"goal deferrable <= 2 worker-slot seconds: {'met' if slots['deferrable'] <= 2 else 'MISSED'} "
        f"({slots['deferrable']:.1f} s)",
        f"goal deferrable <= 2 s, the part in our code: {'met' if ours['deferrable'] <= 2 else 'MISSED'} "
        f"({ours['deferrable']:.2f} s)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--job-seconds", type=float, default=120.0, help="how long the update runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, airflow_stack(Path(tmp)) as stack, SlotMeter() as meter:
        runs = start(stack, args.job_seconds)
        print(report(stack, meter, runs, args.job_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
