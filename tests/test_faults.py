"""
Retry rules beyond the fault matrix (tests/reliability): how many tries, how long a Retry-After
may be, which answers are never retried, and the one case a creating call may be repeated.
"""

from __future__ import annotations

import email.utils
import socket
import time

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
from airflow_provider_sov.hooks.sov import SovHook
from tests.harness import sov_status_body

SOV = "s-no-ping-hggcsk"


@pytest.fixture
def ids(hook, sov_emulator, corrections_csv):
    sud = hook.initiate_update(SOV)
    request = hook.get_or_create_output(SOV, "xlsx")["request"]["id"]
    sov_emulator.reset_counts()
    return {"sud": sud, "request": request}


async def test_async_reads_give_up_after_exactly_the_policys_tries(sov_connection, sov_emulator, ids):
    hook = SovHook(retry_policy=RetryPolicy(attempts=3, min_wait=0.001, max_wait=0.002), timeout=(2.0, 2.0))
    try:
        sov_emulator.reset_counts()
        sov_emulator.inject("update_status", "status", status=503, times=None)
        with pytest.raises(SovServerError, match="Gave up after 3 tries"):
            await sov_status_body(hook, "update", ids["sud"])
        assert sov_emulator.count("update_status") == 3
    finally:
        await hook.aclose()


def test_retry_after_is_honoured(hook, sov_emulator, ids, sleeps):
    sov_emulator.inject("update_status", "status", status=429, retry_after="7", times=2)
    hook.get_update_status(ids["sud"])
    assert sleeps == [7.0, 7.0]


def test_retry_after_as_an_http_date_is_honoured(hook, sov_emulator, ids, sleeps):
    # RFC 9110 allows Retry-After as a date: 30 s from now, at a second's resolution.
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    sov_emulator.inject("update_status", "status", status=429, retry_after=when, times=2)
    hook.get_update_status(ids["sud"])
    assert len(sleeps) == 2 and all(28 <= s <= 31 for s in sleeps), sleeps


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


# --- Creating calls -----------------------------------------------------------------------------


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
