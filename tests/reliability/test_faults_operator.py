"""
Operator level: each operator run in-process, with every fault on every route it calls.

The routes an operator calls are not listed by hand: a clean run counts them on the emulator. A
fault on a read or a download is survived (the files land whole, byte for byte the emulator's);
a fault on a creating call fails the task with a clear error and at most the one job the server
may have made, and, for the SOV Fixer calls that make a job, Airflow's retry then ends in success
with that one job. No case leaves a partial file.
"""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sov.hooks.sov_rules import task_client_ref
from airflow_provider_sov.operators.broker import (
    DabsSubmissionOperator,
    DFileDownloadOperator,
    DFileGenerateOperator,
    SubmissionPublishOperator,
)
from airflow_provider_sov.operators.sov import (
    SovCreateSubmissionOperator,
    SovGetOrCreateOutputOperator,
    SovParseOperator,
    SovUpdateOperator,
)
from tests.conftest import EXAMPLE_CSV, NEW_SOV_CSV
from tests.harness import make_context
from tests.reliability.faults import (
    CREATING,
    FAULTS,
    FaultKind,
    applies,
    inject,
    observe,
    partial_files,
    record,
    sha256,
)
from tests.reliability.report import FAILED_CLEARLY, SURVIVED

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from airflow_provider_sov.testing.server import EmulatorServer

SOV = "s-no-ping-hggcsk"
D1 = {"start": "10/01/2025", "end": "12/31/2025"}
WAIT = {"deferrable": False, "poll_interval": 0.05, "timeout": 30}


def _workbook(folder: Path) -> Path:
    path = folder / "in" / "sov.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"a workbook")
    return path


def _update(folder: Path, emu: EmulatorServer) -> Any:
    return SovUpdateOperator(
        task_id="update", sov_id=SOV, locations=[EXAMPLE_CSV], destination=folder / "out", **WAIT
    )


def _parse(folder: Path, emu: EmulatorServer) -> Any:
    return SovParseOperator(task_id="parse", file=_workbook(folder), destination=folder / "out", **WAIT)


def _output(folder: Path, emu: EmulatorServer) -> Any:
    # A new SOV each time: for one exported before, the answer would come from the cache at once.
    sov_id = emu.sov.add_sov(f"s-no-ping-x{next(_SERIAL):05d}")
    return SovGetOrCreateOutputOperator(
        task_id="export", id=sov_id, output_format="XLSX", destination=folder / "out", **WAIT
    )


_SERIAL = itertools.count()


def _d1(folder: Path, emu: EmulatorServer) -> Any:
    return DFileGenerateOperator(
        task_id="d1", submission_id=1001, file_type="D1", destination=folder / "out", **D1, **WAIT
    )


def _detached(folder: Path, emu: EmulatorServer) -> Any:
    return DFileGenerateOperator(
        task_id="a", file_type="D1", cgac_code="097", destination=folder / "out", **D1, **WAIT
    )


def _download(folder: Path, emu: EmulatorServer) -> Any:
    return DFileDownloadOperator(
        task_id="get", submission_id=1001, file_type="D1", destination=folder / "out"
    )


def _ready_d1(emu: EmulatorServer) -> None:
    from airflow_provider_sov.hooks.broker import DataActBrokerHook

    hook = DataActBrokerHook()
    hook.generate_file(1001, "D1", **D1)
    deadline = time.monotonic() + 10
    while hook.check_generation_status(1001, "D1")["status"] != "finished":
        assert time.monotonic() < deadline, "the D1 file was not generated"
        time.sleep(0.05)
    hook.close()


def _dabs(folder: Path, emu: EmulatorServer) -> Any:
    """A new DABS submission whose File C has a warning: its reports are kept, so files land."""
    inputs = folder / "in"
    inputs.mkdir(parents=True, exist_ok=True)
    (inputs / "b.csv").write_text("AgencyIdentifier,ObjectClass\n097,25.2\n")
    (inputs / "c.csv").write_text("AgencyIdentifier,PIID,Amount\n097,W91-1,WARNING\n")
    return DabsSubmissionOperator(
        task_id="task",
        program_activity=str(inputs / "b.csv"),
        award_financial=str(inputs / "c.csv"),
        cgac_code="097",
        reporting_period_start_date="04/2026",
        reporting_period_end_date="04/2026",
        reports_destination=folder / "out",
        **WAIT,
    )


