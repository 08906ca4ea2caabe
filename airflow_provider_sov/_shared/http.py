"""
The retry rules and error mapping of the sync and the async path, written once (no I/O here): both
transports raise the same typed errors, whose fields say whether to retry, through one
:class:`RetryPolicy`, so the two cannot drift.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import json
import random
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote

from airflow_provider_sov.exceptions import (
    SovApiError,
    SovAuthError,
    SovBadRequestError,
    SovConflictError,
    SovError,
    SovNotFoundError,
    SovRateLimitError,
    SovResponseError,
    SovServerError,
    SovTransportError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from airflow_provider_sov._shared.routes import Route

T = TypeVar("T")

#: HTTP statuses worth another try: rate limiting and the gateway/server family.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def server_message(body: bytes | str | None) -> str:
    """Return the server's error text: JSON values (strings or lists of strings) joined, or raw text."""
    return read_error_body(body)[0]


def read_error_body(body: bytes | str | None, ignored: frozenset[str] = frozenset()) -> tuple[str, bool]:
    """
    Return the server's error text and whether the body was a JSON object (an API's own answer, not a
    web server's page); ``ignored``: keys that are not for the user.
    """
    if not body:
        return "", False
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:1000], False
    if not isinstance(data, dict):
        return str(data)[:1000], False
    parts = []
    for key, value in data.items():
        if key in ignored:
            continue
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = json.dumps(value)
        parts.append(str(value) if key in ("message", "detail", "error") else f"{key}: {value}")
    return " | ".join(parts)[:1000], True


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return seconds to wait from a ``Retry-After`` header (seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


_STATUS_CLASSES: dict[int, type[SovApiError]] = {
    400: SovBadRequestError,
    401: SovAuthError,
    403: SovAuthError,
    404: SovNotFoundError,
    409: SovConflictError,
    429: SovRateLimitError,
}


@dataclass
class Call:
    """What a request is about, for messages: the route, the ID, the connection."""

    route: Route
    conn_id: str
    job_id: str | int | None = None
    action: str | None = None
    host: str = ""
    #: The query of a signed URL (the credential for a file): never repeated in an error.
    signed_query: str = ""

    @property
    def doing(self) -> str:
        label = self.action or self.route.action or self.route.name.replace("_", " ")
        if self.job_id is not None and self.route.what:
            return f"{label} for {self.route.what} {self.job_id}"
        if self.job_id is not None:
            return f"{label} for {self.job_id}"
        return label


def _hint_for(status: int, call: Call, resource: bool = True) -> str:
    """Say what to do about an error answer (``resource``: a 404's body was the API's, not a web server's)."""
    if status == 401:
        return (
            f"Check the credentials of Airflow connection {call.conn_id!r}: the token (or session) "
            "is missing, wrong or expired."
        )
    if status == 403:
        return (
            f"The credentials of connection {call.conn_id!r} lack permission for this; ask the account owner."
        )
    if status == 404:
        if not resource:
            return (
                f"Check the host (and any path prefix) of connection {call.conn_id!r}: {call.host or 'the server'} "
                "has no such route."
            )
        if call.job_id is not None:
            return (
                f"Check that {call.route.what or 'ID'} {call.job_id!r} exists for this account: IDs are "
                "returned by the API and must be passed back unchanged."
            )
        return "Check the connection's host: this route does not exist there."
    if status == 409:
        return "The job is no longer in a state that allows this call."
    if status == 429:
        return "The service is rate limiting; lower the concurrency or try later."
    if status >= 500:
        return "The service failed; try again later (Airflow's task retries will)."
    return "Correct the request as the server's message says."


def withheld_hint(call: Call, host: str) -> str:
    """Say why a file on another host was asked for without the connection's credentials, and what to do."""
    return (
        f"The credentials of connection {call.conn_id!r} were withheld on purpose: {host} is not "
        "the connection's host. If that host is yours, list it in the connection's extra "
        f'\'trusted_hosts\' (e.g. {{"trusted_hosts": ["{host}"]}}) so credentials go to it too.'
    )


def error_for_status(
    status: int,
    body: bytes | str | None,
    call: Call,
    retry_after: float | None = None,
    *,
    withheld: str | None = None,
    read: Callable[[bytes | str | None], tuple[str, bool]] = read_error_body,
) -> SovError:
    """
    Map an HTTP error answer to a typed error, with the server's message verbatim. ``withheld``: the
    host the credentials were kept from (a 401/403 then says how to trust it); ``read``: the API's reader.
    """
    message, resource = read(body)
    message = withhold_query(message, call.signed_query)
    cls = _STATUS_CLASSES.get(status) or (SovServerError if status >= 500 else SovApiError)
    where = f" from {call.host}" if call.host else ""
    error = cls(
        f"{call.doing} failed: HTTP {status}{where}: {(message or '(no message)').rstrip('.')}.",
        action=call.doing,
        job_id=call.job_id,
        http_status=status,
        server_message=message,
        hint=withheld_hint(call, withheld)
        if withheld and status in (401, 403)
        else _hint_for(status, call, resource),
        transient=status in RETRYABLE_STATUSES,
        retry_after=retry_after if status in RETRYABLE_STATUSES else None,
    )
    return error


def withhold_query(text: str, query: str) -> str:
    """Return ``text`` without a signed URL's ``query``: each ``name=value``, and each value alone."""
    if not query or not text:
        return text
    names = {name for name, _ in parse_qsl(query, keep_blank_values=True)}
    for name in sorted(names, key=len, reverse=True):
        text = re.sub(rf"{re.escape(name)}=[^&\s<>\"']*", "[signed query withheld]", text)
    values = {v for part in query.split("&") for v in [part.partition("=")[2]] if len(v) >= 8}
    for value in sorted(
        values | {unquote(v) for v in values} | {quote(unquote(v)) for v in values}, key=len, reverse=True
    ):
        text = text.replace(value, "[withheld]")
    return text


def transport_error(call: Call, detail: str, *, reached_server: bool) -> SovTransportError:
    """Build the error for a failed exchange (refused, reset, timed out)."""
    where = f" {call.host}" if call.host else ""
    if reached_server:
        hint = "The request may have reached the server."
    else:
        hint = "The request never reached the server."
    return SovTransportError(
        f"{call.doing} failed: could not talk to{where}: {detail}.",
        action=call.doing,
        job_id=call.job_id,
        hint=hint + " Check the connection's host and the network, then retry.",
        transient=True,
        reached_server=reached_server,
    )


def tls_error(call: Call, detail: str) -> SovTransportError:
    """Build the error for an untrusted or mismatched certificate (not transient: never retried)."""
    where = f" {call.host}" if call.host else ""
    return SovTransportError(
        f"{call.doing} failed: the TLS certificate of{where} could not be verified: {detail}.",
        action=call.doing,
        job_id=call.job_id,
        hint=(
            "The request never reached the server. If it uses a private certificate authority, set the "
            "connection extra 'verify' to the path of that CA bundle (PEM)."
        ),
    )


def tls_handshake_error(call: Call, reason: str) -> SovTransportError:
    """Build the error for another failed handshake (most often HTTPS to a plain-HTTP port); not transient."""
    host = call.host or "the server"
    return SovTransportError(
        f"{call.doing} failed: TLS handshake failed with {host}: {reason}; is this an http:// URL?",
        action=call.doing,
        job_id=call.job_id,
        hint=(
            "The request never reached the API. A connection host without a scheme means HTTPS: if the "
            "server speaks plain HTTP, write http:// in the connection's host."
        ),
    )


def malformed_response(call: Call, detail: str) -> SovResponseError:
    """Build the error for a 2xx answer whose body is not what the API documents."""
    return SovResponseError(
        f"{call.doing} failed: the server's answer was not valid: {detail}.",
        action=call.doing,
        job_id=call.job_id,
        hint="This is usually transient; if it persists, report it to the API's support with the ID.",
        transient=True,
    )


def decode_json(body: bytes, call: Call) -> Any:
    """Decode a JSON body or raise :func:`malformed_response`."""
    try:
        return json.loads(body) if body else {}
    except json.JSONDecodeError as exc:
        raise malformed_response(call, f"malformed JSON ({exc.msg} at byte {exc.pos})") from None


def transient(error: BaseException) -> bool:
    """Whether the same read may pass if tried again (429, 5xx, resets, timeouts, garbled bodies)."""
    return isinstance(error, SovError) and error.transient


@dataclass(frozen=True)
class RetryPolicy:
    """
    How many times and how long to retry transient failures, sync and async: capped exponential
    backoff with full jitter, or the ``Retry-After`` (up to ``max_retry_after``; longer fails at once).
    A call that is not idempotent is retried only when it provably never reached the server.
    ``attempts`` counts the first; ``sleep``/``asleep`` replace the sleeps (tests record waits).
    """

    attempts: int = 5
    min_wait: float = 1.0
    max_wait: float = 30.0
    max_retry_after: float = 300.0
    sleep: Any = field(default=None, compare=False, repr=False)
    asleep: Any = field(default=None, compare=False, repr=False)

    def should_retry(self, error: BaseException, idempotent: bool) -> bool:
        """Return whether ``error`` may be retried for a call that is (or is not) idempotent."""
        if not (isinstance(error, SovError) and error.transient):
            return False
        if error.retry_after is not None and error.retry_after > self.max_retry_after:
            return False
        return idempotent or not error.reached_server

    def wait_seconds(self, attempt_number: int, error: BaseException | None) -> float:
        """Return seconds before try ``attempt_number + 1``: ``Retry-After`` if given, else backoff."""
        if isinstance(error, SovError) and error.retry_after is not None:
            return error.retry_after
        ceiling = min(self.max_wait, self.min_wait * (2 ** (attempt_number - 1)))
        return random.uniform(self.min_wait / 2, max(self.min_wait / 2, ceiling))

    def run(self, attempt: Callable[[], T], idempotent: bool, route: Route | None = None) -> T:
        """Call ``attempt()``, retrying by this policy; the error that ends it says how retries ended."""
        sleep = time.sleep if self.sleep is None else self.sleep
        for tries in itertools.count(1):
            try:
                return attempt()
            except SovError as error:
                sleep(self._next_wait(error, tries, idempotent, route))
        raise AssertionError("unreachable")  # pragma: no cover

    async def arun(
        self, attempt: Callable[[], Awaitable[T]], idempotent: bool, route: Route | None = None
    ) -> T:
        """Do what :meth:`run` does, awaiting ``attempt()`` (sleeps with ``asyncio.sleep``)."""
        sleep = asyncio.sleep if self.asleep is None else self.asleep
        for tries in itertools.count(1):
            try:
                return await attempt()
            except SovError as error:
                await sleep(self._next_wait(error, tries, idempotent, route))
        raise AssertionError("unreachable")  # pragma: no cover

    def _next_wait(self, error: SovError, tries: int, idempotent: bool, route: Route | None) -> float:
        """Return seconds before try ``tries + 1``; when there is none, raise ``error`` saying why."""
        if tries >= self.attempts or not self.should_retry(error, idempotent):
            raise gave_up(error, tries, route) from None
        return self.wait_seconds(tries, error)


def gave_up(error: SovError, tries: int, route: Route | None = None) -> SovError:
    """Say how retries ended ("gave up after N tries"; a creating ``route`` was not sent again)."""
    if tries > 1 and "tries" not in error.message:
        error.message = f"{error.message} Gave up after {tries} tries."
    if route is not None and not route.idempotent and error.transient and error.reached_server:
        what = route.action or route.name
        error.hint = (
            f"{error.hint or ''} Not sent again: '{what}' creates work and the server may have acted on "
            "it, so a second request could create a duplicate; check for it before running again."
        ).strip()
    error.args = (error._render(),)
    return error


def require_keys(body: Any, keys: tuple[str, ...], call: Call) -> Mapping[str, Any]:
    """Check that a decoded body is an object with ``keys``; else a clear malformed-response error."""
    if not isinstance(body, dict):
        raise malformed_response(call, f"expected a JSON object, got {type(body).__name__}")
    missing = [k for k in keys if k not in body]
    if missing:
        raise malformed_response(call, f"missing field(s) {', '.join(missing)}")
    return body
