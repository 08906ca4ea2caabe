"""Where the emulator and the provider follow the real SOV Fixer: the vendor client's shapes and joins."""

from __future__ import annotations

import json
import typing

import pytest

from airflow_provider_sov.exceptions import (
    SovAuthError,
    SovBadRequestError,
    SovConnectionConfigError,
    SovNotFoundError,
)
from airflow_provider_sov.hooks.sov import SovHook
from tests.conftest import finish

SOV = "s-no-ping-hggcsk"


def vendor_keys(name: str) -> set[str]:
    from pingintel_api.sov_fixer import types

    return set(typing.get_type_hints(getattr(types, name)))


def finished_update(hook: SovHook, server, csv, **initiate) -> str:
    sud_id = hook.initiate_update(SOV, **initiate)
    hook.add_locations(sud_id, csv)
    hook.start_update(sud_id, output_formats=["json", "xlsx"])
    finish(server)
    return sud_id


# --- 1. The history feed and its items, shaped as the vendor client's types say ------------------


def test_history_item_and_records_have_the_vendor_clients_shape(hook, sov_emulator, corrections_csv):
    sud_id = finished_update(hook, sov_emulator, corrections_csv)
    raw = hook.session.get(
        f"{sov_emulator.url}/api/v1/sov/history/{sud_id}",
        headers={"Authorization": f"Token {sov_emulator.token}"},
    ).json()
    assert set(raw) == vendor_keys("SOVHistoryResponse")
    assert set(raw["result"]) == vendor_keys("SOVHistoryResult")
    assert "revision" not in raw["result"]
    assert {frozenset(o) for o in raw["result"]["outputs"]} == {
        frozenset(vendor_keys("SOVHistoryOutputItem"))
    }
    # The hook hands back what is under "result".
    assert hook.get_history_item(sud_id) == raw["result"]
    record = hook.get_history_page()["results"][-1]
    assert set(record) == vendor_keys("HistoryItem") and isinstance(record["id"], str)


# --- 3. Names the API may accept go to the API, not refused locally -------------------------------


def test_loss_run_and_any_workbook_extension_reach_the_api(hook, sov_emulator, tmp_path):
    workbook = tmp_path / "losses.xlsx"
    workbook.write_bytes(b"workbook")
    sov_id = hook.start_parse(workbook, document_type="loss_run")
    assert sov_emulator.sov.sovs[sov_id].document_type == "LOSS_RUN"  # the documented spelling
    other = tmp_path / "sov.ods"
    other.write_bytes(b"spreadsheet")
    with pytest.raises(SovBadRequestError, match=r"Unsupported file type: sov\.ods"):
        hook.start_parse(other)  # the API's own answer, verbatim
    assert sov_emulator.count("parse") == 2


def test_an_undocumented_update_type_is_the_apis_to_judge(hook, sov_emulator):
    with pytest.raises(SovBadRequestError, match='update_type: "NIGHTLY" is not a valid choice') as info:
        hook.initiate_update(SOV, update_type="NIGHTLY")
    assert info.value.http_status == 400 and sov_emulator.count("initiate_update") == 1
    assert hook.initiate_update(SOV, update_type="scrub")  # a documented name, in any case
    assert sov_emulator.sov.jobs[f"{SOV}-r001"].update_type == "SCRUB"


# --- 4. A relative output URL keeps the connection's path prefix ----------------------------------


@pytest.mark.parametrize(
    ("host", "url", "fetched"),
    [
        (
            "https://gateway.example/sovfixer",
            "/api/v1/sov/s-1/output/a.json",
            "https://gateway.example/sovfixer/api/v1/sov/s-1/output/a.json",
        ),
        (
            "https://gateway.example/",
            "/api/v1/sov/s-1/output/a.json",
            "https://gateway.example/api/v1/sov/s-1/output/a.json",
        ),
        (
            "https://gateway.example/sovfixer",
            "https://files.example/x/a.json",
            "https://files.example/x/a.json",
        ),
    ],
)
def test_relative_output_urls_join_as_the_vendor_client_joins_them(
    monkeypatch, policy, requests_mock, tmp_path, host, url, fetched
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOV_PREFIX", json.dumps({"conn_type": "sovfixer", "host": host, "password": "t"})
    )
    requests_mock.get(fetched, content=b"{}")
    SovHook("sov_prefix", retry_policy=policy).download_output({"url": url, "filename": "a.json"}, tmp_path)
    assert requests_mock.last_request.url == fetched
    assert (tmp_path / "a.json").read_bytes() == b"{}"


# --- 5. Credentials only to the connection's host, unless it trusts another ------------------------


def other_host_output(server, sud_id: str, filename: str) -> dict:
    """The same file, but addressed by ``localhost``: another origin, the same server."""
    return {
        "url": f"http://localhost:{server.port}/api/v1/sov/{sud_id}/output/{filename}",
        "filename": filename,
    }


