"""
Waits that start and end in the triggerer (``start_from_trigger``, ``end_from_trigger``): what the
sensors hand the scheduler, what the trigger makes of it once Airflow has rendered it, and what it
hands back. Real triggers over real HTTP to the emulator; the real-Airflow runs are in
``test_airflow_e2e.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import warnings
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.triggers.base import TaskSuccessEvent

from airflow_provider_sov._shared import sensor as sensor_base
from airflow_provider_sov._shared.compat import AIRFLOW_3_3
from airflow_provider_sov._shared.jobs import DEFERRAL_GRACE, JobKind
from airflow_provider_sov._shared.waiting import trigger_class, wait_kwargs
from airflow_provider_sov.exceptions import SovInputError, SovJobFailedError
from airflow_provider_sov.hooks.broker_jobs import GENERATION
from airflow_provider_sov.sensors.broker import DFileGenerationSensor
from airflow_provider_sov.sensors.sov import SovOutputSensor, SovParseSensor, SovUpdateSensor
from airflow_provider_sov.triggers.broker import DFileGenerationTrigger
from airflow_provider_sov.triggers.sov import SovUpdateTrigger
from tests.conftest import finish
from tests.harness import collect_events, eventually, make_context

SOV = "s-no-ping-hggcsk"
SENSORS = [
    (SovUpdateSensor, {"sud_id": "{{ params.job }}"}),
    (SovParseSensor, {"sov_id": "{{ params.job }}"}),
    (SovOutputSensor, {"request_id": "{{ params.job }}"}),
    (DFileGenerationSensor, {"submission_id": "{{ params.job }}", "file_type": "D1"}),
]

#: Starting a wait in the triggerer from the task's rendered arguments, and ending it there with the
#: task's result, are Airflow 3.3's; before, the sensor waits from a worker (tests/test_compat.py).
AIRFLOW_33_ONLY = pytest.mark.skipif(not AIRFLOW_3_3, reason="start/end_from_trigger need Airflow 3.3")


@pytest.fixture
def sud(hook, sov_emulator, corrections_csv) -> str:
    sud_id = hook.initiate_update(SOV)
    hook.add_locations(sud_id, corrections_csv)
    hook.start_update(sud_id)
    sov_emulator.reset_counts()
    return sud_id


def from_scheduler(sensor: Any, **rendered: Any) -> Any:
    """
    The trigger as Airflow builds and prepares it for a sensor started in the triggerer: from the
    sensor's start arguments (through JSON), its templated fields rendered by Airflow's own renderer
    (as the triggerer does before ``run``), and Airflow's deferral timeout, fixed now.
    """
    args = sensor.start_trigger_args
    module, _, name = args.trigger_cls.rpartition(".")
    trigger_class = getattr(__import__(module, fromlist=[name]), name)
    trigger = trigger_class(**json.loads(json.dumps(args.trigger_kwargs)))
    trigger.template_fields = tuple(f for f in sensor.template_fields if f in args.trigger_kwargs)
    trigger.render_template_fields(context={"params": rendered})
    trigger.timeout_after = dt.datetime.now(dt.UTC) + args.timeout
    return trigger


def sensor(**kwargs: Any) -> SovUpdateSensor:
    kwargs.setdefault("sud_id", "{{ params.job }}")
    return SovUpdateSensor(task_id="wait", poke_interval=0.05, timeout=60, **kwargs)


# --- what the sensor hands the scheduler ---------------------------------------------------------


@AIRFLOW_33_ONLY
@pytest.mark.parametrize(("cls", "fields"), SENSORS, ids=lambda v: getattr(v, "__name__", ""))
def test_each_sensor_hands_the_scheduler_its_trigger_with_its_unrendered_fields(cls, fields):
    task = cls(task_id="wait", start_from_trigger=True, timeout=600, poke_interval=30, **fields)
    args = task.start_trigger_args
    kind: JobKind = cls.kind
    trigger = trigger_class(kind)
    assert task.deferrable is True and task.start_from_trigger is True
    assert (
        args.trigger_cls == f"{trigger.__module__}.{trigger.__name__}"
        and args.next_method == "execute_complete"
    )
    assert args.timeout == dt.timedelta(seconds=600 + DEFERRAL_GRACE)
    kwargs = args.trigger_kwargs
    assert {k: kwargs[k] for k in kind.task_fields} == {k: fields.get(k) for k in kind.task_fields}
    assert kwargs["timeout"] == 600 and kwargs["poll_interval"] == 30 and "deadline" not in kwargs
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert cls.start_trigger_args is None  # what a mapped task gets: it starts on a worker


def test_without_start_from_trigger_the_scheduler_gets_nothing():
    assert sensor(deferrable=True).start_trigger_args is None
    assert sensor(deferrable=True, end_from_trigger=True).start_trigger_args is None


def test_an_id_from_an_xcomarg_starts_on_a_worker_and_the_log_says_how_to_avoid_it(caplog):
    from airflow.sdk import DAG, task

    with DAG("d", schedule=None):

        @task
        def upstream() -> str:
            return "s-1-r001"

        waiting_task = SovUpdateSensor(task_id="wait", sud_id=upstream(), start_from_trigger=True)
    assert waiting_task.start_trigger_args is None
    why = waiting_task._why_on_a_worker(make_context())
    assert "XComArg" in why and "xcom_pull" in why


def test_a_mapped_task_is_told_why_it_started_on_a_worker():
    ti = SimpleNamespace(map_index=3)
    why = sensor(start_from_trigger=True)._why_on_a_worker({"ti": ti})
    assert "mapped task started on a worker" in why


@pytest.mark.parametrize("option", ["start_from_trigger", "end_from_trigger"])
def test_waiting_in_the_triggerer_contradicts_deferrable_false(option):
    with pytest.raises(SovInputError, match=f"{option.split('_')[0]}_from_trigger.*deferrable=False"):
        sensor(deferrable=False, **{option: True})


def test_end_from_trigger_refuses_outlets_it_could_not_update():
    from airflow.sdk import Asset

    with pytest.raises(SovInputError, match="outlets"):
        sensor(end_from_trigger=True, outlets=[Asset("s3://bucket/sov")])


def test_an_airflow_that_cannot_render_in_the_triggerer_falls_back_with_one_warning(monkeypatch):
    monkeypatch.setattr(sensor_base, "triggerer_renders_templates", lambda: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = sensor(start_from_trigger=True, end_from_trigger=True)
    assert [str(w.message) for w in caught if "start_from_trigger" in str(w.message)] == [
        "wait: start_from_trigger needs Airflow 3.3 or later, where the triggerer renders the task's "
        "templated fields. This task starts on a worker and defers from there."
    ]
    assert task.start_from_trigger is False and task.start_trigger_args is None
    assert task.deferrable is True and task.end_from_trigger is AIRFLOW_3_3


def test_before_airflow_3_3_end_from_trigger_ends_on_a_worker_with_one_warning(monkeypatch):
    monkeypatch.setattr(sensor_base, "AIRFLOW_3_3", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = sensor(end_from_trigger=True)
    assert [str(w.message) for w in caught if "end_from_trigger" in str(w.message)] == [
        "wait: end_from_trigger needs Airflow 3.3 or later, whose triggerer stores the task's result. "
        "This task's wait runs in the triggerer and the task ends on a worker."
    ]
    assert task.deferrable is True and task.end_from_trigger is False
    assert "end_from_trigger" not in wait_kwargs(task, task.kind)  # the trigger resumes the task on a worker


# --- what the trigger makes of it ------------------------------------------------------------------


@AIRFLOW_33_ONLY
async def test_the_trigger_polls_the_rendered_id_until_the_deadline_airflow_fixed(sud, sov_emulator):
    trigger = from_scheduler(sensor(start_from_trigger=True), job=sud)
    finish(sov_emulator)
    (event,) = await collect_events(trigger)
    assert event.payload["status"] == "terminal" and event.payload["job_id"] == sud
    assert trigger.ref is not None and trigger.ref.to_json() == {"job_id": sud}
    assert trigger.deadline == pytest.approx(trigger.timeout_after.timestamp() - DEFERRAL_GRACE)
    assert trigger.wait_started == pytest.approx(trigger.deadline - 60)


@AIRFLOW_33_ONLY
async def test_a_restarted_trigger_keeps_the_deadline_and_a_passed_one_times_out_at_once(
    sov_connection, sov_emulator
):
    task = sensor(start_from_trigger=True)
    first = from_scheduler(task, job="s-no-ping-hggcsk-r001")
    first.timeout_after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=DEFERRAL_GRACE - 1)
    again = from_scheduler(task, job="s-no-ping-hggcsk-r001")  # a new triggerer, later
    again.timeout_after = first.timeout_after  # the same row of the metadata DB
    (event,) = await collect_events(again)
    assert event.payload["status"] == "timeout" and event.payload["timeout"] == 60
    assert again.deadline == first.timeout_after.timestamp() - DEFERRAL_GRACE
    assert sov_emulator.count("update_status") == 0


@AIRFLOW_33_ONLY
async def test_a_rendered_id_that_is_not_one_ends_the_wait_with_the_sensors_own_error(
    sov_connection, sov_emulator
):
    task = sensor(start_from_trigger=True)
    (event,) = await collect_events(from_scheduler(task, job="not an id/../x"))
    assert event.payload["status"] == "error" and event.payload["error_class"] == "SovInputError"
    assert "sud_id" in event.payload["message"]
    assert sum(sov_emulator.counts.values()) == 0
    task.sud_id = "not an id/../x"  # the task, resumed, rendered the same value
    with pytest.raises(SovInputError, match="sud_id"):
        task.execute_complete(make_context(), event=event.payload)


@AIRFLOW_33_ONLY
def test_a_broker_wait_judges_invalid_from_when_the_scheduler_deferred_it():
    task = DFileGenerationSensor(
        task_id="wait",
        submission_id="{{ params.job }}",
        file_type="D1",
        start_from_trigger=True,
        invalid_grace=45,
    )
    trigger = from_scheduler(task, job="1001")
    assert isinstance(trigger, DFileGenerationTrigger)
    trigger.begin()
    assert trigger.ref == GENERATION.ref_from_task(
        {"submission_id": "1001", "file_type": "D1", "job_id": None},
        trigger.wait_started,
        {"invalid_grace": 45},
    )
    assert trigger.ref.requested_at == trigger.deadline - task.timeout and trigger.ref.invalid_grace == 45


@AIRFLOW_33_ONLY
def test_the_trigger_kwargs_survive_a_round_trip_in_either_form():
    started = from_scheduler(sensor(start_from_trigger=True, end_from_trigger=True), job="s-1-r001")
    classpath, kwargs = started.serialize()
    assert SovUpdateTrigger(**json.loads(json.dumps(kwargs))).serialize() == (classpath, kwargs)
    deferred = SovUpdateTrigger(
        "s-1-r001", deadline=1.9e9, timeout=60, end_from_trigger=True, options={"accept_partial": True}
    )
    classpath, kwargs = deferred.serialize()
    assert kwargs["end_from_trigger"] is True and kwargs["options"] == {"accept_partial": True}
    assert SovUpdateTrigger(**json.loads(json.dumps(kwargs))).serialize() == (classpath, kwargs)


# --- what it hands back ------------------------------------------------------------------------------


@pytest.fixture
def xcom_store(monkeypatch) -> list[dict[str, Any]]:
    """XComs the trigger stores through the Task SDK (the triggerer's supervisor is not here)."""
    from airflow.sdk.execution_time.xcom import XCom

    stored: list[dict[str, Any]] = []

    async def aset(**kwargs: Any) -> None:
        stored.append(kwargs)

    async def aget_one(**kwargs: Any) -> None:
        stored.append({"read": kwargs})  # the warm-up: a read of the result not stored yet

    monkeypatch.setattr(XCom, "aset", aset)
    monkeypatch.setattr(XCom, "aget_one", aget_one)
    return stored


def on_task(trigger: Any) -> Any:
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="wait", run_id="r", map_index=2)
    return trigger


