"""
What each transport needs besides the shared rules: its exceptions mapped to the shared errors,
redirects decided once for both, server file names, and the async session pool of a triggerer.
"""

from __future__ import annotations

import asyncio
import email.message
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from airflow_provider_sov._shared.http import Call, tls_error, tls_handshake_error, transport_error
from airflow_provider_sov.exceptions import SovError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import aiohttp

#: Answers that redirect (with a ``Location``).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class _SessionPool:
    """One reference-counted ``aiohttp.ClientSession`` per event loop and origin, shared by its hooks."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, list[Any]]] = (
            weakref.WeakKeyDictionary()
        )

    def _entries(self) -> dict[Any, list[Any]]:
        loop = asyncio.get_running_loop()
        return self._loops.setdefault(loop, {})

    async def acquire(self, key: Any, verify: bool | str) -> None:
        entries = self._entries()
        entry = entries.get(key)
        if entry is None or entry[0].closed:
            import aiohttp

            ssl: Any = True
            if verify is False:
                ssl = False
            elif isinstance(verify, str):
                import ssl as ssl_module

                ssl = await asyncio.to_thread(ssl_module.create_default_context, cafile=verify)
            connector = aiohttp.TCPConnector(ssl=ssl, limit=100, ttl_dns_cache=300)
            session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": "airflow-provider-sov"}, raise_for_status=False
            )
            entry = entries[key] = [session, 0]
        entry[1] += 1

    def get(self, key: Any) -> aiohttp.ClientSession:
        return self._entries()[key][0]

    async def release(self, key: Any) -> None:
        entries = self._entries()
        entry = entries.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del entries[key]
            await entry[0].close()


_POOL = _SessionPool()


def tls_failure(exc: BaseException, call: Call) -> SovError:
    """Map a failed TLS handshake (either transport) to its error, in the handshake's own words."""
    import ssl

    cause: BaseException | None = exc
    for _ in range(8):  # the ssl module's error, wrapped a few times by urllib3, requests or aiohttp
        if cause is None or (isinstance(cause, ssl.SSLError) and hasattr(cause, "reason")):
            break
        inner = next((a for a in cause.args if isinstance(a, BaseException)), None)
        reason = getattr(cause, "reason", None)  # urllib3 keeps the cause here (ssl's own is a str)
        wrapped = getattr(cause, "os_error", None)  # aiohttp keeps it here
        chain = (inner, reason, wrapped, cause.__cause__, cause.__context__)
        cause = next((c for c in chain if isinstance(c, BaseException)), None)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return tls_error(call, cause.verify_message or "certificate verify failed")
    if isinstance(cause, ssl.SSLError):
        said = cause.reason
        words = said if isinstance(said, str) and said else (cause.strerror or str(cause))
    else:
        words = type(exc).__name__
    return tls_handshake_error(call, words)


def short_reason(exc: BaseException, connect: float, read: float) -> str:
    """Return a short, secret-free description of a transport failure (never the URL: it may be signed)."""
    import aiohttp

    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"connecting timed out after {connect:g}s"
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return f"no data for {read:g}s (read timeout)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection refused or host unreachable ({exc.os_error.__class__.__name__})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the response body was cut short"
    return f"{type(exc).__name__}"


def requests_failure(exc: Exception, call: Call, timeouts: tuple[float, float]) -> SovError:
    """Map a ``requests`` exception to the shared transport error, deciding if the server was reached."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    connect, read = timeouts
    if isinstance(exc, requests.ConnectTimeout):
        return transport_error(call, f"connecting timed out after {connect:g}s", reached_server=False)
    if isinstance(exc, requests.ReadTimeout):
        return transport_error(call, f"no data for {read:g}s (read timeout)", reached_server=True)
    if isinstance(exc, requests.exceptions.SSLError):
        return tls_failure(exc, call)
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        if isinstance(inner, (NewConnectionError, ConnectTimeoutError)):
            return transport_error(call, "connection refused or host unreachable", reached_server=False)
        return transport_error(call, "the connection was reset or closed early", reached_server=True)
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return transport_error(call, "the response body was cut short", reached_server=True)
    return transport_error(call, type(exc).__name__, reached_server=True)


def next_hop(method: str, url: str, status: int, location: str | None, call: Call) -> str | None:
    """Return where a redirect leads (None: not one); only a GET follows, and each hop decides credentials."""
    if status not in REDIRECT_STATUSES or not location:
        return None
    target = urljoin(url, location)
    if method != "GET":
        raise _redirected_post(call, status, target)
    return target


def _redirected_post(call: Call, status: int, target: str) -> SovError:
    """Refuse to follow a redirected POST: its body may be a stream already sent, and it may create work."""
    return SovError(
        f"{call.doing} failed: {call.host} answered HTTP {status}, redirecting to "
        f"{urlsplit(target).scheme}://{urlsplit(target).netloc}{urlsplit(target).path}.",
        action=call.doing,
        job_id=call.job_id,
        http_status=status,
        hint="Set the connection's host to where the service really is (often https:// instead of http://).",
    )


def filename_from(headers: Mapping[str, str], url: str) -> str:
    """Return the server's name for a download: Content-Disposition, else the URL's last path segment."""
    disposition = headers.get("Content-Disposition")
    if disposition:
        message = email.message.Message()
        message["content-disposition"] = disposition
        name = message.get_filename()
        if name:
            return name
    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])


def absolute_url(url: str, base_url: str) -> str:
    """Resolve a URL the API returned; one starting with ``/`` is under the base URL, prefix included."""
    if not url:
        raise SovError("The API returned an empty download URL.", hint="The job may not have produced files.")
    if url.startswith("/") and not url.startswith("//"):
        return base_url + url
    return urljoin(base_url + "/", url)
