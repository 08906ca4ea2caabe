"""SovRetryPolicy: which errors fail at once, which wait, and what it is on an Airflow without policies."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from airflow.sdk import RetryAction

from airflow_provider_sov import exceptions as e
from airflow_provider_sov import retries
from airflow_provider_sov._shared.http import (
    Call,
    RetryPolicy,
    error_for_status,
    malformed_response,
    tls_error,
    transport_error,
)
from airflow_provider_sov._shared.routes import Route
from airflow_provider_sov.operators.broker import DFileGenerateOperator
from airflow_provider_sov.operators.sov import SovUpdateOperator
from airflow_provider_sov.retries import SovRetryPolicy, retry_policy_args

POLICY = SovRetryPolicy()


@pytest.mark.parametrize(
    ("error", "action", "delay"),
    [
        (e.SovInputError("bad sov_id"), RetryAction.FAIL, None),
        (e.SovConnectionConfigError("no token"), RetryAction.FAIL, None),
        (e.SovAuthError("403", http_status=403), RetryAction.FAIL, None),
        (e.SovNotFoundError("404", http_status=404), RetryAction.FAIL, None),
        (e.SovConflictError("409", http_status=409), RetryAction.FAIL, None),
        (e.SovBadRequestError("400", http_status=400), RetryAction.FAIL, None),
        (e.SovFileExistsError("exists"), RetryAction.FAIL, None),
        (e.SovPrerequisiteError("validations", http_status=400), RetryAction.RETRY, timedelta(minutes=15)),
        (e.SovRateLimitError("429", http_status=429), RetryAction.RETRY, timedelta(minutes=5)),
        (e.SovServerError("503", http_status=503), RetryAction.DEFAULT, None),
        (e.SovTransportError("refused"), RetryAction.DEFAULT, None),
        (e.SovDownloadError("short"), RetryAction.DEFAULT, None),
        (RuntimeError("not ours"), RetryAction.DEFAULT, None),
    ],
)
def test_each_error_gets_its_decision(error, action, delay):
    decision = POLICY.evaluate(error, try_number=1, max_tries=3, context={})
    assert (decision.action, decision.retry_delay) == (action, delay)


def test_a_rate_limit_waits_as_long_as_the_apis_retry_after_says_capped(live):
    from airflow_provider_sov.hooks.sov import SovHook
    from airflow_provider_sov.hooks.sov_routes import UPDATE_STATUS

    # A Retry-After past what one request waits fails the call at once; the task's retry waits it out.
    live.inject("update_status", "status", status=429, retry_after="900", times=1)
    with pytest.raises(e.SovRateLimitError) as error:
        SovHook().job_status(UPDATE_STATUS, "s-no-ping-hggcsk-r001")
    assert POLICY.evaluate(error.value, 1, 3, {}).retry_delay == timedelta(seconds=900)
    capped = SovRetryPolicy(max_delay=timedelta(minutes=10))
    assert capped.evaluate(error.value, 1, 3, {}).retry_delay == timedelta(minutes=10)


def test_a_failed_job_is_retried_only_by_a_task_that_requests_a_new_one():
    failed = e.SovJobFailedError("the job failed", result_status="failed")
    generate = DFileGenerateOperator(task_id="g", submission_id=1001, file_type="D1")
    update = SovUpdateOperator(task_id="u", sov_id="s-no-ping-hggcsk")
    assert POLICY.evaluate(failed, 1, 3, {"task": generate}).action == RetryAction.DEFAULT
    assert POLICY.evaluate(failed, 1, 3, {"task": update}).action == RetryAction.FAIL


def test_the_policy_round_trips_through_plain_json():
    policy = SovRetryPolicy(prerequisite_delay=timedelta(minutes=2), max_delay=timedelta(minutes=30))
    again = SovRetryPolicy.deserialize(json.loads(json.dumps(policy.serialize())))
    assert (again.prerequisite_delay, again.rate_limit_delay, again.max_delay) == (
        timedelta(minutes=2),
        timedelta(minutes=5),
        timedelta(minutes=30),
    )


def test_on_an_airflow_without_retry_policies_the_arguments_are_nothing(monkeypatch):
    assert isinstance(retry_policy_args()["retry_policy"], SovRetryPolicy)
    monkeypatch.setattr(retries, "RetryPolicy", None)
    assert retry_policy_args() == {}
    with pytest.raises(RuntimeError, match=r"need Airflow 3\.3"):
        SovRetryPolicy()


# --- The retry facts are fields of the error ---------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "facts"),
    [
        pytest.param(lambda c: error_for_status(503, b"busy", c), (True, True, None), id="503"),
        pytest.param(lambda c: error_for_status(429, b"slow down", c, 7.0), (True, True, 7.0), id="429"),
        pytest.param(lambda c: error_for_status(404, b"no such", c), (False, True, None), id="404"),
        pytest.param(
            lambda c: transport_error(c, "refused", reached_server=False), (True, False, None), id="refused"
        ),
        pytest.param(
            lambda c: transport_error(c, "read timed out", reached_server=True),
            (True, True, None),
            id="timeout",
        ),
        pytest.param(lambda c: malformed_response(c, "cut"), (True, True, None), id="garbled"),
        pytest.param(lambda c: tls_error(c, "self-signed"), (False, True, None), id="tls"),
    ],
)
def test_what_a_failure_means_for_a_retry_is_in_the_error_itself(make, facts):
    """Transient, reached the server, retry after: read off the error, the same for every caller."""
    route = Route("status", "GET", "/api/v1/status/{id}", idempotent=True, what="job")
    error = make(Call(route=route, conn_id="c", job_id="s-1", host="api.example"))
    assert (error.transient, error.reached_server, error.retry_after) == facts
    policy = RetryPolicy(attempts=3)
    assert policy.should_retry(error, idempotent=True) is facts[0]
    # A creating call is sent again only where it provably never reached the server.
    assert policy.should_retry(error, idempotent=False) is (facts[0] and not facts[1])
