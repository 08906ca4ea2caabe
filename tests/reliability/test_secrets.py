"""
Secrets: never sent to another host, never written where a person or another system can read them.

The first half proves, over real HTTP, that credentials stay with the connection's own host:
signed storage URLs, redirects to another host, absolute URLs pointing at another host. The second
runs every example DAG on the real Airflow stack with a recognisable token and session IDs, then
scans task logs, trigger logs, service logs, XComs, rendered template fields and the exception
messages of the fault matrix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_sov.exceptions import SovResponseError
from airflow_provider_sov.hooks.broker import DataActBrokerHook, GenerationTarget
from airflow_provider_sov.hooks.sov import SovHook
from airflow_provider_sov.testing import broker_app
from airflow_provider_sov.testing.stack import query
from tests.conftest import EXAMPLE_CSV, SCHEDULED_REFRESH, STACK_TOKEN
from tests.harness import sov_status_body
from tests.reliability.report import REPORT
from tests.submitting_warehouse import seed_locations

SOV = "s-no-ping-hggcsk"
D1 = {"start": "10/01/2025", "end": "12/31/2025"}


def read(path: Path) -> str:
    return path.read_text(errors="replace")


def _finished_sud(hook: SovHook) -> str:
    sud = hook.initiate_update(SOV)
    hook.add_locations(sud, EXAMPLE_CSV)
    hook.start_update(sud)
    return sud


def _elsewhere(emu) -> int:
    return emu.count("elsewhere")


def test_a_redirect_to_another_host_carries_no_token(emu, fast):
    hook = SovHook(retry_policy=fast)
    sud = _finished_sud(hook)
    emu.reset_counts()
    emu.inject("update_status", "redirect", times=None)  # to the same path on another host
    with pytest.raises(SovResponseError, match="malformed JSON"):  # that host answers bytes, not JSON
        hook.get_update_status(sud)
    hook.close()
    REPORT.row(
        "Credentials and other hosts",
        case="SOV read redirected to another host",
        **{
            "requests there": _elsewhere(emu),
            "carrying a credential (must be 0)": len(emu.broker.credential_attempts),
        },
    )
    assert _elsewhere(emu) >= 1 and emu.broker.credential_attempts == []


async def test_an_async_read_redirected_to_another_host_carries_no_token(emu, fast):
    # The triggerer's path (aiohttp, redirects followed by hand): the first hop's headers stay behind.
    hook = SovHook(retry_policy=fast)
    sud = _finished_sud(hook)
    hook.close()
    emu.reset_counts()
    emu.inject("update_status", "redirect", times=None)
    try:
        with pytest.raises(SovResponseError, match="malformed JSON"):
            await sov_status_body(hook, "update", sud)
    finally:
        await hook.aclose()
    assert _elsewhere(emu) >= 1 and emu.broker.credential_attempts == []


def test_a_redirect_on_the_same_host_keeps_the_token(emu, fast):
    # The contrast that makes the test above mean something: same origin, credentials kept.
    hook = SovHook(retry_policy=fast)
    sud = _finished_sud(hook)
    emu.inject("update_status", "redirect", value=f"{emu.url}/api/v1/sov/update/{sud}", times=1)
    assert hook.get_update_status(sud)["request"]["status"] == "COMPLETE"
    hook.close()


@pytest.mark.parametrize("mode", ["login", "proxy", "session"])
def test_broker_credentials_never_follow_a_redirect_or_reach_storage(emu, fast, tmp_path, mode):
    hook = DataActBrokerHook(f"broker_{mode}", retry_policy=fast)
    hook.generate_file(1001, "D1", **D1)
    hook.download_file(GenerationTarget.of(1001, "D1"), tmp_path / "out")  # storage: signature only
    emu.inject("check_generation_status", "redirect", times=None)
    with pytest.raises(SovResponseError, match="malformed JSON"):
        hook.check_generation_status(1001, "D1")
    hook.close()
    REPORT.row(
        "Credentials and other hosts",
        case=f"Broker ({mode}): signed storage URL, then a read redirected to another host",
        **{
            "requests there": emu.count("storage") + _elsewhere(emu),
            "carrying a credential (must be 0)": len(emu.broker.credential_attempts),
        },
    )
    assert emu.count("storage") == 1 and _elsewhere(emu) >= 1
    assert emu.broker.credential_attempts == []


def test_an_output_url_on_another_host_is_fetched_without_the_token(emu, tmp_path):
    hook = SovHook()
    output = {"url": f"{emu.elsewhere_url}/exports/report.json", "filename": "report.json"}
    saved = hook.download_output(output, tmp_path)
    hook.close()
    REPORT.row(
        "Credentials and other hosts",
        case="SOV output whose absolute URL is on another host",
        **{
            "requests there": _elsewhere(emu),
            "carrying a credential (must be 0)": len(emu.broker.credential_attempts),
        },
    )
    assert (tmp_path / saved.filename).read_bytes() == b"bytes from another host\n"
    assert _elsewhere(emu) == 1 and emu.broker.credential_attempts == []


# --- Every example DAG on the real Airflow -----------------------------------------------------

#: The examples that wait for a person's yes before they publish (each waits up to 600 s, not 180).
ASKS_A_PERSON = ("broker_dabs_monthly", "broker_fabs_twice_monthly")
EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "example_dags"
EXAMPLES = sorted(
    p.stem
    for p in EXAMPLE_DIR.glob("*.py")
    if "dag_id=" in p.read_text()  # not warehouse_load.py, the module two of them share
)


@pytest.mark.after_every_stack_test
@pytest.mark.airflow_cli
@pytest.mark.timeout(600)
def test_every_example_dag_on_real_airflow_leaks_no_secret(stack, tmp_path):
    emulator, home = stack.emulator, stack.home
    sov_ids = [emulator.sov.add_sov(f"s-no-ping-sec{i:03d}") for i in range(2)]
    confs = {
        "sov_update_mapped": {"sov_ids": sov_ids, "destination": str(tmp_path / "mapped")},
        "sov_output_export": {
            "sov_ids": sov_ids,
            "output_format": "JSON",
            "destination": str(tmp_path / "exp"),
        },
        "broker_detached_d_files": {"cgac_code": "097", "destination": str(tmp_path / "agency")},
        "sov_parse_new": {"destination": str(tmp_path / "parse")},
        "broker_d_files": {
            "submission_id": 1001,
            "start": "01/01/2026",
            "end": "03/31/2026",
            "destination": str(tmp_path / "d"),
        },
        "broker_submission_lifecycle": {"submission_id": 7101, "destination": str(tmp_path / "lifecycle")},
        "sov_find_updates": {"client_ref": "sov_warehouse_refresh/", "sov_id": ""},
        "sov_new_from_warehouse": {"portfolio": "harbor", "destination": str(tmp_path / "new")},
    }
    # Every example with no schedule has its run here, so the scan passes alone as in the suite.
    unscheduled = {d for d in EXAMPLES if "schedule=None" in (EXAMPLE_DIR / f"{d}.py").read_text()}
    assert unscheduled <= confs.keys(), f"no conf here for {sorted(unscheduled - confs.keys())}"
    emulator.broker.add_submission(  # validated: the lifecycle's waits end at once
        7101, reporting_start_date="01/01/2026", reporting_end_date="03/31/2026", reporting_period="Q2/2026"
    )
    seed_locations(stack.warehouse)

    def succeeded(dag_id: str) -> bool:
        return bool(query(home, "select 1 from dag_run where dag_id=? and state='success'", dag_id))

    runs = {dag_id: stack.trigger(dag_id, conf) for dag_id, conf in confs.items() if not succeeded(dag_id)}
    for dag_id, run_id in runs.items():
        assert stack.wait_run(dag_id, run_id) == "success", dag_id

    # The scheduled ones (refresh, warehouse loads) and the event-driven export run by themselves;
    # the submitting ones publish once a person approves, as they ask (answered here, as in the UI).
    # A run Airflow's own stale-event race failed is cleared, as wait_run does for the runs above.
    def approved_and_succeeded(dag_id: str) -> bool:
        stack.answer(dag_id)  # a submitting example's question, if it asked one by now
        if dag_id == "sov_update_refresh":  # its first update is held for its own test: alone, end it
            with emulator.lock:
                held = [
                    j.job_id for j in emulator.sov.jobs.values() if SCHEDULED_REFRESH in str(j.client_ref)
                ]
            for job_id in held:
                emulator.sov.finish_now(job_id)  # a job already ended stays as it is
        for (run_id,) in query(home, "select run_id from dag_run where dag_id=? and state='failed'", dag_id):
            stack.clear_if_raced(dag_id, run_id)
        return succeeded(dag_id)

    for dag_id in EXAMPLES:
        seconds = 600 if dag_id in ASKS_A_PERSON else 180
        stack.wait_for(lambda d=dag_id: approved_and_succeeded(d), seconds, f"a successful run of {dag_id}")

    def failed_try_logged() -> bool:
        logs = (p for p in home.glob("logs/dag_id=*/**/*") if p.is_file() and "trigger" not in p.name)
        return any("Task failed with exception" in t and "HTTP 500" in t for t in map(read, logs))

    if not failed_try_logged():
        # Alone, no try has failed on a server error yet (in the suite, the retry test made one):
        # make one, so that an exception's traceback and the server's message are among what is scanned.
        emulator.inject("start_update", "status", status=500, times=1)
        emulator.sov.script_next("update", "SUCCESS", duration=15)  # see the retry test
        retry_run = stack.trigger("e2e_retry", {"destination": str(tmp_path / "retry")})
        assert stack.wait_run("e2e_retry", retry_run) == "success"

    # A signed storage URL's query is the credential for its file: its signature is a secret too.
    signatures = [q.partition("=")[2] for q in emulator.broker.signed]
    secrets = [
        STACK_TOKEN,
        broker_app.PASSWORD,
        broker_app.CLIENT_SECRET,
        *emulator.broker.issued,
        *signatures,
    ]
    assert len(emulator.broker.issued) > 1  # the Broker tasks did log in: there are sessions to find
    assert signatures  # the Broker files were fetched from signed URLs: there are signatures to find
    sources = {
        "task logs": [p for p in home.glob("logs/dag_id=*/**/*") if p.is_file() and "trigger" not in p.name],
        "trigger logs": [p for p in home.glob("logs/dag_id=*/**/*trigger*") if p.is_file()],
        "service logs": [p for p in stack.root.glob("*.log")],
    }
    texts = {name: [read(p) for p in paths] for name, paths in sources.items()}
    texts["XComs"] = [str(v) for (v,) in query(home, "select value from xcom")]
    texts["rendered template fields"] = [
        json.dumps(row, default=str)
        for row in query(home, "select rendered_fields from rendered_task_instance_fields")
    ]
    texts["task instance notes and errors"] = [
        json.dumps(row, default=str) for row in query(home, "select * from task_instance")
    ]
    for where, items in texts.items():
        leaks = [s for s in secrets for text in items if s in text]
        REPORT.row(
            "Secrets in what users and other systems see",
            where=f"{where} ({len(EXAMPLES)} example DAGs and the test DAGs, real Airflow)",
            items=len(items),
            **{"occurrences (must be 0)": len(leaks)},
        )
        assert items, f"nothing to scan in {where}"
        assert leaks == [], where
    # The scan included the log of a failed try, with its exception and the server's message.
    assert any("Task failed with exception" in text and "HTTP 500" in text for text in texts["task logs"])
