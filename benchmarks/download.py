"""
Download benchmark: one large emulator output (512 MiB and 1 GiB by default) through our
streaming helper, side by side in the same run with the vendor's ``pingintel-api`` client, the
seed scripts' way (``requests.get(...).content`` then write), and curl.

Each client runs ``--runs`` times, the clients taking turns so that a slow moment of the machine
falls on all of them; each run is a fresh process that downloads twice and times the second (a
process's first large write is slower, whoever makes it: measured 350 MB/s then 1,440 MB/s for the
same client). Reported per client: best and median throughput (the vendor client's figure is
bimodal here, 1,000 or 3,000 MB/s from one run to the next); memory (for the Python clients the
largest growth: peak RSS during the download minus RSS just before it; for curl its peak RSS); and
whether the saved bytes matched every time. Ours also hashes every byte (SHA-256) and renames the
file into place only once it is whole, so the table also shows SHA-256 alone over the same number
of bytes in memory on one core: no client that returns the hash can finish sooner.
Goals: our growth <= 32 MiB; our throughput >= 0.9x SHA-256 alone (its floor), >= 0.8x curl's
and >= 1.0x pingintel-api's.

    python benchmarks/download.py --size-mib 512 1024 --runs 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run_child, run_watched, table

from airflow_provider_sov.testing.server import EmulatorServer

OWNER, NAME = "s-no-ping-bench01", "big output.json"

PRELUDE = """
import hashlib, json, sys, time
from pathlib import Path
sys.path.insert(0, {bench!r})
from _measure import reset_peak, rss_kib
url, token, dest, base = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]

def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

def timed(download, saved_as):
    # Once untimed (a process's first large write is slower, whoever makes it), then timed.
    download()
    (dest / saved_as).unlink()
    reset_peak()
    before = rss_kib()
    start = time.perf_counter()
    result = download()
    elapsed = time.perf_counter() - start
    return result, elapsed, before, rss_kib("VmHWM")
"""

OURS = (
    PRELUDE
    + """
from airflow_provider_sov.hooks.sov import SovHook
hook = SovHook()
saved, elapsed, before, peak = timed(lambda: hook.download_output({{"url": url, "filename": "ours.bin"}}, dest), "ours.bin")
ok = saved.sha256 == sha256_of(dest / "ours.bin")  # the hash it reports is the file's
print(json.dumps({{"seconds": elapsed, "before": before, "peak": peak, "sha256": saved.sha256 if ok else "mismatch"}}))
"""
)

PINGINTEL = (
    PRELUDE
    + """
from pingintel_api import SOVFixerAPIClient
client = SOVFixerAPIClient(api_url=base, auth_token=token)
_, elapsed, before, peak = timed(
    lambda: client.download_file(url, str(dest / "pingintel.bin"), actually_write=True), "pingintel.bin"
)
print(json.dumps({{"seconds": elapsed, "before": before, "peak": peak, "sha256": sha256_of(dest / "pingintel.bin")}}))
"""
)

PLAIN_REQUESTS = (
    PRELUDE
    + """
import requests
headers = {{"Authorization": f"Token {{token}}"}}

def download():
    r = requests.get(url, headers=headers)
    r.raise_for_status()
    with open(dest / "plain.bin", "wb") as f:
        f.write(r.content)

_, elapsed, before, peak = timed(download, "plain.bin")
print(json.dumps({{"seconds": elapsed, "before": before, "peak": peak, "sha256": sha256_of(dest / "plain.bin")}}))
"""
)

CLIENTS = (
    ("airflow-provider-sov", OURS),
    ("pingintel-api download_file", PINGINTEL),
    ("requests .content (seed scripts)", PLAIN_REQUESTS),
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def curl(url: str, token: str, dest: Path) -> dict[str, Any] | None:
    """curl writing to disk: seconds, peak RSS (KiB) and the saved file's SHA-256."""
    if not shutil.which("curl"):
        return None
    target = dest / "curl.bin"
    run_watched(["curl", "-sSf", "-o", str(target), "-H", f"Authorization: Token {token}", url])
    target.unlink()  # the untimed first run, as for the other clients
    start = time.perf_counter()
    done, peak = run_watched(["curl", "-sSf", "-o", str(target), "-H", f"Authorization: Token {token}", url])
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"curl failed: {done.stderr}")
    result = {"seconds": elapsed, "peak": peak, "sha256": sha256_of(target)}
    target.unlink()
    return result


