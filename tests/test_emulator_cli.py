"""The emulator's command line, as a new user meets it: what it prints is enough to use it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import requests


def test_help_names_both_apis():
    shown = subprocess.run(
        [sys.executable, "-m", "airflow_provider_sov.testing", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and "SOV Fixer" in shown.stdout and "DATA Act Broker" in shown.stdout
    assert "--generation-seconds" in shown.stdout


def test_the_banner_gives_every_url_and_credential_and_they_work():
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_sov.testing", "--port", "0", "--token", "tok-cli-42"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while not any(line.startswith("  export AIRFLOW_CONN_DATA_ACT_BROKER_DEFAULT") for line in lines):
            line = process.stdout.readline()
            assert line, "the emulator ended before printing its banner"
            lines.append(line.rstrip("\n"))
        text = "\n".join(lines)
        sov = json.loads(re.search(r"AIRFLOW_CONN_SOVFIXER_DEFAULT='(.*)'", text).group(1))
        broker = json.loads(re.search(r"AIRFLOW_CONN_DATA_ACT_BROKER_DEFAULT='(.*)'", text).group(1))
        assert sov["password"] == "tok-cli-42" and "token           tok-cli-42" in text
        for shown in ("broker-user / broker-password", "emulator-session-0001", "emulator-client-secret"):
            assert shown in text
        proxy = re.search(r"Treasury proxy  (\S+)", text).group(1)
        storage = re.search(r"file storage    (\S+)", text).group(1)
        formats = requests.get(
            f"{sov['host']}/api/v1/output_formats", headers={"Authorization": "Token tok-cli-42"}, timeout=5
        )
        assert formats.status_code == 200 and formats.json()["output_formats"]
        login = requests.post(
            f"{broker['host']}/v1/login",
            json={"username": broker["login"], "password": broker["password"]},
            timeout=5,
        )
        assert login.status_code == 200 and login.json()["session_id"]
        headers = {"client_id": "emulator-client", "client_secret": "emulator-client-secret"}
        assert requests.get(f"{proxy}/v1/active_user", headers=headers, timeout=5).status_code == 200
        assert requests.get(f"{storage}/files/1/x.csv", timeout=5).status_code == 403  # unsigned: refused
    finally:
        process.terminate()
        process.wait(timeout=30)
