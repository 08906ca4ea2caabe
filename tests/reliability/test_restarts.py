"""
Restarts under a real Airflow: ``kill -9`` the triggerer mid-wait, the task mid-wait, mid-download,
while the Broker holds its upload's answer and while the upload's body is still being sent.

Each logical run must create exactly one update, and its files must be whole and byte-identical
to the emulator's (sha256), with nothing half-written left behind.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_sov._shared.compat import AIRFLOW_3_1
from airflow_provider_sov.testing.stack import query
from tests.conftest import NEW_SOV_CSV, xcom
from tests.reliability.faults import partial_files, sha256
from tests.reliability.report import REPORT

if TYPE_CHECKING:
    from airflow_provider_sov.testing.faults import Seen

pytestmark = [pytest.mark.airflow_cli, pytest.mark.timeout(600)]


def test_triggerer_killed_mid_wait(stack, tmp_path, monkeypatch):
    emulator = stack.emulator
    # This SOV's update runs until the test lets it finish, after the restart: no race with the
    # clock, and the other DAGs on this Airflow keep their usual pace.
    sov_id = emulator.sov.add_sov("s-no-ping-restart")
    monkeypatch.setitem(emulator.sov.durations, sov_id, 3600)
    run_id = stack.trigger("e2e_update_restart", {"sov_id": sov_id, "destination": str(tmp_path)})

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
    emulator.sov.finish_now(after["kwargs"]["job_id"])  # observed by the new triggerer
    state = stack.wait_run("e2e_update_restart", run_id)
    same = (after["id"], after["kwargs"]["deadline"]) == (before["id"], before["kwargs"]["deadline"])
    jobs, identical, leftovers = outcome(
        stack,
        "e2e_update_restart",
        run_id,
        tmp_path,
        case="kill -9 the triggerer mid-wait, start a new one",
        run=state,
        note="same trigger row and deadline after the restart" if same else "TRIGGER CHANGED",
    )
    assert state == "success"
    assert after["id"] == before["id"] and after["kwargs"]["deadline"] == before["kwargs"]["deadline"]
    assert jobs == 1
    assert len(identical) == 2 and all(identical)
    assert leftovers == []


def clear(stack, dag_id: str, run_id: str, task_id: str) -> None:
    """Clear a task instance as its user would from the UI: Airflow runs it again, as its next try."""
    stack.python(
        "from airflow.models.taskinstance import TaskInstance, clear_task_instances\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as s:\n"
        f"    tis = s.query(TaskInstance).filter_by(dag_id={dag_id!r}, run_id={run_id!r}, task_id={task_id!r}).all()\n"
        "    clear_task_instances(tis, s)\n"
        "print(len(tis))\n"
    )


def ended(stack, dag_id: str, run_id: str) -> tuple[str, int]:
    """The run's final state, and the try its one task ended on."""
    state = stack.wait_run(dag_id, run_id)
    sql = "select try_number from task_instance where dag_id=? and run_id=?"
    ((tries,),) = query(stack.home, sql, dag_id, run_id)
    return state, tries


def killed(stack, pid: int, dag_id: str, run_id: str, task_id: str) -> tuple[str, int]:
    """
    ``kill -9`` the task's process; return the run's final state and the try its task ended on.
    Airflow 3.0 fails a task whose process was killed for good, retries left or not: its user
    clears the task, and that try must reattach to the same job as a retry would.
    """
    os.kill(pid, signal.SIGKILL)
    state, tries = ended(stack, dag_id, run_id)
    if not AIRFLOW_3_1:
        assert (state, tries) == ("failed", 1)
        clear(stack, dag_id, run_id, task_id)
        stack.wait_for(lambda: stack.run_state(dag_id, run_id) != "failed", 60, "the clear")
        state, tries = ended(stack, dag_id, run_id)
    return state, tries


def outcome(stack, dag_id: str, run_id: str, folder: Path, **row: str) -> tuple[int, list[bool], list[str]]:
    """
    What one logical run left, and its row in the report: the updates it created (its task passes
    the run ID as client_ref), whether each file it reports is byte-identical to the emulator's,
    and any partial file.
    """
    emulator = stack.emulator
    with emulator.lock:
        jobs = sum(1 for j in emulator.sov.jobs.values() if j.kind == "update" and j.client_ref == run_id)
    result = xcom(stack.home, dag_id, "update", run_id)
    identical = [
        sha256(Path(f["uri"]).read_bytes())
        == sha256(emulator.sov.file_bytes(result["job_id"], f["filename"]))
        for f in result["files"]
    ]
    leftovers = partial_files(folder)
    REPORT.row(
        "Restarts",
        case=row["case"],
        run=row["run"],
        **{"updates created (must be 1)": jobs},
        files=f"{sum(identical)} of {len(identical)} sha256-identical",
        **{"partial files (must be 0)": len(leftovers)},
        note=row["note"],
    )
    return jobs, identical, leftovers


