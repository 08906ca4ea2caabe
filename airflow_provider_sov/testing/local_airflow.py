"""
``make airflow``: the emulator and a local Airflow (API server, scheduler, DAG processor,
triggerer) on loopback, with both connections on the emulator and the example DAGs, to click
through in a browser. Prints the URL and the login; Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_sov.testing.server import EmulatorServer
from airflow_provider_sov.testing.stack import AirflowStack, free_port

if TYPE_CHECKING:
    from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]
USER = "admin"


def port_or_free(port: int) -> int:
    """``port`` if nothing listens on it on loopback, else a free one."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


class LocalAirflow:
    """
    The emulator (jobs in real time) and a whole local Airflow in ``root``, started together.

    :param root: The Airflow home's parent: its logs, metadata DB and login are kept there.
    :param port: The web UI's port (another one if it is taken).
    :param job_seconds: How long an emulated job runs.
    """

    def __init__(self, root: Path, port: int = 8080, job_seconds: float = 4.0) -> None:
        self.root = root.resolve()
        self.port = port
        self.job_seconds = job_seconds
        self.emulator: EmulatorServer | None = None
        self.stack: AirflowStack | None = None
        self.password = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalAirflow:
        try:
            return self._start()
        except BaseException:  # Ctrl-C while starting too: stop what has started
            self.__exit__(None, None, None)
            raise

    def _start(self) -> LocalAirflow:
        self.root.mkdir(parents=True, exist_ok=True)
        self.emulator = EmulatorServer(realtime=True, job_seconds=self.job_seconds).start()
        self.stack = AirflowStack(self.root, self.emulator, ROOT / "example_dags")
        self.port = port_or_free(self.port)
        home = self.stack.home
        home.mkdir(parents=True, exist_ok=True)
        passwords = home / "passwords.json"
        if not passwords.exists():
            passwords.write_text(json.dumps({USER: secrets.token_urlsafe(12)}))
        self.password = json.loads(passwords.read_text())[USER]
        self.stack.env.update(
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{USER}:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
            # A new user's DAGs wait for a click, so nothing runs before they look.
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        )
        self.stack.__enter__()  # returns once the API server answers
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.stack is not None:
            self.stack.stop()
        if self.emulator is not None:
            self.emulator.stop()

    def describe(self) -> str:
        assert self.emulator is not None and self.stack is not None
        return "\n".join(
            [
                f"Airflow:  {self.url}   login {USER} / {self.password}",
                f"Emulator: {self.emulator.url} (sovfixer_default and data_act_broker_default point here)",
                f"Home:     {self.stack.home} (logs beside it in {self.root})",
                "Unpause and trigger sov_update_refresh, then open its tasks' Ping Maps button. Ctrl-C stops all.",
            ]
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=ROOT / ".airflow")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--job-seconds", type=float, default=4.0)
    args = parser.parse_args(argv)
    stopping: list[Any] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        with LocalAirflow(args.root, args.port, args.job_seconds) as local:
            # Once it serves, Ctrl-C (SIGINT) only asks to stop: the stop below is never cut short.
            signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
            print(local.describe(), flush=True)
            while not stopping:
                time.sleep(0.5)
            print("Stopping Airflow and the emulator...", flush=True)
    except KeyboardInterrupt:  # Ctrl-C while it was starting: what had started is stopped
        print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
