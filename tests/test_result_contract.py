"""
One result contract: every operator and sensor of both APIs, waiting or not, returns the same keys.

``kind``, ``job_id`` (the API's own ID of the job, a string), ``status`` (the API's word, null when
the task read none), ``succeeded`` (null when the task did not wait for the end), ``message`` and
``files`` (what the task wrote), then the kind's own extras. A task that starts or attaches to a
job pushes its ID to XCom as ``job_id`` before it waits.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sov import get_provider_info
from airflow_provider_sov._shared.jobs import RESULT_KEYS
from airflow_provider_sov.hooks.broker import DataActBrokerHook
from airflow_provider_sov.hooks.sov import SovHook
from airflow_provider_sov.operators.broker import (
    DabsSubmissionOperator,
    DFileDownloadOperator,
    DFileGenerateOperator,
    FabsSubmissionOperator,
    PublishedFilesDownloadOperator,
    SubmissionPublishOperator,
    SubmissionReportsDownloadOperator,
)
from airflow_provider_sov.operators.sov import (
    SovAddLocationsOperator,
    SovCreateSubmissionOperator,
    SovDownloadOutputsOperator,
    SovGetOrCreateOutputOperator,
    SovInitiateUpdateOperator,
    SovParseOperator,
    SovStartUpdateOperator,
    SovUpdateOperator,
)
from airflow_provider_sov.sensors.broker import DFileGenerationSensor, SubmissionValidationSensor
from airflow_provider_sov.sensors.sov import SovOutputSensor, SovParseSensor, SovUpdateSensor
from airflow_provider_sov.testing.server import EmulatorServer
from tests.conftest import EXAMPLE_CSV, NEW_SOV_CSV, broker_conn
from tests.harness import make_context, run_task

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

SOV = "s-no-ping-hggcsk"
D1 = {"start": "10/01/2025", "end": "12/31/2025"}
WAIT = {"deferrable": True, "poll_interval": 0.1, "timeout": 30}
SENSE = {"deferrable": True, "poke_interval": 0.1, "timeout": 30}

#: The kind each task reports, and the extras that kind carries besides the common keys.
EXTRAS = {
    "update": {"result_status", "outputs"},
    "submission": {"result_status", "outputs", "document_type"},
    "parse": {"result_status", "outputs"},
    "output": {"result_status", "outputs"},
    "generation": {"submission_id", "file_type", "start", "end", "generated_at"},
    "validation": {"submission_id", "file_types", "validations", "number_of_errors", "number_of_warnings"},
    "published": {"type", "agency", "year", "period", "published"},
    "reports": {"submission_id", "reports"},
    "publication": {"submission_id", "action", "publish_status", "certified"},
}


#: The emulator of the running case, for the cases that set up its state directly.
RUNNING: list[EmulatorServer] = []


def serving_both(monkeypatch, job_seconds: float) -> Iterator[EmulatorServer]:
    """Both APIs on one emulator, in real time, with both default connections on it."""
    with EmulatorServer(
        realtime=True, job_seconds=job_seconds, generation_seconds=job_seconds, pickup_seconds=0.3
    ) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SOVFIXER_DEFAULT",
            json.dumps({"conn_type": "sovfixer", "host": server.url, "password": server.token}),
        )
        monkeypatch.setenv("AIRFLOW_CONN_DATA_ACT_BROKER_DEFAULT", json.dumps(broker_conn(server, "login")))
        RUNNING[:] = [server]
        yield server


@pytest.fixture
def both(monkeypatch) -> Iterator[EmulatorServer]:
    """Both APIs, their jobs ending after 0.6 s."""
    yield from serving_both(monkeypatch, 0.6)


def pending_update() -> str:
    return SovHook().initiate_update(SOV)


def started_update() -> str:
    sud = pending_update()
    SovHook().start_update(sud)
    return sud


def finished_update() -> str:
    sud = started_update()
    deadline = time.monotonic() + 10
    while SovHook().get_update_status(sud)["request"]["status"] != "COMPLETE":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return sud


def finished_d1() -> None:
    hook = DataActBrokerHook()
    hook.generate_file(1001, "D1", **D1)
    deadline = time.monotonic() + 10
    while hook.check_generation_status(1001, "D1")["status"] != "finished":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def published() -> None:
    """Publish submission 1001 on the emulator behind the default connection (its A, B and C files)."""
    (server,) = RUNNING
    server.broker.publish(1001)


def dabs_files(folder: Path) -> dict[str, str]:
    """Files B and C for a new DABS submission, and its month."""
    (folder / "b.csv").write_text("AgencyIdentifier,ObjectClass\n097,25.2\n")
    (folder / "c.csv").write_text("AgencyIdentifier,PIID\n097,W91-1\n")
    return {
        "program_activity": str(folder / "b.csv"),
        "award_financial": str(folder / "c.csv"),
        "cgac_code": "097",
        "reporting_period_start_date": "04/2026",
        "reporting_period_end_date": "04/2026",
    }


def validated_submission(folder: Path) -> int:
    """A new DABS submission of its own, validated (the emulator's validations are made short)."""
    (server,) = RUNNING
    server.broker.validation_seconds = 0.3
    hook = DataActBrokerHook()
    submission = hook.upload_dabs_files(**dabs_files(folder))
    deadline = time.monotonic() + 10
    while hook.check_status(submission, "cross")["cross"]["status"] != "finished":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return submission


def workbook(folder: Path) -> Path:
    path = folder / "sov.xlsx"
    path.write_bytes(b"a workbook")
    return path


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], Any]
    kind: str
    #: Whether the task waits for the job's end (then ``succeeded`` is True), or returns at once.
    waits: bool
    #: Files it writes.
    files: int = 0
    #: Whether it pushes the job's ID to XCom as ``job_id``.
    pushes: bool = True


