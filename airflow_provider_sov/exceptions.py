"""Errors raised by the provider: one class per failure kind a DAG author may branch on.

Every error carries what was being done (``action``), the job or resource ID when there is one,
the HTTP status and the server's own message when the server answered, and a hint saying what to
do. None of them ever contains a token or a session ID.
"""

from __future__ import annotations

from airflow_provider_sov._shared.compat import AirflowException, AirflowSensorTimeout


class SovError(AirflowException):
    """
    Base class of every error this provider raises.

    :param message: What went wrong, in the user's terms.
    :param action: What the provider was doing, e.g. ``"start update"``.
    :param job_id: The SOV, SUD, output request, submission or job ID concerned, if any.
    :param http_status: The HTTP status the server answered with, if it answered.
    :param server_message: The server's own error text, verbatim, if it gave one.
    :param hint: What the user can do about it.
    :param transient: The same request may pass if sent again (429, 5xx, a reset, a timeout, a body
        cut short): the one fact the hook's retries, a wait's outage and the retry policy go by.
    :param reached_server: The request may have reached the server (a creating call is then not
        sent again: it could create a duplicate).
    :param retry_after: Seconds the server asked to wait before the next request (``Retry-After``).
    """

    def __init__(
        self,
        message: str,
        *,
        action: str | None = None,
        job_id: str | int | None = None,
        http_status: int | None = None,
        server_message: str | None = None,
        hint: str | None = None,
        transient: bool = False,
        reached_server: bool = True,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.action = action
        self.job_id = job_id
        self.http_status = http_status
        self.server_message = server_message
        self.hint = hint
        self.transient = transient
        self.reached_server = reached_server
        self.retry_after = retry_after
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        if self.hint:
            parts.append(self.hint)
        return " ".join(p.strip() for p in parts if p)


class SovInputError(SovError, ValueError):
    """An argument or input file is invalid; nothing was sent to the API."""


class SovConnectionConfigError(SovError):
    """The Airflow connection is missing or incomplete (no token, bad host); nothing was sent."""


class SovFileExistsError(SovError, FileExistsError):
    """A download would overwrite an existing file and ``overwrite`` is off."""


class SovApiError(SovError):
    """The server answered with an HTTP error not covered by a more specific class."""


class SovBadRequestError(SovApiError):
    """HTTP 400: the server rejected the request (bad format, unknown CSV attribute, ...)."""


class SovPrerequisiteError(SovBadRequestError):
    """
    HTTP 400 from the DATA Act Broker: a file cannot be generated until the submission's
    validations (A/B/C for D1/D2, cross-file for E/F) have finished cleanly. Retrying later helps.
    """


class SovAuthError(SovApiError):
    """HTTP 401 or 403: the token or session is wrong, expired or lacks permission."""


class SovNotFoundError(SovApiError):
    """HTTP 404: the ID does not exist for this account."""


class SovConflictError(SovApiError):
    """HTTP 409: the job is not in a state that allows the call (e.g. an update already started)."""


class SovRateLimitError(SovApiError):
    """HTTP 429 that outlasted the retry budget."""


class SovServerError(SovApiError):
    """HTTP 5xx that outlasted the retry budget, or one that could not be retried safely."""


class SovTransportError(SovError):
    """The connection failed or timed out (after retries where retrying was safe)."""


class SovResponseError(SovError):
    """The server answered 2xx but the body was not what the API documents (e.g. malformed JSON)."""


class SovDownloadError(SovError):
    """A download was incomplete or did not match its expected size; no file was left behind."""


class SovJobFailedError(SovError):
    """
    A job reached a failure state.

    :param result_status: The API's result status, e.g. ``FAILED_TO_PROCESS``.
    """

    def __init__(self, message: str, *, result_status: str | None = None, **kwargs: object) -> None:
        self.result_status = result_status
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class SovTimeoutError(SovError, AirflowSensorTimeout):
    """
    A wait reached its deadline before the job finished.

    It is also an ``AirflowSensorTimeout``, so every wait mode fails the same way (no task retry).
    """
