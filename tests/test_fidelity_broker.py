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
        # The route's webargs check (generation_routes.py) raises a 422, which the Broker's 422
        # handler (dataactbroker/exception_handler.py) answers as a 400 naming the field.
        ({"submission_id": 1001, "file_type": "A"}, 400, "file_type: Must be either D1, D2, E or F"),
        ({"submission_id": 1001}, 400, "file_type: Missing data for required field."),
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


def test_while_a_d1_regenerates_get_file_url_has_no_file(broker_hook, broker_emulator, tmp_path):
    """
    A D1 regeneration clears the job's file (``reset_generation_jobs`` in
    ``dataactbroker/helpers/generation_helper.py``), so ``get_upload_file_url``
    (``handlers/fileHandler.py``) answers 400 until the new one is written.
    """
    with pytest.raises(SovBadRequestError, match="No file uploaded or generated for this type"):
        broker_hook.get_file_url(1001, "D1")
    broker_hook.generate_file(1001, "D1", **D1)
    broker_emulator.advance(31)
    first = broker_hook.download_file(GenerationTarget.of(1001, "D1"), tmp_path / "first")
    broker_hook.generate_file(1001, "D1", start="01/01/2026", end="03/31/2026")
    with pytest.raises(SovBadRequestError, match="No file uploaded or generated for this type"):
        broker_hook.get_file_url(1001, "D1")
    with pytest.raises(SovError, match="not ready to download: its status is 'waiting'"):
        broker_hook.download_file(GenerationTarget.of(1001, "D1"), tmp_path / "second")
    broker_emulator.advance(31)
    second = broker_hook.download_file(GenerationTarget.of(1001, "D1"), tmp_path / "second")
    assert second.filename != first.filename


def test_an_e_regeneration_keeps_the_older_file_until_the_new_one(broker_hook, broker_emulator):
    """E and F generation (``start_e_f_generation``) does not reset the job's file."""
    broker_hook.generate_file(1001, "E")
    broker_emulator.advance(31)
    older = broker_hook.get_file_url(1001, "E")
    broker_hook.generate_file(1001, "E")
    assert (
        requests.utils.unquote(broker_hook.get_file_url(1001, "E")).split("?")[0]
        == (requests.utils.unquote(older).split("?")[0])
    )


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


# --- 8. Corrected to the source ------------------------------------------------------------------


def test_a_cached_d_file_within_a_submission_waits_for_its_validation(broker_hook, broker_emulator):
    """
    A cache hit is copied to the job at once, then validated: ``map_generate_status``
    (``dataactbroker/helpers/generation_helper.py``) reads ``waiting`` until the D file's
    validation job has finished. A detached cache hit (no validation job) is ``finished`` at once.
    """
    broker_hook.generate_detached_file("D1", cgac_code="097", **D1)
    broker_emulator.advance(31)  # the first generation fills the cache
    hit = broker_hook.generate_file(1001, "D1", **D1)
    assert hit["status"] == "waiting"
    broker_emulator.advance(broker_emulator.broker.pickup_seconds)
    assert broker_hook.check_generation_status(1001, "D1")["status"] == "finished"
    detached = broker_hook.generate_detached_file("D1", cgac_code="097", **D1)
    assert detached["status"] == "finished"


def test_a_cached_d_file_is_not_finished_at_once_for_the_operator_either(broker_emulator, tmp_path):
    """DFileGenerateOperator waits on a cache hit within a submission instead of reading it finished."""
    from airflow_provider_sov._shared.compat import TaskDeferred
    from airflow_provider_sov.operators.broker import DFileGenerateOperator

    DataActBrokerHook().generate_detached_file("D1", cgac_code="097", **D1)
    broker_emulator.advance(31)
    task = DFileGenerateOperator(task_id="d1", submission_id=1001, file_type="D1", **D1, deferrable=True)
    with pytest.raises(TaskDeferred):
        task.execute(make_context())


