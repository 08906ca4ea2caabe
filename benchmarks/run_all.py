"""
Every benchmark at full size, one after another: what ``make bench`` runs (about 30 minutes on
2 cores). The worker-time and latency waits share one real Airflow, started once, so the two
minutes of the 120 s update also cover the latency waits. Everything it prints is also written,
stamped with the commit and date, to ``docs/_generated/benchmarks.md``, which the benchmarks page
includes.

    python benchmarks/run_all.py
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
import typing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import download
import import_cost
import latency
import s3_write
import trigger_scale
import upload
import worker_time
from _airflow import SlotMeter, airflow_stack


def section(name: str) -> None:
    print(f"\n=== {name} ===", flush=True)


class Tee(io.TextIOBase):
    """Write to the terminal and keep a copy, for the docs."""

    def __init__(self, terminal: typing.TextIO) -> None:
        self.terminal, self.kept = terminal, io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.terminal.write(text)

    def flush(self) -> None:
        self.terminal.flush()


def main() -> int:
    from tests.summary import write

    tee = Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        failed = run()
    body = "\n".join(
        f"### {part}\n\n```text\n{text.strip()}\n```\n" if text.strip() else f"### {part}\n"
        for part, text in (chunk.split(" ===\n", 1) for chunk in tee.kept.getvalue().split("\n=== ")[1:])
    )
    print(f"wrote {write('benchmarks', body).name} under docs/_generated/")
    return failed


def run() -> int:
    began = time.monotonic()
    section("import_cost.py")
    failed = import_cost.main([])
    section("download.py")
    failed |= download.main([])
    section("upload.py")
    failed |= upload.main([])
    section("s3_write.py")
    failed |= s3_write.main([])
    section("worker_time.py and latency.py (one Airflow)")
    with tempfile.TemporaryDirectory() as tmp, airflow_stack(Path(tmp)) as stack, SlotMeter() as meter:
        slots = worker_time.start(stack, job_seconds=120.0)
        waits = latency.start(stack, waits=4, job_seconds=25.0)
        print(latency.report(stack, waits, job_seconds=25.0), flush=True)
        print(worker_time.report(stack, meter, slots, job_seconds=120.0), flush=True)
    section("trigger_scale.py")
    failed |= trigger_scale.main([])
    section("trigger_scale.py --budget-series")
    failed |= trigger_scale.main(["--budget-series"])
    print(f"\nall benchmarks: {(time.monotonic() - began) / 60:.1f} minutes")
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
