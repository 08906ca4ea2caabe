"""Where the emulator and the provider follow the DATA Act Broker's source: its bodies, texts and timing."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests

from airflow_provider_sov._shared.http import server_message
from airflow_provider_sov.exceptions import SovBadRequestError, SovError, SovJobFailedError
from airflow_provider_sov.hooks.broker import DataActBrokerHook, GenerationTarget
from airflow_provider_sov.sensors.broker import DFileGenerationSensor
from airflow_provider_sov.testing import broker_app
from tests.conftest import use_broker
from tests.harness import collect_events, make_context, run_task

D1 = {"start": "10/01/2025", "end": "12/31/2025"}


def broker_get(server, route: str, **params) -> requests.Response:
    """A raw read of the direct Broker with the emulator's standing session."""
    return requests.get(
        f"{server.url}/v1/{route}", params=params, headers={"x-session-id": broker_app.SESSION_ID}, timeout=5
    )


# --- 6. Error bodies carry errorType and a trace; users see only the message ---------------------


def test_the_broker_error_body_has_its_debug_fields(broker_emulator):
    answer = broker_get(broker_emulator, "check_generation_status", submission_id=999999, file_type="D1")
    body = answer.json()
    assert answer.status_code == 400 and body["message"] == "No such submission"
    assert body["errorType"].startswith("<class ") and body["trace"]


def test_errors_show_the_brokers_message_never_its_trace(broker_hook, broker_emulator):
    with pytest.raises(SovBadRequestError) as info:
        broker_hook.check_generation_status(999999, "D1")
    error = info.value
    assert error.server_message == "No such submission"
    for leaked in ("FrameSummary", "errorType", "trace", "ResponseError", "<class"):
        assert leaked not in str(error)


async def test_trigger_events_show_the_brokers_message_never_its_trace(broker_emulator):
    from airflow_provider_sov.triggers.broker import DFileGenerationTrigger

    (event,) = await collect_events(
        DFileGenerationTrigger(
            submission_id=999999, file_type="D1", deadline=time.time() + 60, poll_interval=10
        )
    )
    assert "No such submission" in event.payload["message"]
    assert "FrameSummary" not in str(event.payload) and "errorType" not in str(event.payload)


def test_server_message_drops_every_debug_field():
    body = (
        b'{"message": "Login Required", "errorType": "<class \'x\'>", "wrappedType": "<class \'y\'>",'
        b' "wrappedMessage": "inner", "trace": ["<FrameSummary file a.py, line 1 in f>"]}'
    )
    assert DataActBrokerHook().read_error(body) == ("Login Required", True)
    # The debug fields are the Broker's own: another API's field of the same name is the user's.
    assert "errorType: <class 'x'>" in server_message(body)


# --- 7. Bodies and texts as the Broker's source gives them ---------------------------------------


def test_a_never_requested_d_file_reads_with_its_job_id_start_and_end(broker_emulator):
    d1 = broker_get(broker_emulator, "check_generation_status", submission_id=1001, file_type="D1").json()
    assert d1["status"] == "invalid" and isinstance(d1["job_id"], int)
    assert (d1["start"], d1["end"], d1["message"], d1["url"]) == ("", "", "", "#")
    e = broker_get(broker_emulator, "check_generation_status", submission_id=1001, file_type="E").json()
    assert e["status"] == "waiting" and isinstance(e["job_id"], int) and "start" not in e
    # A submission's file keeps its upload job's ID once generated.
    requests.post(
        f"{broker_emulator.url}/v1/generate_file",
        json={"submission_id": 1001, "file_type": "D1", **D1},
        headers={"x-session-id": broker_app.SESSION_ID},
        timeout=5,
    ).raise_for_status()
    again = broker_get(broker_emulator, "check_generation_status", submission_id=1001, file_type="D1").json()
    assert again["job_id"] == d1["job_id"] and (again["start"], again["end"]) == (D1["start"], D1["end"])


def updated(body: dict) -> dt.datetime:
    return dt.datetime.strptime(body["generated_at"], "%Y-%m-%d %H:%M:%S.%f")


