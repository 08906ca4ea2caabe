"""
DataActBrokerHook against the emulated Broker over real HTTP: the three auth modes, sessions that
expire, generation, signed downloads that never carry a credential, and the fault matrix.
"""

from __future__ import annotations

import json

import pytest
import requests

from airflow_provider_sov._shared.http import RetryPolicy
from airflow_provider_sov.exceptions import (
    SovAuthError,
    SovDownloadError,
    SovError,
    SovPrerequisiteError,
    SovServerError,
    SovTransportError,
)
from airflow_provider_sov.hooks.broker import ROUTES, DataActBrokerHook, GenerationTarget
from airflow_provider_sov.testing import broker_app
from tests.conftest import BROKER_AUTH_MODES, use_broker

D1 = {"start": "10/01/2025", "end": "12/31/2025"}
CREDENTIAL_HEADERS = {"authorization", "x-session-id", "client_id", "client_secret", "cookie"}
BROKER_ROUTES = set(ROUTES)


def hook_for(monkeypatch, server, mode, policy) -> DataActBrokerHook:
    use_broker(monkeypatch, server, mode)
    return DataActBrokerHook(retry_policy=policy, timeout=(2.0, 2.0))


def storage_requests(server):
    return [s for s in server.seen if s.route == "storage"]


@pytest.mark.parametrize("mode", BROKER_AUTH_MODES)
def test_each_auth_mode_generates_and_downloads_without_leaking(
    monkeypatch, broker_emulator, policy, tmp_path, mode
):
    hook = hook_for(monkeypatch, broker_emulator, mode, policy)
    assert hook.auth_mode() == mode
    first = hook.generate_file(1001, "D1", **D1)
    assert first["status"] == "waiting" and first["url"] == "#"
    broker_emulator.advance(31)
    saved = hook.download_file(GenerationTarget.of(1001, "D1"), tmp_path)

    assert (tmp_path / saved.filename).read_bytes() == broker_emulator.broker.file_bytes(first["job_id"])
    assert saved.size == len(broker_emulator.broker.file_bytes(first["job_id"]))
    assert broker_emulator.broker.credential_attempts == []
    assert storage_requests(broker_emulator) and all(
        not CREDENTIAL_HEADERS & {h.lower() for h in s.headers} for s in storage_requests(broker_emulator)
    )
    broker_calls = [s for s in broker_emulator.seen if s.route in BROKER_ROUTES]
    assert all(not s.path.split("?")[0].endswith("/") for s in broker_calls)
    expected = {"proxy": "client_secret", "session": "x-session-id", "login": "x-session-id"}[mode]
    work = [s for s in broker_calls if s.route not in ("login", "active_user")]
    assert work and all(expected in {h.lower() for h in s.headers} for s in work)
    posts = [s for s in broker_calls if s.method == "POST"]
    assert posts and all(int(s.headers.get("Content-Length", "0")) > 0 for s in posts)


def test_the_proxy_refuses_trailing_slashes_and_bare_requests(broker_emulator):
    headers = {"client_id": broker_app.CLIENT_ID, "client_secret": broker_app.CLIENT_SECRET}
    slash = requests.get(broker_emulator.proxy_url + "/v1/active_user/", headers=headers, timeout=5)
    assert slash.status_code == 404 and slash.json() == {"message": "resource_not_found"}
    bare = requests.get(broker_emulator.proxy_url + "/v1/active_user", timeout=5)
    assert bare.status_code == 401 and bare.json() == {"message": "Authentication denied"}
    wrong = requests.get(
        broker_emulator.proxy_url + "/v1/active_user", headers={**headers, "client_secret": "x"}, timeout=5
    )
    assert wrong.json() == {"message": "Invalid Client"}
    no_session = requests.get(broker_emulator.url + "/v1/check_generation_status", timeout=5)
    assert no_session.status_code == 401 and no_session.json()["message"] == "Login Required"


def test_an_empty_json_post_gets_the_brokers_500(broker_emulator):
    answer = requests.post(
        broker_emulator.url + "/v1/login", headers={"Content-Type": "application/json"}, timeout=5
    )
    assert answer.status_code == 500


@pytest.mark.parametrize(("mode", "renew_route"), [("login", "login"), ("proxy", "active_user")])
def test_an_expired_session_is_renewed_once(monkeypatch, broker_emulator, policy, mode, renew_route):
    hook = hook_for(monkeypatch, broker_emulator, mode, policy)
    hook.generate_file(1001, "D2", **D1)
    broker_emulator.broker.expire_sessions()
    assert hook.check_generation_status(1001, "D2")["status"] == "waiting"
    assert broker_emulator.count(renew_route) == 2
    assert broker_emulator.count("check_generation_status") == 2  # the 401, then the retry


