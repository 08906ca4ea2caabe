"""
Completion latency: from the emulator marking an SOV update COMPLETE to the ``SovUpdateSensor``
task's success, under a real scheduler and triggerer, for a wait started and ended in the
triggerer and for one deferred from a worker (which resumes on a worker), beside Airflow's floor
for a task that ends in the triggerer: the standard ``DateTimeSensorAsync`` with start and end
in the triggerer, from its moment to its success. Several waits of each run at once, their jobs
ending at different points of the poll cycle. Goal (start and end in the triggerer): worst <=
poll interval + 1 s.

Each latency splits in two: *done -> seen*, until a poll sees the job final (up to one interval,
half on average), and *seen -> success*, from that reading in the trigger's log to the task's end.

    python benchmarks/latency.py --waits 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _airflow import airflow_stack, log_events, task_instance, wait_parsed, why_failed
from _measure import table

if TYPE_CHECKING:
    from airflow_provider_sov.testing.stack import AirflowStack

POLL = 5.0  # the bench DAGs' poke_interval
KINDS = {
    "start+end in triggerer": "bench_wait_triggerer",
    "deferred from a worker": "bench_wait_deferrable",
    "floor: DateTimeSensorAsync start+end in triggerer": "bench_floor_start_end_in_triggerer",
}
OURS, PEER, FLOOR = KINDS


def start(stack: AirflowStack, waits: int, job_seconds: float) -> list[tuple[str, str | float, str]]:
    """
    Start ``waits`` runs per kind, ending 1.3 s apart (not a multiple of POLL): an update per wait
    of ours, a moment as far off for Airflow's floor. Return (kind, SUD ID or moment, run ID).
    """
    wait_parsed(stack, *KINDS.values())
    runs: list[tuple[str, str | float, str]] = []
    for i in range(waits):
        seconds = job_seconds + 1.3 * i
        for kind, dag_id in KINDS.items():
            if kind == FLOOR:
                moment = time.time() + seconds
                conf = {"target_time": dt.datetime.fromtimestamp(moment, dt.UTC).isoformat()}
                runs.append((kind, moment, stack.trigger(dag_id, conf)))
            else:
                sud_id = stack.emulator.sov.add_running_update(seconds)
                runs.append((kind, sud_id, stack.trigger(dag_id, {"sud_id": sud_id})))
    return runs


def seen_complete(stack: AirflowStack, dag_id: str, run_id: str) -> float | None:
    """When the trigger logged the reading that saw the job COMPLETE (UNIX time), from its log."""
    return next(
        (at for event, at in log_events(stack, dag_id, run_id, "*trigger*") if ": COMPLETE" in event), None
    )


def ratio(ours: float, peer: float) -> str:
    return f"{ours / max(peer, 1e-9):.2f}"


def report(stack: AirflowStack, runs: list[tuple[str, str | float, str]], job_seconds: float) -> str:
    """Wait for the runs to end; the table and the verdict."""
    for kind, _, run_id in runs:
        stack.wait_run(KINDS[kind], run_id, timeout=job_seconds + 300)
    rows: list[list[str]] = []
    total: dict[str, list[float]] = {kind: [] for kind in KINDS}
    after_seen: dict[str, list[float]] = {kind: [] for kind in KINDS}
    states, failures = [], []
    for kind, job, run_id in runs:
        ti = task_instance(stack, KINDS[kind], run_id)
        ended = ti["end"] or time.time()
        done = job if isinstance(job, float) else (stack.emulator.sov.finished_at(job) or time.time())
        seen = None if isinstance(job, float) else seen_complete(stack, KINDS[kind], run_id)
        total[kind].append(ended - done)
        if seen is not None:
            after_seen[kind].append(ended - seen)
        states.append(ti["state"])
        if ti["state"] != "success":
            failures.append(f"{kind}, run {run_id}: {ti['state']}: {why_failed(stack, KINDS[kind], run_id)}")
        rows.append(
            [
                f"wait {len(total[kind])}",
                kind,
                ti["state"],
                f"{ended - done:.2f}",
                "-" if seen is None else f"{seen - done:.2f}",
                "-" if seen is None else f"{ended - seen:.2f}",
            ]
        )
    lines = [
        table(
            f"Completion latency: job COMPLETE (or the moment) -> task success (poll every {POLL:g} s)",
            ["wait", "how", "state", "seconds", "done -> seen", "seen -> success"],
            rows,
        )
    ]
    lines += failures
    cleared = [run_id for _, _, run_id in runs if run_id in stack.stale_defer_exits]
    if cleared:  # their latency includes the second try
        lines.append(f"runs failed by Airflow's stale-event race and cleared once: {', '.join(cleared)}")
    for kind in KINDS:
        line = f"{kind}: median {statistics.median(total[kind]):.2f} s, worst {max(total[kind]):.2f} s"
        if after_seen[kind]:
            line += f"; seen -> success median {statistics.median(after_seen[kind]):.2f} s, worst {max(after_seen[kind]):.2f} s"
        lines.append(line)
    worst = max(total[OURS])
    ok = worst <= POLL + 1 and all(s == "success" for s in states)
    # A job that ended before its wait deferred was never seen by a trigger: no split for it.
    split = after_seen[OURS] and after_seen[PEER]
    lines += [
        "ratio, seen -> success median, start+end in triggerer / deferred from a worker: "
        + (
            ratio(statistics.median(after_seen[OURS]), statistics.median(after_seen[PEER]))
            if split
            else "n/a"
        ),
        "ratio, seen -> success worst (ours) / Airflow's floor worst: "
        + (ratio(max(after_seen[OURS]), max(total[FLOOR])) if after_seen[OURS] else "n/a"),
        f"ratio, worst latency (start+end in triggerer) / poll interval: {worst / POLL:.2f}",
        "",
        f"goal start+end in triggerer <= poll interval + 1 s ({POLL + 1:g} s): "
        f"{'met' if ok else 'MISSED'} ({worst:.2f} s)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waits", type=int, default=4, help="waits per kind, their jobs 1.3 s apart")
    parser.add_argument("--job-seconds", type=float, default=25.0, help="the shortest job")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, airflow_stack(Path(tmp)) as stack:
        runs = start(stack, args.waits, args.job_seconds)
        print(report(stack, runs, args.job_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
