"""
The fault matrix: transient faults on reads and downloads are survived; creating calls are never
repeated once the server may have acted; the emulator's counters prove both.
"""

from __future__ import annotations

import socket

import pytest

from airflow_provider_sov._shared.http import RetryPolicy
from airflow_provider_sov.exceptions import (
    SovBadRequestError,
    SovNotFoundError,
    SovRateLimitError,
    SovResponseError,
    SovServerError,
    SovTransportError,
)
from airflow_provider_sov.hooks.sov import SovHook, classify
from tests.conftest import TRANSIENT_FAULTS, finish

SOV = "s-no-ping-hggcsk"

TRANSIENT = TRANSIENT_FAULTS

READS = {
    "update_status": lambda h, ids: h.get_update_status(ids["sud"]),
    "parse_status": lambda h, ids: h.get_parse_status(SOV),
    "output_request": lambda h, ids: h.get_output_request(ids["request"]),
    "output_formats": lambda h, ids: h.list_output_formats(),
    "history": lambda h, ids: h.get_history_page(),
    "history_item": lambda h, ids: h.get_history_item(1),
}


@pytest.fixture
def ids(hook, sov_emulator, corrections_csv):
    sud = hook.initiate_update(SOV)
    request = hook.get_or_create_output(SOV, "xlsx")["request"]["id"]
    sov_emulator.reset_counts()
    return {"sud": sud, "request": request}


@pytest.mark.parametrize(("kind", "options"), TRANSIENT)
@pytest.mark.parametrize("route", sorted(READS))
def test_reads_survive_transient_faults(hook, sov_emulator, ids, route, kind, options):
    clean = READS[route](hook, ids)
    sov_emulator.reset_counts()
    fault = sov_emulator.inject(route, kind, **options)
    assert READS[route](hook, ids) == clean
    assert fault.hits == 1
    assert sov_emulator.count(route) == 2


@pytest.mark.parametrize(("kind", "options"), TRANSIENT)
async def test_async_reads_survive_transient_faults(sov_connection, sov_emulator, ids, kind, options):
    hook = SovHook(retry_policy=RetryPolicy(attempts=3, min_wait=0.001, max_wait=0.002), timeout=(2.0, 2.0))
    try:
        clean = await hook.aget_update_status(ids["sud"])
        sov_emulator.reset_counts()
        sov_emulator.inject("update_status", kind, **options)
        assert await hook.aget_update_status(ids["sud"]) == clean
        assert sov_emulator.count("update_status") == 2
    finally:
        await hook.aclose()


async def test_async_reads_give_up_after_exactly_the_policys_tries(sov_connection, sov_emulator, ids):
    # The first try runs outside tenacity and the rest inside it: the count must still add up.
    hook = SovHook(retry_policy=RetryPolicy(attempts=3, min_wait=0.001, max_wait=0.002), timeout=(2.0, 2.0))
    try:
        sov_emulator.reset_counts()
        sov_emulator.inject("update_status", "status", status=503, times=None)
        with pytest.raises(SovServerError, match="Gave up after 3 tries"):
            await hook.aget_update_status(ids["sud"])
        assert sov_emulator.count("update_status") == 3
    finally:
        await hook.aclose()


def test_retry_after_is_honoured(hook, sov_emulator, ids, sleeps):
    sov_emulator.inject("update_status", "status", status=429, retry_after="7", times=2)
    hook.get_update_status(ids["sud"])
    assert sleeps == [7.0, 7.0]


def test_retry_after_too_long_fails_at_once(hook, sov_emulator, ids, sleeps):
    sov_emulator.inject("update_status", "status", status=429, retry_after="86400")
    with pytest.raises(SovRateLimitError, match="HTTP 429"):
        hook.get_update_status(ids["sud"])
    assert sleeps == [] and sov_emulator.count("update_status") == 1


def test_persistent_5xx_gives_up_with_count(hook, sov_emulator, ids):
    sov_emulator.inject("update_status", "status", status=503, times=None)
    with pytest.raises(SovServerError) as info:
        hook.get_update_status(ids["sud"])
    assert "Gave up after 4 tries" in str(info.value)
    assert info.value.job_id == ids["sud"] and info.value.http_status == 503
    assert sov_emulator.count("update_status") == 4


def test_persistent_malformed_json_is_a_clear_error(hook, sov_emulator, ids):
    sov_emulator.inject("update_status", "malformed_json", times=None)
    with pytest.raises(SovResponseError, match="malformed JSON"):
        hook.get_update_status(ids["sud"])