@AIRFLOW_33_ONLY
async def test_a_successful_job_ends_the_task_with_the_result_the_worker_would_return(
    sud, sov_emulator, xcom_store
):
    finish(sov_emulator)
    ended = on_task(from_scheduler(sensor(start_from_trigger=True, end_from_trigger=True), job=sud))
    (event,) = await collect_events(ended)
    assert isinstance(event, TaskSuccessEvent) and event.xcoms is None
    warm_up, pushed = xcom_store  # the Task SDK's API warmed up first, then the result stored
    assert warm_up["read"]["key"] == "return_value"
    assert {k: pushed[k] for k in ("key", "dag_id", "task_id", "run_id", "map_index")} == {
        "key": "return_value",
        "dag_id": "d",
        "task_id": "wait",
        "run_id": "r",
        "map_index": 2,
    }
    # The same job waited on the classic way: the worker's result is the one stored above.
    (classic,) = await collect_events(from_scheduler(sensor(start_from_trigger=True), job=sud))
    assert pushed["value"] == sensor(sud_id=sud).execute_complete(make_context(), event=classic.payload)
    assert pushed["value"]["succeeded"] is True and pushed["value"]["job_id"] == sud


@AIRFLOW_33_ONLY
async def test_a_failed_job_resumes_the_task_to_raise_the_typed_error(sud, sov_emulator, xcom_store):
    sov_emulator.sov.script_next("update", "FAILED_TO_PROCESS", "row 7 has no address")
    sud_id = sov_emulator.sov.add_running_update(1, sov_id=SOV)
    finish(sov_emulator)
    ended = on_task(from_scheduler(sensor(start_from_trigger=True, end_from_trigger=True), job=sud_id))
    (event,) = await collect_events(ended)
    assert not isinstance(event, TaskSuccessEvent) and event.payload["status"] == "terminal"
    assert [x for x in xcom_store if "read" not in x] == []
    with pytest.raises(SovJobFailedError, match="row 7 has no address"):
        sensor(sud_id=sud_id).execute_complete(make_context(), event=event.payload)