#: The submission each publishing case publishes: its own, validated, monthly, of its own fiscal year.
_TO_PUBLISH: list[int] = []
_SUBMISSIONS = itertools.count(7001)


def _validated(emu: EmulatorServer) -> None:
    sid = next(_SUBMISSIONS)
    _TO_PUBLISH[:] = [emu.broker.add_submission(sid, is_quarter=False, reporting_fiscal_year=sid)]


def _publish(folder: Path, emu: EmulatorServer) -> Any:
    return SubmissionPublishOperator(task_id="task", submission_id=_TO_PUBLISH[0], confirm=True, **WAIT)


def _submissions(emu: EmulatorServer) -> int:
    return len(emu.broker.submissions)


def _published(emu: EmulatorServer) -> int:
    return sum(s.publish_status == "published" for s in emu.broker.submissions.values())


def _report_bytes(emu: EmulatorServer, result: Any, filename: str) -> bytes:
    (entry,) = [r for r in result["reports"] if r["filename"] == filename]
    return emu.broker.report_bytes(
        result["submission_id"], entry["file_type"], warning=entry["warning"], cross_type=entry["cross_type"]
    )


def _sov_jobs(emu: EmulatorServer) -> int:
    return sum(emu.sov.created.values())


def _broker_jobs(emu: EmulatorServer) -> int:
    return emu.broker.created


@dataclass(frozen=True)
class OperatorCase:
    name: str
    make: Callable[[Path, EmulatorServer], Any]
    jobs: Callable[[EmulatorServer], int]
    #: The bytes the emulator serves under a file's name, to compare a landed file with.
    expected: Callable[[EmulatorServer, Any, str], bytes]
    ready: Callable[[EmulatorServer], None] | None = None
    #: Jobs a successful run creates (the download operator's file was generated beforehand).
    creates: int = 1
    #: Whether it waits for the job; one that does not fails on a status it cannot read as done.
    waits: bool = True
    #: Whether a successful run writes files.
    writes: bool = True


def _sov_bytes(emu: EmulatorServer, result: Any, filename: str) -> bytes:
    # An output belongs to the SOV or SUD it is of (``id``); a parse's or update's to its job.
    return emu.sov.file_bytes(result.get("id") or result["job_id"], filename)


def _broker_bytes(emu: EmulatorServer, result: Any, filename: str) -> bytes:
    job_id = (
        result.get("job_id") or emu.broker.submission_files[(result["submission_id"], result["file_type"])]
    )
    return emu.broker.file_bytes(int(job_id))


OPERATORS = [
    OperatorCase("SovUpdateOperator", _update, _sov_jobs, _sov_bytes),
    OperatorCase("SovParseOperator", _parse, _sov_jobs, _sov_bytes),
    OperatorCase("SovGetOrCreateOutputOperator", _output, _sov_jobs, _sov_bytes),
    OperatorCase("DFileGenerateOperator", _d1, _broker_jobs, _broker_bytes),
    OperatorCase("DFileGenerateOperator (detached)", _detached, _broker_jobs, _broker_bytes),
    OperatorCase(
        "DFileDownloadOperator",
        _download,
        _broker_jobs,
        _broker_bytes,
        ready=_ready_d1,
        creates=0,
        waits=False,
    ),
    OperatorCase("DabsSubmissionOperator", _dabs, _submissions, _report_bytes),
    OperatorCase(
        "SubmissionPublishOperator",
        _publish,
        _published,
        lambda emu, result, name: b"",
        ready=_validated,
        writes=False,
    ),
]

