"""
The calls each task makes, as "API calls per task" (docs/guide/api-calls.md) counts them: creating
calls once, 1 + T / interval status reads, the fixed reads for its links, one GET per file.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_sov.testing.server import EmulatorServer
from tests.conftest import use_broker
from tests.harness import finish_after_reads, make_context, run_task

#: The job ends once its status has been read this often: the read before the wait, then one per
#: interval; the next read finds it ended. So T / interval = POLLS, and the task reads 1 + POLLS times.
POLLS = 3


@pytest.fixture
def emu(monkeypatch):
    with EmulatorServer() as server:
        conn = {"conn_type": "sovfixer", "host": server.url, "password": server.token}
        monkeypatch.setenv("AIRFLOW_CONN_SOVFIXER_DEFAULT", json.dumps(conn))
        use_broker(monkeypatch, server, "login")
        yield server


def test_an_update_operator_makes_the_calls_the_page_counts(emu, corrections_csv, tmp_path):
    from airflow_provider_sov.operators.sov import SovUpdateOperator

    finish_after_reads(emu, "update_status", POLLS, 3600)
    task = SovUpdateOperator(
        task_id="u",
        sov_id="s-no-ping-hggcsk",
        locations=str(corrections_csv),
        destination=str(tmp_path),
        poll_interval=0.05,
        deferrable=False,
    )
    result = run_task(task, make_context())
    assert dict(emu.counts) == {
        "initiate_update": 1,
        "add_locations": 1,
        "start_update": 1,
        "update_status": 1 + POLLS,
        "activity": 1,  # its links
        "download": len(result["files"]),
    }


def test_an_output_request_makes_the_calls_the_page_counts(emu, tmp_path):
    from airflow_provider_sov.operators.sov import SovGetOrCreateOutputOperator

    finish_after_reads(emu, "output_request", POLLS, 3600)
    task = SovGetOrCreateOutputOperator(
        task_id="o",
        id="s-no-ping-hggcsk",
        output_format="csv",
        destination=str(tmp_path),
        poll_interval=0.05,
        deferrable=False,
    )
    run_task(task, make_context())
    assert dict(emu.counts) == {
        "get_or_create_output": 1,
        "output_request": 1 + POLLS,
        "history_item": 1,  # its links
        "activity": 1,
        "download": 1,
    }


def test_a_d_file_generation_makes_the_calls_the_page_counts(emu, tmp_path):
    from airflow_provider_sov.operators.broker import DFileGenerateOperator

    finish_after_reads(emu, "check_generation_status", POLLS, 3600)
    task = DFileGenerateOperator(
        task_id="g",
        submission_id=1001,
        file_type="D1",
        destination=str(tmp_path),
        poll_interval=0.05,
        deferrable=False,
    )
    run_task(task, make_context())
    counts = dict(emu.counts)
    assert (counts["generate_file"], counts["submission_metadata"], counts["storage"]) == (1, 1, 1)
    # 1 + T / interval, and the Broker's pickup of a request may add one.
    assert 1 + POLLS <= counts["check_generation_status"] <= 2 + POLLS
