"""
Upload benchmark: a large corrections CSV (1,000,000 rows by default) sent to a pending SOV
update, through our hook (the local CSV check, then a streamed multipart upload) and through
``curl -F``, in the same run. Each client runs in its own process; the emulator (this process)
reads and checks every row for both.

Reported: seconds and the client's memory (our growth: peak RSS during the call minus RSS just
before; curl's peak RSS as the kernel reports it for a child). Goal: our growth <= 64 MiB and our
time <= 1.5x curl's.

    python benchmarks/upload.py --rows 1000000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run_child, run_watched, table

from airflow_provider_sov.testing.server import EmulatorServer

SOV_ID = "s-no-ping-hggcsk"  # a seeded SOV; its buildings are b-hggcsk-0001 ... 0005

OURS = """
import json, sys, time
sys.path.insert(0, {bench!r})
from _measure import reset_peak, rss_kib
from airflow_provider_sov.hooks.sov import SovHook
sud_id, path = sys.argv[1], sys.argv[2]
hook = SovHook()
_ = hook.settings, hook.session  # connection and session set up before measuring
reset_peak()
before = rss_kib()
start = time.perf_counter()
summary = hook.add_locations(sud_id, path)
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "before": before, "peak": rss_kib("VmHWM"), "rows": summary.rows}}))
"""


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["item_key", "bldg_name", "limits__building_limit", "year_built"])
        for i in range(rows):
            writer.writerow([f"b-hggcsk-{i % 5 + 1:04d}", f"Building {i}", 1_000_000 + i, 1950 + i % 70])


def initiate(server: EmulatorServer) -> str:
    response = requests.post(
        f"{server.url}/api/v1/sov/{SOV_ID}/initiate_update",
        headers={"Authorization": f"Token {server.token}"},
        data={"update_type": "API"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def curl(server: EmulatorServer, sud_id: str, path: Path) -> dict[str, float] | None:
    """curl -F, timed, with its peak RSS."""
    if not shutil.which("curl"):
        return None
    start = time.perf_counter()
    done, peak = run_watched(
        [
            "curl",
            "-sS",
            "-o",
            os.devnull,
            "-w",
            "%{http_code}",
            "-H",
            f"Authorization: Token {server.token}",
            "-F",
            f"file=@{path};type=text/csv",
            f"{server.url}/api/v1/sov/update/{sud_id}/add_locations",
        ]
    )
    elapsed = time.perf_counter() - start
    if done.stdout.strip() != "200":
        raise RuntimeError(f"curl upload failed: HTTP {done.stdout} {done.stderr}")
    return {"seconds": elapsed, "peak": peak}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    bench_dir = str(Path(__file__).resolve().parent)
    with EmulatorServer() as server, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corrections.csv"
        write_csv(path, args.rows)
        size_mib = path.stat().st_size / 1024 / 1024
        env = {
            **os.environ,
            "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", tmp),
            "AIRFLOW_CONN_SOVFIXER_DEFAULT": json.dumps(
                {"conn_type": "sovfixer", "host": server.url, "password": server.token}
            ),
        }
        rows = []
        peer = curl(server, initiate(server), path)
        if peer is not None:
            rows.append(["curl -F", f"{peer['seconds']:.2f}", f"{peer['peak'] / 1024:.1f} (peak)", "-"])
        sud_id = initiate(server)
        ours = run_child(OURS.format(bench=bench_dir), sud_id, str(path), env=env)
        growth = (ours["peak"] - ours["before"]) / 1024
        received = server.sov.jobs[sud_id].rows_received
        rows.insert(0, ["airflow-provider-sov", f"{ours['seconds']:.2f}", f"{growth:.1f} (growth)", received])
    print(
        table(
            f"Upload of a {args.rows:,}-row corrections CSV ({size_mib:.0f} MiB): local check + streamed upload",
            ["client", "seconds", "RSS MiB", "rows the emulator received"],
            rows,
        )
    )
    if peer is not None:
        print(f"ratio, time ours / curl: {ours['seconds'] / peer['seconds']:.2f}")
    print()
    print(f"goal RSS growth <= 64 MiB: {'met' if growth <= 64 else 'MISSED'} ({growth:.1f} MiB)")
    if peer is not None:
        ratio = ours["seconds"] / peer["seconds"]
        print(f"goal time <= 1.5x curl: {'met' if ratio <= 1.5 else 'MISSED'} ({ratio:.2f}x)")
    ok = received == args.rows
    print(f"every row arrived: {'yes' if ok else 'NO'} ({received:,} of {args.rows:,})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