@AIRFLOW_33_ONLY
async def test_when_the_result_cannot_be_stored_here_the_worker_returns_it(sud, sov_emulator, monkeypatch):
    from airflow.sdk.execution_time.xcom import XCom

    async def refused(**kwargs: Any) -> None:
        raise ConnectionError("the API server is restarting")

    monkeypatch.setattr(XCom, "aset", refused)
    finish(sov_emulator)
    without_ti = from_scheduler(sensor(start_from_trigger=True, end_from_trigger=True), job=sud)
    with_ti = on_task(from_scheduler(sensor(start_from_trigger=True, end_from_trigger=True), job=sud))
    for trigger in (without_ti, with_ti):
        (event,) = await collect_events(trigger)
        assert not isinstance(event, TaskSuccessEvent) and event.payload["status"] == "terminal"


@AIRFLOW_33_ONLY
async def test_a_wait_deferred_from_a_worker_can_end_in_the_triggerer_too(sud, sov_emulator, xcom_store):
    from airflow_provider_sov._shared.compat import TaskDeferred

    task = sensor(sud_id=sud, end_from_trigger=True)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(make_context())
    finish(sov_emulator)
    trigger = on_task(SovUpdateTrigger(**json.loads(json.dumps(deferred.value.trigger.serialize()[1]))))
    (event,) = await collect_events(trigger)
    assert isinstance(event, TaskSuccessEvent) and xcom_store[-1]["value"]["job_id"] == sud
    assert time.time() < trigger.deadline


