"""The reliability suite's report: printed after the tests, whatever they found."""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING

import pytest

from airflow_provider_sov._shared.http import RetryPolicy
from tests.conftest import SleepLog
from tests.reliability.faults import FAULT_SERVER, FAULT_TOKEN, PATIENT_READ_TIMEOUT, READ_TIMEOUT
from tests.reliability.report import REPORT

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_sov.testing.server import EmulatorServer


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = REPORT.render()
    if not lines:
        return
    terminalreporter.write_sep("=", "reliability report (docs/reliability.md)")
    for line in lines:
        terminalreporter.write_line(line)
    target = os.environ.get("SOV_REPORT_FILE")  # make reliability: the docs include it from there
    if target:
        from tests.summary import ROOT, stamp

        passed = len(terminalreporter.stats.get("passed", []))
        failed = len(terminalreporter.stats.get("failed", []))
        path = ROOT / target
        path.parent.mkdir(parents=True, exist_ok=True)
        # A test's temporary folder says nothing of the case and names the machine: shown as <tmp>.
        text = re.sub(r"[^\s'\"(]*/pytest-\d+/", "<tmp>/", "\n".join(lines))
        path.write_text(f"{stamp()} `make reliability`: {passed} passed, {failed} failed.\n\n{text}\n")
        terminalreporter.write_line(f"written to {target}")


@pytest.fixture(scope="module")
def fault_server() -> Iterator[EmulatorServer]:
    """
    One emulator for a module's cases: jobs finish the moment they start (real time, 0 s). Per
    module, so that its state (thousands of jobs and logged requests) is freed before other
    tests, some of which time the event loop, run.
    """
    from airflow_provider_sov.testing.server import EmulatorServer

    with EmulatorServer(
        token=FAULT_TOKEN, realtime=True, job_seconds=0, generation_seconds=0, pickup_seconds=0
    ) as server:
        FAULT_SERVER[:] = [server]
        try:
            yield server
        finally:
            FAULT_SERVER.clear()


def read_timeout_of(request: pytest.FixtureRequest) -> float:
    """
    A case's read timeout: :data:`READ_TIMEOUT` where its fault is an answer slower than that (the
    case needs it), else :data:`PATIENT_READ_TIMEOUT`, so that a busy machine's slow answer is not
    taken for the fault.
    """
    fault = getattr(getattr(request.node, "callspec", None), "params", {}).get("fault")
    return READ_TIMEOUT if fault is not None and fault.slow else PATIENT_READ_TIMEOUT


@pytest.fixture
def emu(
    fault_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> EmulatorServer:
    """The fault emulator with no faults and zeroed counters; every connection points at it."""
    from airflow_provider_sov.testing import broker_app
    from airflow_provider_sov.testing.stack import broker_connection

    fault_server.clear_faults()
    fault_server.reset_counts()
    fault_server.broker.cache.clear()  # a generation request is new each time, not a cache hit
    fault_server.broker.sessions[broker_app.SESSION_ID] = fault_server.clock.now()  # alive again
    # Short read timeouts where the fault is a slow answer, so that it is slower than the timeout.
    timeouts = {"read_timeout": read_timeout_of(request), "connect_timeout": 2}
    sov = {"conn_type": "sovfixer", "host": fault_server.url, "password": fault_server.token}
    monkeypatch.setenv("AIRFLOW_CONN_SOVFIXER_DEFAULT", json.dumps({**sov, "extra": timeouts}))
    for mode in ("login", "proxy", "session"):
        conn = broker_connection(fault_server, mode)
        conn["extra"] = {**conn.get("extra", {}), **timeouts}
        monkeypatch.setenv(f"AIRFLOW_CONN_BROKER_{mode.upper()}", json.dumps(conn))
        if mode == "login":
            monkeypatch.setenv("AIRFLOW_CONN_DATA_ACT_BROKER_DEFAULT", json.dumps(conn))
    return fault_server


@pytest.fixture
def waits() -> SleepLog:
    return SleepLog()


@pytest.fixture
def fast(waits: SleepLog) -> RetryPolicy:
    """Four tries; waits recorded, not slept."""
    return RetryPolicy(attempts=4, min_wait=0.001, max_wait=0.002, sleep=waits, asleep=waits.asleep)