@pytest.mark.parametrize(
    ("status", "error"), [(400, SovBadRequestError), (404, SovNotFoundError), (409, Exception)]
)
def test_client_errors_fail_at_once(hook, sov_emulator, ids, status, error):
    sov_emulator.inject("update_status", "status", status=status)
    with pytest.raises(error, match=f"HTTP {status}"):
        hook.get_update_status(ids["sud"])
    assert sov_emulator.count("update_status") == 1


# --- Downloads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options"),
    [*TRANSIENT[:6], pytest.param("truncate", {}, id="truncated-body")],
)
def test_downloads_survive_and_leave_no_partial_file(hook, sov_emulator, tmp_path, kind, options):
    output = classify(hook.get_parse_status(SOV), SOV).outputs[0]
    sov_emulator.reset_counts()
    sov_emulator.inject("download", kind, **options)
    saved = hook.download_output(output, tmp_path)
    assert (tmp_path / saved.filename).read_bytes() == sov_emulator.sov.file_bytes(SOV, saved.filename)
    assert sov_emulator.count("download") == 2
    assert [p.name for p in tmp_path.iterdir()] == [saved.filename]


def test_download_that_always_truncates_leaves_nothing(hook, sov_emulator, tmp_path):
    output = classify(hook.get_parse_status(SOV), SOV).outputs[0]
    sov_emulator.inject("download", "truncate", times=None)
    with pytest.raises(SovTransportError, match="Gave up after 4 tries"):
        hook.download_output(output, tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- Creating calls -----------------------------------------------------------------------------

AFTER_ACTING = [
    pytest.param("reset_after", {}, SovTransportError, id="reset-after-acting"),
    pytest.param("status_after", {"status": 502}, SovServerError, id="502-after-acting"),
    pytest.param("slow_after", {"delay": 2.5}, SovTransportError, id="slower-than-read-timeout"),
]


@pytest.mark.parametrize(("kind", "options", "error"), AFTER_ACTING)
def test_initiate_update_is_never_repeated_once_sent(hook, sov_emulator, kind, options, error):
    sov_emulator.inject("initiate_update", kind, **options)
    with pytest.raises(error):
        hook.initiate_update(SOV)
    assert sov_emulator.count("initiate_update") == 1
    finish(sov_emulator, 5)  # a slow request is still processed by the server
    assert sov_emulator.sov.created["update"] == 1


@pytest.mark.parametrize(("kind", "options", "error"), AFTER_ACTING)
def test_parse_upload_is_never_repeated_once_sent(hook, sov_emulator, tmp_path, kind, options, error):
    workbook = tmp_path / "sov.xlsx"
    workbook.write_bytes(b"bytes")
    sov_emulator.inject("parse", kind, **options)
    with pytest.raises(error):
        hook.start_parse(workbook)
    assert sov_emulator.count("parse") == 1


@pytest.mark.parametrize("status", [429, 503])
def test_creating_call_not_retried_on_server_answer(hook, sov_emulator, status):
    sov_emulator.inject("initiate_update", "status", status=status, retry_after="0")
    with pytest.raises((SovRateLimitError, SovServerError)) as info:
        hook.initiate_update(SOV)
    assert info.value.job_id == SOV
    assert sov_emulator.count("initiate_update") == 1 and sov_emulator.sov.created["update"] == 0


def test_creating_call_retried_when_never_sent(sov_connection, policy, monkeypatch):
    # Nothing listens on this port: the request provably never reached a server.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOVFIXER_DEFAULT",
        f'{{"conn_type": "sovfixer", "host": "http://127.0.0.1:{port}", "password": "t0ken-x"}}',
    )
    hook = SovHook(retry_policy=policy)
    with pytest.raises(SovTransportError) as info:
        hook.initiate_update(SOV)
    message = str(info.value)
    assert "never reached the server" in message and "Gave up after 4 tries" in message
    assert "t0ken-x" not in message


def test_get_or_create_output_retries_unless_overwriting(hook, sov_emulator):
    sov_emulator.inject("get_or_create_output", "status", status=502)
    assert hook.get_or_create_output(SOV, "json")["request"]["status"] == "COMPLETE"
    assert sov_emulator.count("get_or_create_output") == 2
    sov_emulator.inject("get_or_create_output", "status_after", status=502)
    with pytest.raises(SovServerError):
        hook.get_or_create_output(SOV, "json", overwrite_existing=True)
    assert sov_emulator.count("get_or_create_output") == 3
