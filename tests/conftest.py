"""Shared fixtures: an isolated AIRFLOW_HOME, a fast retry policy, hooks wired to the emulator."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# Before anything imports Airflow: keep its home (config, SQLite DB, logs) out of the user's.
_HOME = Path(tempfile.mkdtemp(prefix="sov-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_provider_sov._shared.http import RetryPolicy  # noqa: E402
from airflow_provider_sov.hooks.sov import SovHook  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_sov.testing.server import EmulatorServer

#: Every wait a sensor offers, and every wait an operator offers; tests run over all of them.
SENSOR_MODES = [
    pytest.param({"deferrable": True}, id="deferrable"),
    pytest.param({"deferrable": False, "mode": "poke"}, id="poke"),
    pytest.param({"deferrable": False, "mode": "reschedule"}, id="reschedule"),
]
OPERATOR_MODES = [pytest.param(True, id="deferrable"), pytest.param(False, id="in-process")]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CSV = ROOT / "example_dags" / "data" / "corrections.csv"
#: Rows of a new SOV (three buildings named by sheet and row), for new submissions.
NEW_SOV_CSV = ROOT / "example_dags" / "data" / "new_sov_rows.csv"
#: The SOV token of the real-Airflow stack: recognisable, so that a scan can find any leak of it.
STACK_TOKEN = "sov-token-RECOGNISABLE-7Qx9Lm2Vb"


class SleepLog(list):
    """Records the waits a retry policy asked for, instead of sleeping them (sync and async)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


@pytest.fixture
def policy(sleeps: SleepLog) -> RetryPolicy:
    """Four tries, no real sleeping (the sync path records its waits in ``sleeps``)."""
    return RetryPolicy(attempts=4, min_wait=0.001, max_wait=0.002, sleep=sleeps)


@pytest.fixture
def hook(sov_connection: str, policy: RetryPolicy) -> Iterator[SovHook]:
    """A SovHook on the emulator, with short timeouts and the fast policy."""
    h = SovHook(sov_connection, retry_policy=policy, timeout=(2.0, 2.0))
    yield h
    h.close()


def finish(server: EmulatorServer, seconds: float = 3600) -> None:
    """Let every running job on the emulator finish."""
    server.advance(seconds)


@pytest.fixture
def corrections_csv() -> Path:
    return EXAMPLE_CSV


@pytest.fixture
def memory_store():
    """Attach fsspec's in-memory filesystem as Airflow object storage (``memory://``)."""
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    fs = MemoryFileSystem()
    attach("memory", fs=fs)
    yield fs
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")


@pytest.fixture
def live(monkeypatch):
    """An emulator whose jobs finish in real time (0.6 s), with ``sovfixer_default`` on it."""
    import json

    from airflow_provider_sov.testing.server import EmulatorServer

    with EmulatorServer(realtime=True, job_seconds=0.6) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SOVFIXER_DEFAULT",
            json.dumps({"conn_type": "sovfixer", "host": server.url, "password": server.token}),
        )
        yield server


@pytest.fixture(autouse=True)
def fast_trigger_retries(monkeypatch):
    """Triggers retry transient failures within a poll without real backoff sleeps."""
    from airflow_provider_sov._shared.trigger import JobTrigger
    from airflow_provider_sov.triggers.sov import SovHistoryTrigger

    fast = RetryPolicy(attempts=3, min_wait=0.001, max_wait=0.002)
    monkeypatch.setattr(JobTrigger, "retry_policy", fast)
    monkeypatch.setattr(SovHistoryTrigger, "retry_policy", fast)


@pytest.fixture(autouse=True)
def fresh_broker_sessions():
    """Each test starts without Broker sessions left over from another test's emulator."""
    from airflow_provider_sov.hooks.broker import _SESSIONS

    _SESSIONS.clear()
    yield
    _SESSIONS.clear()


# --- DATA Act Broker ------------------------------------------------------------------------------

#: The Broker's three ways in; tests that touch auth run over all of them.
BROKER_AUTH_MODES = ["login", "session", "proxy"]


def broker_conn(server: EmulatorServer, mode: str) -> dict:
    """A ``data_act_broker`` connection on the emulator, authenticating by ``mode``."""
    from airflow_provider_sov.testing.stack import broker_connection

    return broker_connection(server, mode)


def use_broker(monkeypatch, server: EmulatorServer, mode: str = "login") -> str:
    """Point ``data_act_broker_default`` at ``server``; returns the connection ID."""
    import json

    monkeypatch.setenv("AIRFLOW_CONN_DATA_ACT_BROKER_DEFAULT", json.dumps(broker_conn(server, mode)))
    return "data_act_broker_default"


@pytest.fixture
def broker_emulator(monkeypatch) -> Iterator[EmulatorServer]:
    """An emulator on a manual clock with ``data_act_broker_default`` on it (login mode)."""
    from airflow_provider_sov.testing.server import EmulatorServer

    with EmulatorServer() as server:
        use_broker(monkeypatch, server)
        yield server


