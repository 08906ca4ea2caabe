"""
Every Python example of the README and the guide runs, against the emulator: a DAG file is built (as
Airflow parses it), a hook example makes its calls, and the test recipe of "Testing your DAGs" runs
as a user would run it (``airflow dags test`` on a throw-away Airflow).

A block whose first line is a path comment (``# dags/sov_nightly.py``) is a file of the reader's
project: it is written there, so later blocks (the tests) find it.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_sov.testing.server import EmulatorServer

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "guide").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
PATH_COMMENT = re.compile(r"^# ((?:dags|tests)/[\w/]+\.py)\n")


def blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for n, match in enumerate(FENCE.finditer(page.read_text()), 1):
            found.append((f"{page.relative_to(ROOT)}#{n}", match.group(1)))
    return found


BLOCKS = blocks()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A reader's project folder, with both connections on an emulator whose jobs take 0.6 s."""
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(ROOT / "example_dags" / "data" / "corrections.csv", folder / "corrections.csv")
    monkeypatch.chdir(folder)
    with EmulatorServer(realtime=True, job_seconds=0.6) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SOVFIXER_DEFAULT",
            json.dumps({"conn_type": "sovfixer", "host": server.url, "password": server.token}),
        )
        broker = {"conn_type": "data_act_broker", "host": server.url, "login": "broker-user"}
        broker.update(password="broker-password", extra={"auth_mode": "login"})
        monkeypatch.setenv("AIRFLOW_CONN_DATA_ACT_BROKER_DEFAULT", json.dumps(broker))
        yield folder, server


def run_block(source: str, folder: Path, monkeypatch) -> dict:
    """Write a file block into the project; run any other block there (its sleeps cut short)."""
    path = PATH_COMMENT.match(source)
    if path:
        target = folder / path.group(1)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
    real_sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda seconds: real_sleep(min(seconds, 0.2)))
    namespace: dict = {"__name__": "guide_example"}
    exec(compile(source, "<guide example>", "exec"), namespace)
    return namespace


def test_the_guide_has_the_examples_this_file_runs():
    names = [name for name, _ in BLOCKS]
    assert "README.md#1" in names and "docs/guide/hook.md#1" in names
    assert any(PATH_COMMENT.match(source) for _, source in BLOCKS)


@pytest.mark.parametrize(
    ("name", "source"), [b for b in BLOCKS if "def test_" not in b[1]], ids=lambda v: v[:40]
)
def test_every_example_runs(project, monkeypatch, name, source):
    folder, server = project
    namespace = run_block(source, folder, monkeypatch)
    if name == "docs/guide/hook.md#1":  # the hook's walk-through: one update, its outputs downloaded
        assert server.count("initiate_update") == 1 and server.count("start_update") == 1
        assert namespace["reading"].succeeded and list((folder / "out").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize(("name", "source"), [b for b in BLOCKS if "def test_" in b[1]], ids=lambda v: v[:40])
def test_every_test_recipe_passes_as_written(project, monkeypatch, tmp_path, name, source):
    folder, _ = project
    # As in the reader's activated venv: `airflow` is on the PATH.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for other_name, other in BLOCKS:  # the project's own files first (its DAGs)
        if other_name.split("#")[0] == name.split("#")[0] and PATH_COMMENT.match(other) and other != source:
            run_block(other, folder, monkeypatch)
    namespace = run_block(source, folder, monkeypatch)
    tests = [value for key, value in namespace.items() if key.startswith("test_") and callable(value)]
    assert tests
    for test in tests:
        needs = inspect.signature(test).parameters
        scratch = tmp_path / test.__name__
        scratch.mkdir()
        test(**({"tmp_path": scratch} if "tmp_path" in needs else {}))