def _tcp_sockets(local_port: int) -> list[list[str]]:
    """The fields of each loopback TCP socket whose local end is ``local_port``, from /proc/net."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found += [f for f in map(str.split, lines) if int(f[1].rsplit(":", 1)[1], 16) == local_port]
    return found


def _unsent_bytes(local_port: int) -> int:
    """Bytes a socket's sender has queued and the other end has not taken yet (its tx_queue)."""
    return sum(int(fields[4].split(":")[0], 16) for fields in _tcp_sockets(local_port))


def _process_of_connection(local_port: int) -> int | None:
    """The process holding the loopback TCP connection whose local end is ``local_port``, from /proc."""
    inodes = {f"socket:[{fields[9]}]" for fields in _tcp_sockets(local_port)}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    return None


def test_task_killed_mid_wait_resumes_its_submission(stack, tmp_path):
    emulator = stack.emulator
    # The new SOV takes long enough for its wait to be killed and retried: this run's only (its
    # client_ref), not whichever update a scheduled example starts meanwhile (at midnight, say).
    run_id = stack.new_run_id("e2e_submission_kill")
    emulator.sov.script_next("update", "SUCCESS", duration=25, client_ref=run_id)
    emulator.reset_counts()
    stack.trigger(
        "e2e_submission_kill",
        {"locations": str(NEW_SOV_CSV), "destination": str(tmp_path)},
        run_id=run_id,
    )
    polls: list = []
    waiter: list[int] = []

    def waiting() -> bool:
        # Only this run's own submission: other DAGs on this Airflow may be polling theirs from the
        # triggerer, and killing that process instead of the task's would stop every deferred wait.
        with emulator.lock:
            ours = [j.job_id for j in emulator.sov.jobs.values() if j.submission and j.client_ref == run_id]
            polls[:] = [
                s
                for s in emulator.seen
                if s.route == "update_status" and s.peer and any(f"/{job}" in s.path for job in ours)
            ]
        if len(polls) < 2:
            return False
        # The process holding the last poll's connection; on a busy machine that connection may be
        # closed by the time it is looked up, and the next poll's is looked up instead.
        holder = _process_of_connection(polls[-1].peer[1])
        waiter[:] = [holder] if holder is not None else []
        return bool(waiter)

    stack.wait_for(waiting, 180, "the task to be waiting on its submission, on a connection it holds")
    state, tries = killed(stack, waiter[0], "e2e_submission_kill", run_id, "update")
    jobs, identical, leftovers = outcome(
        stack,
        "e2e_submission_kill",
        run_id,
        tmp_path,
        case="kill -9 a new SOV's task mid-wait (poke); Airflow retries it",
        run=f"{state} on try {tries}",
        note="the retry waited on the same submission",
    )
    assert state == "success" and tries == 2
    with emulator.lock:
        (made,) = [j for j in emulator.sov.jobs.values() if j.submission and j.client_ref == run_id]
        starts = [s for s in emulator.seen if s.route == "start_update" and f"/{made.job_id}/" in s.path]
    assert jobs == 1 and emulator.count("create_submission") == 1  # no other DAG here makes one
    assert made.rows_received == 3 and len(starts) == 1  # its rows sent once, started once
    assert len(identical) == 1 and all(identical)
    assert leftovers == []


def _dabs_inputs(stack, tmp_path: Path, file_b: str, piid: str) -> tuple[Path, set[int]]:
    """
    Files B and C for ``e2e_upload_kill``; return their folder and the Broker's submissions before
    (the emulator's counters start from zero). The scheduled DABS example uploads once when the
    stack starts: a fault injected after this holds the test's own upload.
    """
    emulator, broker = stack.emulator, stack.emulator.broker
    stack.wait_for(lambda: broker.submissions_of("upload_dabs_files"), 600, "the DABS example's upload")
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "file_b.csv").write_text(file_b)
    (inputs / "file_c.csv").write_text(f"AgencyIdentifier,PIID\n097,{piid}\n")
    with emulator.lock:
        before = set(broker.submissions)
    emulator.reset_counts()
    return inputs, before


def _upload_row(stack, before: set[int], state: str, tries: int, case: str, note: str) -> list[int]:
    """The submissions a killed upload's run made, and its row in the report."""
    with stack.emulator.lock:
        made = sorted(set(stack.emulator.broker.submissions) - before)
    REPORT.row(
        "Restarts",
        case=case,
        run=f"{state} on try {tries}",
        **{"updates created (must be 1)": len(made)},
        files="-",
        **{"partial files (must be 0)": 0},
        note=f"counted here: Broker submissions made; {note}",
    )
    return made


