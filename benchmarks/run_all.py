"""
Every benchmark at full size, one after another: what ``make bench`` runs (about 30 minutes on
2 cores). The worker-time and latency waits share one real Airflow, started once, so the two
minutes of the 120 s update also cover the latency waits.

    python benchmarks/run_all.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
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


def main() -> int:
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