def test_a_detached_unparseable_date_is_a_400_in_the_brokers_words(broker_emulator):
    """The detached route has no date regex; ``generate_detached_file`` (``handlers/generation_handler.py``) says so."""
    answer = requests.post(
        f"{broker_emulator.url}/v1/generate_detached_file",
        json={"file_type": "D1", "cgac_code": "097", "start": "2025-10-01", "end": "12/31/2025"},
        headers={"x-session-id": broker_app.SESSION_ID},
        timeout=5,
    )
    assert (answer.status_code, answer.json()["message"]) == (
        400,
        "Start or end date cannot be parsed into a date",
    )


@pytest.mark.parametrize(
    ("route", "params", "message"),
    [
        ("check_detached_generation_status", {"job_id": "x"}, "job_id: Not a valid integer."),
        ("check_detached_generation_status", {}, "job_id: Missing data for required field."),
        ("list_latest_published_files", {"type": "both"}, "type: Must be one of: dabs, fabs."),
        (
            "get_published_file",
            {"submission_id": 1001},
            "published_files_history_id: Missing data for required field.",
        ),
    ],
)
def test_a_webargs_failure_is_a_400_with_only_the_field_and_its_message(
    broker_emulator, route, params, message
):
    """``dataactbroker/exception_handler.py``: the 422 becomes a 400 whose body is only ``message``."""
    answer = broker_get(broker_emulator, route, **params)
    assert answer.status_code == 400 and answer.json() == {"message": message}


def test_webargs_failures_of_one_request_are_said_together(broker_emulator):
    answer = requests.post(
        f"{broker_emulator.url}/v1/generate_file",
        json={"submission_id": 1001, "file_type": "D1", "start": "10-01-2025", "agency_type": "x"},
        headers={"x-session-id": broker_app.SESSION_ID},
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["message"] == (
        "agency_type: Must be either awarding or funding if provided start: Must be in the format MM/DD/YYYY"
    )


def test_login_required_is_the_bare_message(broker_emulator):
    """``requires_login`` (``dataactbroker/permissions.py``) answers ``{"message": "Login Required"}``, nothing more."""
    answer = requests.get(
        f"{broker_emulator.url}/v1/check_generation_status",
        params={"submission_id": 1001, "file_type": "D1"},
        headers={"x-session-id": "not-a-session"},
        timeout=5,
    )
    assert (answer.status_code, answer.json()) == (401, {"message": "Login Required"})


def test_login_and_active_user_bodies_carry_the_session_and_every_answer_a_session_header(broker_emulator):
    """
    ``json_for_user`` (``handlers/account_handler.py``) puts ``session_id`` in both bodies, and the
    session interface (``handlers/aws/session.py``, ``save_session``) sets ``x-session-id`` on
    every response: the live session's own, or a new (anonymous) one.
    """
    login = requests.post(
        f"{broker_emulator.url}/v1/login",
        json={"username": broker_app.USER, "password": broker_app.PASSWORD},
        timeout=5,
    )
    session_id = login.json()["session_id"]
    assert login.headers["x-session-id"] == session_id and login.json()["message"] == "Login successful"
    user = requests.get(
        f"{broker_emulator.url}/v1/active_user", headers={"x-session-id": session_id}, timeout=5
    )
    assert user.json()["session_id"] == session_id and user.headers["x-session-id"] == session_id
    assert {"user_id", "name", "title", "skip_guide", "website_admin", "affiliations"} <= set(user.json())
    status = broker_get(broker_emulator, "check_generation_status", submission_id=1001, file_type="D1")
    assert status.headers["x-session-id"] == broker_app.SESSION_ID
    refused = requests.get(
        f"{broker_emulator.url}/v1/active_user", headers={"x-session-id": "gone"}, timeout=5
    )
    assert refused.status_code == 401 and refused.headers["x-session-id"] not in ("", "gone", session_id)


def test_the_provider_never_takes_a_response_session_header_for_its_own(broker_hook, broker_emulator):
    """Login mode reads the session from the login body; the anonymous header of a 401 is not adopted."""
    broker_hook.check_generation_status(1001, "D1")
    broker_emulator.broker.expire_sessions()
    assert broker_hook.check_generation_status(1001, "D1")["status"] == "invalid"  # logged in again
    assert broker_emulator.count("login") == 2