#: The routes each operator calls, as counted on the emulator during a clean run (see below).
CALLED = {
    # "activity" (and "history_item"): the SOV's pages, for the task's links; a fault there costs the
    # link, never the task.
    "SovUpdateOperator": [
        "initiate_update",
        "add_locations",
        "start_update",
        "activity",
        "update_status",
        "download",
    ],
    "SovParseOperator": ["parse", "activity", "parse_status", "download"],
    "SovGetOrCreateOutputOperator": [
        "get_or_create_output",
        "history_item",
        "activity",
        "output_request",
        "download",
    ],
    # Found finished by a status read, the file comes from that read's signed URL: no second read.
    "DFileGenerateOperator": [
        "login",
        "submission_metadata",
        "generate_file",
        "check_generation_status",
        "storage",
    ],
    "DFileGenerateOperator (detached)": [
        "login",
        "generate_detached_file",
        "check_detached_generation_status",
        "storage",
    ],
    "DFileDownloadOperator": ["login", "check_generation_status", "storage"],
    # The upload, the validations' reads, then (a warning found) each report's signed URL and file.
    "DabsSubmissionOperator": [
        "login",
        "upload_dabs_files",
        "check_status",
        "submission_metadata",
        "report_url",
        "storage",
    ],
    # The submission read and judged first, then the one publishing call, then the publish status.
    "SubmissionPublishOperator": ["login", "submission_metadata", "check_status", "publish_dabs_submission"],
}


@pytest.fixture(autouse=True)
def generations_take_a_moment(emu, monkeypatch):
    """A file is not finished the moment it is asked for, so the operator reads its status."""
    monkeypatch.setattr(emu.broker, "generation_seconds", 0.1)
    monkeypatch.setattr(emu.broker, "validation_seconds", 0.1)
    monkeypatch.setattr(emu.broker, "publish_seconds", 0.05)


def run(case: OperatorCase, folder: Path, fast: Any, emu: EmulatorServer) -> Any:
    task = case.make(folder, emu)
    task.hook.retry_policy = fast  # waits recorded, not slept
    return task.execute(make_context())


def files_landed(folder: Path) -> list[Path]:
    out = folder / "out"
    return (
        sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
        if out.exists()
        else []
    )


@pytest.mark.parametrize("case", OPERATORS, ids=lambda c: c.name)
def test_the_matrix_covers_every_route_each_operator_calls(emu, fast, tmp_path, case: OperatorCase):
    from airflow_provider_sov.hooks.broker import _SESSIONS

    _SESSIONS.clear()
    if case.ready is not None:
        case.ready(emu)
        _SESSIONS.clear()
    emu.reset_counts()
    run(case, tmp_path, fast, emu)
    called = {route for route, n in emu.counts.items() if n}
    assert called == set(CALLED[case.name])


#: The reads behind the tasks' links: every fault on them is tried on one operator (the same link
#: code serves every task), so the matrix stays a size the inner loop can run.
LINK_ROUTES = {"activity", "history_item"}

CASES = [
    pytest.param(case, route, fault, id=f"{case.name}-{route}-{fault.name}")
    for case in OPERATORS
    for route in CALLED[case.name]
    for fault in FAULTS
    if applies(fault, route) and (route not in LINK_ROUTES or case.name == "SovUpdateOperator")
]


@pytest.mark.parametrize(("case", "route", "fault"), CASES)
def test_operator_under_fault(emu, fast, tmp_path, case: OperatorCase, route: str, fault: FaultKind):
    from airflow_provider_sov.hooks.broker import _SESSIONS

    _SESSIONS.clear()
    if case.ready is not None:
        case.ready(emu)
        _SESSIONS.clear()
    jobs_before = case.jobs(emu)
    emu.reset_counts()
    injected = inject(emu, route, fault)

    seen = observe(lambda: run(case, tmp_path, fast, emu), None)
    if fault.slow and route in CREATING:
        time.sleep(fault.options["delay"])  # a late request is still acted on: count what it made
    made = case.jobs(emu) - jobs_before
    duplicates = max(0, made - 1)
    leftovers = record(
        "operator", case.name, route, fault, seen, duplicates=duplicates, folder=tmp_path / "out"
    )

    assert injected.hits == 1
    assert leftovers == [] and partial_files(tmp_path) == []
    assert made <= 1
    if route in CREATING:
        assert seen.outcome == FAILED_CLEARLY, seen.error
        assert emu.count(route) == 1
        assert files_landed(tmp_path) == []
        return
    if fault.kind == "unknown_status" and not case.waits:
        assert seen.outcome == FAILED_CLEARLY, seen.result
        assert "status is 'running'" in str(seen.error) and files_landed(tmp_path) == []
        return
    assert seen.outcome == SURVIVED, seen.error
    assert made == case.creates
    landed = files_landed(tmp_path)
    assert bool(landed) == case.writes, landed
    for path in landed:
        assert sha256(path.read_bytes()) == sha256(case.expected(emu, seen.result, path.name))


