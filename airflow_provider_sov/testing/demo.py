"""
The demo behind ``make demo``: a real SOV update against the local emulator, through SovHook.

Starts the emulator (jobs take a few seconds, in real time), points the ``sovfixer_default``
connection at it, then: initiate an update, upload the example corrections CSV, start, wait while
logging progress, download every output, and print where the files are.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "example_dags" / "data" / "corrections.csv"


def run(destination: Path, csv_path: Path, sov_id: str, job_seconds: float) -> list[dict[str, object]]:
    """Run the update end to end and return what was downloaded."""
    from airflow_provider_sov.hooks.sov import SovHook, classify
    from airflow_provider_sov.testing.server import EmulatorServer

    with EmulatorServer(realtime=True, job_seconds=job_seconds) as server:
        print(f"emulator listening on {server.url}")
        os.environ["AIRFLOW_CONN_SOVFIXER_DEFAULT"] = json.dumps(
            {"conn_type": "sovfixer", "host": server.url, "password": server.token}
        )
        hook = SovHook()
        sud_id = hook.initiate_update(sov_id, update_type="API", client_ref="make-demo")
        print(f"initiated update {sud_id} of SOV {sov_id}")
        sent = hook.add_locations(sud_id, csv_path)
        print(f"uploaded {sent.rows} corrected building(s) from {csv_path.name}")
        hook.start_update(
            sud_id, extra_data={"insured_name": "Acme Corp"}, output_formats=["json", "xlsx", "csv"]
        )
        while True:
            status = classify(hook.get_update_status(sud_id), sud_id)
            print(f"  {status.progress_line()}")
            if status.terminal:
                break
            time.sleep(1)
        if not status.succeeded:
            raise SystemExit(f"update {sud_id} ended {status.result_status}: {status.message}")
        files = [hook.download_output(o, destination, overwrite=True, job_id=sud_id) for o in status.outputs]
        hook.close()
    return [f.to_dict() for f in files]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--destination", type=Path, default=Path("out"))
    parser.add_argument("--csv", type=Path, default=EXAMPLE_CSV)
    parser.add_argument("--sov-id", default="s-no-ping-hggcsk")
    parser.add_argument("--job-seconds", type=float, default=5.0)
    args = parser.parse_args()
    files = run(args.destination, args.csv, args.sov_id, args.job_seconds)
    print(f"downloaded {len(files)} file(s):")
    for f in files:
        print(f"  {f['uri']}  {f['size']} bytes  sha256 {str(f['sha256'])[:12]}")


if __name__ == "__main__":
    main()
