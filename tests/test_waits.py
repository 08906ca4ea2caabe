"""Every wait gives the same result in every mode: deferrable, poke and reschedule."""

from __future__ import annotations

import time

import pytest

from airflow_provider_sov._shared.compat import AirflowSensorTimeout, TaskDeferred
from airflow_provider_sov.exceptions import (
    SovError,
    SovInputError,
    SovJobFailedError,
    SovNotFoundError,
    SovTimeoutError,
)
from airflow_provider_sov.operators.sov import SovStartUpdateOperator, SovUpdateOperator
from airflow_provider_sov.sensors.sov import SovUpdateSensor
from tests.conftest import OPERATOR_MODES, SENSOR_MODES
from tests.harness import finish_after_reads, make_context, run_task

SOV = "s-no-ping-hggcsk"


def started_update(hook_factory, csv) -> str:
    from airflow_provider_sov.hooks.sov import SovHook

    hook = SovHook()
    sud_id = hook.initiate_update(SOV)
    hook.add_locations(sud_id, csv)
    hook.start_update(sud_id, extra_data={"insured_name": "Acme Corp"}, output_formats=["json", "csv"])
    return sud_id


def sensor(sud_id: str, **kwargs) -> SovUpdateSensor:
    kwargs.setdefault("poke_interval", 0.2)
    kwargs.setdefault("timeout", 30)
    return SovUpdateSensor(task_id="wait", sud_id=sud_id, **kwargs)


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_sensor_returns_the_same_result_in_every_mode(live, corrections_csv, mode):
    sud_id = started_update(None, corrections_csv)
    result = run_task(sensor(sud_id, **mode), make_context())
    names = sorted(o["filename"] for o in result["outputs"])
    assert result == {
        "kind": "update",
        "job_id": sud_id,
        "status": "COMPLETE",
        "succeeded": True,
        "message": "Success.",
        "files": [],
        "result_status": "SUCCESS",
        "outputs": result["outputs"],
    }
    assert [n.rsplit(".", 1)[1] for n in names] == ["csv", "json"] and names[0].startswith("Acme Corp ")
    assert all(o["url"].startswith(live.url) for o in result["outputs"])


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_a_wait_checks_its_ids_once_not_at_every_poll(live, corrections_csv, mode, monkeypatch):
    from airflow_provider_sov.hooks import sov_jobs

    # The job ends once it has been read ten times, not after a fixed time: a busy machine polls
    # less often, and the promise is about many polls.
    live.job_seconds = 600
    sud_id = started_update(None, corrections_csv)
    checked: list[object] = []
    real = sov_jobs.check_id
    monkeypatch.setattr(sov_jobs, "check_id", lambda value, *a: checked.append(value) or real(value, *a))
    finishing = finish_after_reads(live, "update_status", 10, 600.0)
    result = run_task(sensor(sud_id, poke_interval=0.1, timeout=120, **mode), make_context())
    finishing.join()
    polls = live.count("update_status")
    assert result["status"] == "COMPLETE" and polls >= 10
    # Once from the task's field per run of the task; a deferred wait again where its ref is rebuilt
    # from JSON (the trigger made on the worker, the one the triggerer makes, the task resumed). A
    # poking wait is one run: never per poll. A rescheduling one runs anew for each poll.
    runs = polls if mode.get("mode") == "reschedule" else 1
    assert set(checked) == {sud_id} and len(checked) == (4 if mode.get("deferrable") else runs)


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_failed_update_raises_the_api_status_and_message(live, corrections_csv, mode):
    live.sov.script_next("update", "FAILED_TO_PROCESS", "geocoder unavailable for row 3")
    sud_id = started_update(None, corrections_csv)
    with pytest.raises(SovJobFailedError) as info:
        run_task(sensor(sud_id, **mode), make_context())
    assert info.value.result_status == "FAILED_TO_PROCESS"
    assert sud_id in str(info.value) and "geocoder unavailable for row 3" in str(info.value)


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_timeout_fails_the_same_way_in_every_mode(live, corrections_csv, mode):
    live.job_seconds = 60
    sud_id = started_update(None, corrections_csv)
    with pytest.raises(AirflowSensorTimeout) as info:
        run_task(sensor(sud_id, timeout=1.0, **mode), make_context())
    assert "timeout" in str(info.value) and ("1s" in str(info.value) or "1.0" in str(info.value))


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_a_wait_takes_its_last_reading_at_its_deadline_not_an_interval_later(live, corrections_csv, mode):
    # The job ends 2 s in; the wait's next poll would be 60 s in, but its deadline is 4 s in: the
    # reading due at the deadline finds the job done, and the task ends then, not a minute late.
    live.job_seconds = 2
    sud_id = started_update(None, corrections_csv)
    began = time.monotonic()
    result = run_task(sensor(sud_id, timeout=4.0, poke_interval=60, **mode), make_context())
    assert result["status"] == "COMPLETE"
    assert time.monotonic() - began < 30


