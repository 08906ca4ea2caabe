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

EXAMPLE_CSV = Path(__file__).resolve().parents[1] / "example_dags" / "data" / "corrections.csv"


class SleepLog(list):
    """Records the waits a retry policy asked for, instead of sleeping them."""

    def __call__(self, seconds: float) -> None:
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
    from airflow_provider_sov.triggers.sov import SovHistoryTrigger, SovJobTrigger

    fast = RetryPolicy(attempts=3, min_wait=0.001, max_wait=0.002)
    monkeypatch.setattr(SovJobTrigger, "retry_policy", fast)
    monkeypatch.setattr(SovHistoryTrigger, "retry_policy", fast)
