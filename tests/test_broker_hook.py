"""DataActBrokerHook: auth mode from the connection, headers, login and connection test."""

from __future__ import annotations

import json

import pytest

from airflow_provider_sov.exceptions import SovConnectionConfigError
from airflow_provider_sov.hooks.broker import DataActBrokerHook

PROXY = "https://api.fiscal.treasury.gov/ap/exp/v1/data-act-broker"


def broker(monkeypatch, policy, **conn):
    monkeypatch.setenv("AIRFLOW_CONN_BROKER_T", json.dumps({"conn_type": "data_act_broker", **conn}))
    return DataActBrokerHook("broker_t", retry_policy=policy)


@pytest.mark.parametrize(
    ("conn", "mode"),
    [
        ({"host": PROXY + "/", "login": "cid", "password": "csecret"}, "proxy"),
        ({"password": "sess-1234"}, "session"),
        ({"host": "http://localhost:9999", "login": "me@agency.gov", "password": "pw-1234"}, "login"),
        (
            {
                "host": "http://localhost:9999",
                "login": "me",
                "password": "s-1234",
                "extra": {"auth_mode": "session"},
            },
            "session",
        ),
    ],
)
def test_auth_mode_is_chosen_from_the_connection(monkeypatch, policy, conn, mode):
    assert broker(monkeypatch, policy, **conn).auth_mode() == mode


def test_proxy_without_client_id_is_explained(monkeypatch, policy):
    with pytest.raises(SovConnectionConfigError, match="no Login"):
        broker(monkeypatch, policy, host=PROXY, password="csecret-1").auth_mode()


def test_proxy_headers_and_bare_routes(monkeypatch, policy, requests_mock):
    hook = broker(monkeypatch, policy, host=PROXY + "/", login="cid", password="csecret")
    route = requests_mock.get(f"{PROXY}/v1/active_user", json={"user_id": 1})
    ok, message = hook.test_connection()
    assert ok, message
    sent = route.last_request
    assert sent.headers["client_id"] == "cid" and sent.headers["client_secret"] == "csecret"
    assert not sent.path.endswith("/")


def test_login_mode_posts_credentials_then_uses_session(monkeypatch, policy, requests_mock):
    hook = broker(
        monkeypatch, policy, host="http://localhost:9999", login="me@agency.gov", password="pw-1234"
    )
    login = requests_mock.post(
        "http://localhost:9999/v1/login", json={"session_id": "sess-abcdef", "message": "Login successful"}
    )
    session = requests_mock.get("http://localhost:9999/v1/session", json={"status": "True"})
    ok, _ = hook.test_connection()
    assert ok
    assert login.last_request.json() == {"username": "me@agency.gov", "password": "pw-1234"}
    assert session.last_request.headers["x-session-id"] == "sess-abcdef"


def test_expired_session_says_how_to_renew(monkeypatch, policy, requests_mock):
    hook = broker(monkeypatch, policy, password="sess-old-123")
    requests_mock.get("https://broker-api.usaspending.gov/v1/session", json={"status": "False"})
    ok, message = hook.test_connection()
    assert not ok and "renew the session ID" in message and "sess-old-123" not in message
    assert requests_mock.last_request.headers["x-session-id"] == "sess-old-123"
