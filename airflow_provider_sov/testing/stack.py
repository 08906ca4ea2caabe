"""
A real Airflow beside the emulator: an isolated home and database, and its long-running processes
(API server, scheduler, DAG processor, triggerer) started and stopped from Python. Used by the
end-to-end tests and the benchmarks that need a real scheduler and triggerer.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_sov.testing.server import EmulatorServer

AIRFLOW = str(Path(sys.executable).parent / "airflow")


#: How long one Airflow CLI call may take before it counts as hung, not as slow: on a busy machine
#: (three stacks on two cores) an Airflow CLI process has taken over two minutes to start.
CLI_LIMIT = 600
#: How long one call of the API server's REST API may take before it counts as hung.
REST_LIMIT = 120


def broker_connection(server: EmulatorServer, mode: str = "login") -> dict[str, Any]:
    """A ``data_act_broker`` connection on the emulator, authenticating by ``mode``."""
    from airflow_provider_sov.testing import broker_app as b

    website = {"website_url": server.website_url}  # the tasks' links to their submission
    if mode == "proxy":
        return {
            "conn_type": "data_act_broker",
            "host": server.proxy_url,
            "login": b.CLIENT_ID,
            "password": b.CLIENT_SECRET,
            "extra": {"auth_mode": "proxy", **website},
        }
    if mode == "session":
        return {
            "conn_type": "data_act_broker",
            "host": server.url,
            "password": b.SESSION_ID,
            "extra": website,
        }
    return {
        "conn_type": "data_act_broker",
        "host": server.url,
        "login": b.USER,
        "password": b.PASSWORD,
        "extra": website,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def airflow_env(home: Path, dags: Path, emulator: EmulatorServer, **extra: str) -> dict[str, str]:
    """
    The environment of every Airflow process of one home. The keys Airflow would otherwise draw at
    random when it first writes ``airflow.cfg`` are fixed here, so services started at the same
    moment cannot each write their own (a trigger encrypted by one would not decrypt in another).
    """
    import secrets

    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_SOVFIXER_DEFAULT": json.dumps(
                {"conn_type": "sovfixer", "host": emulator.url, "password": emulator.token}
            ),
            "AIRFLOW_CONN_DATA_ACT_BROKER_DEFAULT": json.dumps(broker_connection(emulator, "login")),
            **extra,
        }
    )
    return env


def _template_db() -> Path:
    """
    A freshly migrated, empty SQLite metadata DB for this Airflow install, made once and reused.

    ``airflow db migrate`` takes about 12 s even on an up-to-date DB; copying its result takes none.
    The copy is keyed by the Airflow version and install path, and written atomically, so parallel
    runs never see half a file.
    """
    import hashlib
    import shutil
    import tempfile
    from importlib.metadata import version

    import airflow

    key = hashlib.sha256(f"{version('apache-airflow')}:{airflow.__file__}".encode()).hexdigest()[:16]
    template = Path(tempfile.gettempdir()) / f"airflow-provider-sov-{key}.db"
    if template.exists():
        return template
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
        env.update(AIRFLOW_HOME=home, AIRFLOW__CORE__LOAD_EXAMPLES="False")
        done = subprocess.run(
            [AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{done.stdout}{done.stderr}")
        partial = template.with_suffix(f".{os.getpid()}.part")
        shutil.copyfile(Path(home) / "airflow.db", partial)
        os.replace(partial, template)
    return template


def migrate(env: dict[str, str]) -> None:
    """Give the Airflow home in ``env`` a migrated, empty SQLite DB (a copy of the template)."""
    import shutil

    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template_db(), home / "airflow.db")


def query(home: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(home / "airflow.db", timeout=30) as db:
        return db.execute(sql, params).fetchall()


def read_xcom(
    rows_of: Callable[..., list[tuple[Any, ...]]],
    dag_id: str,
    task_id: str,
    run_id: str,
    key: str = "return_value",
    map_index: int = -1,
) -> Any:
    """One XCom value of a metadata DB, decoded; ``rows_of`` runs a query there (``?`` placeholders)."""
    rows = rows_of(
        "select value from xcom where dag_id=? and task_id=? and run_id=? and key=? and map_index=?",
        dag_id,
        task_id,
        run_id,
        key,
        map_index,
    )
    if not rows:
        raise AssertionError(f"no XCom {key!r} for {dag_id}.{task_id}[{map_index}] in {run_id}")
    value = rows[0][0]
    return json.loads(value) if isinstance(value, (str, bytes)) else value  # SQLite: text; Postgres: JSON


#: What Airflow's scheduler logs when it fails a deferred task whose resumed try is already queued or
#: running, on the stale "success" of the try that deferred (apache/airflow#72716, open in 3.3): the
#: task, not the provider, is failed, and a retry (``retries >= 1``) reattaches to the same job.
STALE_DEFER_EXIT = "finished with state success, but the task instance's state attribute is "
#: The states the resumed try can be in when the stale event arrives.
STALE_DEFER_STATES = ("queued", "running")


def _database_busy(answer: Any) -> bool:
    """
    Whether the API server failed a request on its database, not on the request: on SQLite, while
    many tasks start at once, a write (the audit log's, the run's) can wait past the lock's timeout,
    and the API server answers 500 "Database error" after rolling the request's transaction back.
    """
    return bool(answer.status_code == 500 and '"Database error"' in answer.text)


class AirflowStack:
    """Airflow's long-running processes in their own session each, so a kill takes their children too."""

    SERVICES: tuple[str, ...] = ("api-server", "scheduler", "dag-processor", "triggerer")
    #: What a query raises while the database is busy (asked again, not failed).
    BUSY: tuple[type[Exception], ...] = (sqlite3.OperationalError,)

    def __init__(self, root: Path, emulator: EmulatorServer, dags: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.emulator = emulator
        api_port = free_port()
        self.env = airflow_env(
            self.home,
            dags,
            emulator,
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(api_port),
            # One API worker: Airflow 3.0 starts four, which on a busy machine never all answer
            # uvicorn's health check in time and are restarted over and over.
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API_AUTH__JWT_SECRET="e2e-secret-" + "0" * 32,
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            # Each DAG file is parsed when it is new or changed (the default order is by modification
            # time), not again every 30 s: a parse is a process of its own, and the stacks' DAG
            # folders hold every example, test and benchmark DAG.
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="600",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            # The user the REST API is called as (runs are triggered there, as users' tools do).
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="e2e:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(self.home / "passwords.json"),
        )
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None
        #: The run ID of each run :meth:`wait_run` cleared after Airflow's stale-event race.
        self.stale_defer_exits: list[str] = []

    def start(
        self,
        service: str,
        *,
        name: str | None = None,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Start ``airflow <service> <args>`` as ``name`` (default: the service), logging to ``<name>.log``."""
        name = name or service
        log = (self.root / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [AIRFLOW, *service.split(), *args],
            env={**self.env, **(env or {})},
            cwd=cwd or self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, service: str) -> None:
        proc = self.procs.pop(service)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)

    def __enter__(self) -> AirflowStack:
        """Give the home a migrated DB and start every service; :meth:`stop` on exit."""
        migrate(self.env)
        self._write_password()
        # The scheduler starts last, once the API server answers: a task it queues before then
        # loses its try (Airflow 3.0 fails it); the DAG processor parses meanwhile.
        later = [s for s in self.SERVICES if s == "scheduler"]
        for service in [s for s in self.SERVICES if s not in later]:
            self.start(service)
        self.wait_for(self.api_is_up, 300, f"the API server on port {self.env['AIRFLOW__API__PORT']}")
        for service in later:
            self.start(service)
        return self

    def api_is_up(self) -> bool:
        """Whether the API server answers on the port its environment names (its health route needs no login)."""
        import urllib.request

        try:
            url = f"http://127.0.0.1:{self.env['AIRFLOW__API__PORT']}/api/v2/monitor/health"
            with urllib.request.urlopen(url, timeout=5) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Ask every service to stop at once; kill any still running 20 s later."""
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for service in list(self.procs):
            try:
                self.procs[service].wait(max(0.1, deadline - time.monotonic()))
                self.procs.pop(service)
            except subprocess.TimeoutExpired:
                self.kill(service)

    def restart_triggerer(self, while_down: Callable[[], Any] | None = None) -> None:
        """kill -9 the triggerer (and its children), start a new one, wait until it is up."""
        log = self.root / "triggerer.log"
        before = log.read_text().count("Starting the triggerer")
        self.kill("triggerer")
        if while_down is not None:
            while_down()
        self.start("triggerer")
        self.wait_for(
            lambda: log.read_text().count("Starting the triggerer") > before, 120, "the new triggerer"
        )

    def python(self, code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], env=self.env, capture_output=True, text=True, timeout=CLI_LIMIT
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-3000:])
        return done.stdout.strip().splitlines()[-1]

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (``?`` placeholders) on this Airflow's metadata DB."""
        return query(self.home, sql, *params)

    def xcom(
        self, dag_id: str, task_id: str, run_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """One XCom value of a task instance, decoded."""
        return read_xcom(self.query, dag_id, task_id, run_id, key, map_index)

    # -- the REST API ---------------------------------------------------------------------------

    def _write_password(self) -> None:
        """Give the REST API's user a password, unless its file has one (a kept home's)."""
        import secrets

        passwords = self._passwords_file()
        known = json.loads(passwords.read_text()) if passwords.exists() else {}
        known.setdefault(self._rest_user(), secrets.token_urlsafe(12))
        passwords.parent.mkdir(parents=True, exist_ok=True)
        passwords.write_text(json.dumps(known))

    def _rest_user(self) -> str:
        """The one user of the stack's simple auth manager (``name:role``)."""
        return self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(":")[0]

    def _passwords_file(self) -> Path:
        return Path(self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])

    def rest(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """
        Call the API server's REST API (``/api/v2`` + ``path``) as its admin user; return the JSON.

        A request the server failed on its busy database (:func:`_database_busy`) is sent again for
        up to :data:`REST_LIMIT` seconds. Raises :class:`RuntimeError` with the server's answer on
        any other status but 2xx.
        """
        import requests

        base = f"http://127.0.0.1:{self.env['AIRFLOW__API__PORT']}"
        if self._token is None:
            user = self._rest_user()
            login = {"username": user, "password": json.loads(self._passwords_file().read_text())[user]}
            answer = requests.post(f"{base}/auth/token", json=login, timeout=REST_LIMIT)
            if not answer.ok:
                raise RuntimeError(
                    f"logging in to the REST API: HTTP {answer.status_code} {answer.text[:500]}"
                )
            self._token = str(answer.json()["access_token"])
        deadline = time.monotonic() + REST_LIMIT
        while True:
            answer = requests.request(
                method,
                f"{base}/api/v2{path}",
                json=body,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=REST_LIMIT,
            )
            if not _database_busy(answer) or time.monotonic() > deadline:
                break
            time.sleep(2)  # the request's transaction was rolled back: it did nothing, ask again
        if not answer.ok:
            raise RuntimeError(f"{method} /api/v2{path}: HTTP {answer.status_code} {answer.text[:2000]}")
        return answer.json() if answer.content else None

    @staticmethod
    def new_run_id(dag_id: str) -> str:
        """A run ID no other run has (for a test that must know it before the run exists)."""
        return f"e2e__{dag_id}__{time.time_ns()}"

    def trigger(
        self,
        dag_id: str,
        conf: dict[str, Any],
        logical_date: str | None = None,
        *,
        run_id: str | None = None,
    ) -> str:
        """Trigger a run of ``dag_id`` through the REST API, as users' tools do; return its run ID."""
        self.wait_for(
            lambda: self.query("select 1 from dag where dag_id=?", dag_id), 120, f"DAG {dag_id} parsed"
        )
        run_id = run_id or self.new_run_id(dag_id)
        when = None
        if logical_date:
            moment = datetime.fromisoformat(logical_date)  # the API takes aware times only: UTC if naive
            when = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
        body = {"dag_run_id": run_id, "conf": conf, "logical_date": when}
        self.rest("POST", f"/dags/{dag_id}/dagRuns", body)
        return run_id

    def answer(self, dag_id: str, task_id: str = "approve") -> list[str]:
        """
        Answer "Approve" to every human-in-the-loop question of ``task_id`` in ``dag_id`` not answered
        yet, as a person does in the UI (the REST API it calls); return the runs answered.
        """
        from urllib.parse import quote

        answered = []
        for detail in self.rest("GET", f"/dags/{dag_id}/dagRuns/~/hitlDetails").get("hitl_details", []):
            ti = detail.get("task_instance") or {}
            if ti.get("task_id") != task_id or detail.get("response_received"):
                continue
            run_id = str(ti["dag_run_id"])
            path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/-1/hitlDetails"
            self.rest("PATCH", path, {"chosen_options": ["Approve"], "params_input": {}})
            answered.append(run_id)
        return answered

    def approve(self, dag_id: str, task_id: str = "approve", timeout: float = 300) -> str:
        """Wait for a question of ``task_id`` in ``dag_id``, answer "Approve" (:meth:`answer`); return its run."""
        found: list[str] = []

        def answered() -> bool:
            found.extend(self.answer(dag_id, task_id))
            return bool(found)

        self.wait_for(answered, timeout, f"{dag_id}.{task_id}'s question")
        return found[0]

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("select state from dag_run where dag_id=? and run_id=?", dag_id, run_id)
        return rows[0][0] if rows else None

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 240) -> str:
        """
        Wait for a run to end; return its state. A run failed by Airflow's own stale-event race
        (:data:`STALE_DEFER_EXIT`) has its failed tasks cleared once per occurrence, as a user's
        ``retries=1`` would retry them, and is waited on again; every such run is kept in
        :attr:`stale_defer_exits`. Any other failure is returned as it is.
        """
        while True:
            self.wait_for(
                lambda: self.run_state(dag_id, run_id) in ("success", "failed"),
                timeout,
                f"{dag_id} to finish",
            )
            state = str(self.run_state(dag_id, run_id))
            if state != "failed" or not self.clear_if_raced(dag_id, run_id):
                return state

    def clear_if_raced(self, dag_id: str, run_id: str) -> bool:
        """Clear a failed run's failed tasks once per stale-event race (:meth:`wait_run`); say if it did."""
        if self.stale_defer_exit_count(dag_id, run_id) <= self.stale_defer_exits.count(run_id):
            return False
        self.stale_defer_exits.append(run_id)
        body = {"dag_run_id": run_id, "dry_run": False, "only_failed": True, "reset_dag_runs": True}
        self.rest("POST", f"/dags/{dag_id}/clearTaskInstances", body)
        return True

    def stale_defer_exit_count(self, dag_id: str, run_id: str) -> int:
        """How often the scheduler failed a task of this run on :data:`STALE_DEFER_EXIT`."""
        ti = f"<TaskInstance: {dag_id}."
        return sum(
            1
            for log in self.root.glob("scheduler*.log")
            for line in log.read_text(errors="replace").splitlines()
            if any(STALE_DEFER_EXIT + state in line for state in STALE_DEFER_STATES)
            and ti in line
            and f" {run_id} " in line
        )

    def wait_for(self, check: Callable[[], Any], timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if check():
                    return
            except self.BUSY:
                pass  # the DB is being written; ask again
            time.sleep(1)
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.root.glob("*.log")))
        raise TimeoutError(f"timed out waiting for {what}\n{logs}")

    def triggers(self) -> list[dict[str, Any]]:
        code = (
            "import json\n"
            "from airflow.utils.session import create_session\n"
            "from airflow.models.trigger import Trigger\n"
            "with create_session() as s:\n"
            "    print(json.dumps([{'id': t.id, 'classpath': t.classpath, 'kwargs': t.kwargs} for t in s.query(Trigger)], default=str))\n"
        )
        return json.loads(self.python(code))
