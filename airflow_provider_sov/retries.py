"""
A retry policy for this package's errors (Airflow 3.3's ``retry_policy``): fail at once what a
retry cannot cure, wait out what it can, and leave the rest to the task's own ``retries``.

Use it on every task of a DAG, through its ``default_args``::

    from airflow_provider_sov.retries import retry_policy_args

    with DAG(..., default_args={"retries": 3, **retry_policy_args()}):
        ...

:func:`retry_policy_args` gives nothing on an Airflow without retry policies (before 3.3), so the
same DAG file runs there with the task's plain retries.

The decisions (the first that matches wins; a retry never goes past the task's ``retries``):

- :class:`~.SovPrerequisiteError` (the Broker's validations are not done): retry after
  ``prerequisite_delay`` (default 15 minutes).
- :class:`~.SovRateLimitError` (a 429 that outlasted the request's own retries): retry after the
  server's ``Retry-After``, else ``rate_limit_delay`` (5 minutes); at most ``max_delay`` (1 hour).
- :class:`~.SovInputError`, :class:`~.SovConnectionConfigError`, :class:`~.SovAuthError`,
  :class:`~.SovNotFoundError`, :class:`~.SovConflictError`, any other
  :class:`~.SovBadRequestError`, :class:`~.SovFileExistsError`: fail now; the input, the
  connection or the account must change first.
- :class:`~.SovJobFailedError`: fail now, unless the task requests a new job on retry
  (``DFileGenerateOperator``); then the task's retries.
- Anything else (5xx, network, a short download...): the task's retries and ``retry_delay``.

A wait's timeout (:class:`~.SovTimeoutError`) fails the task without asking any policy: Airflow
never retries a sensor timeout.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_sov.exceptions import (
    SovAuthError,
    SovBadRequestError,
    SovConflictError,
    SovConnectionConfigError,
    SovError,
    SovFileExistsError,
    SovInputError,
    SovJobFailedError,
    SovNotFoundError,
    SovPrerequisiteError,
    SovRateLimitError,
)

try:  # Airflow 3.3 and later
    from airflow.sdk import RetryDecision, RetryPolicy
except ImportError:  # before 3.3: no retry policies; retry_policy_args() gives nothing
    RetryDecision = RetryPolicy = None  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["SovRetryPolicy", "retry_policy_args"]

#: Errors no retry cures: the input, the connection or the account has to change first.
NOT_CURED_BY_RETRY: tuple[type[SovError], ...] = (
    SovInputError,
    SovConnectionConfigError,
    SovAuthError,
    SovNotFoundError,
    SovConflictError,
    SovBadRequestError,
    SovFileExistsError,
)


class SovRetryPolicy(RetryPolicy or object):  # type: ignore[misc]
    """
    Decide each failed try of a task from its error (see the module's table).

    :param prerequisite_delay: How long to wait before retrying when the Broker's validations are
        not done (a generation's prerequisite).
    :param rate_limit_delay: How long to wait after a rate limit that gave no ``Retry-After``.
    :param max_delay: The longest wait this policy asks for.
    """

    def __init__(
        self,
        *,
        prerequisite_delay: timedelta = timedelta(minutes=15),
        rate_limit_delay: timedelta = timedelta(minutes=5),
        max_delay: timedelta = timedelta(hours=1),
    ) -> None:
        if RetryPolicy is None:
            raise RuntimeError(
                "Retry policies need Airflow 3.3 or later; use retry_policy_args(), which gives "
                "nothing on older Airflow."
            )
        self.prerequisite_delay = prerequisite_delay
        self.rate_limit_delay = rate_limit_delay
        self.max_delay = max_delay

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Context | None = None
    ) -> Any:
        if isinstance(exception, SovPrerequisiteError):
            return RetryDecision.retry(
                self._capped(self.prerequisite_delay),
                reason="The Broker's validations are not done yet; trying again later.",
            )
        if isinstance(exception, SovRateLimitError):
            after = exception.retry_after
            delay = timedelta(seconds=after) if after is not None else self.rate_limit_delay
            return RetryDecision.retry(
                self._capped(delay), reason="Rate limited; trying again when the API allows."
            )
        if isinstance(exception, NOT_CURED_BY_RETRY):
            return RetryDecision.fail(f"{type(exception).__name__}: a retry cannot cure this; not retrying.")
        if isinstance(exception, SovJobFailedError):
            task = context.get("task") if context else None
            if getattr(task, "retry_requests_a_new_job", False):
                return RetryDecision.default()
            return RetryDecision.fail("The job failed at the API; a retry would read the same failure.")
        return RetryDecision.default()

    def _capped(self, delay: timedelta) -> timedelta:
        return min(delay, self.max_delay)

    def serialize(self) -> dict[str, Any]:
        return {
            "prerequisite_delay": self.prerequisite_delay.total_seconds(),
            "rate_limit_delay": self.rate_limit_delay.total_seconds(),
            "max_delay": self.max_delay.total_seconds(),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> SovRetryPolicy:
        return cls(**{key: timedelta(seconds=float(value)) for key, value in data.items()})


def retry_policy_args(**options: Any) -> dict[str, Any]:
    """
    Return ``{"retry_policy": SovRetryPolicy(**options)}`` for a task's (or a DAG's
    ``default_args``), or ``{}`` on an Airflow without retry policies (before 3.3).
    """
    return {} if RetryPolicy is None else {"retry_policy": SovRetryPolicy(**options)}
