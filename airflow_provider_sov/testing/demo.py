"""
The demo behind ``make demo``: the example DAG ``sov_update_refresh`` under ``airflow dags test``,
against the local emulator.

Starts the emulator (jobs take a few seconds, in real time), points ``sovfixer_default`` at it,
prepares a throw-away Airflow home under ``.demo/``, runs the DAG (initiate, upload the example
corrections, start, wait deferrably, download), and prints the files it downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
_SHOWN = re.compile(r"airflow_provider_sov|\[DAG TEST\] (starting|end) task|DagRun Finished")


def airflow_env(home: Path, dags: Path, conn_host: str, token: str) -> dict[str, str]:
    """Environment for an isolated Airflow: its own home and DB, our DAGs, the emulator connection."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_SOVFIXER_DEFAULT": json.dumps(
            {"conn_type": "sovfixer", "host": conn_host, "password": token}
        ),
    }


def run_dag(dag_id: str, destination: Path, job_seconds: float, home: Path) -> int:
    """Run ``dag_id`` once under ``airflow dags test``; return its exit code."""
    from airflow_provider_sov.testing.server import EmulatorServer

    home.mkdir(parents=True, exist_ok=True)
    with EmulatorServer(realtime=True, job_seconds=job_seconds) as server:
        print(f"emulator listening on {server.url}")
        env = airflow_env(home, ROOT / "example_dags", server.url, server.token)
        migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True)
        if migrate.returncode != 0:
            print(migrate.stdout + migrate.stderr, file=sys.stderr)
            return migrate.returncode
        conf = json.dumps({"destination": str(destination)})
        print(f"airflow dags test {dag_id} (full log: {home / 'dags-test.log'})")
        with (home / "dags-test.log").open("w") as log:
            proc = subprocess.Popen(
                [AIRFLOW, "dags", "test", dag_id, "--conf", conf],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                if _SHOWN.search(line):
                    print("  " + _strip(line))
            return proc.wait()


def _strip(line: str) -> str:
    """Keep a log line's message, dropping timestamps and logger noise."""
    text = re.sub(r"^\S+ \[\w+\s*\] ", "", line.rstrip())
    return re.sub(r" \[[\w.]+\]( loc=\S+)?.*$", "", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--destination", type=Path, default=Path("out"))
    parser.add_argument("--dag", default="sov_update_refresh")
    parser.add_argument("--job-seconds", type=float, default=4.0)
    parser.add_argument("--home", type=Path, default=ROOT / ".demo" / "airflow")
    args = parser.parse_args()
    destination = args.destination.resolve()
    code = run_dag(args.dag, destination, args.job_seconds, args.home.resolve())
    if code != 0:
        raise SystemExit(f"the DAG run failed (exit {code}); see {args.home / 'dags-test.log'}")
    files = sorted(p for p in destination.rglob("*") if p.is_file())
    print(f"downloaded {len(files)} file(s) under {destination}:")
    for path in files:
        print(f"  {path}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
