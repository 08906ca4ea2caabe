"""
What a user sees in Airflow's web UI, in a real browser (headless Chromium driven by Playwright):
``make airflow``'s local Airflow, logged into; both connection forms; ``sov_update_refresh``
triggered from its page and run to success by the scheduler and the triggerer; a task's Ping Maps
button followed to the SOV's page. Screenshots land in ``.test/browser/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_sov.testing.local_airflow import USER, LocalAirflow

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.slow, pytest.mark.airflow_cli, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / ".test" / "browser"
#: Debian's Chromium (make test installs it); Playwright downloads no browser here.
CHROMIUM = os.environ.get("SOV_BROWSER", "/usr/bin/chromium")
#: Chromium as a headless root process on a machine with no outside network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: How long the UI may take to show what the test waits for (a loaded machine is slow, not wrong).
UI_WAIT_MS = 60_000


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Iterator[LocalAirflow]:
    from airflow_provider_sov.testing.stack import free_port

    with LocalAirflow(tmp_path_factory.mktemp("ui"), port=free_port(), job_seconds=3.0) as airflow:
        yield airflow


@pytest.fixture(scope="module")
def page(local):
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"No browser at {CHROMIUM}: install Debian's chromium (make test does) or set SOV_BROWSER."
        )
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(UI_WAIT_MS)
        yield page
        browser.close()


def test_a_user_logs_in_sees_both_forms_runs_the_refresh_and_follows_its_link(local, page, tmp_path):
    # Log in with what make airflow prints.
    assert f"login {USER} / {local.password}" in local.describe()
    page.goto(local.url + "/")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(local.password)
    page.screenshot(path=SHOTS / "01-login.png")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(local.url + "/")

    # Both connection types have their own form: relabelled fields and the extras as fields.
    forms = {
        "SOV Fixer": (("API token",), ("Trusted hosts", "Verify TLS")),
        "DATA Act Broker": (
            ("Login or client_id", "Password, client_secret or session ID"),
            ("Auth mode", "Broker website"),
        ),
    }
    for number, (kind, (standard, extras)) in enumerate(forms.items(), start=2):
        page.goto(local.url + "/connections")
        page.get_by_role("button", name="Add Connection").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("combobox").click()
        page.keyboard.type(kind)
        page.keyboard.press("Enter")
        for field in standard:
            dialog.get_by_text(field, exact=True).first.wait_for()
        dialog.get_by_text("Extra Fields", exact=True).click()
        for field in extras:
            dialog.get_by_text(field, exact=True).first.wait_for()
        page.screenshot(path=SHOTS / f"0{number}-{kind.lower().replace(' ', '-')}-form.png", full_page=True)

    # Trigger the refresh from its page, into a folder of this test's.
    out = tmp_path / "out"
    stack = local.stack
    assert stack is not None
    stack.wait_for(
        lambda: stack.query("select 1 from dag where dag_id=?", "sov_update_refresh"), 300, "the DAG parsed"
    )
    page.goto(local.url + "/dags/sov_update_refresh")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Folder or object-storage URL.").wait_for()  # the destination param's description
    (destination,) = [box for box in dialog.get_by_role("textbox").all() if box.input_value() == "out"]
    destination.fill(str(out))
    dialog.get_by_role("button", name="Trigger").click()
    page.wait_for_url(re.compile(r".*/dags/sov_update_refresh/runs/.+"))
    run_id = page.url.rsplit("/runs/", 1)[1].split("/")[0]
    from urllib.parse import unquote

    run_id = unquote(run_id)
    assert local.stack is not None
    assert local.stack.wait_run("sov_update_refresh", run_id, timeout=600) == "success"
    page.reload()
    page.get_by_text("success", exact=False).first.wait_for()
    page.screenshot(path=SHOTS / "04-run-succeeded.png", full_page=True)
    files = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert len(files) == 3, files

    # The wait's task carries the SOV's buttons; Ping Maps opens the SOV's page.
    page.goto(f"{local.url}/dags/sov_update_refresh/runs/{run_id}/tasks/wait_for_update/details")
    page.get_by_text("Extra Links").wait_for()
    button = page.get_by_role("link", name="Ping Maps").or_(page.get_by_role("button", name="Ping Maps"))
    page.screenshot(path=SHOTS / "05-extra-links.png", full_page=True)
    with page.context.expect_page() as opened:
        button.first.click()
    sov_page = opened.value
    sov_page.wait_for_load_state()
    assert sov_page.get_by_role("heading", name="Ping Maps").is_visible()
    assert "SOV s-no-ping-hggcsk" in sov_page.inner_text("body")
    sov_page.screenshot(path=SHOTS / "06-ping-maps-page.png")


def test_make_airflow_prints_where_and_how_to_log_in_and_ctrl_c_stops_everything(tmp_path):
    import signal
    import socket
    import subprocess
    import sys

    from airflow_provider_sov.testing.stack import free_port

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "airflow_provider_sov.testing.local_airflow",
        "--root",
        str(tmp_path),
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until it is serving (or has failed)
        assert first.startswith(f"Airflow:  http://127.0.0.1:{port}   login {USER} / "), first
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        rest = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the API server still listens"
    import psutil

    home = str(tmp_path / "home")
    left = []
    for process in psutil.process_iter(["pid", "name"]):
        try:
            if process.environ().get("AIRFLOW_HOME") == home:
                left.append(f"{process.pid} {process.name()}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    assert left == [], f"processes of its Airflow left running: {left}"
