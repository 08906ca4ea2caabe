"""The vendor's own script and client run against the emulator: the emulator is faithful."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_sov.testing.server import EmulatorServer

VENDOR_SCRIPT = Path(__file__).parent / "vendor" / "update_sov.py"
PROD_BASE = 'BASE_URL = "https://api.sovfixer.com/api/v1"'
CORRECTIONS = "item_key,bldg_name,limits__building_limit\nb-hggcsk-0002,Annex,900000\n"


@pytest.fixture
def realtime_emulator():
    with EmulatorServer(realtime=True, job_seconds=1.0, output_seconds=0.5) as server:
        yield server


def test_vendor_update_script_runs_unchanged_but_for_base_url(realtime_emulator, tmp_path):
    source = VENDOR_SCRIPT.read_text()
    assert source.count(PROD_BASE) == 1
    (tmp_path / "update_sov.py").write_text(
        source.replace(PROD_BASE, f'BASE_URL = "{realtime_emulator.url}/api/v1"')
    )
    (tmp_path / "corrections.csv").write_text(CORRECTIONS)
    env = {**os.environ, "SOVFIXER_AUTH_TOKEN": realtime_emulator.token}
    done = subprocess.run(
        [sys.executable, "update_sov.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "final status: COMPLETE" in done.stdout
    saved = [p for p in tmp_path.iterdir() if p.name.startswith("Acme Corp ")]
    assert len(saved) == 1 and saved[0].suffix == ".json"
    sud_id = "s-no-ping-hggcsk-r001"
    assert saved[0].read_bytes() == realtime_emulator.sov.file_bytes(sud_id, saved[0].name)
    assert realtime_emulator.count("initiate_update") == 1


def test_pingintel_client_update_and_get_or_create_output(realtime_emulator, tmp_path, monkeypatch):
    from pingintel_api import SOVFixerAPIClient

    monkeypatch.chdir(tmp_path)
    csv = tmp_path / "corrections.csv"
    csv.write_text(CORRECTIONS)
    client = SOVFixerAPIClient(api_url=realtime_emulator.url, auth_token=realtime_emulator.token)

    sud_id = client.update_sov(
        "s-no-ping-hggcsk",
        [str(csv)],
        extra_data={"insured_name": "Acme Corp"},
        output_formats=["json", "xlsx"],
        actually_write=True,
    )
    assert sud_id == "s-no-ping-hggcsk-r001"
    written = sorted(p.suffix for p in tmp_path.iterdir() if p.name.startswith("Acme Corp "))
    assert written == [".json", ".xlsx"]

    output = client.get_or_create_output("s-no-ping-hggcsk", "xlsx", revision=0)
    assert output["output_format"] == "XLSX" and output["scrubbed_filename"].endswith(".xlsx")
    target = tmp_path / "r0.xlsx"
    client.download_file(output["url"], str(target), actually_write=True)
    assert target.read_bytes()[:2] == b"PK"

    cached = client.get_or_create_output_async_start("s-no-ping-hggcsk", "json")
    assert cached["request"]["id"].startswith("immediately-done-")
    formats = client.list_output_formats(sovid="s-no-ping-hggcsk")
    assert {f["output_format"] for f in formats["output_formats"]} == {"JSON", "XLSX", "CSV"}


def test_pingintel_client_parse(realtime_emulator, tmp_path):
    import time

    from pingintel_api import SOVFixerAPIClient

    workbook = tmp_path / "Harbor SOV.xlsx"
    workbook.write_bytes(b"PK\x03\x04 workbook")
    client = SOVFixerAPIClient(api_url=realtime_emulator.url, auth_token=realtime_emulator.token)
    started = client.fix_sov_async_start(
        str(workbook),
        document_type="SOV",
        output_formats=["json", "csv"],
        extra_data={"insured_name": "Harbor"},
    )
    seen = set()
    for _ in range(60):
        progress = client.fix_sov_async_check_progress(started)
        seen.add(progress["request"]["status"])
        if progress["request"]["status"] in ("COMPLETE", "FAILED"):
            break
        time.sleep(0.1)
    assert progress["request"]["status"] == "COMPLETE" and progress["result"]["status"] == "SUCCESS"
    assert {"ENRICHING", "REENRICHING"} & seen
    target = tmp_path / "parsed.json"
    client.fix_sov_download(progress["result"]["outputs"][0], output_path=str(target))
    assert target.read_bytes() == realtime_emulator.sov.file_bytes(
        started["id"], progress["result"]["outputs"][0]["filename"]
    )
