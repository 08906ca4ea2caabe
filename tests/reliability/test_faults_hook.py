"""
Hook level: every fault the emulator offers, on every route the provider calls, one call each.

A read survives with exactly one more request (a 429 after waiting its ``Retry-After``); a
creating call fails at once with a clear error, is never repeated, and leaves at most the one job
the server may have made; a download is whole or absent.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sov.hooks.broker import _SESSIONS, DataActBrokerHook, GenerationTarget
from airflow_provider_sov.hooks.sov import SovHook
from airflow_provider_sov.hooks.sov_jobs import SovJobRef, classify
from tests.conftest import EXAMPLE_CSV
from tests.reliability.faults import (
    CREATING,
    FAULTS,
    FILE_ROUTES,
    STATUS_ROUTES,
    FaultKind,
    applies,
    declared_creating,
    inject,
    observe,
    record,
    secrets_in,
    sha256,
)
from tests.reliability.report import FAILED_CLEARLY, SURVIVED

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from airflow_provider_sov._shared.http import RetryPolicy
    from airflow_provider_sov.testing.server import EmulatorServer

SOV = "s-no-ping-hggcsk"
SUBMISSION = 1001
#: Submissions a case makes for itself (revalidated or published: no other case may see them so).
_SUBMISSION_IDS = itertools.count(6001)
D1 = {"start": "10/01/2025", "end": "12/31/2025"}


class World:
    """Hooks on the fault emulator, and the IDs a route needs, made before the fault is injected."""

    def __init__(self, emu: EmulatorServer, policy: RetryPolicy, folder: Path) -> None:
        self.emu = emu
        self.folder = folder
        self.sov = SovHook(retry_policy=policy)
        self.brokers = {
            mode: DataActBrokerHook(f"broker_{mode}", retry_policy=policy)
            for mode in ("login", "proxy", "session")
        }
        self.broker = self.brokers["login"]
        self.ids: dict[str, Any] = {}

    def forget_sessions(self) -> None:
        """Drop every Broker session, so that the next call has to start one."""
        _SESSIONS.clear()
        policy, self.brokers = self.broker.retry_policy, {}
        for mode in ("login", "proxy", "session"):
            self.brokers[mode] = DataActBrokerHook(f"broker_{mode}", retry_policy=policy)
        self.broker = self.brokers["login"]

    def close(self) -> None:
        self.sov.close()
        for hook in self.brokers.values():
            hook.close()

    # --- Setups -----------------------------------------------------------------------------------

    def pending_update(self) -> None:
        self.ids["sud"] = self.sov.initiate_update(SOV)

    def update_with_locations(self) -> None:
        self.pending_update()
        self.sov.add_locations(self.ids["sud"], EXAMPLE_CSV)

    def finished_update(self) -> None:
        self.update_with_locations()
        self.sov.start_update(self.ids["sud"])

    def output_request(self) -> None:
        self.ids["request"] = self.sov.get_or_create_output(SOV, "json")["request"]["id"]

    def workbook(self) -> None:
        path = self.folder / "in" / "sov.xlsx"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"a workbook")
        self.ids["workbook"] = path

    def d1(self) -> None:
        self.ids["job"] = self.broker.generate_file(SUBMISSION, "D1", **D1)["job_id"]

    def detached(self) -> None:
        self.ids["job"] = self.broker.generate_detached_file("D1", cgac_code="097", **D1)["job_id"]

    def published(self) -> None:
        self.emu.broker.publish(SUBMISSION)
        listed = self.broker.list_latest_published_files("dabs", agency="097", year=2026, period=3)
        self.ids["published"] = next(f["id"] for f in listed if f["id"] is not None)

    def dabs_files(self) -> None:
        folder = self.folder / "in"
        folder.mkdir(exist_ok=True)
        for name, header in (("b", "AgencyIdentifier,ObjectClass"), ("c", "AgencyIdentifier,PIID")):
            (folder / f"file_{name}.csv").write_text(f"{header}\n097,1\n")
            self.ids[name] = folder / f"file_{name}.csv"
        (folder / "fabs.csv").write_text("FAIN,FederalActionObligation\nF-1,10.00\n")
        self.ids["fabs"] = folder / "fabs.csv"

    def submission(self, **metadata: Any) -> None:
        """A validated monthly submission of its own fiscal year (so no other is published for its period)."""
        sid = next(_SUBMISSION_IDS)
        self.ids["submission"] = self.emu.broker.add_submission(
            sid, is_quarter=False, reporting_fiscal_year=sid, **metadata
        )

    def fabs_submission(self) -> None:
        self.submission(fabs=True)

    def published_monthly(self) -> None:
        self.submission()
        self.emu.broker.publish(self.ids["submission"], certified=False)

    def output(self) -> None:
        self.ids["output"] = classify(self.sov.get_parse_status(SOV), SovJobRef(SOV)).extras["outputs"][0]


@dataclass(frozen=True)
class RouteCase:
    """One route: how to get ready, the call, what comparing two answers looks at, what it creates."""

    route: str
    call: Callable[[World], Any]
    setup: Callable[[World], None] | None = None
    view: Callable[[Any], Any] = lambda body: body
    jobs: Callable[[EmulatorServer, World], int] | None = None
    names: Callable[[World], Any] = lambda w: None
    #: The route starts a session: the faulted call must not find one already open.
    opens_session: bool = False

    def __str__(self) -> str:
        return self.route


def _status(body: Any) -> Any:
    return (body.get("request") or {}).get("status") or body.get("status")


def _file(world: World, saved: Any) -> tuple[str, str]:
    return saved.filename, saved.sha256


ROUTES = [
    # --- SOV Fixer --------------------------------------------------------------------------------
    RouteCase(
        "parse",
        lambda w: w.sov.start_parse(w.ids["workbook"]),
        setup=World.workbook,
        view=lambda sov_id: sov_id.startswith("s-"),
        jobs=lambda e, w: e.sov.created["parse"],
        names=lambda w: "start parse",
    ),
    RouteCase("parse_status", lambda w: w.sov.get_parse_status(SOV), view=_status, names=lambda w: SOV),
    RouteCase("output_formats", lambda w: w.sov.list_output_formats()),
    RouteCase(
        "get_or_create_output",
        lambda w: w.sov.get_or_create_output(SOV, "json"),
        view=_status,  # a finished output is answered under a new request ID each time
        jobs=lambda e, w: e.sov.created["output"],
        names=lambda w: SOV,
    ),
    RouteCase(
        "output_request",
        lambda w: w.sov.get_output_request(w.ids["request"]),
        setup=World.output_request,
        view=_status,
        names=lambda w: w.ids["request"],
    ),
    RouteCase(
        "initiate_update",
        lambda w: w.sov.initiate_update(SOV),
        view=lambda sud: sud.startswith(SOV),
        jobs=lambda e, w: e.sov.created["update"],
        names=lambda w: SOV,
    ),
    RouteCase(
        "add_locations",
        lambda w: w.sov.add_locations(w.ids["sud"], EXAMPLE_CSV).rows,
        setup=World.pending_update,
        jobs=lambda e, w: e.sov.jobs[w.ids["sud"]].rows_received // 3,  # uploads applied (3 rows each)
        names=lambda w: w.ids["sud"],
    ),
    RouteCase(
        "start_update",
        lambda w: w.sov.start_update(w.ids["sud"]).get("message"),
        setup=World.update_with_locations,
        jobs=lambda e, w: int(e.sov.jobs[w.ids["sud"]].started_at is not None),
        names=lambda w: w.ids["sud"],
    ),
    RouteCase(
        "update_status",
        lambda w: w.sov.get_update_status(w.ids["sud"]),
        setup=World.finished_update,
        view=_status,
        names=lambda w: w.ids["sud"],
    ),
    RouteCase("history", lambda w: len(w.sov.get_history_page()["results"]) > 0),
    RouteCase("history_item", lambda w: w.sov.get_history_item(SOV)["sovid"], names=lambda w: SOV),
    RouteCase(
        "create_submission",
        lambda w: w.sov.create_submission(client_ref="faults"),
        view=lambda submission_id: submission_id.isdigit(),
        jobs=lambda e, w: e.sov.created["submission"],
        names=lambda w: "create submission",
    ),
    RouteCase("activity", lambda w: [r["id"] for r in w.sov.list_activity(page_size=250)["results"]]),
    RouteCase(
        "add_building",
        lambda w: w.sov.add_building(SOV, {"bldg_name": "Annex"}),
        jobs=lambda e, w: len(e.sov.sovs[SOV].buildings) - 5,  # buildings added (the SOV had 5)
        names=lambda w: SOV,
    ),
    RouteCase(
        "building",
        lambda w: w.sov.get_building(f"b-{SOV.rsplit('-', 1)[-1]}-0001")["item_key"],
        names=lambda w: f"b-{SOV.rsplit('-', 1)[-1]}-0001",
    ),
    RouteCase(
        "public_shareable_url",
        lambda w: w.sov.get_public_shareable_url(SOV).rsplit("/", 1)[-1],
        names=lambda w: SOV,
    ),
    RouteCase(
        "download",
        lambda w: w.sov.download_output(w.ids["output"], w.folder / "out"),
        setup=World.output,
        view=lambda saved: (saved.filename, saved.sha256),
        names=lambda w: SOV,
    ),
    # --- DATA Act Broker ------------------------------------------------------------------------------
    RouteCase(
        "login",
        lambda w: w.broker.check_generation_status(SUBMISSION, "D1"),
        view=_status,
        names=lambda w: "log in",
        opens_session=True,
    ),
    RouteCase(
        "active_user",
        lambda w: w.brokers["proxy"].check_generation_status(SUBMISSION, "D1"),
        view=_status,
        names=lambda w: "start proxy session",
        opens_session=True,
    ),
    RouteCase("session", lambda w: w.brokers["session"].test_connection()[0] or _fail_session(w)),
    RouteCase(
        "generate_file",
        lambda w: w.broker.generate_file(SUBMISSION, "D1", **D1)["status"],
        jobs=lambda e, w: e.broker.created,
        names=lambda w: SUBMISSION,
    ),
    RouteCase(
        "check_generation_status",
        lambda w: w.broker.check_generation_status(SUBMISSION, "D1"),
        setup=World.d1,
        view=_status,
        names=lambda w: SUBMISSION,
    ),
    RouteCase(
        "get_file_url",
        lambda w: w.broker.get_file_url(SUBMISSION, "D1"),
        setup=World.d1,
        view=lambda url: url.split("?")[0],
        names=lambda w: SUBMISSION,
    ),
    RouteCase(
        "generate_detached_file",
        lambda w: w.broker.generate_detached_file("D1", cgac_code="097", **D1)["status"],
        jobs=lambda e, w: e.broker.created,
        names=lambda w: "generate file",
    ),
    RouteCase(
        "check_detached_generation_status",
        lambda w: w.broker.check_detached_generation_status(w.ids["job"]),
        setup=World.detached,
        view=_status,
        names=lambda w: w.ids["job"],
    ),
    RouteCase(
        "get_detached_file_url",
        lambda w: w.broker.get_detached_file_url(w.ids["job"]),
        setup=World.detached,
        view=lambda url: url.split("?")[0],
        names=lambda w: w.ids["job"],
    ),
    RouteCase(
        "check_status",
        lambda w: w.broker.check_status(SUBMISSION)["appropriations"]["status"],
        names=lambda w: SUBMISSION,
    ),
    RouteCase(
        "submission_metadata",
        lambda w: w.broker.submission_metadata(SUBMISSION)["reporting_period"],
        names=lambda w: SUBMISSION,
    ),
    RouteCase(
        "list_submissions",
        lambda w: [s["submission_id"] for s in w.broker.list_submissions(limit=50)["submissions"]],
        names=lambda w: "list submissions",
    ),
    RouteCase(
        "list_latest_published_files",
        lambda w: w.broker.list_latest_published_files("dabs"),
        setup=World.published,
        names=lambda w: "list published files",
    ),
    RouteCase(
        "get_published_file",
        lambda w: w.broker.get_published_file(SUBMISSION, w.ids["published"]).split("?")[0],
        setup=World.published,
        names=lambda w: SUBMISSION,
    ),
    RouteCase(
        "upload_dabs_files",
        lambda w: w.broker.upload_dabs_files(
            program_activity=w.ids["b"],
            award_financial=w.ids["c"],
            cgac_code="097",
            reporting_period_start_date="04/2026",
            reporting_period_end_date="04/2026",
        ),
        setup=World.dabs_files,
        view=lambda submission_id: submission_id > 0,
        jobs=lambda e, w: len(e.broker.submissions),
        names=lambda w: "upload DABS files",
    ),
    RouteCase(
        "upload_fabs_file",
        lambda w: w.broker.upload_fabs_file(w.ids["fabs"], agency_code="2000"),
        setup=World.dabs_files,
        view=lambda submission_id: submission_id > 0,
        jobs=lambda e, w: len(e.broker.submissions),
        names=lambda w: "upload FABS file",
    ),
    RouteCase(
        "report_url",
        lambda w: w.broker.report_url(SUBMISSION, "program_activity", warning=True).split("?")[0],
        names=lambda w: SUBMISSION,
    ),
    RouteCase(
        "restart_validation",
        lambda w: w.broker.restart_validation(w.ids["submission"]),
        setup=World.submission,
        jobs=lambda e, w: e.broker.submissions_of("restart_validation").count(w.ids["submission"]),
        names=lambda w: w.ids["submission"],
    ),
    RouteCase(
        "get_fabs_meta",
        lambda w: w.broker.get_fabs_meta(w.ids["submission"]),
        setup=World.fabs_submission,
        names=lambda w: w.ids["submission"],
    ),
    RouteCase(
        "publish_fabs_file",
        lambda w: w.broker.publish_fabs_file(w.ids["submission"], confirm=True),
        setup=World.fabs_submission,
        jobs=lambda e, w: int(e.broker.submissions[w.ids["submission"]].publish_status != "unpublished"),
        names=lambda w: w.ids["submission"],
    ),
    RouteCase(
        "publish_dabs_submission",
        lambda w: w.broker.publish_dabs_submission(w.ids["submission"], confirm=True),
        setup=World.submission,
        jobs=lambda e, w: int(e.broker.submissions[w.ids["submission"]].publish_status != "unpublished"),
        names=lambda w: w.ids["submission"],
    ),
    RouteCase(
        "certify_dabs_submission",
        lambda w: w.broker.certify_dabs_submission(w.ids["submission"], confirm=True),
        setup=World.published_monthly,
        jobs=lambda e, w: int(e.broker.submissions[w.ids["submission"]].certified),
        names=lambda w: w.ids["submission"],
    ),
    RouteCase(
        "publish_and_certify_dabs_submission",
        lambda w: w.broker.publish_and_certify_dabs_submission(w.ids["submission"], confirm=True),
        setup=World.submission,
        jobs=lambda e, w: int(e.broker.submissions[w.ids["submission"]].publish_status != "unpublished"),
        names=lambda w: w.ids["submission"],
    ),
    RouteCase(
        "storage",
        lambda w: w.broker.download_file(GenerationTarget.of(SUBMISSION, "D1"), w.folder / "out"),
        setup=World.d1,
        view=lambda saved: (saved.filename, saved.sha256),
        names=lambda w: SUBMISSION,
    ),
]


def _fail_session(world: World) -> None:
    _ok, message = world.brokers["session"].test_connection()
    raise AssertionError(message)


def test_every_route_the_provider_calls_is_in_the_matrix():
    from airflow_provider_sov.hooks import broker, sov

    called = set(sov.ROUTES) | set(broker.ROUTES) | FILE_ROUTES
    assert {case.route for case in ROUTES} == called
    assert declared_creating() == CREATING
    assert called >= STATUS_ROUTES


CASES = [
    pytest.param(case, fault, id=f"{case.route}-{fault.name}")
    for case in ROUTES
    for fault in FAULTS
    if applies(fault, case.route)
]


@pytest.fixture
def world(emu, fast, tmp_path):
    w = World(emu, fast, tmp_path)
    yield w
    w.close()


@pytest.mark.parametrize(("case", "fault"), CASES)
def test_hook_under_fault(world, emu, waits, case: RouteCase, fault: FaultKind):
    if case.setup is not None:
        case.setup(world)
    creating = case.route in CREATING
    if not creating:
        clean = case.view(case.call(world))
        if case.route in FILE_ROUTES:
            for path in (world.folder / "out").iterdir():
                path.unlink()  # the clean run's file; the faulted run writes its own
    if case.opens_session:
        world.forget_sessions()
    jobs_before = case.jobs(emu, world) if case.jobs else 0
    emu.reset_counts()
    waits.clear()
    injected = inject(emu, case.route, fault)

    seen = observe(lambda: case.call(world), case.names(world))
    if fault.slow and creating:
        time.sleep(fault.options["delay"])  # a late request is still acted on: count what it made
    made = (case.jobs(emu, world) if case.jobs else 0) - jobs_before
    folder = world.folder / "out" if case.route in FILE_ROUTES else None
    leftovers = record(
        "hook", case.route, case.route, fault, seen, duplicates=max(0, made - 1), folder=folder
    )

    assert injected.hits == 1
    assert leftovers == []
    assert made <= 1
    if creating:
        # Never repeated once sent: one request, one job at most, and the error says so.
        assert seen.outcome == FAILED_CLEARLY, seen.error
        assert emu.count(case.route) == 1
        assert "Not sent again" in str(seen.error)
        return
    assert seen.outcome == SURVIVED, seen.error
    if fault.kind == "unknown_status":
        # Not an error: the answer is passed on, and classified as still running.
        assert emu.count(case.route) == 1
        assert case.view(seen.result) not in ("COMPLETE", "FAILED", "finished", "failed")
        return
    assert case.view(seen.result) == clean
    assert emu.count(case.route) == 2
    if fault.kind == "status" and fault.options.get("retry_after"):
        assert waits == [float(fault.options["retry_after"])]
    if case.route in FILE_ROUTES:
        (saved,) = (world.folder / "out").iterdir()
        expected = (
            emu.sov.file_bytes(SOV, saved.name)
            if case.route == "download"
            else emu.broker.file_bytes(world.ids["job"])
        )
        assert sha256(saved.read_bytes()) == sha256(expected)


def test_a_persistent_fault_on_a_read_gives_up_with_the_tries_counted(world, emu):
    world.finished_update()
    emu.reset_counts()
    inject(emu, "update_status", FAULTS[3], times=None)  # 503 every time
    seen = observe(lambda: world.sov.get_update_status(world.ids["sud"]), world.ids["sud"])
    assert seen.outcome == FAILED_CLEARLY and "Gave up after 4 tries" in str(seen.error)
    assert emu.count("update_status") == 4


def test_a_download_that_is_always_cut_leaves_nothing(world, emu):
    world.output()
    inject(emu, "download", FAULTS[7], times=None)  # truncated every time
    seen = observe(lambda: world.sov.download_output(world.ids["output"], world.folder / "out"), SOV)
    assert seen.outcome == FAILED_CLEARLY
    assert list((world.folder / "out").iterdir()) == []


def test_the_secret_scan_knows_sessions_issued_during_a_case(emu):
    """The scan reads the emulator's live list: a session a case logs in for is searched for too."""
    before = set(emu.broker.issued)
    _SESSIONS.clear()  # no session shared from an earlier case: this one logs in
    hook = DataActBrokerHook()
    hook.check_generation_status(1001, "D1")  # login mode: a new session, issued now
    hook.close()
    (fresh,) = set(emu.broker.issued) - before
    assert secrets_in(f"an error that quotes x-session-id {fresh}") == [fresh]