@pytest.fixture
def broker_live(monkeypatch) -> Iterator[EmulatorServer]:
    """An emulator whose generations finish in real time (0.6 s; E/F/A/BOC read invalid for 0.3 s once picked up)."""
    from airflow_provider_sov.testing.server import EmulatorServer

    with EmulatorServer(realtime=True, generation_seconds=0.6, pickup_seconds=0.3) as server:
        use_broker(monkeypatch, server)
        yield server


@pytest.fixture
def broker_hook(broker_emulator: EmulatorServer, policy: RetryPolicy):
    from airflow_provider_sov.hooks.broker import DataActBrokerHook

    h = DataActBrokerHook(retry_policy=policy, timeout=(2.0, 2.0))
    yield h
    h.close()


# --- A real Airflow (scheduler, API server, DAG processor, triggerer) -----------------------------


def dags_folder(tmp: Path) -> Path:
    """The example DAGs as shipped, plus the test DAGs and the benchmarks' DAGs."""
    import shutil

    dags = tmp / "dags"
    shutil.copytree(ROOT / "example_dags", dags)
    shutil.copytree(ROOT / "tests" / "dags", dags / "e2e")
    shutil.copytree(ROOT / "benchmarks" / "dags", dags / "bench")
    return dags


def xcom(home: Path, dag_id: str, task_id: str, run_id: str, key: str = "return_value", map_index: int = -1):
    """One XCom value of a real Airflow's SQLite metadata DB (an ``airflow dags test`` home), decoded."""
    import functools

    from airflow_provider_sov.testing.stack import query, read_xcom

    return read_xcom(functools.partial(query, home), dag_id, task_id, run_id, key, map_index)


#: The client_ref of the stack's scheduled runs of the @daily refresh example, and how long the
#: first one's update runs unless its test finishes it (tests/test_airflow_e2e.py).
SCHEDULED_REFRESH = "sov_update_refresh/scheduled__"
SCHEDULED_HOLD = 900


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """
    One real Airflow for every test that needs one, on the emulator in real time. Those tests run
    last (see below), so its services do not slow the rest of the suite.
    """
    from airflow_provider_sov.testing.postgres import PostgresServer
    from airflow_provider_sov.testing.server import EmulatorServer
    from airflow_provider_sov.testing.stack import AirflowStack

    root = tmp_path_factory.mktemp("stack")
    with (
        EmulatorServer(
            token=STACK_TOKEN, realtime=True, job_seconds=4, generation_seconds=3, pickup_seconds=1
        ) as emulator,
        PostgresServer(root / "pg", "warehouse") as warehouse,  # for the warehouse example DAGs
    ):
        # The scheduled refresh's first update runs until its test lets it finish: on a busy
        # machine a 4 s job can end before its task defers, and then no wait reaches the triggerer.
        emulator.sov.script_next("update", "SUCCESS", duration=SCHEDULED_HOLD, client_ref=SCHEDULED_REFRESH)
        # The submitting examples' scheduled runs read their files from the warehouse.
        from tests.submitting_warehouse import seed

        seed(warehouse)
        stack = AirflowStack(root, emulator, dags_folder(root))
        stack.env.update(warehouse.connection_env())
        with stack as running:
            running.warehouse = warehouse  # type: ignore[attr-defined]  # for the warehouse examples' tests
            yield running


#: Files whose tests run a real Airflow (scheduler, triggerer, ``airflow dags test``) or a
#: benchmark script: ``make check`` leaves them out (``-m "not slow"``), ``make test`` runs them.
SLOW_FILES = {
    "test_airflow_e2e.py",
    "test_benchmarks_smoke.py",
    "test_restarts.py",
    "test_secrets.py",
    "test_distributed.py",
    "test_broker_submit_e2e.py",
}


def pytest_collection_modifyitems(session, config, items):
    """Mark the slow tests; run the ones on the real Airflow stack last, and the secret scan after them all."""
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.airflow_stack)

    def rank(item) -> int:
        if item.get_closest_marker("after_every_stack_test"):
            return 2
        return 1 if "stack" in getattr(item, "fixturenames", ()) else 0

    items.sort(key=rank)  # stable: the order within each group is kept


# --- A real S3 API (moto in server mode) ---------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One S3 server for the session; each test makes its own bucket."""
    from airflow_provider_sov.testing.s3 import S3Server

    with S3Server(log=tmp_path_factory.mktemp("s3") / "moto.log") as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server, monkeypatch, request) -> str:
    """A new, empty bucket on ``s3_server``, and ``aws_default`` pointed at the server."""
    import re
    import uuid

    for key, value in s3_server.connection_env().items():
        monkeypatch.setenv(key, value)
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    return s3_server.make_bucket(f"{name}-{uuid.uuid4().hex[:8]}")