def test_an_operator_waiting_in_process_takes_its_last_reading_at_its_deadline(live, corrections_csv):
    from airflow_provider_sov.hooks.sov import SovHook

    live.job_seconds = 2
    sud_id = SovHook().initiate_update(SOV)
    task = SovStartUpdateOperator(
        task_id="start",
        sud_id=sud_id,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=60,
        timeout=4,
    )
    began = time.monotonic()
    assert run_task(task, make_context())["status"] == "COMPLETE"
    assert time.monotonic() - began < 30


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_partial_parse_fails_unless_accepted(live, corrections_csv, mode, capsys):
    live.sov.script_next("update", "PARTIAL_PARSE", "2 rows could not be read")
    sud_id = started_update(None, corrections_csv)
    with pytest.raises(SovJobFailedError, match="accept_partial=True"):
        run_task(sensor(sud_id, **mode), make_context())
    accepted = run_task(sensor(sud_id, accept_partial=True, **mode), make_context())
    assert accepted["result_status"] == "PARTIAL_PARSE" and len(accepted["outputs"]) == 2
    assert accepted["succeeded"] is False  # let through, not a success
    assert "PARTIAL_PARSE" in capsys.readouterr().out


@pytest.mark.parametrize("mode", SENSOR_MODES)
@pytest.mark.parametrize("result_status", ["FAILED_TO_PROCESS", "FAILED_TO_PARSE", "PARTIAL_PARSE"])
def test_complete_with_a_failed_result_is_not_a_success(live, corrections_csv, mode, result_status):
    """The API's types allow COMPLETE beside a failed result.status: that is a failure, in every mode."""
    live.sov.script_next("update", result_status, "row 3: geocoder unavailable", request_status="COMPLETE")
    sud_id = started_update(None, corrections_csv)
    with pytest.raises(SovJobFailedError, match=result_status) as info:
        run_task(sensor(sud_id, **mode), make_context())
    assert info.value.result_status == result_status
    from airflow_provider_sov.hooks.sov import SovHook

    assert SovHook().get_update_status(sud_id)["request"]["status"] == "COMPLETE"  # what was served


def test_a_finished_job_never_defers(live, corrections_csv):
    sud_id = started_update(None, corrections_csv)
    live.advance(60)
    task = sensor(sud_id, deferrable=True)
    result = task.execute(make_context())  # would raise TaskDeferred if it deferred
    assert result["status"] == "COMPLETE"