def test_task_killed_while_its_upload_answer_is_held_uploads_once(stack, tmp_path):
    """
    The Broker has made the submission but holds the answer; the task is killed. Airflow's retry
    finds that submission by the mark in its files' names: one upload, one submission.
    """
    emulator, broker = stack.emulator, stack.emulator.broker
    inputs, before = _dabs_inputs(stack, tmp_path, "AgencyIdentifier,ObjectClass\n097,25.2\n", "W91-KILL")
    held = emulator.inject("upload_dabs_files", "slow_after", delay=120)
    run_id = stack.trigger("e2e_upload_kill", {"inputs": str(inputs), "destination": str(tmp_path)})
    holder: list[int] = []

    def made_and_held() -> bool:
        with emulator.lock:
            made = set(broker.submissions) - before
            sent = [s for s in emulator.seen if s.route == "upload_dabs_files" and s.peer]
        if not (made and held.hits and sent):
            return False
        found = _process_of_connection(sent[-1].peer[1])
        holder[:] = [found] if found is not None else []
        return bool(holder)

    stack.wait_for(made_and_held, 180, "the Broker to make the submission and hold the answer")
    state, tries = killed(stack, holder[0], "e2e_upload_kill", run_id, "submit")
    made = _upload_row(
        stack,
        before,
        state,
        tries,
        "kill -9 a DABS submission's task while the Broker holds its upload's answer",
        "the retry found its one by its files' names",
    )
    assert state == "success" and tries == 2
    assert len(made) == 1 and emulator.count("upload_dabs_files") == 1
    assert xcom(stack.home, "e2e_upload_kill", "submit", run_id)["submission_id"] == made[0]


def test_task_killed_mid_upload_body_uploads_once(stack, tmp_path):
    """
    The task is killed while its upload's body is still on its way: the Broker never makes that
    submission (the body ends short), so Airflow's retry finds none by its mark and sends again.
    """
    emulator = stack.emulator
    # Far more than loopback's socket buffers hold, so that the sender is held mid-body.
    row = f"097,25.2,{'x' * 90}\n"
    big = "AgencyIdentifier,ObjectClass,Note\n" + row * (48 * 1024 * 1024 // len(row))
    inputs, before = _dabs_inputs(stack, tmp_path, big, "W91-BODY")
    # The server reads nothing of the first upload for a minute: its body stops where buffers fill.
    held = emulator.inject("upload_dabs_files", "latency", delay=60)
    run_id = stack.trigger("e2e_upload_kill", {"inputs": str(inputs), "destination": str(tmp_path)})
    sender: list[tuple[int, Seen]] = []

    def sending() -> bool:
        with emulator.lock:
            seen = [s for s in emulator.seen if s.route == "upload_dabs_files" and s.peer]
        if not (held.hits and seen):
            return False
        port = seen[-1].peer[1]
        found = _process_of_connection(port)
        unsent = _unsent_bytes(port) > 0  # bytes of the body still in the sender's buffer
        sender[:] = [(found, seen[-1])] if found is not None and unsent else []
        return bool(sender)

    stack.wait_for(sending, 180, "the upload to be held with part of its body unsent")
    pid, first = sender[0]
    state, tries = killed(stack, pid, "e2e_upload_kill", run_id, "submit")
    # The held request ends once the server has read what there was of its body: short, no submission.
    stack.wait_for(lambda: first.ended is not None, 180, "the held upload to end")
    made = _upload_row(
        stack,
        before,
        state,
        tries,
        "kill -9 a DABS submission's task while its upload's body is being sent",
        "the cut-off body made none, the retry one",
    )
    assert state == "success" and tries == 2
    assert first.ended != 200, "the cut-off upload was answered as if whole"
    assert len(made) == 1 and emulator.count("upload_dabs_files") == 2  # the cut-off one, the retry's
    result = xcom(stack.home, "e2e_upload_kill", "submit", run_id)
    assert result["submission_id"] == made[0]


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
    sov_id = emulator.sov.add_sov("s-no-ping-killdl")
    # Outlast Airflow's window in which the executor's late "success" for the deferring workload
    # fails a task already resumed (apache/airflow#67287, #72716), which would spend the retry.
    monkeypatch.setitem(emulator.sov.durations, sov_id, 15)
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

    state, tries = ended(stack, "e2e_download_kill", run_id)
    jobs, identical, leftovers = outcome(
        stack,
        "e2e_download_kill",
        run_id,
        tmp_path,
        case="kill -9 the task mid-download; Airflow retries it",
        run=f"{state} on try {tries}",
        note="the killed try's half file removed by the retry",
    )
    assert state == "success" and tries == 2
    assert jobs == 1
    assert len(identical) == 3 and all(identical)
    assert leftovers == []
