"""
A real Airflow for the benchmarks that need one: API server, scheduler, DAG processor and
triggerer (LocalExecutor, SQLite) on the bench DAGs, against an in-process emulator.

It also measures worker-slot time: a LocalExecutor worker's process title names the task
instance it is running (``airflow worker -- LocalExecutor: <ti id>``) and reads ``<idle>``
otherwise, so sampling the titles gives the seconds each task instance held a worker slot.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_sov.testing.server import EmulatorServer
from airflow_provider_sov.testing.stack import AirflowStack, query

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

DAGS = Path(__file__).resolve().parent / "dags"
_TITLE = "airflow worker -- LocalExecutor: "


class SlotMeter:
    """Sample worker process titles every ``interval`` seconds; sum busy time per TI id (no dashes)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.busy: Counter[str] = Counter()
        self.now: set[str] = set()  # the TIs a worker runs at the latest sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            step, last = now - last, now
            busy: set[str] = set()  # a TI counts once per sample, however many processes carry its title
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    title = cmdline.read_bytes().split(b"\0")[0].decode(errors="replace")
                except OSError:
                    continue
                if title.startswith(_TITLE) and "<idle>" not in title:
                    busy.add(title[len(_TITLE) :].strip().replace("-", ""))
            for ti in busy:
                self.busy[ti] += step
            self.now = busy
            time.sleep(self.interval)

    def __enter__(self) -> SlotMeter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def workload_seconds(stack: AirflowStack, meter: SlotMeter, tis: Iterable[str]) -> Counter[str]:
    """
    Seconds each task instance's workloads ran on a worker, as Airflow's own supervisor reports them
    ("Workload finished ... duration=... workload_id=<ti id>" in the scheduler's log, where the
    LocalExecutor's workers log): exact, where :class:`SlotMeter` samples. Keyed like it (no dashes).

    A worker logs that line when the workload ends, which can be seconds after the run is seen to
    succeed: first wait until no worker runs any of ``tis`` and each one ``meter`` saw on a worker
    has its line.
    """
    pattern = re.compile(r"Workload finished .*?duration=([0-9.]+) .*?workload_id=([0-9a-f-]+)")
    wanted = {ti.replace("-", "") for ti in tis}

    def read() -> Counter[str]:
        seconds: Counter[str] = Counter()
        for match in pattern.finditer((stack.root / "scheduler.log").read_text(errors="replace")):
            seconds[match.group(2).replace("-", "")] += float(match.group(1))
        return seconds

    def settled() -> bool:
        return not (meter.now & wanted) and {ti for ti in wanted if meter.busy[ti]} <= set(read())

    stack.wait_for(settled, 300, "each task's workloads to end and be logged by its worker")
    return read()


@contextmanager
def airflow_stack(root: Path) -> Iterator[AirflowStack]:
    """An emulator (real time) and a running Airflow on the bench DAGs; stopped on exit."""
    dags = root / "dags"
    shutil.copytree(DAGS, dags)
    with EmulatorServer(realtime=True) as emulator, AirflowStack(root, emulator, dags) as stack:
        yield stack


def task_instance(stack: AirflowStack, dag_id: str, run_id: str, task_id: str = "wait") -> dict[str, Any]:
    """The run's task instance: ``id``, ``state`` and ``end`` (a UNIX time, or None)."""
    ti_id, state, end = query(
        stack.home,
        "select id, state, end_date from task_instance where dag_id=? and run_id=? and task_id=?",
        dag_id,
        run_id,
        task_id,
    )[0]
    ended = None
    if end:
        stamp = dt.datetime.fromisoformat(str(end))
        ended = (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).timestamp()
    return {"id": str(ti_id).replace("-", ""), "state": state, "end": ended}


def wait_parsed(stack: AirflowStack, *dag_ids: str) -> None:
    """Block until the DAG processor has parsed ``dag_ids`` (before starting any job's clock)."""
    for dag_id in dag_ids:
        stack.wait_for(
            lambda d=dag_id: query(stack.home, "select 1 from dag where dag_id=?", d), 180, f"{dag_id} parsed"
        )


def log_events(
    stack: AirflowStack, dag_id: str, run_id: str, files: str, task_id: str = "wait"
) -> Iterator[tuple[str, float]]:
    """
    Each record of the task's log files named like ``files`` (``attempt=*.log`` for the worker's,
    ``*trigger*`` for the triggerer's), in order: its event text and its time (UNIX seconds).
    """
    folder = stack.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    for log in sorted(folder.glob(files)):
        for line in log.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            at = dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()
            yield str(record.get("event", "")), at


def why_failed(stack: AirflowStack, dag_id: str, run_id: str, task_id: str = "wait", last: int = 5) -> str:
    """The last warnings and errors of a task's logs (worker's and triggerer's), for a failed run."""
    folder = stack.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    found: list[tuple[str, str]] = []
    for log in sorted(folder.glob("*")):
        for line in log.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("level") in ("warning", "error", "critical"):
                found.append((str(record.get("timestamp", "")), f"{log.name}: {record.get('event', '')}"))
    return "; ".join(text for _, text in sorted(found)[-last:]) or f"no warning or error in {folder}"


def provider_seconds(stack: AirflowStack, dag_id: str, run_id: str, task_id: str = "wait") -> float:
    """
    Seconds the task spent in our code, from its log: each run of the task from the end of
    Airflow's "Pre Execute" group to the deferral or to the "Post Execute" group.
    """
    total, state, began = 0.0, "", 0.0
    for event, at in log_events(stack, dag_id, run_id, "attempt=*.log", task_id):
        if event == "::group::Pre Execute":
            state = "pre"
        elif event == "::endgroup::" and state == "pre":
            state, began = "ours", at
        elif state == "ours" and (event.startswith("Deferring the wait") or event == "::group::Post Execute"):
            total += at - began
            state = ""
    return total
