"""
Every supported Airflow (3.0 to 3.3): the names that moved, the fallback task records where Airflow
keeps no task state store, and the async connection path that never blocks the event loop.

``make test`` runs this module on each minor (tests/versions/), besides the latest 3.3.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sov._shared import compat
from airflow_provider_sov._shared.task_state import (
    FALLBACK_PREFIX,
    VariableRecords,
    fallback_key,
)
from airflow_provider_sov.exceptions import SovNotFoundError, SovServerError, SovTransportError
from airflow_provider_sov.operators.sov import (
    SovDownloadOutputsOperator,
    SovInitiateUpdateOperator,
    SovStartUpdateOperator,
    SovUpdateOperator,
)
from tests.harness import FakeTI, collect_events, run_task

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_provider_sov"
SOV = "s-no-ping-hggcsk"

# Where each moved name lived before it settled; only compat.py may import from these.
MOVED = {
    "airflow.exceptions": None,  # every name of it: the Task SDK's own from 3.1/3.2
    "airflow.hooks.base": None,
    "airflow.configuration": None,
    "airflow.sdk.exceptions": {
        "AirflowException",
        "AirflowNotFoundException",
        "AirflowRescheduleException",
        "AirflowSensorTimeout",
        "TaskDeferred",
    },
    "airflow.sdk": {"BaseHook", "conf", "RetryPolicy", "RetryDecision"},
}


def test_only_the_compat_module_imports_a_name_that_moved():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "compat.py" and path.parent.name == "_shared":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in MOVED:
                names = MOVED[node.module]
                moved = [a.name for a in node.names if names is None or a.name in names]
                if moved and path.name != "retries.py":  # retry policies: 3.3 only, imported there guarded
                    offenders.append(f"{path.relative_to(PACKAGE)}: from {node.module} import {moved}")
    assert offenders == []


def test_every_module_imports_on_this_airflow():
    import importlib
    import pkgutil

    import airflow

    import airflow_provider_sov

    failed = {}
    for module in pkgutil.walk_packages(airflow_provider_sov.__path__, "airflow_provider_sov."):
        try:
            importlib.import_module(module.name)
        except Exception as exc:
            failed[module.name] = f"{type(exc).__name__}: {exc}"
    assert failed == {}, f"on Airflow {airflow.__version__}"


def test_every_name_of_the_compat_module_resolves_on_this_airflow():
    for name in compat.__all__:
        assert getattr(compat, name) is not None, name
    assert issubclass(compat.AirflowSensorTimeout, compat.AirflowException)
    assert (compat.AIRFLOW_VERSION.release[:2] >= (3, 3)) == compat.AIRFLOW_3_3


# --- The fallback task records (Airflow Variables) ----------------------------------------------------


class Variables:
    """Airflow's Variable API, in memory: what the Task SDK gives a running task."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None, deserialize_json: bool = False) -> Any:
        if key not in self.values:
            return default
        return json.loads(self.values[key]) if deserialize_json else self.values[key]

    def set(self, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        self.values[key] = json.dumps(value) if serialize_json else value
        self.writes += 1

    def delete(self, key: str) -> None:
        del self.values[key]


@pytest.fixture
def variables(monkeypatch):
    from airflow.sdk import Variable

    fake = Variables()
    for name in ("get", "set", "delete"):
        monkeypatch.setattr(Variable, name, getattr(fake, name))
    monkeypatch.setattr(VariableRecords, "_open", {})
    return fake


class RunningTI(FakeTI):
    def __init__(self, try_number: int, task_id: str = "task", map_index: int = -1) -> None:
        super().__init__()
        self.dag_id, self.run_id, self.task_id = "nightly", "scheduled__2026-12-01T00:00:00+00:00", task_id
        self.map_index, self.try_number = map_index, try_number


def try_context(try_number: int, task_id: str = "task", map_index: int = -1) -> dict[str, Any]:
    """A try's context on an Airflow with no task state store (as 3.0 to 3.2 give it)."""
    return {"ti": RunningTI(try_number, task_id, map_index)}


def only_record(variables: Variables) -> dict[str, Any]:
    (value,) = variables.values.values()
    return json.loads(value)


def test_records_are_keyed_by_dag_run_task_and_map_index():
    key = fallback_key("nightly", "manual__2026-12-01T00:00:00+00:00", "update", 3)
    assert key == "sov_task_state:nightly:manual__2026-12-01T00:00:00+00:00:update:3"
    assert "/" not in key  # the Task SDK sends the key in a URL path
    long = fallback_key("d" * 200, "r" * 100, "t", 0)
    assert long.startswith(FALLBACK_PREFIX) and long.endswith(":0") and len(long) <= 250
    assert long != fallback_key("d" * 200, "r" * 100, "u", 0)


def test_a_retried_initiate_reattaches_through_the_fallback_records(sov_connection, sov_emulator, variables):
    task = SovInitiateUpdateOperator(task_id="init", sov_id=SOV, update_type="scrub")
    first = task.execute(try_context(1, "init"))
    assert only_record(variables)["job"]["job_id"] == first["job_id"]
    again = task.execute(try_context(2, "init"))  # a new try, a new process: read back from the Variable
    assert again == first and sov_emulator.count("initiate_update") == 1
    task.post_execute(try_context(2, "init"))  # the task succeeded
    assert variables.values == {}


def test_a_composite_update_retried_after_a_refused_start_makes_one_update(
    live, corrections_csv, tmp_path, variables
):
    def task() -> SovUpdateOperator:
        return SovUpdateOperator(
            task_id="update", sov_id=SOV, locations=corrections_csv, destination=tmp_path, poll_interval=0.05
        )

    live.inject("start_update", "status", status=500)
    with pytest.raises(SovServerError):
        run_task(task(), try_context(1, "update"))
    assert only_record(variables)["step"] == "locations_added"
    result = run_task(task(), try_context(2, "update"))
    assert result["status"] == "COMPLETE" and len(result["files"]) >= 1
    assert live.count("initiate_update") == 1 and live.count("add_locations") == 1
    assert live.sov.created["update"] == 1
    assert all(Path(f["uri"]).stat().st_size == f["size"] for f in result["files"])


def test_a_retried_start_whose_answer_was_lost_is_not_refused(live, corrections_csv, variables):
    from airflow_provider_sov.hooks.sov import SovHook

    hook = SovHook()
    sud_id = hook.initiate_update(SOV)
    hook.add_locations(sud_id, corrections_csv)
    task = SovStartUpdateOperator(
        task_id="start", sud_id=sud_id, wait_for_completion=True, deferrable=False, poll_interval=0.05
    )
    live.inject("start_update", "reset_after")  # started, but the answer never arrived
    with pytest.raises(SovTransportError):
        run_task(task, try_context(1, "start"))
    result = run_task(task, try_context(2, "start"))
    assert (result["status"], result["succeeded"]) == ("COMPLETE", True)
    assert live.sov.created["update"] == 1


@pytest.fixture
def finished(hook, sov_emulator, corrections_csv):
    """A finished update of SOV with outputs to download."""
    from tests.conftest import finish

    sud_id = hook.initiate_update(SOV)
    hook.add_locations(sud_id, corrections_csv)
    hook.start_update(sud_id, output_formats=["json", "xlsx"])
    finish(sov_emulator)
    return sud_id


def test_a_retried_download_keeps_the_files_an_earlier_try_wrote(sov_emulator, finished, tmp_path, variables):
    task = SovDownloadOutputsOperator(task_id="dl", sud_id=finished, destination=tmp_path)
    first = task.execute(try_context(1, "dl"))
    sov_emulator.reset_counts()
    again = task.execute(try_context(2, "dl"))  # not "already exists": the records say whose they are
    assert again == first and sov_emulator.count("download") == 0


def test_mapped_instances_keep_records_of_their_own(sov_connection, sov_emulator, variables):
    task = SovInitiateUpdateOperator(task_id="init", sov_id=SOV)
    task.execute(try_context(1, "init", map_index=0))
    task.execute(try_context(1, "init", map_index=1))
    assert len(variables.values) == 2 and sov_emulator.count("initiate_update") == 2


def test_a_retried_e_file_generation_does_not_request_it_again(broker_live, tmp_path, variables):
    from tests.test_broker_waits import generate

    broker_live.inject("check_generation_status", "status", status=404, times=1)  # try 1 fails its wait
    with pytest.raises(SovNotFoundError, match="404"):
        run_task(generate(tmp_path, submission_id=1001, file_type="E", deferrable=False), try_context(1, "g"))
    result = run_task(
        generate(tmp_path, submission_id=1001, file_type="E", deferrable=False), try_context(2, "g")
    )
    assert result["status"] == "finished" and broker_live.count("generate_file") == 1


def test_a_retry_whose_request_went_unrecorded_waits_on_the_generation_under_way(monkeypatch, tmp_path):
    """The try died between the request and its record: the retry reads the status first."""
    from airflow_provider_sov.hooks.broker import DataActBrokerHook
    from airflow_provider_sov.hooks.broker_rules import generation_request
    from airflow_provider_sov.testing.server import EmulatorServer
    from tests.conftest import use_broker
    from tests.harness import make_context
    from tests.test_broker_waits import generate

    with EmulatorServer(realtime=True, generation_seconds=8, pickup_seconds=0.3) as broker:
        use_broker(monkeypatch, broker)
        hook = DataActBrokerHook()
        hook.generate(generation_request(submission_id=1001, file_type="F"))  # the lost try's request
        deadline = time.monotonic() + 5  # a retry starts seconds later: the generation is under way
        while hook.check_generation_status(1001, "F")["status"] != "waiting":
            assert time.monotonic() < deadline, "the generation was never under way"
            time.sleep(0.05)
        context = make_context()
        context["ti"].try_number = 2  # a retry, with no record of that request
        result = run_task(generate(tmp_path, submission_id=1001, file_type="F", deferrable=False), context)
        assert result["status"] == "finished" and broker.count("generate_file") == 1


# --- The async connection path ------------------------------------------------------------------------


def test_deferred_waits_mask_secrets_without_a_blocking_call_on_the_event_loop(
    broker_live, sov_connection, monkeypatch
):
    """
    Airflow 3's triggerer raises ``DeadlockImminentError`` (a BaseException) at a blocking Task SDK
    call made on its loop: here those calls raise if made there, and the secrets must still reach
    the masker, by the async calls (3.3) or from a thread (before).
    """
    import airflow.sdk.log as sdk_log
    from airflow.sdk import Connection

    from airflow_provider_sov.triggers.broker import DFileGenerationTrigger
    from airflow_provider_sov.triggers.sov import SovUpdateTrigger

    masked: list[Any] = []
    on_the_loop: list[str] = []

    def blocking(name: str) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        on_the_loop.append(f"{name} on {threading.current_thread().name}")

    real_mask, real_extra = sdk_log.mask_secret, Connection.extra_dejson

    def mask_secret(secret: Any, name: str | None = None) -> None:
        blocking("mask_secret")
        masked.append(secret)
        real_mask(secret, name)

    def extra_dejson(self: Any) -> dict:
        blocking("extra_dejson")
        return real_extra.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(sdk_log, "mask_secret", mask_secret)
    monkeypatch.setattr(Connection, "extra_dejson", property(extra_dejson))
    if hasattr(sdk_log, "amask_secret"):
        real_amask = sdk_log.amask_secret

        async def amask_secret(secret: Any, name: str | None = None) -> None:
            masked.append(secret)
            await real_amask(secret, name)

        monkeypatch.setattr(sdk_log, "amask_secret", amask_secret)

    from airflow_provider_sov.hooks.sov import SovHook

    sud_id = SovHook().initiate_update(SOV)  # waited on until its (short) deadline: reads are all it needs
    now = time.time()
    triggers = [
        DFileGenerationTrigger(submission_id=1001, file_type="D1", poll_interval=0.05, deadline=now + 30),
        SovUpdateTrigger(sud_id, poll_interval=0.05, deadline=now + 0.5, timeout=0.5),
    ]
    for trigger in triggers:
        asyncio.run(collect_events(trigger))
    assert on_the_loop == []
    broker_password = json.loads(os.environ["AIRFLOW_CONN_DATA_ACT_BROKER_DEFAULT"])["password"]
    sov_token = json.loads(os.environ["AIRFLOW_CONN_SOVFIXER_DEFAULT"])["password"]
    assert broker_password in masked and sov_token in masked
    assert any(isinstance(m, str) and m not in (broker_password, sov_token) for m in masked)  # the session
