"""
Restarts under a real Airflow: ``kill -9`` the triggerer mid-wait, and the task mid-download.

Each logical run must create exactly one update, and its files must be whole and byte-identical
to the emulator's (sha256), with nothing half-written left behind.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from airflow_provider_sov.testing.stack import query
from tests.conftest import xcom
from tests.reliability.faults import partial_files, sha256
from tests.reliability.report import REPORT

pytestmark = [pytest.mark.airflow_cli, pytest.mark.timeout(600)]


def test_triggerer_killed_mid_wait(stack, tmp_path, monkeypatch):
    emulator = stack.emulator
    # The update runs until the test lets it finish, after the restart: no race with the clock.
    monkeypatch.setattr(emulator, "job_seconds", 3600)
    run_id = stack.trigger("e2e_update_restart", {"destination": str(tmp_path)})

    def trigger_id() -> int | None:
        rows = query(
            stack.home,
            "select trigger_id from task_instance where dag_id='e2e_update_restart' and run_id=?",
            run_id,
        )
        return rows[0][0] if rows else None

    def our_trigger() -> dict:
        (found,) = [t for t in stack.triggers() if t["id"] == trigger_id()]
        return found

    stack.wait_for(trigger_id, 120, "the wait to reach the triggerer")
    before = our_trigger()
    assert before["classpath"].endswith("SovUpdateTrigger")

    def still_running() -> None:
        time.sleep(3)
        assert stack.run_state("e2e_update_restart", run_id) == "running"

    stack.restart_triggerer(while_down=still_running)  # kill -9, then a new triggerer
    after = our_trigger()
    emulator.advance(3600)  # the update finishes now, observed by the new triggerer
    state = stack.wait_run("e2e_update_restart", run_id)
    result = xcom(stack.home, "e2e_update_restart", "update", run_id)
    jobs = updates_of(emulator, run_id)
    identical = [
        sha256(Path(f["uri"]).read_bytes())
        == sha256(emulator.sov.file_bytes(result["job_id"], f["filename"]))
        for f in result["files"]
    ]
    REPORT.row(
        "Restarts",
        case="kill -9 the triggerer mid-wait, start a new one",
        run=state,
        **{"updates created (must be 1)": jobs},
        files=f"{sum(identical)} of {len(identical)} sha256-identical",
        **{"partial files (must be 0)": len(partial_files(tmp_path))},
        note="same trigger row and deadline after the restart"
        if (after["id"], after["kwargs"]["deadline"]) == (before["id"], before["kwargs"]["deadline"])
        else "TRIGGER CHANGED",
    )
    assert state == "success"
    assert after["id"] == before["id"] and after["kwargs"]["deadline"] == before["kwargs"]["deadline"]
    assert jobs == 1
    assert len(identical) == 2 and all(identical)
    assert partial_files(tmp_path) == []


def updates_of(emulator, run_id: str) -> int:
    """Updates created for one logical run (its tasks pass the run ID as client_ref)."""
    with emulator.lock:
        return sum(
            1 for job in emulator.sov.jobs.values() if job.kind == "update" and job.client_ref == run_id
        )


def _holder_of(path: Path) -> int | None:
    """The process that has ``path`` open (the task writing it), from /proc."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == str(path):
                    return int(proc.name)
        except OSError:
            continue
    return None


def test_task_killed_mid_download_is_retried_by_airflow(stack, tmp_path, monkeypatch):
    emulator = stack.emulator
    # Outlast Airflow's window in which the executor's late "success" for the deferring workload
    # fails a task already resumed (apache/airflow#67287, #72716), which would spend the retry.
    monkeypatch.setattr(emulator, "job_seconds", 15)
    sov_id = emulator.sov.add_sov("s-no-ping-killdl")
    # The task's first download stalls half way, long enough to be killed there. (Only this
    # update's own outputs: the event-driven example exports every update, this one included.)
    stall = emulator.inject("download", "truncate", delay=120, times=1, path_contains=f"/output/{sov_id}-r")
    run_id = stack.trigger("e2e_download_kill", {"sov_id": sov_id, "destination": str(tmp_path)})

    parts: list[Path] = []

    def half_written() -> bool:
        parts[:] = [p for p in tmp_path.rglob("*.part")]
        return bool(parts) and stall.hits == 1

    stack.wait_for(half_written, 180, "the download to be half way")
    (part,) = parts
    writer = _holder_of(part)
    assert writer is not None, "no process has the half-written file open"
    os.kill(writer, signal.SIGKILL)

    state = stack.wait_run("e2e_download_kill", run_id)
    (tries,) = query(
        stack.home,
        "select try_number from task_instance where dag_id='e2e_download_kill' and run_id=?",
        run_id,
    )[0]
    result = xcom(stack.home, "e2e_download_kill", "update", run_id)
    jobs = updates_of(emulator, run_id)
    identical = [
        sha256(Path(f["uri"]).read_bytes())
        == sha256(emulator.sov.file_bytes(result["job_id"], f["filename"]))
        for f in result["files"]
    ]
    leftovers = partial_files(tmp_path)
    REPORT.row(
        "Restarts",
        case="kill -9 the task mid-download; Airflow retries it",
        run=f"{state} on try {tries}",
        **{"updates created (must be 1)": jobs},
        files=f"{sum(identical)} of {len(identical)} sha256-identical",
        **{"partial files (must be 0)": len(leftovers)},
        note="the killed try's half file removed by the retry",
    )
    assert state == "success" and tries == 2
    assert jobs == 1
    assert len(identical) == 3 and all(identical)
    assert leftovers == []
