"""
Worker time: one wait of ``--job-seconds`` (120 s) in every way this provider can wait, beside
Airflow's own floor, all at the same time under one real scheduler and triggerer (LocalExecutor):

- ``SovUpdateSensor`` started and ended in the triggerer, deferred from a worker, and poking;
- ``SovUpdateOperator``, the whole update in one deferrable task (start and download on a worker);
- the standard ``DateTimeSensorAsync`` waiting as long: deferred from a worker (the floor of any
  task that defers from a worker and resumes on one), started in the triggerer, and started and
  ended there.

Reported: the worker-slot seconds each task instance held, as Airflow's supervisor reports each
workload's duration and as sampled from the LocalExecutor workers' process titles (two independent
measures), the part spent in our code (from the task log), and wall time.
Goals: a wait started and ended in the triggerer holds 0 worker-slot seconds; the composite
update holds no more than the deferred floor + 1 s.

    python benchmarks/worker_time.py --job-seconds 120
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _airflow import (
    SlotMeter,
    airflow_stack,
    provider_seconds,
    task_instance,
    wait_parsed,
    why_failed,
    workload_seconds,
)
from _measure import table

if TYPE_CHECKING:
    from airflow_provider_sov.testing.stack import AirflowStack

#: (row name, DAG ID, what it starts: "sensor", "update" or "floor")
RUNS = [
    ("SovUpdateSensor, start+end in triggerer", "bench_wait_triggerer", "sensor"),
    ("SovUpdateSensor, deferrable", "bench_wait_deferrable", "sensor"),
    ("SovUpdateSensor, poke", "bench_wait_poke", "sensor"),
    ("SovUpdateOperator, deferrable (whole update)", "bench_update_composite", "update"),
    ("DateTimeSensorAsync, deferred (floor)", "bench_floor_deferred", "floor"),
    ("DateTimeSensorAsync, start in triggerer", "bench_floor_start_in_triggerer", "floor"),
    ("DateTimeSensorAsync, start+end in triggerer", "bench_floor_start_end_in_triggerer", "floor"),
]


def conf_for(stack: AirflowStack, what: str, job_seconds: float) -> dict[str, Any]:
    """The run's conf: a job of ``job_seconds`` for our waits, a moment as far off for the floor."""
    sov = stack.emulator.sov
    if what == "sensor":
        return {"sud_id": sov.add_running_update(job_seconds)}
    if what == "update":
        sov_id = sov.add_sov(buildings=1)
        sov.set_job_seconds(sov_id, job_seconds)
        return {"sov_id": sov_id, "destination": str(stack.root / "out")}
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=job_seconds)
    return {"target_time": moment.isoformat()}


def start(stack: AirflowStack, job_seconds: float) -> dict[str, tuple[str, str, float]]:
    """Start every run at once; return row name -> (DAG ID, run ID, start time)."""
    wait_parsed(stack, *(dag_id for _, dag_id, _ in RUNS))
    runs = {}
    for name, dag_id, what in RUNS:
        runs[name] = (dag_id, stack.trigger(dag_id, conf_for(stack, what, job_seconds)), time.time())
    return runs


def report(
    stack: AirflowStack, meter: SlotMeter, runs: dict[str, tuple[str, str, float]], job_seconds: float
) -> str:
    """Wait for the runs to end; the table and the verdicts."""
    for dag_id, run_id, _ in runs.values():
        stack.wait_run(dag_id, run_id, timeout=job_seconds + 300)
    tis = {name: task_instance(stack, dag_id, run_id) for name, (dag_id, run_id, _) in runs.items()}
    rows, slots = [], {}
    workloads = workload_seconds(stack, meter, [ti["id"] for ti in tis.values()])
    for name, (dag_id, run_id, started) in runs.items():
        ti = tis[name]
        slots[name] = workloads.get(ti["id"], 0.0)
        ours = None if dag_id.startswith("bench_floor") else provider_seconds(stack, dag_id, run_id)
        wall = (ti["end"] or time.time()) - started
        rows.append(
            [
                name,
                ti["state"],
                f"{slots[name]:.1f}",
                f"{meter.busy.get(ti['id'], 0.0):.1f}",
                "-" if ours is None else f"{ours:.2f}",
                f"{wall:.0f}",
            ]
        )
    failures = [
        f"{name}, run {runs[name][1]}: {ti['state']}: {why_failed(stack, runs[name][0], runs[name][1])}"
        for name, ti in tis.items()
        if ti["state"] != "success"
    ]
    cleared = [run_id for _, run_id, _ in runs.values() if run_id in stack.stale_defer_exits]
    in_triggerer = slots["SovUpdateSensor, start+end in triggerer"]
    deferred, poke = slots["SovUpdateSensor, deferrable"], slots["SovUpdateSensor, poke"]
    composite = slots["SovUpdateOperator, deferrable (whole update)"]
    floor = slots["DateTimeSensorAsync, deferred (floor)"]
    lines = [
        table(
            f"Worker-slot time of one {job_seconds:g} s wait (real scheduler and triggerer, all at once)",
            ["wait", "state", "worker-slot s", "sampled s", "in our code s", "wall s"],
            rows,
        ),
        *failures,
        *(
            [f"runs failed by Airflow's stale-event race and cleared once: {', '.join(cleared)}"]
            if cleared
            else []
        ),
        f"ratio, worker-slot seconds deferrable / poke: {deferred / max(poke, 1e-9):.3f}",
        f"ratio, worker-slot seconds start+end in triggerer / deferrable: {in_triggerer / max(deferred, 1e-9):.3f}",
        f"ratio, composite update / Airflow's deferred floor: {composite / max(floor, 1e-9):.2f}",
        "",
        f"goal pure wait with start+end in the triggerer = 0 worker-slot seconds: "
        f"{'met' if in_triggerer == 0 else 'MISSED'} ({in_triggerer:.1f} s)",
        f"goal composite update <= Airflow's deferred floor + 1 s ({floor + 1:.1f} s): "
        f"{'met' if composite <= floor + 1 else 'MISSED'} ({composite:.1f} s)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--job-seconds", type=float, default=120.0, help="how long each wait lasts")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, airflow_stack(Path(tmp)) as stack, SlotMeter() as meter:
        runs = start(stack, args.job_seconds)
        print(report(stack, meter, runs, args.job_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