def sha256_alone(size: int) -> float:
    """Seconds SHA-256 takes over ``size`` bytes already in memory, 1 MiB at a time, on one core."""
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    start = time.perf_counter()
    for _ in range(size >> 20):
        digest.update(block)
    return time.perf_counter() - start


def one_size(size_mib: int, runs: int, bench_dir: str) -> None:
    size = size_mib * 1024 * 1024
    with EmulatorServer() as server, tempfile.TemporaryDirectory() as tmp:
        path = server.sov.add_blob_output(OWNER, NAME, size)
        url = server.url + path
        expected = server.sov.files[(OWNER, NAME)].sha256()  # type: ignore[union-attr]
        env = {
            **os.environ,
            "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", tmp),
            "AIRFLOW_CONN_SOVFIXER_DEFAULT": json.dumps(
                {"conn_type": "sovfixer", "host": server.url, "password": server.token}
            ),
        }
        seconds: dict[str, list[float]] = {}
        memory: dict[str, list[float]] = {}
        matched: dict[str, bool] = {}
        hashing: list[float] = []
        for _ in range(runs):
            for label, code in CLIENTS:
                dest = Path(tmp) / label.split()[0]
                dest.mkdir()
                result = run_child(
                    code.format(bench=bench_dir), url, server.token, str(dest), server.url, env=env
                )
                seconds.setdefault(label, []).append(result["seconds"])
                memory.setdefault(label, []).append((result["peak"] - result["before"]) / 1024)
                matched[label] = matched.get(label, True) and result["sha256"] == expected
                shutil.rmtree(dest)
            peer = curl(url, server.token, Path(tmp))
            if peer is not None:
                seconds.setdefault("curl", []).append(peer["seconds"])
                memory.setdefault("curl", []).append(peer["peak"] / 1024)
                matched["curl"] = matched.get("curl", True) and peer["sha256"] == expected
            hashing.append(sha256_alone(size))  # in turn with the clients, on the same machine state

    def rate(secs: float) -> float:
        return size / secs / 1e6

    rows = [
        [
            label,
            f"{rate(min(times)):,.0f}",
            f"{rate(statistics.median(times)):,.0f}",
            f"{max(memory[label]):.1f}" + (" (peak)" if label == "curl" else ""),
            "yes" if matched[label] else "NO",
        ]
        for label, times in seconds.items()
    ]
    rows.append(
        [
            "SHA-256 alone, one core (the floor)",
            f"{rate(min(hashing)):,.0f}",
            f"{rate(statistics.median(hashing)):,.0f}",
            "",
            "",
        ]
    )
    print(
        table(
            f"Download of {size_mib} MiB from the emulator, {runs} run(s) per client",
            ["client", "best MB/s", "median MB/s", "RSS MiB", "bytes match"],
            rows,
        )
    )
    ours = "airflow-provider-sov"
    best = {label: min(times) for label, times in seconds.items()}
    median = {label: statistics.median(times) for label, times in seconds.items()}
    for label in seconds:
        if label != ours:
            print(
                f"ratio, throughput ours / {label}: best {best[label] / best[ours]:.2f}, "
                f"median {median[label] / median[ours]:.2f}"
            )
    print(
        f"ratio, throughput ours / SHA-256 alone: best {min(hashing) / best[ours]:.2f}, "
        f"median {statistics.median(hashing) / median[ours]:.2f}"
    )
    plain = "requests .content (seed scripts)"
    growth = max(memory[ours])
    print(f"ratio, RSS growth ours / {plain}: {growth / max(max(memory[plain]), 0.1):.3f}")
    print()
    print(f"goal RSS growth <= 32 MiB: {'met' if growth <= 32 else 'MISSED'} ({growth:.1f} MiB)")
    if "curl" in seconds:
        ratio = median["curl"] / median[ours]
        print(f"goal throughput >= 0.8x curl (median): {'met' if ratio >= 0.8 else 'MISSED'} ({ratio:.2f}x)")
    ratio = statistics.median(hashing) / median[ours]
    print(
        f"goal throughput >= 0.9x SHA-256 alone (median): {'met' if ratio >= 0.9 else 'MISSED'} ({ratio:.2f}x)"
    )
    vendor = "pingintel-api download_file"
    ratio = median[vendor] / median[ours]
    print(
        f"goal throughput >= 1.0x pingintel-api (median): {'met' if ratio >= 1.0 else 'MISSED'} ({ratio:.2f}x)"
    )
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--runs", type=int, default=3, help="runs per client, taking turns")
    args = parser.parse_args(argv)
    bench_dir = str(Path(__file__).resolve().parent)
    for size_mib in args.size_mib:
        one_size(size_mib, args.runs, bench_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
