"""Async path: one HTTP session per event loop shared by hooks, async connection lookup."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_sov._shared import hook as hook_module
from airflow_provider_sov._shared.http import RetryPolicy
from airflow_provider_sov.exceptions import SovAuthError, SovNotFoundError
from airflow_provider_sov.hooks.sov import SovHook
from tests.harness import sov_status_body

FAST = RetryPolicy(attempts=3, min_wait=0.001, max_wait=0.002)


async def test_hooks_on_one_loop_share_one_session(sov_connection, sov_emulator):
    first, second = SovHook(retry_policy=FAST), SovHook(retry_policy=FAST)
    await asyncio.gather(*(sov_status_body(h, "parse", "s-no-ping-hggcsk") for h in (first, second)))
    await sov_status_body(first, "parse", "s-no-ping-hggcsk")
    session = hook_module._POOL.get(first._async_key)
    assert session is hook_module._POOL.get(second._async_key)
    await first.aclose()
    assert not session.closed  # still used by the second hook
    await second.aclose()
    assert session.closed


async def test_async_errors_are_typed_with_server_message(sov_connection, sov_emulator):
    hook = SovHook(retry_policy=FAST)
    try:
        with pytest.raises(SovNotFoundError, match="Not found") as info:
            await sov_status_body(hook, "update", "s-no-ping-nope-r001")
        assert info.value.job_id == "s-no-ping-nope-r001"
        assert sov_emulator.count("update_status") == 1
    finally:
        await hook.aclose()


async def test_async_wrong_token(sov_emulator, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOV_ASYNC_BAD",
        f'{{"conn_type": "sovfixer", "host": "{sov_emulator.url}", "password": "wrong-token-99"}}',
    )
    hook = SovHook("sov_async_bad", retry_policy=FAST)
    try:
        with pytest.raises(SovAuthError, match="sov_async_bad") as info:
            await sov_status_body(hook, "parse", "s-no-ping-hggcsk")
        assert "wrong-token-99" not in str(info.value)
    finally:
        await hook.aclose()