@AIRFLOW_33_ONLY
async def test_the_task_api_warms_up_once_per_loop_before_any_job_ends(
    sov_connection, sov_emulator, xcom_store
):
    sud_ids = [sov_emulator.sov.add_running_update(3600, sov_id=SOV) for _ in range(3)]
    task = sensor(start_from_trigger=True, end_from_trigger=True)
    triggers = [on_task(from_scheduler(task, job=sud_id)) for sud_id in sud_ids]
    runs = [asyncio.create_task(collect_events(t)) for t in triggers]
    assert await eventually(lambda: sov_emulator.count("update_status") >= 3)
    assert [x for x in xcom_store if "read" in x] == [xcom_store[0]] and len(xcom_store) == 1
    finish(sov_emulator)
    for run in runs:
        (event,) = await run
        assert isinstance(event, TaskSuccessEvent)
    assert len(xcom_store) == 4  # one warm-up read, three results


@AIRFLOW_33_ONLY
async def test_a_sensor_that_pushes_no_xcom_ends_in_the_triggerer_without_storing_one(
    sud, sov_emulator, xcom_store
):
    finish(sov_emulator)
    task = sensor(start_from_trigger=True, end_from_trigger=True, do_xcom_push=False)
    (event,) = await collect_events(on_task(from_scheduler(task, job=sud)))
    assert isinstance(event, TaskSuccessEvent) and xcom_store == []  # no result, and no warm-up read
