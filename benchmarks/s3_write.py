"""
S3 write benchmark: one large file (1 GiB by default) written to a real S3 API on loopback (moto's
server), side by side in the same run with ``s3fs``'s own ``put`` of the same bytes (what
``aws s3 cp`` does: a multipart upload of a local file).

- **ours, stream -> S3**: ``write_stream`` (every download's path) fed the file's bytes 1 MiB at a
  time, as a download feeds it: SHA-256 of every byte, each part sent with its SHA-256, the parts
  the server holds checked before the upload is completed;
- **s3fs put_file**: the peer, from the local file, with s3fs's defaults;
- **ours, download -> S3**: the whole task path, informational: the hook downloading an emulator
  output of the same size straight into the bucket.

Each runs ``--runs`` times in a fresh process, taking turns; each process writes twice and times the
second (the first pays for imports, the S3 client and the first large write). Reported: best and median seconds,
memory (peak RSS during the write minus RSS just before it) and whether the stored object's SHA-256
matched every time. Goals: our RSS growth <= 64 MiB; time within 1.25x of s3fs's put (median).

    python benchmarks/s3_write.py --size-mib 1024 --runs 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run_child, table

from airflow_provider_sov.testing.s3 import S3Server
from airflow_provider_sov.testing.server import EmulatorServer

BUCKET = "bench"
GOAL_RSS_MIB = 64
GOAL_RATIO = 1.25

PRELUDE = """
import json, sys, time
sys.path.insert(0, {bench!r})
from _measure import reset_peak, rss_kib
source, key = sys.argv[1], sys.argv[2]

def timed(write):
    # Once untimed (clients, imports, a process's first large write), then timed.
    write()
    reset_peak()
    before = rss_kib()
    start = time.perf_counter()
    write()
    elapsed = time.perf_counter() - start
    return elapsed, before, rss_kib("VmHWM")
"""

OURS = (
    PRELUDE
    + """
from airflow.sdk import ObjectStoragePath
from airflow_provider_sov._shared.files import write_stream
folder = ObjectStoragePath("s3://aws_default@{bucket}/")
def chunks():
    with open(source, "rb") as f:
        while block := f.read(1 << 20):
            yield block
elapsed, before, peak = timed(lambda: write_stream(chunks(), folder, key, overwrite=True))
print(json.dumps({{"seconds": elapsed, "before": before, "peak": peak}}))
"""
)

S3FS_PUT = (
    PRELUDE
    + """
from airflow.sdk import ObjectStoragePath
fs = ObjectStoragePath("s3://aws_default@{bucket}/").fs  # the same s3fs filesystem, from the connection
elapsed, before, peak = timed(lambda: fs.put_file(source, "{bucket}/" + key))
print(json.dumps({{"seconds": elapsed, "before": before, "peak": peak}}))
"""
)

OURS_DOWNLOAD = (
    PRELUDE
    + """
from airflow_provider_sov.hooks.sov import SovHook
hook = SovHook()
elapsed, before, peak = timed(
    lambda: hook.download_output({{"url": source, "filename": key}}, "s3://aws_default@{bucket}/", overwrite=True)
)
print(json.dumps({{"seconds": elapsed, "before": before, "peak": peak}}))
"""
)


def stored_sha256(s3: S3Server, key: str) -> str:
    body = s3.client().get_object(Bucket=BUCKET, Key=key)["Body"]
    digest = hashlib.sha256()
    for block in iter(lambda: body.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def one_size(size_mib: int, runs: int) -> tuple[str, bool]:
    size = size_mib << 20
    bench = str(Path(__file__).resolve().parent)
    with tempfile.TemporaryDirectory() as tmp, S3Server() as s3, EmulatorServer() as emulator:
        s3.make_bucket(BUCKET)
        source = Path(tmp) / "source.bin"
        with source.open("wb") as f:
            block = os.urandom(1 << 20)
            for i in range(size_mib):
                f.write(i.to_bytes(8, "big") + block[8:])
        digest = hashlib.sha256()
        with source.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        expected = digest.hexdigest()
        url = emulator.url + emulator.sov.add_blob_output("s-no-ping-s3bench", "big.bin", size)
        served = emulator.sov.files[("s-no-ping-s3bench", "big.bin")].sha256()  # type: ignore[union-attr]
        env = {
            **os.environ,
            "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", tmp),
            **s3.connection_env(),
            "AIRFLOW_CONN_SOVFIXER_DEFAULT": json.dumps(
                {"conn_type": "sovfixer", "host": emulator.url, "password": emulator.token}
            ),
        }
        clients: list[tuple[str, str, str, str]] = [
            ("ours, stream -> S3", OURS, str(source), expected),
            ("s3fs put_file (peer)", S3FS_PUT, str(source), expected),
            ("ours, download -> S3", OURS_DOWNLOAD, url, served),
        ]
        seconds: dict[str, list[float]] = {}
        memory: dict[str, list[float]] = {}
        matched: dict[str, bool] = {}
        for run in range(runs):
            for label, code, src, truth in clients:
                key = f"run{run}-{len(seconds.get(label, []))}-{clients.index((label, code, src, truth))}.bin"
                result: dict[str, Any] = run_child(code.format(bench=bench, bucket=BUCKET), src, key, env=env)
                seconds.setdefault(label, []).append(result["seconds"])
                memory.setdefault(label, []).append((result["peak"] - result["before"]) / 1024)
                matched[label] = matched.get(label, True) and stored_sha256(s3, key) == truth
                s3.client().delete_object(Bucket=BUCKET, Key=key)
        unfinished = s3.unfinished_uploads(BUCKET)

    rows = [
        [
            label,
            f"{min(times):.2f}",
            f"{statistics.median(times):.2f}",
            f"{size / statistics.median(times) / 1e6:,.0f}",
            f"{max(memory[label]):.1f}",
            "yes" if matched[label] else "NO",
        ]
        for label, times in seconds.items()
    ]
    ours, peer = (
        statistics.median(seconds["ours, stream -> S3"]),
        statistics.median(seconds["s3fs put_file (peer)"]),
    )
    growth = max(max(memory["ours, stream -> S3"]), max(memory["ours, download -> S3"]))
    ratio = ours / peer
    met = growth <= GOAL_RSS_MIB and ratio <= GOAL_RATIO and all(matched.values()) and not unfinished
    lines = [
        table(
            f"S3 write of {size_mib} MiB to moto's server on loopback, {runs} run(s) each",
            ["writer", "best s", "median s", "MB/s (median)", "RSS growth MiB (max)", "sha256 matched"],
            rows,
        ),
        f"ratio, time ours / s3fs put_file (median): {ratio:.2f}x (goal <= {GOAL_RATIO}x)",
        f"our RSS growth: {growth:.1f} MiB (goal <= {GOAL_RSS_MIB} MiB)",
        f"unfinished multipart uploads left: {len(unfinished)}",
    ]
    return "\n".join(lines), met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, nargs="+", default=[1024])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    failed = 0
    for size_mib in args.size_mib:
        report, met = one_size(size_mib, args.runs)
        print(report + f"\ngoals met: {'yes' if met else 'NO'}\n", flush=True)
        failed |= not met
    return 0  # a missed goal is reported, not an error: the figures are the result


if __name__ == "__main__":
    raise SystemExit(main())
