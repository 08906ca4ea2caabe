"""Every SovHook method over real HTTP against the emulator."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import pytest

from airflow_provider_sov.hooks.sov import SovHook
from airflow_provider_sov.hooks.sov_jobs import SovJobRef, classify
from tests.conftest import finish
from tests.harness import sov_status_body

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_sov.testing.server import EmulatorServer

SOV = "s-no-ping-hggcsk"


def run_update(hook: SovHook, server: EmulatorServer, csv: Path, formats: list[str] | None = None) -> str:
    sud_id = hook.initiate_update(SOV, update_type="SCRUB", client_ref="nightly")
    hook.add_locations(sud_id, csv)
    hook.start_update(sud_id, extra_data={"insured_name": "Acme Corp"}, output_formats=formats or ["json"])
    return sud_id


def test_update_lifecycle_and_download(hook, sov_emulator, corrections_csv, tmp_path):
    sud_id = run_update(hook, sov_emulator, corrections_csv, ["json", "xlsx"])
    assert sud_id == f"{SOV}-r001"

    first = classify(hook.get_update_status(sud_id), SovJobRef(sud_id))
    assert first.status == "PENDING" and not first.terminal and first.extras["outputs"] == []

    sov_emulator.advance(5)
    middle = classify(hook.get_update_status(sud_id), SovJobRef(sud_id))
    percent, _, health = middle.detail.partition(
        "% - "
    )  # the progress line's "35% - Reading locations file."
    assert middle.status == "IN_PROGRESS" and 0 < float(percent) < 100 and health

    finish(sov_emulator)
    done = classify(hook.get_update_status(sud_id), SovJobRef(sud_id))
    assert done.succeeded and done.extras["result_status"] == "SUCCESS"
    names = sorted(o["filename"] for o in done.extras["outputs"])
    assert names[0].startswith("Acme Corp ") and names[0].endswith(".json")
    assert names[1].endswith(".xlsx")

    files = [hook.download_output(o, tmp_path, job_id=sud_id) for o in done.extras["outputs"]]
    for f in files:
        data = (tmp_path / f.filename).read_bytes()
        assert data == sov_emulator.sov.file_bytes(sud_id, f.filename)
        assert f.size == len(data) and f.sha256 == hashlib.sha256(data).hexdigest()
    payload = json.loads(
        (tmp_path / next(f.filename for f in files if f.filename.endswith(".json"))).read_text()
    )
    by_key = {b["item_key"]: b for b in payload["buildings"]}
    assert by_key["b-hggcsk-0001"]["bldg_name"] == "Acme HQ"  # the correction was applied
    assert payload["revision"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no temporary files left


def test_failed_update_carries_result(hook, sov_emulator, corrections_csv):
    sov_emulator.sov.script_next("update", "FAILED_TO_PROCESS", "row 3: geocoder unavailable")
    sud_id = run_update(hook, sov_emulator, corrections_csv)
    finish(sov_emulator)
    status = classify(hook.get_update_status(sud_id), SovJobRef(sud_id))
    assert status.terminal and not status.succeeded
    assert (status.status, status.extras["result_status"], status.message) == (
        "FAILED",
        "FAILED_TO_PROCESS",
        "row 3: geocoder unavailable",
    )


def test_an_outcome_scripted_for_a_client_ref_waits_for_that_job(hook, sov_emulator, corrections_csv):
    # Another DAG's update, started meanwhile, does not take the outcome meant for this run's.
    sov_emulator.sov.script_next("update", "FAILED_TO_PROCESS", "row 3 has no city", client_ref="run-b")
    other = run_update(hook, sov_emulator, corrections_csv)  # client_ref "nightly"
    ours = hook.initiate_update(SOV, client_ref="run-b")
    hook.add_locations(ours, corrections_csv)
    hook.start_update(ours)
    finish(sov_emulator)
    assert classify(hook.get_update_status(other), SovJobRef(other)).succeeded
    status = classify(hook.get_update_status(ours), SovJobRef(ours))
    assert (status.succeeded, status.message) == (False, "row 3 has no city")


def test_add_locations_after_start_is_conflict(hook, sov_emulator, corrections_csv):
    from airflow_provider_sov.exceptions import SovConflictError

    sud_id = run_update(hook, sov_emulator, corrections_csv)
    with pytest.raises(SovConflictError, match="SUD not pending") as info:
        hook.add_locations(sud_id, corrections_csv)
    assert info.value.http_status == 409 and info.value.job_id == sud_id


def test_unknown_csv_attribute_shows_server_message(hook, sov_emulator, tmp_path):
    from airflow_provider_sov.exceptions import SovBadRequestError

    csv = tmp_path / "typo.csv"
    csv.write_text("sheet_name,sheet_row_numbah,bldg_name\nSOV,2,HQ\n")
    sud_id = hook.initiate_update(SOV)
    with pytest.raises(SovBadRequestError, match="sheet_row_numbah: unknown attribute"):
        hook.add_locations(sud_id, csv, check=False)


def test_parse_new_sov(hook, sov_emulator, tmp_path):
    workbook = tmp_path / "Harbor Storage.xlsx"
    workbook.write_bytes(b"PK\x03\x04 not a real workbook, but bytes")
    sov_id = hook.start_parse(
        workbook, output_formats=["json", "csv"], extra_data={"insured_name": "Harbor"}, client_ref="r-1"
    )
    assert sov_id.startswith("s-no-ping-")
    assert classify(hook.get_parse_status(sov_id), SovJobRef(sov_id)).status == "PENDING"
    sov_emulator.advance(sov_emulator.job_seconds * 0.8)
    assert classify(hook.get_parse_status(sov_id), SovJobRef(sov_id)).status == "ENRICHING"
    finish(sov_emulator)
    done = classify(hook.get_parse_status(sov_id), SovJobRef(sov_id))
    assert done.succeeded
    assert sorted(o["filename"].rsplit(".", 1)[1] for o in done.extras["outputs"]) == ["csv", "json"]
    assert all(o["filename"].startswith("Harbor ") for o in done.extras["outputs"])


def test_output_formats(hook, sov_emulator):
    formats = hook.list_output_formats()
    assert [f["output_format"] for f in formats] == ["JSON", "XLSX", "CSV"]
    assert hook.list_output_formats(SOV) == formats


def test_get_or_create_output_cached_and_generated(hook, sov_emulator, tmp_path):
    cached = hook.get_or_create_output(SOV, "JSON")
    assert cached["request"]["id"].startswith("immediately-done-")
    assert classify(cached, SovJobRef(cached["request"]["id"])).succeeded

    fresh = hook.get_or_create_output(SOV, "xlsx", revision=0)
    request_id = fresh["request"]["id"]
    assert fresh["request"]["status"] == "PENDING" and "result" not in fresh
    finish(sov_emulator)
    done = classify(hook.get_output_request(request_id), SovJobRef(request_id))
    assert done.succeeded and done.extras["outputs"][0]["filename"].endswith(".xlsx")
    saved = hook.download_output(done.extras["outputs"][0], tmp_path)
    assert saved.size == len(sov_emulator.sov.file_bytes(SOV, saved.filename))

    again = hook.get_or_create_output(SOV, "xlsx", revision=0)
    assert again["request"]["id"].startswith("immediately-done-")
    regenerated = hook.get_or_create_output(SOV, "xlsx", revision=0, overwrite_existing=True)
    assert regenerated["request"]["status"] == "PENDING"


def test_history_feed_pages_overlap_and_dedupe(hook, sov_emulator, corrections_csv):
    run_update(hook, sov_emulator, corrections_csv)
    finish(sov_emulator)
    page = hook.get_history_page(page_size=2)
    assert len(page["results"]) == 2 and page["cursor_id"] == page["results"][-1]["id"]
    records = list(hook.iter_history(page_size=2))
    ids = [r["id"] for r in records]
    # Each record once, in the feed's order (record IDs are opaque: their order means nothing).
    assert ids == list(dict.fromkeys(ids)) == [r["id"] for r in sov_emulator.sov.history]
    assert records[-1]["record_type"] == "SCRUB" and records[-1]["client_ref"] == "nightly"
    # From a cursor: only what came after it (the overlapping record is not repeated).
    assert [r["id"] for r in hook.iter_history(cursor_id=ids[-2])] == ids[-1:]
    assert list(hook.iter_history(cursor_id=ids[-1])) == []
    item = hook.get_history_item(f"{SOV}-r001")  # an SOV or SUD ID, not a record's own ID
    assert set(item) == {"sovid", "previous_sovid", "original_sovid", "sheet_name", "outputs"}
    assert item["sovid"] == SOV and item["outputs"][0]["url"].endswith(".json")
    assert item["outputs"][0]["output_format"] == "JSON" and "revision" not in item


def test_relative_output_urls_resolve_against_connection_host(sov_connection, sov_emulator, policy, tmp_path):
    sov_emulator.relative_urls = True
    hook = SovHook(retry_policy=policy)
    status = classify(hook.get_parse_status(SOV), SovJobRef(SOV))
    assert status.extras["outputs"][0]["url"].startswith("/api/v1/")
    saved = hook.download_output(status.extras["outputs"][0], tmp_path)
    assert (tmp_path / saved.filename).read_bytes() == sov_emulator.sov.file_bytes(SOV, saved.filename)


def test_test_connection(hook, sov_emulator, monkeypatch):
    ok, message = hook.test_connection()
    assert ok and "3 output format(s)" in message
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOVFIXER_DEFAULT",
        json.dumps({"conn_type": "sovfixer", "host": sov_emulator.url, "password": "wrong-token"}),
    )
    ok, message = SovHook().test_connection()
    assert not ok and "HTTP 401" in message and "Invalid token" in message
    assert "wrong-token" not in message


async def test_async_twins_match_sync(hook, sov_emulator, corrections_csv):
    sud_id = run_update(hook, sov_emulator, corrections_csv)
    finish(sov_emulator)
    request_id = hook.get_or_create_output(SOV, "csv")["request"]["id"]
    finish(sov_emulator)
    ahook = SovHook(retry_policy=hook.retry_policy)
    try:
        assert await sov_status_body(ahook, "update", sud_id) == hook.get_update_status(sud_id)
        assert await sov_status_body(ahook, "parse", SOV) == hook.get_parse_status(SOV)
        assert await sov_status_body(ahook, "output", request_id) == hook.get_output_request(request_id)
    finally:
        await ahook.aclose()