async def test_an_expired_session_is_renewed_once_in_async_reads(monkeypatch, broker_emulator, policy):
    hook = hook_for(monkeypatch, broker_emulator, "login", policy)
    try:
        await hook.aread_status(GenerationTarget.of(1001, "D1"))
        broker_emulator.broker.expire_sessions()
        assert (await hook.aread_status(GenerationTarget.of(1001, "D1")))["status"] == "invalid"
        assert broker_emulator.count("login") == 2
    finally:
        await hook.aclose()


def test_a_bare_session_id_that_expired_says_how_to_renew_it(monkeypatch, broker_emulator, policy):
    hook = hook_for(monkeypatch, broker_emulator, "session", policy)
    broker_emulator.broker.expire_sessions()
    with pytest.raises(SovAuthError) as info:
        hook.check_generation_status(1001, "D1")
    text = str(info.value)
    assert "Login Required" in text and "x-session-id" in text and "data_act_broker_default" in text
    assert broker_app.SESSION_ID not in text
    assert broker_emulator.count("check_generation_status") == 1


def test_a_wrong_password_fails_clearly_without_the_password(monkeypatch, broker_emulator, policy):
    conn = {"conn_type": "data_act_broker", "host": broker_emulator.url, "login": "broker-user"}
    monkeypatch.setenv("AIRFLOW_CONN_DATA_ACT_BROKER_DEFAULT", json.dumps({**conn, "password": "hunter2-x"}))
    hook = DataActBrokerHook(retry_policy=policy)
    with pytest.raises(SovAuthError) as info:
        hook.generate_file(1001, "D1", **D1)
    assert "Invalid username and/or password" in str(info.value) and "hunter2-x" not in str(info.value)
    assert broker_emulator.count("generate_file") == 0
    ok, message = hook.test_connection()
    assert not ok and "Invalid username" in message


@pytest.mark.parametrize(
    ("submission", "file_type", "dates", "validation"),
    [(1002, "D1", D1, "A/B/C"), (1003, "E", {}, "cross-file"), (1003, "F", {}, "cross-file")],
)
def test_prerequisite_validation_is_a_typed_error(broker_hook, submission, file_type, dates, validation):
    with pytest.raises(SovPrerequisiteError) as info:
        broker_hook.generate_file(submission, file_type, **dates)
    text = str(info.value)
    assert "Must wait for completion of prerequisite validation job" in text
    assert validation in text and "retry_delay" in text and str(submission) in text
    assert info.value.http_status == 400


def test_d_files_of_a_submission_whose_abc_validations_passed_can_be_generated(broker_hook):
    assert broker_hook.generate_file(1003, "D1", **D1)["status"] == "waiting"


@pytest.mark.parametrize("mode", BROKER_AUTH_MODES)
def test_a_signed_url_on_the_brokers_own_host_gets_no_credentials(
    monkeypatch, broker_emulator, policy, tmp_path, mode
):
    """The signature is the only credential, even on the host the connection's credentials belong to."""
    from airflow_provider_sov.operators.broker import DFileDownloadOperator
    from tests.harness import make_context, run_task

    hook_for(monkeypatch, broker_emulator, mode, policy).generate_file(1001, "D1", **D1)
    broker_emulator.advance(31)
    broker_emulator.broker.storage_on_api_host = True
    task = DFileDownloadOperator(task_id="d", submission_id=1001, file_type="D1", destination=tmp_path)
    (written,) = run_task(task, make_context())["files"]
    fetched = storage_requests(broker_emulator)
    api_host = broker_emulator.url.removeprefix("http://")
    assert fetched and all(s.path.startswith("/files/") and s.headers["Host"] == api_host for s in fetched)
    assert broker_emulator.broker.credential_attempts == []
    assert (tmp_path / written["filename"]).read_bytes() == broker_emulator.broker.file_bytes(
        broker_emulator.broker.submission_files[(1001, "D1")]
    )


