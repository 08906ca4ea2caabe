"""Each benchmark script still runs (at a tiny size); figures are not asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_download_benchmark_runs_and_checks_bytes():
    done = subprocess.run(
        [sys.executable, str(BENCH / "download.py"), "--size-mib", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = [
        line for line in done.stdout.splitlines() if line.startswith(("airflow-provider-sov", "requests"))
    ]
    assert len(rows) == 2 and all(line.rstrip().endswith("True") for line in rows), done.stdout
    assert "goal RSS growth <= 32 MiB" in done.stdout
