"""SovRetryPolicy: which errors fail at once, which wait, and what it is on an Airflow without policies."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from airflow.sdk import RetryAction

from airflow_provider_sov import exceptions as e
from airflow_provider_sov import retries
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
