"""
The distributed stack, started once for the tests of this folder: Postgres, Redis, a real S3 API,
the Celery executor with two workers that share no disk, and two triggerers (``DistributedStack``).
If any part cannot start, every test here fails with the name of the part: nothing is skipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.distributed.findings import DISTRIBUTED, history_watchers

ROOT_DIR = Path(__file__).resolve().parents[2]


#: Examples no test here runs: their scheduled runs ask a person to approve, which only the single
#: stack's tests answer (tests/test_broker_submit_e2e.py); here they would fail on tables this
#: stack's warehouse does not have, three tries each, on the workers the tests are timed on.
NOT_HERE = ("broker_dabs_monthly.py", "broker_fabs_twice_monthly.py")


def distributed_dags(tmp: Path) -> Path:
    """The example DAGs as shipped (but :data:`NOT_HERE`), plus the distributed tests' own DAGs."""
    dags = tmp / "dags"
    shutil.copytree(ROOT_DIR / "example_dags", dags, ignore=shutil.ignore_patterns(*NOT_HERE))
    shutil.copytree(ROOT_DIR / "tests" / "distributed" / "dags", dags / "dist")
    return dags


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    from airflow_provider_sov.testing.distributed import DistributedStack
    from airflow_provider_sov.testing.server import EmulatorServer

    root = tmp_path_factory.mktemp("distributed")
    with (
        EmulatorServer(realtime=True, job_seconds=4, generation_seconds=3, pickup_seconds=1) as emulator,
        DistributedStack(root, emulator, distributed_dags(root)) as stack,
    ):
        # The event-driven example's watcher takes its place in the history feed before any update.
        stack.wait_for(lambda: history_watchers(stack), 180, "the history watcher to run in a triggerer")
        yield stack


def pytest_terminal_summary(terminalreporter):
    lines = DISTRIBUTED.render()
    if lines:
        terminalreporter.write_sep("=", "distributed run")
        for line in lines:
            terminalreporter.write_line(line)
