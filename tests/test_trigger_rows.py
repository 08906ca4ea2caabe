"""
A wait deferred before an upgrade resumes after it: every job trigger class path the 0.x release
wrote to Airflow's trigger table, with the kwargs it wrote (captured from that release's tasks, as
the triggerer reads them back: classpath plus JSON), is built and run to its one event on this code.

``deferred`` rows are what a task wrote when it deferred (the job's ref, an absolute deadline);
``started`` rows are what the scheduler wrote for a sensor started in the triggerer (the task's own
arguments, no deadline yet).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time

import pytest

from tests.harness import collect_events

#: Rows as the release before this redesign serialized them (IDs replaced per test).
ROWS = {
    "update deferred": (
        "airflow_provider_sov.triggers.sov.SovUpdateTrigger",
        {
            "job_id": "{sud}",
            "deadline": "{deadline}",
            "sovfixer_conn_id": "sovfixer_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "wait_started": 1899990000.0,
            "options": {"accept_partial": True},
            "outage_tolerance": 120.0,
        },
    ),
    "update started": (
        "airflow_provider_sov.triggers.sov.SovUpdateTrigger",
        {
            "sud_id": "{sud}",
            "sovfixer_conn_id": "sovfixer_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "outage_tolerance": 120.0,
            "options": {"accept_partial": True},
        },
    ),
    "update ended in the triggerer": (
        "airflow_provider_sov.triggers.sov.SovUpdateTrigger",
        {
            "job_id": "{sud}",
            "deadline": "{deadline}",
            "sovfixer_conn_id": "sovfixer_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "wait_started": 1899990000.0,
            "options": {"accept_partial": False},
            "end_from_trigger": True,
            "xcom_push": True,
        },
    ),
    "submission deferred": (
        "airflow_provider_sov.triggers.sov.SovSubmissionTrigger",
        {
            "job_id": "{sud}",
            "deadline": "{deadline}",
            "sovfixer_conn_id": "sovfixer_default",
            "poll_interval": 0.05,
            "timeout": 7200.0,
            "wait_started": 1899990000.0,
            "options": {"accept_partial": False},
        },
    ),
    "parse deferred": (
        "airflow_provider_sov.triggers.sov.SovParseTrigger",
        {
            "job_id": "{sov}",
            "deadline": "{deadline}",
            "sovfixer_conn_id": "sovfixer_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "wait_started": 1899990000.0,
            "options": {"accept_partial": False},
        },
    ),
    "parse started": (
        "airflow_provider_sov.triggers.sov.SovParseTrigger",
        {
            "sov_id": "{sov}",
            "sovfixer_conn_id": "sovfixer_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "options": {"accept_partial": False},
        },
    ),
    "output deferred": (
        "airflow_provider_sov.triggers.sov.SovOutputTrigger",
        {
            "job_id": "{output}",
            "deadline": "{deadline}",
            "sovfixer_conn_id": "sovfixer_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "wait_started": 1899990000.0,
            "options": {"accept_partial": False},
        },
    ),
    "output started": (
        "airflow_provider_sov.triggers.sov.SovOutputTrigger",
        {
            "request_id": "{output}",
            "sovfixer_conn_id": "sovfixer_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "options": {"accept_partial": False},
        },
    ),
    "generation deferred": (
        "airflow_provider_sov.triggers.broker.DFileGenerationTrigger",
        {
            "submission_id": 1001,
            "file_type": "D1",
            "job_id": None,
            "requested_at": 1899990000.0,
            "invalid_grace": 120.0,
            "deadline": "{deadline}",
            "data_act_broker_conn_id": "data_act_broker_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "wait_started": 1899990000.0,
            "options": {"invalid_grace": 120.0},
        },
    ),
    "generation started": (
        "airflow_provider_sov.triggers.broker.DFileGenerationTrigger",
        {
            "submission_id": 1001,
            "file_type": "D1",
            "job_id": None,
            "data_act_broker_conn_id": "data_act_broker_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "options": {"invalid_grace": 120.0},
        },
    ),
    "detached generation deferred": (
        "airflow_provider_sov.triggers.broker.DFileGenerationTrigger",
        {
            "submission_id": None,
            "file_type": "",
            "job_id": "{detached}",
            "requested_at": 1899990000.0,
            "invalid_grace": 120.0,
            "deadline": "{deadline}",
            "data_act_broker_conn_id": "data_act_broker_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "wait_started": 1899990000.0,
            "options": {"invalid_grace": 120.0},
        },
    ),
    "detached generation started": (
        "airflow_provider_sov.triggers.broker.DFileGenerationTrigger",
        {
            "submission_id": None,
            "file_type": None,
            "job_id": "{detached}",
            "data_act_broker_conn_id": "data_act_broker_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "options": {"invalid_grace": 120.0},
        },
    ),
    "validation deferred": (
        "airflow_provider_sov.triggers.broker.SubmissionValidationTrigger",
        {
            "submission_id": 4001,
            "file_types": ["appropriations"],
            "deadline": "{deadline}",
            "data_act_broker_conn_id": "data_act_broker_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "wait_started": 1899990000.0,
            "options": {"file_types": ["appropriations"], "fail_on_warnings": True},
        },
    ),
    "validation started": (
        "airflow_provider_sov.triggers.broker.SubmissionValidationTrigger",
        {
            "submission_id": 4001,
            "data_act_broker_conn_id": "data_act_broker_default",
            "poll_interval": 0.05,
            "timeout": 3600.0,
            "options": {"file_types": ["appropriations"], "fail_on_warnings": True},
        },
    ),
}


def filled(kwargs: dict, ids: dict) -> dict:
    """The row's kwargs with this test's IDs and a deadline a minute away, through JSON."""
    text = json.dumps(kwargs)
    for name, value in ids.items():
        text = text.replace(f'"{{{name}}}"', json.dumps(value))
    return json.loads(text)


def built(classpath: str, kwargs: dict):
    """The trigger as the triggerer builds it from its row: import the classpath, pass the kwargs."""
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


@pytest.fixture
def sov_ids(sov_emulator, hook, corrections_csv, tmp_path):
    from tests.conftest import finish

    sud = hook.initiate_update("s-no-ping-hggcsk")
    hook.add_locations(sud, corrections_csv)
    hook.start_update(sud)
    workbook = tmp_path / "sov.xlsx"
    workbook.write_bytes(b"workbook")
    sov = hook.start_parse(workbook)
    output = hook.get_or_create_output("s-no-ping-hggcsk", "csv")["request"]["id"]
    finish(sov_emulator)
    return {"sud": sud, "sov": sov, "output": output}


@pytest.mark.parametrize("row", [r for r in ROWS if ".sov." in ROWS[r][0]])
async def test_an_sov_fixer_row_of_the_last_release_runs_to_its_event(sov_ids, row):
    classpath, kwargs = ROWS[row]
    trigger = built(classpath, filled(kwargs, {**sov_ids, "deadline": time.time() + 60}))
    (event,) = await asyncio.wait_for(collect_events(trigger), 60)
    assert event.payload["status"] == "terminal", event.payload
    assert event.payload["reading"]["succeeded"] is True


@pytest.mark.parametrize("row", [r for r in ROWS if ".broker." in ROWS[r][0]])
async def test_a_broker_row_of_the_last_release_runs_to_its_event(broker_emulator, row):
    from airflow_provider_sov.hooks.broker import DataActBrokerHook

    hook = DataActBrokerHook()
    hook.generate_file(1001, "D1", start="10/01/2025", end="12/31/2025")
    detached = hook.generate_detached_file("BOC", cgac_code="097", year=2025, period=4)["job_id"]
    broker_emulator.broker.add_submission(4001)
    broker_emulator.broker.start_validation(4001, 1.0, file_types=["appropriations"])
    broker_emulator.advance(3600)
    classpath, kwargs = ROWS[row]
    trigger = built(classpath, filled(kwargs, {"detached": detached, "deadline": time.time() + 60}))
    (event,) = await asyncio.wait_for(collect_events(trigger), 60)
    assert event.payload["status"] == "terminal", event.payload
    assert event.payload["reading"]["succeeded"] is True
    assert event.payload["ref"] is not None  # the task resumes knowing its job


def test_every_job_trigger_class_path_of_the_last_release_has_a_row():
    paths = {classpath for classpath, _ in ROWS.values()}
    assert paths == {
        "airflow_provider_sov.triggers.sov.SovUpdateTrigger",
        "airflow_provider_sov.triggers.sov.SovSubmissionTrigger",
        "airflow_provider_sov.triggers.sov.SovParseTrigger",
        "airflow_provider_sov.triggers.sov.SovOutputTrigger",
        "airflow_provider_sov.triggers.broker.DFileGenerationTrigger",
        "airflow_provider_sov.triggers.broker.SubmissionValidationTrigger",
    }