def test_generated_at_is_the_jobs_last_update(broker_hook, broker_emulator):
    requested = broker_hook.generate_file(1001, "D1", **D1)
    broker_emulator.advance(10)
    running = broker_hook.check_generation_status(1001, "D1")
    assert running["status"] == "waiting" and updated(running) == updated(requested)
    broker_emulator.advance(25)  # finished 30 s after the request; read 35 s after
    done = broker_hook.check_generation_status(1001, "D1")
    assert done["status"] == "finished"
    assert (updated(done) - updated(requested)).total_seconds() == pytest.approx(30, abs=0.01)


def test_an_unknown_detached_job_reads_invalid_in_the_brokers_words(broker_emulator):
    body = broker_get(broker_emulator, "check_detached_generation_status", job_id=424242).json()
    assert body["job_id"] == 424242 and body["status"] == "invalid"
    assert body["message"] == "No generation job found with the specified ID"
    assert (body["start"], body["end"], body["generated_at"]) == ("", "", None)


def test_a_wait_on_an_unknown_detached_job_fails_at_once_with_the_brokers_words(broker_emulator):
    sensor = DFileGenerationSensor(task_id="wait", job_id=424242, mode="poke", poke_interval=10, timeout=600)
    with pytest.raises(SovJobFailedError, match="No generation job found with the specified ID"):
        run_task(sensor, make_context())
    assert broker_emulator.count("check_detached_generation_status") == 1  # no grace, no second poll


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"file_type": "D1"}, 400, "submission_id is required"),
        ({"submission_id": 999999, "file_type": "D1"}, 400, "No such submission"),
        # The route's "Must be either D1, D2, E or F" is raised as a 422, which the Broker's
        # catch-all error handler answers with HTTP 500 and the 422's own text.
        ({"submission_id": 1001, "file_type": "A"}, 500, broker_app.UNPROCESSABLE),
    ],
)
def test_submission_route_errors_in_the_brokers_words(broker_emulator, params, status, message):
    answer = broker_get(broker_emulator, "check_generation_status", **params)
    assert (answer.status_code, answer.json()["message"]) == (status, message)


def test_e_and_f_read_invalid_after_pickup_not_at_request(broker_hook, broker_emulator):
    assert broker_hook.generate_file(1001, "E")["status"] == "waiting"  # queued
    broker_emulator.advance(1)  # the validator picked it up and marked it ready
    assert broker_hook.check_generation_status(1001, "E")["status"] == "invalid"
    broker_emulator.advance(5)  # running
    assert broker_hook.check_generation_status(1001, "E")["status"] == "waiting"


def test_get_file_url_answers_whenever_the_job_has_a_file(broker_hook, broker_emulator, tmp_path):
    with pytest.raises(SovBadRequestError, match="No file uploaded or generated for this type"):
        broker_hook.get_file_url(1001, "D1")
    broker_hook.generate_file(1001, "D1", **D1)
    broker_emulator.advance(31)
    first = broker_hook.download_file(GenerationTarget.of(1001, "D1"), tmp_path / "first")
    broker_hook.generate_file(1001, "D1", start="01/01/2026", end="03/31/2026")
    # A new generation is running, yet the Broker signs the job's older file on request.
    stale = broker_hook.get_file_url(1001, "D1")
    assert first.filename in requests.utils.unquote(stale)
    # The provider goes by the status, so it never downloads that older file as the new one.
    with pytest.raises(SovError, match="not ready to download: its status is 'waiting'"):
        broker_hook.download_file(GenerationTarget.of(1001, "D1"), tmp_path / "second")


def test_detached_generation_text_for_a_missing_agency(broker_emulator, monkeypatch):
    use_broker(monkeypatch, broker_emulator, "session")
    answer = requests.post(
        f"{broker_emulator.url}/v1/generate_detached_file",
        json={"file_type": "D1", **D1},
        headers={"x-session-id": broker_app.SESSION_ID},
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["message"] == "Detached file generation requires CGAC or FR Entity Code"
