"""
pytest fixtures for testing DAGs and code that use this provider, against the local emulator.

- ``sov_emulator``: a running :class:`~airflow_provider_sov.testing.EmulatorServer` (manual clock).
- ``sov_connection``: the ``sovfixer_default`` connection pointed at it (as an environment variable).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_sov.testing.server import EmulatorServer


@pytest.fixture
def sov_emulator() -> Iterator[EmulatorServer]:
    """A fresh emulator on a free loopback port; its clock moves only with ``advance()``."""
    from airflow_provider_sov.testing.server import EmulatorServer

    server = EmulatorServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sov_connection(sov_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Define ``sovfixer_default`` to point at ``sov_emulator``; returns the connection ID."""
    conn = {"conn_type": "sovfixer", "host": sov_emulator.url, "password": sov_emulator.token}
    monkeypatch.setenv("AIRFLOW_CONN_SOVFIXER_DEFAULT", json.dumps(conn))
    return "sovfixer_default"
