"""Run the emulator in the foreground: ``python -m airflow_provider_sov.testing --port 8765``."""

from __future__ import annotations

import argparse
import json
import signal
import threading

from airflow_provider_sov.testing import broker_app
from airflow_provider_sov.testing.server import DEFAULT_TOKEN, EmulatorServer
from airflow_provider_sov.testing.stack import broker_connection


def banner(server: EmulatorServer) -> str:
    """Everything a user needs to point Airflow, a script or curl at the running emulator."""
    sov = {"conn_type": "sovfixer", "host": server.url, "password": server.token}
    broker = broker_connection(server, "login")
    return "\n".join(
        [
            "Emulator running; Ctrl-C stops it.",
            "",
            f"SOV Fixer         {server.url}",
            f"  token           {server.token}",
            f"  export AIRFLOW_CONN_SOVFIXER_DEFAULT='{json.dumps(sov)}'",
            "",
            f"DATA Act Broker   {server.url}",
            f"  login           {broker_app.USER} / {broker_app.PASSWORD}  (auth_mode login)",
            f"  session ID      {broker_app.SESSION_ID}  (auth_mode session)",
            f"  Treasury proxy  {server.proxy_url}",
            f"    client_id     {broker_app.CLIENT_ID} / client_secret {broker_app.CLIENT_SECRET}  (auth_mode proxy)",
            f"  file storage    {server.storage_url}  (signed URLs point here)",
            "  submissions     1001 validated, 1002 still validating, 1003 awaiting cross-file",
            f"  export AIRFLOW_CONN_DATA_ACT_BROKER_DEFAULT='{json.dumps(broker)}'",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, start the emulator in real time, and serve until interrupted."""
    parser = argparse.ArgumentParser(
        description=(
            "Local emulator of the SOV Fixer API and the DATA Act Broker (with its Treasury proxy and "
            "file storage), over real HTTP. It prints its URLs and credentials when it starts."
        )
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="SOV Fixer API token to accept")
    parser.add_argument("--job-seconds", type=float, default=6.0, help="how long an SOV Fixer job runs")
    parser.add_argument(
        "--generation-seconds", type=float, default=10.0, help="how long a Broker file generation runs"
    )
    args = parser.parse_args(argv)
    server = EmulatorServer(
        host=args.host,
        port=args.port,
        token=args.token,
        realtime=True,
        job_seconds=args.job_seconds,
        generation_seconds=args.generation_seconds,
    ).start()
    print(banner(server), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