def test_a_download_on_another_host_says_the_token_was_withheld(
    hook, sov_emulator, corrections_csv, tmp_path
):
    sud_id = finished_update(hook, sov_emulator, corrections_csv)
    name = sov_emulator.sov.jobs[sud_id].outputs[0]["filename"]
    with pytest.raises(SovAuthError) as info:
        hook.download_output(other_host_output(sov_emulator, sud_id, name), tmp_path)
    message = str(info.value)
    assert "HTTP 401" in message and f"withheld on purpose: localhost:{sov_emulator.port}" in message
    assert "'trusted_hosts'" in message and sov_emulator.token not in message
    assert list(tmp_path.iterdir()) == []


def test_a_trusted_host_gets_the_token(sov_emulator, corrections_csv, monkeypatch, policy, tmp_path):
    conn = {
        "conn_type": "sovfixer",
        "host": sov_emulator.url,
        "password": sov_emulator.token,
        "extra": {"trusted_hosts": f"http://localhost:{sov_emulator.port}"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SOVFIXER_DEFAULT", json.dumps(conn))
    hook = SovHook(retry_policy=policy)
    sud_id = finished_update(hook, sov_emulator, corrections_csv)
    name = sov_emulator.sov.jobs[sud_id].outputs[0]["filename"]
    saved = hook.download_output(other_host_output(sov_emulator, sud_id, name), tmp_path)
    assert (tmp_path / saved.filename).read_bytes() == sov_emulator.sov.file_bytes(sud_id, name)


@pytest.mark.parametrize(
    ("trusted", "origins"),
    [
        ("files.example.com", ("https://files.example.com:443",)),
        (
            "files.example.com, http://127.0.0.1:9000",
            ("https://files.example.com:443", "http://127.0.0.1:9000"),
        ),
        (["https://dl.example:8443"], ("https://dl.example:8443",)),
        ("", ()),
    ],
)
def test_trusted_hosts_are_read_as_origins(monkeypatch, trusted, origins):
    conn = {"conn_type": "sovfixer", "password": "t", "extra": {"trusted_hosts": trusted}}
    monkeypatch.setenv("AIRFLOW_CONN_SOV_TRUST", json.dumps(conn))
    assert SovHook("sov_trust").settings.trusted_origins == origins


@pytest.mark.parametrize(
    ("host", "url", "gets_the_token"),
    [
        ("http://127.0.0.1:8765/gw/", "http://127.0.0.1:8765/gw/api/v1/sov/x", True),
        ("http://127.0.0.1:8765/gw/", "http://127.0.0.1:8765/other/path", True),  # outside the prefix
        ("http://127.0.0.1:8765/gw/", "http://127.0.0.1:8765/gw", True),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/api/v1/sov/x", True),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765.evil.example/x", False),
        ("http://127.0.0.1:8765", "http://127.0.0.1:87650/x", False),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765@evil.example/x", False),
        ("http://127.0.0.1:8765", "https://127.0.0.1:8765/x", False),
        ("http://127.0.0.1:8765", "http://localhost:8765/x", False),
    ],
)
def test_credentials_go_only_to_the_connections_origin(monkeypatch, host, url, gets_the_token):
    from airflow_provider_sov._shared.connection import trusted

    conn = {"conn_type": "sovfixer", "host": host, "password": "t"}
    monkeypatch.setenv("AIRFLOW_CONN_SOV_TRUST", json.dumps(conn))
    assert trusted(url, SovHook("sov_trust").settings) is gets_the_token


def test_a_bad_trusted_host_is_a_clear_config_error(monkeypatch):
    conn = {"conn_type": "sovfixer", "password": "t", "extra": {"trusted_hosts": "ftp://files.example"}}
    monkeypatch.setenv("AIRFLOW_CONN_SOV_TRUST", json.dumps(conn))
    with pytest.raises(SovConnectionConfigError, match=r"'trusted_hosts' entry 'ftp://files\.example'"):
        SovHook("sov_trust").settings  # noqa: B018


# --- 10. A 404 on a route is not about the job ---------------------------------------------------


def test_a_404_on_a_route_speaks_of_the_host_not_the_job(sov_emulator, monkeypatch, policy):
    conn = {
        "conn_type": "sovfixer",
        "host": f"{sov_emulator.url}/wrong-prefix",
        "password": sov_emulator.token,
    }
    monkeypatch.setenv("AIRFLOW_CONN_SOV_PREFIXED", json.dumps(conn))
    with pytest.raises(SovNotFoundError) as info:
        SovHook("sov_prefixed", retry_policy=policy).get_update_status(f"{SOV}-r001")
    message = str(info.value)
    assert "path prefix" in message and "has no such route" in message
    assert "exists for this account" not in message


def test_a_404_on_a_job_still_says_to_check_the_id(hook, sov_emulator):
    with pytest.raises(SovNotFoundError) as info:
        hook.get_update_status(f"{SOV}-r404")
    assert f"SUD '{SOV}-r404' exists for this account" in str(info.value)