def test_status_semantics_never_requested_and_cache_hits(broker_hook, broker_emulator):
    assert broker_hook.check_generation_status(1001, "D1")["status"] == "invalid"
    assert broker_hook.check_generation_status(1001, "E")["status"] == "waiting"  # the trap
    assert broker_hook.generate_file(1001, "E")["status"] == "waiting"  # queued
    broker_emulator.advance(1)
    assert broker_hook.check_generation_status(1001, "E")["status"] == "invalid"  # briefly, once picked up
    broker_emulator.advance(5)
    assert broker_hook.check_generation_status(1001, "E")["status"] == "waiting"  # running
    broker_hook.generate_file(1001, "D1", **D1)
    broker_emulator.advance(31)
    broker_emulator.broker.add_submission(2001)
    hit = broker_hook.generate_file(2001, "D1", **D1)
    # A cache hit within a submission is validated before it reads finished (map_generate_status).
    assert hit["status"] == "waiting" and hit["url"] == "#"
    broker_emulator.advance(broker_emulator.broker.pickup_seconds)
    done = broker_hook.check_generation_status(2001, "D1")
    assert done["status"] == "finished" and done["url"].startswith(broker_emulator.storage_url)
    assert done["size"] is None and done["start"] == "10/01/2025"
    assert broker_emulator.broker.created == 2  # E and the first D1; the second D1 was a cache hit


def test_detached_generation_status_and_url(broker_hook, broker_emulator, tmp_path):
    job = broker_hook.generate_detached_file("D2", frec_code="1601", **D1)
    assert broker_hook.check_detached_generation_status(job["job_id"])["status"] == "waiting"
    broker_emulator.advance(31)
    url = broker_hook.get_detached_file_url(job["job_id"])
    assert url.startswith(broker_emulator.storage_url) and "Signature=" in url
    saved = broker_hook.download_file(GenerationTarget.of(job_id=job["job_id"]), tmp_path)
    assert saved.filename.startswith("File-D2_1601")
    assert broker_hook.check_detached_generation_status(987654)["status"] == "invalid"
    a_file = broker_hook.generate_detached_file("A", cgac_code="097", year=2025, period=6)
    assert a_file["status"] == "waiting" and a_file["job_id"] != job["job_id"]
    broker_emulator.advance(1)
    assert broker_hook.check_detached_generation_status(a_file["job_id"])["status"] == "invalid"


def test_an_expired_signed_url_is_refreshed_once(broker_hook, broker_emulator, tmp_path):
    broker_hook.generate_file(1001, "D1", **D1)
    broker_emulator.advance(31)
    stale = broker_hook.check_generation_status(1001, "D1")["url"]
    broker_emulator.advance(61)
    broker_emulator.reset_counts()
    saved = broker_hook.download_file(GenerationTarget.of(1001, "D1"), tmp_path, url=stale)
    assert saved.size > 0 and (tmp_path / saved.filename).exists()
    assert broker_emulator.count("storage") == 2 and broker_emulator.count("get_file_url") == 1


def test_storage_refusing_twice_fails_and_leaves_nothing(broker_hook, broker_emulator, tmp_path):
    broker_hook.generate_file(1001, "D1", **D1)
    broker_emulator.advance(31)
    broker_emulator.inject("storage", "status", status=403, times=2)
    with pytest.raises(SovAuthError, match="twice") as info:
        broker_hook.download_file(GenerationTarget.of(1001, "D1"), tmp_path)
    assert "Signature" not in str(info.value) and "Expires" not in str(info.value)
    assert list(tmp_path.iterdir()) == []
    assert broker_emulator.count("get_file_url") == 1


#: What a storage URL signs with, as S3 writes it: each value is the credential for the file.
SIGNED_QUERY = {
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": "AKIAEXAMPLEKEY7Q9%2F20261207%2Fus-gov-west-1%2Fs3%2Faws4_request",
    "X-Amz-Security-Token": "FQoGZXIvYXdzEXAMPLESESSIONTOKEN42",
    "X-Amz-Signature": "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
}


def _echoing(url: str) -> str:
    """An error body that repeats the request's query and signature, as S3's own errors do."""
    query = url.split("?", 1)[1]
    return (
        "<Error><Code>SignatureDoesNotMatch</Code><SignatureProvided>"
        f"{SIGNED_QUERY['X-Amz-Signature']}</SignatureProvided><CanonicalRequest>GET /files ?{query}"
        "</CanonicalRequest></Error>"
    )


