"""Bad input gets a clear error naming the problem, and nothing is sent (emulator counters)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_sov.exceptions import SovBadRequestError, SovConnectionConfigError, SovInputError
from airflow_provider_sov.hooks.sov import SovHook

SOV = "s-no-ping-hggcsk"
SUD = "s-no-ping-hggcsk-r001"


def csv_file(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


CSV_CASES = [
    pytest.param(None, "was not found", id="missing"),
    pytest.param(b"", "is empty", id="empty"),
    pytest.param(b"item_key,bldg_name\n", "no data rows", id="header-only"),
    pytest.param(b"bldg_name,city\nHQ,Austin\n", "no identifying column", id="no-identifying-column"),
    pytest.param(b"sheet_name,bldg_name\nSOV,HQ\n", "no identifying column", id="sheet-name-without-row"),
    pytest.param(
        b"item_key,bldg_name\nb-1,Caf\xe9\n",
        r"not UTF-8: line 2 has an invalid byte \(byte offset 26",
        id="latin-1",
    ),
    pytest.param(
        b"item_key,bldg_name\n" + b"".join(b"b-%d,HQ\n" % i for i in range(2, 40_000)) + b"b-x,Caf\xe9\n",
        r"not UTF-8: line 40000 has an invalid byte",
        id="latin-1-far-in",
    ),
    pytest.param(b"item_key,bldg_name\nb-1,HQ,extra\n", "line 2: 3 fields but the header has 2", id="wider"),
    pytest.param(b"item_key,bldg_name\nb-1,HQ\nb-2\n", "line 3: 1 fields but the header has 2", id="ragged"),
    pytest.param(b"item_key,city,city\nb-1,A,B\n", "'city' appears twice", id="duplicate-column"),
    pytest.param(b"item_key,,city\nb-1,A,B\n", "have no name", id="unnamed-column"),
]


@pytest.mark.parametrize(("content", "message"), CSV_CASES)
def test_bad_locations_csv_is_refused_before_any_call(hook, sov_emulator, tmp_path, content, message):
    path = tmp_path / "corrections.csv" if content is None else csv_file(tmp_path, "corrections.csv", content)
    with pytest.raises(SovInputError, match=message) as info:
        hook.add_locations(SUD, path)
    assert "corrections.csv" in str(info.value)
    assert sov_emulator.count("add_locations") == 0


def test_good_csv_with_bom_and_blank_lines_passes(hook, sov_emulator, tmp_path):
    sud_id = hook.initiate_update(SOV)
    path = csv_file(
        tmp_path,
        "c.csv",
        '\ufeffsheet_name,sheet_row_number,bldg_name\r\nSOV,2,"HQ, main"\r\n\r\nSOV,3,Annex\r\n'.encode(),
    )
    summary = hook.add_locations(sud_id, path)
    assert (summary.rows, summary.columns) == (2, ("sheet_name", "sheet_row_number", "bldg_name"))
    assert sov_emulator.sov.jobs[sud_id].rows_received == 2


CALLS = [
    pytest.param(lambda h: h.get_update_status(""), "sud_id is empty", id="empty-id"),
    pytest.param(lambda h: h.get_update_status("s-no/ping"), "not a valid ID", id="slash-in-id"),
    pytest.param(lambda h: h.get_update_status("s-no ping"), "not a valid ID", id="space-in-id"),
    pytest.param(lambda h: h.get_parse_status("s-no-ping\n"), "not a valid ID", id="newline-in-id"),
    pytest.param(lambda h: h.get_update_status(None), "must be a string", id="none-id"),
    pytest.param(
        lambda h: h.get_or_create_output(SOV, "json", revision=-2), "below -1", id="revision-below-1"
    ),
    pytest.param(
        lambda h: h.get_or_create_output(SOV, "json", revision="1"), "must be an integer", id="revision-str"
    ),
    pytest.param(
        lambda h: h.get_or_create_output(SOV, "json", revision=True), "must be an integer", id="revision-bool"
    ),
    pytest.param(lambda h: h.get_or_create_output(SOV, ""), "non-empty string", id="empty-format"),
    pytest.param(
        lambda h: h.get_or_create_output(SOV, "json", overwrite_existing="yes"),
        "True or False",
        id="overwrite-str",
    ),
    pytest.param(
        lambda h: h.initiate_update(SOV, update_type=" "), "update_type must be a non-empty", id="update-type"
    ),
    pytest.param(
        lambda h: h.start_update(SUD, extra_data={"insured name": "x"}),
        "not plain identifiers",
        id="extra-data-key",
    ),
    pytest.param(lambda h: h.start_update(SUD, extra_data=["x"]), "must be a dict", id="extra-data-list"),
    pytest.param(
        lambda h: h.start_update(SUD, output_formats=[""]), "non-empty strings", id="empty-output-format"
    ),
    pytest.param(lambda h: h.get_history_page(page_size=0), "1 to 250", id="page-size-0"),
    pytest.param(lambda h: h.get_history_page(page_size=251), "1 to 250", id="page-size-251"),
    pytest.param(lambda h: h.get_history_page(start="2026-01-01"), "YYYYmmddHHMMSS", id="history-start"),
]


@pytest.mark.parametrize(("call", "message"), CALLS)
def test_bad_arguments_are_refused_before_any_call(hook, sov_emulator, call, message):
    with pytest.raises(SovInputError, match=message):
        call(hook)
    assert sum(sov_emulator.counts.values()) == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("sov.xlsx", b"", "is empty"),
        ("missing.xlsx", None, "was not found"),
    ],
)
def test_bad_parse_file_is_refused_before_any_call(hook, sov_emulator, tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SovInputError, match=message):
        hook.start_parse(path)
    with pytest.raises(SovInputError, match="document_type must be a non-empty string"):
        hook.start_parse(csv_file(tmp_path, "ok.xlsx", b"x"), document_type="")
    assert sov_emulator.count("parse") == 0


def test_format_rejected_by_server_lists_allowed_formats(hook, sov_emulator):
    with pytest.raises(SovBadRequestError) as info:
        hook.get_or_create_output(SOV, "pdf")
    message = str(info.value)
    assert "'pdf' is not available" in message and "Allowed: JSON, XLSX, CSV" in message
    assert info.value.http_status == 400 and info.value.job_id == SOV


CONNECTIONS = [
    pytest.param(None, "is not defined", id="missing"),
    pytest.param({"conn_type": "sovfixer", "host": "http://127.0.0.1:1"}, "has no token", id="no-token"),
    pytest.param(
        {"conn_type": "sovfixer", "host": "ftp://files.example", "password": "tok-123"},
        "not an http(s) URL",
        id="ftp-host",
    ),
    pytest.param(
        {
            "conn_type": "sovfixer",
            "host": "http://127.0.0.1:1",
            "password": "tok-123",
            "extra": {"verify": 3},
        },
        "extra 'verify'",
        id="bad-verify",
    ),
    pytest.param(
        {
            "conn_type": "sovfixer",
            "host": "http://127.0.0.1:1",
            "password": "tok-123",
            "extra": {"read_timeout": "soon"},
        },
        "extra 'read_timeout'",
        id="bad-timeout",
    ),
]


@pytest.mark.parametrize(("conn", "message"), CONNECTIONS)
def test_bad_connection_is_explained(monkeypatch, conn, message):
    monkeypatch.delenv("AIRFLOW_CONN_SOV_BAD", raising=False)
    if conn is not None:
        monkeypatch.setenv("AIRFLOW_CONN_SOV_BAD", json.dumps(conn))
    with pytest.raises(SovConnectionConfigError, match="sov_bad") as info:
        SovHook("sov_bad").get_update_status(SUD)
    assert message in str(info.value)
    assert "tok-123" not in str(info.value)


def test_hook_constructor_does_no_io(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE", raising=False)
    hook = SovHook("nowhere")  # an undefined connection is only noticed when used
    assert hook.conn_id == "nowhere"
    with pytest.raises(SovConnectionConfigError):
        _ = hook.settings


def test_host_forms(monkeypatch):
    cases = {
        "": "https://api.sovfixer.com",
        "api.eu.sovfixer.com": "https://api.eu.sovfixer.com",
        "https://api-staging.sovfixer.com/": "https://api-staging.sovfixer.com",
        "http://127.0.0.1:8765": "http://127.0.0.1:8765",
    }
    for host, base in cases.items():
        monkeypatch.setenv(
            "AIRFLOW_CONN_SOV_HOSTS",
            json.dumps({"conn_type": "sovfixer", "host": host, "password": "tok-123"}),
        )
        assert SovHook("sov_hosts").settings.base_url == base
