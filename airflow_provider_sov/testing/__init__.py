"""
A local emulator of the SOV Fixer API, and a pytest plugin, for tests and the demo.

    from airflow_provider_sov.testing import EmulatorServer

    with EmulatorServer() as server:
        ...  # point a connection at server.url with token server.token

Run it standalone with ``python -m airflow_provider_sov.testing --port 8765``. With this package
installed, pytest offers the fixtures ``sov_emulator`` and ``sov_connection``. The provider's
runtime code never imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_sov.testing.server import EmulatorServer, Fault

__all__ = ["EmulatorServer", "Fault"]


def __getattr__(name: str) -> Any:
    # Imported lazily: the pytest plugin loads this package in every test run of an environment
    # that has the provider installed, and must not pull aiohttp in for that.
    if name in __all__:
        from airflow_provider_sov.testing import server

        return getattr(server, name)
    raise AttributeError(name)
