"""
Download benchmark: one large emulator output through our streaming helper, side by side with
the seed scripts' way (``requests.get(...).content`` then write) and curl, in the same run.

Each client runs in its own process; we report throughput and resident-memory growth (peak RSS
during the download minus RSS just before it). Goal: our growth <= 32 MiB.

    python benchmarks/download.py --size-mib 200
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import rss_kib, run_child, table

from airflow_provider_sov.testing.server import EmulatorServer

OWNER, NAME = "s-no-ping-bench01", "big output.json"

PRELUDE = """
import hashlib, json, sys, time
from pathlib import Path
sys.path.insert(0, {bench!r})
from _measure import reset_peak, rss_kib
url, token, dest = sys.argv[1], sys.argv[2], Path(sys.argv[3])
"""

OURS = (
    PRELUDE
    + """
from airflow_provider_sov.hooks.sov import SovHook
hook = SovHook()
_ = hook.settings, hook.session  # connection and session set up before measuring
reset_peak()
before = rss_kib()
start = time.perf_counter()
saved = hook.download_output({{"url": url, "filename": "ours.bin"}}, dest)
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "before": before, "peak": rss_kib("VmHWM"), "sha256": saved.sha256}}))
"""
)

PLAIN_REQUESTS = (
    PRELUDE
    + """
import requests
headers = {{"Authorization": f"Token {{token}}"}}
reset_peak()
before = rss_kib()
start = time.perf_counter()
r = requests.get(url, headers=headers)
r.raise_for_status()
with open(dest / "plain.bin", "wb") as f:
    f.write(r.content)
elapsed = time.perf_counter() - start
digest = hashlib.sha256((dest / "plain.bin").read_bytes()).hexdigest()
print(json.dumps({{"seconds": elapsed, "before": before, "peak": rss_kib("VmHWM"), "sha256": digest}}))
"""
)


def curl(url: str, token: str, dest: Path) -> dict[str, object] | None:
    """curl writing to disk; its memory is read from GNU time if present, else not reported."""
    if not shutil.which("curl"):
        return None
    target = dest / "curl.bin"
    start = time.perf_counter()
    subprocess.run(
        ["curl", "-sSf", "-o", str(target), "-H", f"Authorization: Token {token}", url],
        check=True,
        timeout=900,
    )
    elapsed = time.perf_counter() - start
    import hashlib

    digest = hashlib.sha256()
    with target.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return {"seconds": elapsed, "sha256": digest.hexdigest()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=200)
    args = parser.parse_args(argv)
    size = args.size_mib * 1024 * 1024
    bench_dir = str(Path(__file__).resolve().parent)
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
        rows, results = [], {}
        for label, code in (
            ("airflow-provider-sov", OURS),
            ("requests .content (seed scripts)", PLAIN_REQUESTS),
        ):
            dest = Path(tmp) / label.split()[0]
            dest.mkdir()
            result = run_child(code.format(bench=bench_dir), url, server.token, str(dest), env=env)
            growth = (result["peak"] - result["before"]) / 1024
            results[label] = (result["seconds"], growth)
            rows.append(
                [
                    label,
                    f"{size / result['seconds'] / 1e6:.0f}",
                    f"{growth:.1f}",
                    result["sha256"] == expected,
                ]
            )
            shutil.rmtree(dest)
        curl_result = curl(url, server.token, Path(tmp))
        if curl_result is not None:
            seconds = float(curl_result["seconds"])  # type: ignore[arg-type]
            results["curl"] = (seconds, float("nan"))
            rows.append(
                [
                    "curl",
                    f"{size / seconds / 1e6:.0f}",
                    "n/a (own process)",
                    curl_result["sha256"] == expected,
                ]
            )
    print(
        table(
            f"Download of {args.size_mib} MiB from the emulator",
            ["client", "MB/s", "RSS growth MiB", "sha256 ok"],
            rows,
        )
    )
    ours_s, ours_growth = results["airflow-provider-sov"]
    plain_s, plain_growth = results["requests .content (seed scripts)"]
    print(f"ratio, throughput ours / requests .content: {plain_s / ours_s:.2f}")
    print(f"ratio, RSS growth ours / requests .content: {ours_growth / plain_growth:.3f}")
    if "curl" in results:
        print(f"ratio, throughput ours / curl: {results['curl'][0] / ours_s:.2f}")
    verdict = "met" if ours_growth <= 32 else "MISSED"
    print(f"goal RSS growth <= 32 MiB: {verdict} ({ours_growth:.1f} MiB)")
    print(f"rss of this orchestrating process: {rss_kib() / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