CASES = [
    Case(
        "SovInitiateUpdateOperator",
        lambda d: SovInitiateUpdateOperator(task_id="t", sov_id=SOV),
        "update",
        False,
    ),
    Case(
        "SovAddLocationsOperator",
        lambda d: SovAddLocationsOperator(task_id="t", sud_id=pending_update(), locations=EXAMPLE_CSV),
        "update",
        False,
        pushes=False,
    ),
    Case(
        "SovStartUpdateOperator (no wait)",
        lambda d: SovStartUpdateOperator(task_id="t", sud_id=pending_update()),
        "update",
        False,
    ),
    Case(
        "SovStartUpdateOperator",
        lambda d: SovStartUpdateOperator(
            task_id="t", sud_id=pending_update(), wait_for_completion=True, **WAIT
        ),
        "update",
        True,
    ),
    Case(
        "SovUpdateSensor",
        lambda d: SovUpdateSensor(task_id="t", sud_id=started_update(), **SENSE),
        "update",
        True,
        pushes=False,
    ),
    Case(
        "SovDownloadOutputsOperator",
        lambda d: SovDownloadOutputsOperator(task_id="t", sud_id=finished_update(), destination=d),
        "update",
        True,
        files=1,
    ),
    Case(
        "SovUpdateOperator",
        lambda d: SovUpdateOperator(task_id="t", sov_id=SOV, locations=EXAMPLE_CSV, destination=d, **WAIT),
        "update",
        True,
        files=1,
    ),
    Case(
        "SovCreateSubmissionOperator",
        lambda d: SovCreateSubmissionOperator(task_id="t", locations=NEW_SOV_CSV, destination=d, **WAIT),
        "submission",
        True,
        files=1,
    ),
    Case(
        "SovCreateSubmissionOperator (no wait)",
        lambda d: SovCreateSubmissionOperator(task_id="t", locations=NEW_SOV_CSV, wait_for_completion=False),
        "submission",
        False,
    ),
    Case(
        "SovGetOrCreateOutputOperator",
        lambda d: SovGetOrCreateOutputOperator(
            task_id="t", id=SOV, output_format="xlsx", destination=d, **WAIT
        ),
        "output",
        True,
        files=1,
    ),
    Case(
        "SovGetOrCreateOutputOperator (no wait)",
        lambda d: SovGetOrCreateOutputOperator(
            task_id="t", id=SOV, output_format="csv", wait_for_completion=False
        ),
        "output",
        False,
    ),
    Case(
        "SovOutputSensor",
        lambda d: SovOutputSensor(
            task_id="t",
            request_id=SovHook().get_or_create_output(SOV, "csv", revision=0)["request"]["id"],
            **SENSE,
        ),
        "output",
        True,
        pushes=False,
    ),
    Case(
        "SovParseOperator",
        lambda d: SovParseOperator(task_id="t", file=workbook(d), destination=d / "out", **WAIT),
        "parse",
        True,
        files=1,
    ),
    Case(
        "SovParseOperator (no wait)",
        lambda d: SovParseOperator(task_id="t", file=workbook(d), wait_for_completion=False),
        "parse",
        False,
    ),
    Case(
        "SovParseSensor",
        lambda d: SovParseSensor(task_id="t", sov_id=SovHook().start_parse(workbook(d)), **SENSE),
        "parse",
        True,
        pushes=False,
    ),
    Case(
        "DFileGenerateOperator",
        lambda d: DFileGenerateOperator(
            task_id="t", submission_id=1001, file_type="D2", destination=d, **D1, **WAIT, invalid_grace=5
        ),
        "generation",
        True,
        files=1,
    ),
    Case(
        "DFileGenerateOperator (no wait)",
        lambda d: DFileGenerateOperator(
            task_id="t", submission_id=1001, file_type="D1", wait_for_completion=False, **D1
        ),
        "generation",
        False,
    ),
    Case(
        "DFileGenerationSensor",
        lambda d: (
            DataActBrokerHook().generate_file(1001, "E"),
            DFileGenerationSensor(task_id="t", submission_id=1001, file_type="E", **SENSE),
        )[1],
        "generation",
        True,
        pushes=False,
    ),
    Case(
        "SubmissionValidationSensor",
        lambda d: SubmissionValidationSensor(task_id="t", submission_id=1001, **SENSE),
        "validation",
        True,
        pushes=False,
    ),
    Case(
        "PublishedFilesDownloadOperator",
        lambda d: (
            published(),
            PublishedFilesDownloadOperator(
                task_id="t", type="dabs", agency="097", year=2026, period=3, destination=d, file_types=["A"]
            ),
        )[1],
        "published",
        True,
        files=1,
    ),
    Case(
        "DabsSubmissionOperator",
        lambda d: (
            setattr(RUNNING[0].broker, "validation_seconds", 0.3),
            DabsSubmissionOperator(task_id="t", **dabs_files(d), **WAIT),
        )[1],
        "validation",
        True,
    ),
    Case(
        "FabsSubmissionOperator",
        lambda d: (
            setattr(RUNNING[0].broker, "validation_seconds", 0.3),
            (d / "fabs.csv").write_text("FAIN,FederalActionObligation\nF-1,10.00\n"),
            FabsSubmissionOperator(task_id="t", fabs=str(d / "fabs.csv"), agency_code="2000", **WAIT),
        )[2],
        "validation",
        True,
    ),
    Case(
        "SubmissionReportsDownloadOperator",
        lambda d: SubmissionReportsDownloadOperator(
            task_id="t", submission_id=validated_submission(d), destination=d / "reports"
        ),
        "reports",
        True,
        files=10,
    ),
    Case(
        "SubmissionPublishOperator",
        lambda d: SubmissionPublishOperator(
            task_id="t", submission_id=validated_submission(d), confirm=True, **WAIT
        ),
        "publication",
        True,
    ),
    Case(
        "DFileDownloadOperator",
        lambda d: (
            finished_d1(),
            DFileDownloadOperator(task_id="t", submission_id=1001, file_type="D1", destination=d),
        )[1],
        "generation",
        True,
        files=1,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_task_returns_the_common_result(both, tmp_path, case: Case):
    context = make_context()
    task = case.make(tmp_path)
    result = run_task(task, context)

    assert tuple(result)[: len(RESULT_KEYS)] == RESULT_KEYS  # the common keys first, in one order
    assert result["kind"] == case.kind
    assert EXTRAS[case.kind] <= set(result), set(result)
    assert isinstance(result["job_id"], str) and result["job_id"]
    assert result["status"] is None or isinstance(result["status"], str)
    assert result["message"] is None or isinstance(result["message"], str)
    if case.waits:
        assert result["succeeded"] is True and isinstance(result["status"], str)
    else:
        assert result["succeeded"] is None
    assert isinstance(result["files"], list) and len(result["files"]) == case.files
    for f in result["files"]:
        assert {"filename", "uri", "size", "sha256"} <= set(f)
        assert isinstance(f["size"], int) and len(f["sha256"]) == 64
    if case.pushes:
        assert context["ti"].xcoms["job_id"] == result["job_id"]
    assert json.loads(json.dumps(result)) == result  # XCom-safe


def test_the_table_covers_every_operator_and_sensor():
    info = get_provider_info()
    classes = {
        name.rsplit(".", 1)[1]
        for group in ("operators", "sensors")
        for entry in info[group]
        for module in entry["python-modules"]
        for name in _public_classes(module)
    }
    covered = {c.name.split(" (")[0] for c in CASES}
    assert classes == covered


def _public_classes(module: str) -> list[str]:
    import importlib

    loaded = importlib.import_module(module)
    return [
        f"{module}.{name}"
        for name in getattr(loaded, "__all__", dir(loaded))
        if name.endswith(("Operator", "Sensor"))
        and getattr(loaded, name).__module__.startswith(module)
        and "template_fields" in vars(getattr(loaded, name))  # a task, not a base such as SovJobSensor
    ]


@pytest.mark.parametrize(
    ("task_class", "mapped"),
    [
        (SovUpdateSensor, {"sud_id": ["s-1-r001", "s-2-r001"]}),
        (SovParseSensor, {"sov_id": ["s-1", "s-2"]}),
        (SovOutputSensor, {"request_id": ["r-1", "r-2"]}),
        (DFileGenerationSensor, {"job_id": [1, 2]}),
        (SovUpdateOperator, {"sov_id": ["s-1", "s-2"]}),
        (SovGetOrCreateOutputOperator, {"id": ["s-1", "s-2"]}),
        (DFileDownloadOperator, {"job_id": [1, 2]}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else next(iter(v)),
)
def test_a_task_maps_over_the_id_it_works_on(task_class, mapped, tmp_path):
    """Dynamic task mapping takes the ID argument of every task that works on one job."""
    import pendulum
    from airflow.sdk import DAG

    fixed = {"destination": str(tmp_path)} if task_class is DFileDownloadOperator else {}
    if task_class is SovGetOrCreateOutputOperator:
        fixed = {"output_format": "json"}
    with DAG("mapped", start_date=pendulum.datetime(2026, 1, 1), schedule=None):
        task = task_class.partial(task_id="t", **fixed).expand(**mapped)
    (name,) = mapped
    assert task.expand_input.value[name] == mapped[name]


#: The tasks that start a job and then wait for it: their ``job_id`` must be in XCom while they wait.
WAITING = [
    c
    for c in CASES
    if c.waits
    and c.pushes
    and c.name.split(" (")[0]
    in {
        "SovStartUpdateOperator",
        "SovUpdateOperator",
        "SovCreateSubmissionOperator",
        "SovGetOrCreateOutputOperator",
        "SovParseOperator",
        "DFileGenerateOperator",
    }
]


@pytest.fixture
def held(monkeypatch) -> Iterator[EmulatorServer]:
    """Both APIs, their jobs running for an hour: every wait is still waiting when it is read."""
    yield from serving_both(monkeypatch, 3600)


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "timed-out"])
@pytest.mark.parametrize("case", WAITING, ids=lambda c: c.name)
def test_the_job_id_is_in_xcom_while_the_task_waits(held, tmp_path, case: Case, deferrable: bool):
    """
    A task deferred for hours, or one that times out, already shows its job: the ID is pushed when
    the job is started, not when the task ends.
    """
    from airflow_provider_sov._shared.compat import TaskDeferred
    from airflow_provider_sov.exceptions import SovTimeoutError

    assert {c.name for c in WAITING} >= {"SovUpdateOperator", "DFileGenerateOperator", "SovParseOperator"}
    context = make_context()
    task = case.make(tmp_path)
    task.deferrable = deferrable
    task.timeout = 0.3
    with pytest.raises(TaskDeferred if deferrable else SovTimeoutError):
        task.execute(context)
    job_id = context["ti"].xcoms.get("job_id")
    assert isinstance(job_id, str) and job_id, context["ti"].xcoms
    assert context["task_state_store"].get("job"), "no job recorded for a retry to reattach to"