def test_an_unfinished_job_defers_with_an_absolute_deadline(live, corrections_csv):
    import time

    sud_id = started_update(None, corrections_csv)
    before = time.time()
    with pytest.raises(TaskDeferred) as info:
        sensor(sud_id, deferrable=True, timeout=600).execute(make_context())
    kwargs = info.value.trigger.serialize()[1]
    assert before + 600 <= kwargs["deadline"] <= time.time() + 600
    assert kwargs["job_id"] == sud_id and info.value.method_name == "execute_complete"


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        ("finished", SovError, r"without a valid event \(got str\)"),
        ({"status": "success", "key": "s-1-r001"}, SovError, "unknown event status 'success'"),
        ({"status": "terminal", "key": "s-2-r001"}, SovError, "event for 's-2-r001'"),
        ({"status": "terminal", "key": "s-1-r001"}, SovError, "carries no final reading"),
        (
            {
                "status": "terminal",
                "key": "s-1-r001",
                "reading": {"status": "IN_PROGRESS", "terminal": False},
            },
            SovError,
            "carries no final reading",
        ),
        (
            {"status": "error", "key": "s-1-r001", "error_class": "SovNotFoundError", "message": "gone"},
            SovNotFoundError,
            "gone",
        ),
        (
            {"status": "error", "key": "s-1-r001", "error_class": "SystemExit", "message": "x"},
            SovError,
            "x",
        ),
        (
            {"status": "timeout", "key": "s-1-r001", "timeout": 60, "waited": 61.2},
            SovTimeoutError,
            "waited 61s, the timeout is 60s",
        ),
    ],
)
def test_execute_complete_accepts_only_known_events(event, error, message):
    task = sensor("s-1-r001", deferrable=True)
    with pytest.raises(error, match=message):
        task.execute_complete(make_context(), event)


def test_an_operator_resumed_without_an_event_reads_its_job_and_finishes(live, corrections_csv, tmp_path):
    import time

    from airflow_provider_sov.hooks.sov import SovHook

    task = SovUpdateOperator(
        task_id="update", sov_id=SOV, locations=corrections_csv, destination=tmp_path, deferrable=True
    )
    context = make_context()
    with pytest.raises(TaskDeferred):
        task.execute(context)
    sud_id = context["task_state_store"]["job"]["job_id"]
    hook = SovHook()
    while hook.get_update_status(sud_id)["request"]["status"] != "COMPLETE":
        time.sleep(0.1)
    result = task.execute_complete(context, None)  # no event: it reads the status once
    assert (result["job_id"], result["status"], result["succeeded"]) == (sud_id, "COMPLETE", True)
    assert [f["filename"] for f in result["files"]] == sorted(p.name for p in tmp_path.iterdir())
    assert live.count("initiate_update") == 1


def test_a_sensor_resumed_without_an_event_waits_again_while_the_job_runs(
    sov_connection, sov_emulator, corrections_csv
):
    sud_id = started_update(None, corrections_csv)
    task = sensor(sud_id, deferrable=True, timeout=600)
    with pytest.raises(TaskDeferred) as info:
        task.execute_complete(make_context(), None)
    assert info.value.trigger.serialize()[1]["job_id"] == sud_id
    sov_emulator.advance(3600)
    assert task.execute_complete(make_context(), None)["status"] == "COMPLETE"


def deferred_wait(task_kind: str, csv, timeout: float) -> tuple[object, dict, str, TaskDeferred]:
    """A deferrable sensor or start operator waiting on a running update, deferred once."""
    from airflow_provider_sov.hooks.sov import SovHook

    if task_kind == "sensor":
        sud_id = started_update(None, csv)
        task = sensor(sud_id, deferrable=True, timeout=timeout)
    else:
        sud_id = SovHook().initiate_update(SOV)
        task = SovStartUpdateOperator(
            task_id="start", sud_id=sud_id, wait_for_completion=True, deferrable=True, timeout=timeout
        )
    context = make_context()
    with pytest.raises(TaskDeferred) as first:
        task.execute(context)
    return task, context, sud_id, first.value


@pytest.mark.parametrize("task_kind", ["sensor", "operator"])
def test_a_task_resumed_without_an_event_keeps_the_deadline_its_wait_began_with(
    sov_connection, sov_emulator, corrections_csv, task_kind
):
    task, context, sud_id, first = deferred_wait(task_kind, corrections_csv, timeout=600)
    deadline = first.trigger.serialize()[1]["deadline"]
    with pytest.raises(TaskDeferred) as again:
        task.execute_complete(context, None)  # no event, the job still running: it waits again ...
    kwargs = again.value.trigger.serialize()[1]
    assert kwargs["job_id"] == sud_id and kwargs["deadline"] == deadline  # ... until the same deadline
    assert again.value.timeout.total_seconds() <= first.timeout.total_seconds()


