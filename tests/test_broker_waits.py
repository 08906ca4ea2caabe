"""
Waiting for D-file generations: the sensor in every mode, the operators, and the trigger's rules,
against the emulated Broker over real HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest

from airflow_provider_sov._shared.compat import AirflowSensorTimeout, TaskDeferred
from airflow_provider_sov.exceptions import (
    SovAuthError,
    SovError,
    SovJobFailedError,
    SovPrerequisiteError,
)
from airflow_provider_sov.hooks.broker_jobs import DEFAULT_POLL_INTERVAL, DEFAULT_TIMEOUT
from airflow_provider_sov.operators.broker import DFileDownloadOperator, DFileGenerateOperator
from airflow_provider_sov.sensors.broker import DFileGenerationSensor
from airflow_provider_sov.triggers.broker import DFileGenerationTrigger
from tests.conftest import OPERATOR_MODES, SENSOR_MODES, use_broker
from tests.harness import collect_events, make_context, run_task

D1 = {"start": "10/01/2025", "end": "12/31/2025"}


def sensor(**kwargs) -> DFileGenerationSensor:
    kwargs.setdefault("poke_interval", 0.2)
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("invalid_grace", 2.0)
    return DFileGenerationSensor(task_id="wait", **kwargs)


def generate(tmp_path=None, **kwargs) -> DFileGenerateOperator:
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("invalid_grace", 2.0)
    return DFileGenerateOperator(task_id="generate", destination=tmp_path, **kwargs)


def requested(server, submission_id, file_type, **params):
    from airflow_provider_sov.hooks.broker import DataActBrokerHook

    return DataActBrokerHook().generate_file(submission_id, file_type, **params)


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_sensor_returns_the_finished_status_in_every_mode(broker_live, mode):
    requested(broker_live, 1001, "D1", **D1)
    result = run_task(sensor(submission_id=1001, file_type="D1", **mode), make_context())
    assert result["status"] == "finished" and result["file_type"] == "D1"
    assert result["start"] == "10/01/2025" and result["end"] == "12/31/2025"
    assert result["kind"] == "generation" and result["succeeded"] is True and result["files"] == []
    assert result["job_id"].isdigit() and result["generated_at"]
    assert "url" not in result  # a signed URL is a credential: never in XCom


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_a_failed_generation_raises_the_brokers_message(broker_live, mode):
    broker_live.broker.script_failure("S3 upload failed for job")
    requested(broker_live, 1001, "D2", **D1)
    with pytest.raises(SovJobFailedError, match="S3 upload failed for job") as info:
        run_task(sensor(submission_id=1001, file_type="D2", **mode), make_context())
    assert "D2 file of submission 1001" in str(info.value)


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_a_transient_invalid_after_requesting_e_does_not_fail(broker_live, mode):
    broker_live.pickup_seconds = broker_live.broker.pickup_seconds = 0.8
    requested(broker_live, 1001, "E")
    result = run_task(sensor(submission_id=1001, file_type="E", **mode), make_context())
    assert result["status"] == "finished"


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_a_persistent_invalid_fails_after_the_grace_period(broker_live, mode):
    started = time.monotonic()
    with pytest.raises(SovJobFailedError) as info:
        run_task(sensor(submission_id=1001, file_type="D2", invalid_grace=0.5, **mode), make_context())
    text = str(info.value)
    assert "No generation was requested for the D2 file of submission 1001" in text
    assert "DFileGenerateOperator" in text
    assert time.monotonic() - started >= 0.5


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_timeout_is_the_only_deadline(broker_live, mode):
    broker_live.broker.generation_seconds = 60
    requested(broker_live, 1001, "D1", **D1)
    with pytest.raises(AirflowSensorTimeout):
        run_task(sensor(submission_id=1001, file_type="D1", timeout=1.0, **mode), make_context())


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_detached_jobs_are_waited_on_by_job_id(broker_live, mode):
    from airflow_provider_sov.hooks.broker import DataActBrokerHook

    job = DataActBrokerHook().generate_detached_file("BOC", cgac_code="097", year=2025, period=4)
    result = run_task(sensor(job_id=job["job_id"], **mode), make_context())
    assert (
        result["status"] == "finished"
        and result["job_id"] == str(job["job_id"])
        and result["file_type"] == "BOC"
    )


def test_sensor_defaults_respect_the_broker():
    task = DFileGenerationSensor(task_id="w", submission_id=1, file_type="D1")
    assert task.poke_interval >= 10 and DEFAULT_POLL_INTERVAL >= 10
    assert task.timeout == DEFAULT_TIMEOUT == 6 * 3600


def test_a_finished_generation_never_defers(broker_live):
    requested(broker_live, 1001, "D1", **D1)
    time.sleep(0.8)
    result = sensor(submission_id=1001, file_type="D1", deferrable=True).execute(make_context())
    assert result["status"] == "finished"


# --- The operators -------------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", OPERATOR_MODES)
def test_generate_waits_and_lands_the_file(broker_live, tmp_path, deferrable):
    context = make_context()
    result = run_task(
        generate(tmp_path, submission_id=1001, file_type="D1", deferrable=deferrable, **D1), context
    )
    data = broker_live.broker.file_bytes(int(result["job_id"]))
    (saved,) = result["files"]
    assert (tmp_path / saved["filename"]).read_bytes() == data
    assert saved["sha256"] == hashlib.sha256(data).hexdigest() and saved["size"] == len(data)
    assert saved["uri"] == str(tmp_path / saved["filename"])
    assert {k: result[k] for k in ("submission_id", "file_type", "status", "start", "end")} == {
        "submission_id": 1001,
        "file_type": "D1",
        "status": "finished",
        "start": "10/01/2025",
        "end": "12/31/2025",
    }
    assert result["generated_at"] and context["ti"].xcoms["job_id"] == result["job_id"]
    assert broker_live.broker.credential_attempts == []


@pytest.mark.parametrize("deferrable", OPERATOR_MODES)
def test_generate_detached_e_style_files_survive_the_brief_invalid(broker_live, tmp_path, deferrable):
    op = generate(tmp_path, file_type="A", cgac_code="097", year=2025, period=6, deferrable=deferrable)
    result = run_task(op, make_context())
    assert result["status"] == "finished" and (tmp_path / result["files"][0]["filename"]).exists()


def test_a_detached_cache_hit_never_defers(broker_live, tmp_path):
    run_task(generate(tmp_path / "a", cgac_code="097", file_type="D1", deferrable=True, **D1), make_context())
    op = generate(tmp_path / "b", cgac_code="097", file_type="D1", deferrable=True, **D1)
    result = op.execute(make_context())  # a TaskDeferred here would fail the test
    assert result["status"] == "finished" and (tmp_path / "b" / result["files"][0]["filename"]).exists()


def test_a_cache_hit_within_a_submission_waits_for_its_validation(broker_live, tmp_path):
    """The Broker validates the copied file first (map_generate_status): it is waited on, then downloaded."""
    run_task(generate(tmp_path / "a", cgac_code="097", file_type="D1", deferrable=True, **D1), make_context())
    broker_live.broker.add_submission(3001)
    op = generate(tmp_path / "b", submission_id=3001, file_type="D1", deferrable=True, **D1)
    with pytest.raises(TaskDeferred):
        op.execute(make_context())
    result = run_task(generate(tmp_path / "b", submission_id=3001, file_type="D1", **D1), make_context())
    assert result["status"] == "finished" and (tmp_path / "b" / result["files"][0]["filename"]).exists()


def test_a_retry_reattaches_instead_of_generating_again(broker_live, tmp_path):
    context = make_context()
    op = generate(tmp_path, submission_id=1001, file_type="F", deferrable=True)
    with pytest.raises(TaskDeferred):
        op.execute(context)
    assert broker_live.broker.created == 1
    result = run_task(generate(tmp_path, submission_id=1001, file_type="F", deferrable=True), context)
    assert result["status"] == "finished"
    assert broker_live.count("generate_file") == 1 and broker_live.broker.created == 1


def test_a_retry_after_a_failed_generation_requests_it_again(broker_live, tmp_path):
    context = make_context()
    broker_live.broker.script_failure("worker crashed")
    with pytest.raises(SovJobFailedError, match="worker crashed"):
        run_task(generate(tmp_path, submission_id=1001, file_type="D2", deferrable=False, **D1), context)
    result = run_task(generate(tmp_path, submission_id=1001, file_type="D2", deferrable=False, **D1), context)
    assert result["status"] == "finished" and broker_live.count("generate_file") == 2


def test_prerequisite_validation_fails_before_any_wait(broker_live, tmp_path):
    with pytest.raises(SovPrerequisiteError, match="retry_delay"):
        run_task(generate(tmp_path, submission_id=1002, file_type="D1", **D1), make_context())
    assert broker_live.count("check_generation_status") == 0


def test_without_waiting_it_returns_the_request(broker_live):
    op = DFileGenerateOperator(
        task_id="g", submission_id=1001, file_type="D1", wait_for_completion=False, **D1
    )
    result = op.execute(make_context())
    assert result["status"] == "waiting" and result["submission_id"] == 1001
    assert result["succeeded"] is None and result["files"] == [] and result["job_id"].isdigit()


def test_download_operator_fetches_a_finished_file(broker_live, tmp_path):
    body = requested(broker_live, 1001, "D2", **D1)
    time.sleep(0.8)
    result = DFileDownloadOperator(
        task_id="dl", submission_id=1001, file_type="D2", destination=str(tmp_path)
    ).execute(make_context())
    (saved,) = result["files"]
    assert (tmp_path / saved["filename"]).read_bytes() == broker_live.broker.file_bytes(body["job_id"])
    assert (result["kind"], result["job_id"], result["status"]) == (
        "generation",
        str(body["job_id"]),
        "finished",
    )
    with pytest.raises(
        SovJobFailedError, match="No generation was requested for the D1 file of submission 1001"
    ):
        DFileDownloadOperator(
            task_id="dl2", submission_id=1001, file_type="D1", destination=tmp_path
        ).execute(make_context())
    broker_live.broker.generation_seconds = 60
    requested(broker_live, 1001, "D1", **D1)
    with pytest.raises(
        SovError, match="D1 file of submission 1001 is not ready to download: its status is 'waiting'"
    ):
        DFileDownloadOperator(
            task_id="dl3", submission_id=1001, file_type="D1", destination=tmp_path
        ).execute(make_context())


# --- The trigger ---------------------------------------------------------------------------------


def trigger(**kwargs) -> DFileGenerationTrigger:
    kwargs.setdefault("deadline", time.time() + 30)
    kwargs.setdefault("poll_interval", 0.1)
    return DFileGenerationTrigger(**kwargs)


def test_trigger_kwargs_are_plain_json_and_round_trip():
    import json

    original = trigger(submission_id=1001, file_type="E", requested_at=123.0, invalid_grace=60)
    path, kwargs = original.serialize()
    assert path == "airflow_provider_sov.triggers.broker.DFileGenerationTrigger"
    again = DFileGenerationTrigger(**json.loads(json.dumps(kwargs)))
    assert again.serialize() == (path, kwargs)


def test_a_trigger_past_its_deadline_times_out_without_polling(broker_live):
    events = asyncio.run(
        collect_events(trigger(submission_id=1001, file_type="D1", deadline=time.time() - 1))
    )
    assert [e.payload["status"] for e in events] == ["timeout"]
    assert broker_live.count("check_generation_status") == 0


def test_a_trigger_sends_exactly_one_event(broker_live):
    requested(broker_live, 1001, "D1", **D1)
    events = asyncio.run(collect_events(trigger(submission_id=1001, file_type="D1")))
    assert len(events) == 1 and events[0].payload["reading"]["status"] == "finished"
    assert "url" not in json.dumps(events[0].payload)  # a signed URL is a credential: never in an event


@pytest.mark.parametrize("mode", ["login", "proxy"])
def test_a_session_that_expires_mid_wait_is_renewed(broker_live, monkeypatch, mode):
    use_broker(monkeypatch, broker_live, mode)
    broker_live.broker.generation_seconds = 1.0
    requested(broker_live, 1001, "D2", **D1)

    async def expire_soon():
        await asyncio.sleep(0.3)
        broker_live.broker.expire_sessions()

    async def scenario():
        expiry = asyncio.create_task(expire_soon())
        events = await collect_events(trigger(submission_id=1001, file_type="D2"))
        await expiry
        return events

    (event,) = asyncio.run(scenario())
    assert event.payload["reading"]["status"] == "finished"
    assert broker_live.count("login" if mode == "login" else "active_user") >= 2


def test_a_session_id_that_expires_mid_wait_ends_with_how_to_renew_it(broker_live, monkeypatch):
    requested(broker_live, 1001, "D1", **D1)
    use_broker(monkeypatch, broker_live, "session")
    broker_live.broker.expire_sessions()
    op = sensor(submission_id=1001, file_type="D1", deferrable=True)
    with pytest.raises(SovAuthError, match="x-session-id"):
        run_task(op, make_context())


def test_cancelling_a_trigger_propagates(broker_live):
    requested(broker_live, 1001, "D1", **D1)
    broker_live.broker.generation_seconds = 60

    async def scenario():
        task = asyncio.create_task(collect_events(trigger(submission_id=1001, file_type="D1")))
        await asyncio.sleep(0.3)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())


def test_an_event_for_another_generation_is_refused(broker_live):
    op = sensor(submission_id=1001, file_type="D1")
    reading = {"status": "finished", "terminal": True, "succeeded": True}
    bad = {"status": "terminal", "key": "submission 1001 D2", "reading": reading}
    with pytest.raises(SovError, match="received an event for"):
        op.execute_complete(make_context(), bad)
    with pytest.raises(SovError, match="without a valid event"):
        op.execute_complete(make_context(), ["not", "an", "event"])


def test_a_detached_event_for_another_job_is_refused(broker_live, tmp_path):
    context = make_context()
    op = generate(tmp_path, file_type="D1", cgac_code="097", deferrable=True, **D1)
    with pytest.raises(TaskDeferred):
        op.execute(context)
    job = context["task_state_store"]["job"]["job_id"]
    reading = {"status": "finished", "terminal": True, "succeeded": True}
    other = {"status": "terminal", "key": f"job {job + 1}", "reading": reading}
    with pytest.raises(SovError, match="received an event for"):
        op.execute_complete(context, other)
    assert list(tmp_path.iterdir()) == []
