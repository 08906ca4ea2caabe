"""Run the emulator in the foreground: ``python -m airflow_provider_sov.testing --port 8765``."""

from __future__ import annotations

import argparse
import signal
import threading

from airflow_provider_sov.testing.server import DEFAULT_TOKEN, EmulatorServer


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, start the emulator in real time, and serve until interrupted."""
    parser = argparse.ArgumentParser(description="Local emulator of the SOV Fixer API.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="API token to accept")
    parser.add_argument("--job-seconds", type=float, default=6.0, help="how long a job runs")
    args = parser.parse_args(argv)
    server = EmulatorServer(
        host=args.host, port=args.port, token=args.token, realtime=True, job_seconds=args.job_seconds
    ).start()
    print(f"SOV Fixer emulator on {server.url} (token set by --token); Ctrl-C stops it.", flush=True)
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