@pytest.mark.parametrize("task_kind", ["sensor", "operator"])
def test_a_task_resumed_without_an_event_after_its_deadline_times_out_at_once(
    sov_connection, sov_emulator, corrections_csv, task_kind
):
    import time

    task, context, _, first = deferred_wait(task_kind, corrections_csv, timeout=1)
    deadline = first.trigger.serialize()[1]["deadline"]
    while time.time() <= deadline:
        time.sleep(0.05)
    with pytest.raises(SovTimeoutError, match="the timeout is 1s"):
        task.execute_complete(context, None)  # a fresh deadline would have deferred again


def test_a_task_resumed_without_an_event_fails_in_plain_words_when_it_cannot_read_the_job(
    sov_connection, sov_emulator
):
    task = sensor("s-no-ping-hggcsk-r404", deferrable=True)
    with pytest.raises(SovNotFoundError) as info:
        task.execute_complete(make_context(), None)
    message = str(info.value)
    assert "resumed without hearing how the wait for SUD s-no-ping-hggcsk-r404 ended" in message
    assert "could not read its status" in message and "Clear the task to run it again" in message


@pytest.mark.parametrize("deferrable", OPERATOR_MODES)
def test_start_operator_waits_the_same_way(live, corrections_csv, deferrable):
    from airflow_provider_sov.hooks.sov import SovHook

    hook = SovHook()
    sud_id = hook.initiate_update(SOV)
    task = SovStartUpdateOperator(
        task_id="start",
        sud_id=sud_id,
        wait_for_completion=True,
        deferrable=deferrable,
        poll_interval=0.2,
        timeout=30,
    )
    result = run_task(task, make_context())
    assert (result["job_id"], result["status"], result["result_status"]) == (sud_id, "COMPLETE", "SUCCESS")


@pytest.mark.parametrize("deferrable", OPERATOR_MODES)
def test_composite_update_end_to_end(live, corrections_csv, tmp_path, deferrable):
    task = SovUpdateOperator(
        task_id="update",
        sov_id=SOV,
        locations=corrections_csv,
        destination=tmp_path,
        extra_data={"insured_name": "Acme Corp"},
        output_formats=["json", "xlsx"],
        deferrable=deferrable,
        poll_interval=0.2,
        timeout=30,
    )
    context = make_context()
    result = run_task(task, context)
    sud_id = f"{SOV}-r001"
    assert result["job_id"] == sud_id and result["sov_id"] == SOV and result["status"] == "COMPLETE"
    assert context["ti"].xcoms["job_id"] == sud_id
    assert sorted(f["filename"].rsplit(".", 1)[1] for f in result["files"]) == ["json", "xlsx"]
    for f in result["files"]:
        assert (tmp_path / f["filename"]).read_bytes() == live.sov.file_bytes(sud_id, f["filename"])
    assert context["task_state_store"]["step"] == "started"
    assert live.count("initiate_update") == 1
    assert live.count("history_item") == 0  # the history item is only read for tasks with outlets


def test_wait_settings_are_checked_when_the_dag_is_parsed():
    with pytest.raises(SovInputError, match="poll_interval must be a positive number"):
        SovStartUpdateOperator(task_id="s", sud_id="s-1-r001", poll_interval=0)
    with pytest.raises(SovInputError, match="timeout must not be negative"):
        SovUpdateOperator(task_id="u", sov_id=SOV, timeout=-5)


@pytest.mark.parametrize("deferrable", OPERATOR_MODES)
def test_zero_timeout_means_no_waiting_not_the_default(live, corrections_csv, deferrable):
    live.job_seconds = 60
    sud_id = started_update(None, corrections_csv)
    task = SovStartUpdateOperator(
        task_id="s",
        sud_id=sud_id,
        wait_for_completion=True,
        deferrable=deferrable,
        timeout=0,
        poll_interval=0.1,
    )
    context = make_context()
    context["task_state_store"].update(job={"job_id": sud_id}, step="started")  # already started above
    with pytest.raises(SovTimeoutError, match="the timeout is 0s"):
        run_task(task, context)