@pytest.mark.parametrize(
    "fault",
    [
        "cut-short body",
        "HTTP 500",
        "HTTP 404 from storage",
        "HTTP 403 for a wrong signature",
        "HTTP 403 echoing the query",
        "HTTP 404 echoing",
    ],
)
def test_a_failed_download_names_the_host_never_the_signed_query(
    broker_hook, broker_emulator, tmp_path, fault
):
    """
    Every error of a download from a signed URL (the credential for the file is its query) names the
    storage host and nothing of the query: not in the message, the hint, the server's words or the
    traceback a task log would show.
    """
    import traceback
    from urllib.parse import quote, unquote, urlsplit

    broker = broker_emulator.broker
    path = "/files/1001/absent.csv" if fault == "HTTP 404 from storage" else "/files/1001/present.csv"
    broker.stored.setdefault("/files/1001/present.csv", b"a,b\n" * 5000)
    signed = broker._file_url(path, path.rsplit("/", 1)[1])
    if fault == "HTTP 403 for a wrong signature":  # storage repeats it, with the request (S3 does)
        signed = signed.replace("Signature=", "Signature=0f", 1)
    url = signed + "&" + "&".join(f"{k}={v}" for k, v in SIGNED_QUERY.items())
    if fault == "cut-short body":
        broker_emulator.inject("storage", "truncate", times=None)
    elif fault == "HTTP 500":
        broker_emulator.inject("storage", "status", status=500, times=None)
    elif fault.endswith("echoing the query"):
        broker_emulator.inject("storage", "status", status=403, value=_echoing(url), times=None)
    elif fault == "HTTP 404 echoing":
        broker_emulator.inject("storage", "status", status=404, value=f"No such key: {url}", times=None)
    with pytest.raises(SovError) as info:
        broker_hook.download(url, tmp_path, job_id=1001, what="D1 file", credentials=False)
    error = info.value
    seen = "\n".join(
        [
            str(error),
            repr(error),
            str(error.hint),
            str(getattr(error, "server_message", "")),
            "".join(traceback.format_exception(error)),
        ]
    )
    query = urlsplit(url).query
    values = [unquote(v) for part in query.split("&") for v in [part.split("=", 1)[1]] if len(v) > 12]
    assert urlsplit(url).netloc in str(error)  # the host is named: the user knows where it failed
    for secret in ["Signature=", "X-Amz-", query, *values, *map(quote, values)]:
        assert secret not in seen, f"{fault}: {secret!r} in:\n{seen}"
    assert list(tmp_path.iterdir()) == []


def test_a_size_mismatch_raises_and_leaves_no_file(broker_hook, broker_emulator, tmp_path):
    broker_hook.generate_file(1001, "D1", **D1)
    broker_emulator.advance(31)
    broker_emulator.inject("storage", "truncate", times=None)
    with pytest.raises(SovTransportError) as info:
        broker_hook.download_file(GenerationTarget.of(1001, "D1"), tmp_path)
    assert "cut short" in str(info.value) and "Gave up after 4 tries" in str(info.value)
    assert list(tmp_path.iterdir()) == []
    assert broker_emulator.count("storage") == 4


def test_fewer_bytes_than_announced_raise_and_leave_no_file(
    broker_hook, broker_emulator, tmp_path, monkeypatch
):
    """Storage that closes cleanly after fewer bytes than Content-Length said: checked by count."""
    import urllib3

    monkeypatch.setattr(urllib3.HTTPResponse, "_init_length", lambda self, method: None)
    broker_hook.generate_file(1001, "D1", **D1)
    broker_emulator.advance(31)
    broker_emulator.inject("storage", "truncate", times=None)
    with pytest.raises(SovDownloadError) as info:
        broker_hook.download_file(GenerationTarget.of(1001, "D1"), tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert "bytes" in str(info.value)


def test_downloading_an_unfinished_file_says_to_wait(broker_hook, tmp_path):
    broker_hook.generate_file(1001, "D1", **D1)
    with pytest.raises(SovError, match="not ready to download: its status is 'waiting'"):
        broker_hook.download_file(GenerationTarget.of(1001, "D1"), tmp_path)


def test_pre_signed_downloads_carry_no_credential_even_on_the_connections_host(
    broker_hook, broker_emulator, tmp_path
):
    broker_hook.check_generation_status(1001, "D1")  # a session exists now
    broker_emulator.reset_counts()
    broker_hook.download(broker_emulator.url + "/v1/session", tmp_path, filename="s.json", credentials=False)
    (seen,) = [s for s in broker_emulator.seen if s.route == "session"]
    assert not CREDENTIAL_HEADERS & {h.lower() for h in seen.headers}


def test_a_5xx_answer_to_a_generation_request_is_not_retried(monkeypatch, broker_emulator, sleeps):
    """The Broker answered, so it may have acted: a creating call is not sent twice."""
    policy = RetryPolicy(attempts=3, min_wait=0.001, max_wait=0.002, sleep=sleeps)
    hook = hook_for(monkeypatch, broker_emulator, "session", policy)
    broker_emulator.inject("generate_file", "status", status=503)
    with pytest.raises(SovServerError, match="HTTP 503"):
        hook.generate_file(1001, "E")
    assert broker_emulator.count("generate_file") == 1 and sleeps == []