def _submission(folder: Path, emu: EmulatorServer) -> Any:
    return SovCreateSubmissionOperator(
        task_id="new_sov", locations=NEW_SOV_CSV, destination=folder / "out", **WAIT
    )


def _sov_retry_ended_whole(emu: EmulatorServer, result: Any, context: Any, folder: Path) -> None:
    """The retry's job carries the task's client_ref, and its files landed whole."""
    assert result["client_ref"] == task_client_ref("dag", context["ti"].run_id, "task", -1)
    landed = files_landed(folder)
    assert landed, "the retry succeeded without its files"
    for path in landed:
        assert sha256(path.read_bytes()) == sha256(_sov_bytes(emu, result, path.name))


def _reports_whole(emu: EmulatorServer, result: Any, context: Any, folder: Path) -> None:
    """The retry's submission is the one uploaded, and its reports landed whole."""
    landed = files_landed(folder)
    assert landed and all(path.name.startswith(f"SubID-{result['submission_id']}_") for path in landed)
    for path in landed:
        assert sha256(path.read_bytes()) == sha256(_report_bytes(emu, result, path.name))


def _published_once(emu: EmulatorServer, result: Any, context: Any, folder: Path) -> None:
    assert result["publish_status"] == "published"
    # The Broker acted on one publishing call: a lost answer was read back, never sent again.
    assert emu.broker.submissions_of("publish_dabs_submission").count(result["submission_id"]) == 1


#: The calls that make a job: the operator that sends it, how many such jobs exist, what to check of
#: the retry's success, and what the emulator needs first.
RETRIED = {
    "parse": ("SovParseOperator", _parse, lambda emu: emu.sov.created["parse"], _sov_retry_ended_whole, None),
    "initiate_update": (
        "SovUpdateOperator",
        _update,
        lambda emu: emu.sov.created["update"],
        _sov_retry_ended_whole,
        None,
    ),
    "create_submission": (
        "SovCreateSubmissionOperator",
        _submission,
        lambda emu: emu.sov.created["submission"],
        _sov_retry_ended_whole,
        None,
    ),
    "upload_dabs_files": ("DabsSubmissionOperator", _dabs, _submissions, _reports_whole, None),
    "publish_dabs_submission": (
        "SubmissionPublishOperator",
        _publish,
        _published,
        _published_once,
        _validated,
    ),
}
RETRY_CASES = [
    pytest.param(route, fault, id=f"{RETRIED[route][0]}-{route}-{fault.name}")
    for route in RETRIED
    for fault in FAULTS
    if applies(fault, route)
]


@pytest.mark.parametrize(("route", "fault"), RETRY_CASES)
def test_airflows_retry_after_a_fault_on_a_creating_call_ends_with_one_job(
    emu, fast, tmp_path, route: str, fault: FaultKind
):
    name, make, jobs, check, ready = RETRIED[route]
    if ready is not None:
        ready(emu)
    jobs_before = jobs(emu)
    injected = inject(emu, route, fault)
    context = make_context()  # one task instance: its state survives to the retry, as in Airflow
    context["ti"].run_id = f"retry-{next(_SERIAL)}"  # each case is another task instance, as in Airflow
    task = make(tmp_path, emu)
    retry = copy.deepcopy(task)  # Airflow runs each try from the DAG file's task
    for each in (task, retry):
        each.hook.retry_policy = fast

    first = observe(lambda: task.execute(context), None)
    assert first.outcome == FAILED_CLEARLY, first.error
    if fault.slow:
        time.sleep(fault.options["delay"])  # a late request is acted on before Airflow's retry_delay ends
    seen = observe(lambda: retry.execute(context), None)
    made = jobs(emu) - jobs_before
    leftovers = record(
        "retry", name, route, fault, seen, duplicates=max(0, made - 1), folder=tmp_path / "out"
    )

    assert injected.hits == 1 and leftovers == [] and partial_files(tmp_path) == []
    assert seen.outcome == SURVIVED, seen.error
    assert made == 1
    check(emu, seen.result, context, tmp_path)
