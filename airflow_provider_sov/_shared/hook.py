"""
The base hook both APIs build on: it sends every request, sync (requests) and async (aiohttp), by
the rules of :mod:`.http`. Credentials go only to the connection's own origin: never to a
pre-signed URL, never across a redirect to another host.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_sov._shared import compat
from airflow_provider_sov._shared.auth import Auth
from airflow_provider_sov._shared.compat import BaseHook
from airflow_provider_sov._shared.connection import (
    ConnSettings,
    amask,
    mask,
    missing_connection,
    settings_from_connection,
    trusted,
)
from airflow_provider_sov._shared.files import (
    CHUNK_SIZE,
    DownloadedFile,
    SizedReader,
    multipart_body,
    write_stream,
)
from airflow_provider_sov._shared.http import (
    Call,
    RetryPolicy,
    decode_json,
    error_for_status,
    parse_retry_after,
    read_error_body,
    transport_error,
)
from airflow_provider_sov._shared.routes import Route
from airflow_provider_sov._shared.transport import (
    _POOL,
    absolute_url,
    filename_from,
    next_hop,
    requests_failure,
    short_reason,
    tls_failure,
)
from airflow_provider_sov.exceptions import SovAuthError, SovError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    import aiohttp
    import requests

    from airflow_provider_sov._shared.files import Destination, FileToFetch

MAX_REDIRECTS = 5
_ERROR_BODY_LIMIT = 64 * 1024
# Its calls read "download of <what> for <job ID>": the ID is the job's, not the file's.
_DOWNLOAD_ROUTE = Route("download", "GET", "", idempotent=True, action="download")


class ApiHook(BaseHook):
    """
    Base of :class:`~airflow_provider_sov.hooks.sov.SovHook` and the Broker hook.

    :param conn_id: The Airflow connection (default: the subclass's).
    :param auth: How requests carry the credentials (:mod:`.auth`; the subclass gives its API's).
    :param retry_policy: How transient failures are retried (defaults suit production).
    :param timeout: ``(connect, read)`` seconds, overriding the connection's extras.
    """

    conn_name_attr = "conn_id"
    default_conn_name = ""
    conn_type = ""
    hook_name = ""
    default_host = ""
    require_secret = True

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        auth: Auth | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name
        self.auth = auth or Auth()
        self.retry_policy = retry_policy or RetryPolicy()
        self._timeout = timeout
        self._settings: ConnSettings | None = None
        self._async_key: tuple[Any, ...] | None = None
        self._async_session: aiohttp.ClientSession | None = None  # this hook's share of the pool's
        self._session: requests.Session | None = None

    def _settings_from(self, conn: Any, extra: dict[str, Any]) -> ConnSettings:
        return settings_from_connection(
            conn, default_host=self.default_host, require_secret=self.require_secret, extra=extra
        )

    @property
    def settings(self) -> ConnSettings:
        """Return the connection's settings, read once (sync lookup)."""
        if self._settings is None:
            try:
                conn = self.get_connection(self.conn_id)
            except compat.AirflowNotFoundException:
                raise missing_connection(self.conn_id, self.conn_type) from None
            settings = self._settings_from(conn, conn.extra_dejson)
            mask(settings.secret)
            self._settings = settings
        return self._settings

    async def asettings(self) -> ConnSettings:
        """Return the connection's settings, read once (async lookup: never blocks the event loop)."""
        if self._settings is None:
            try:
                conn = await compat.aget_connection(self.conn_id)
            except compat.AirflowNotFoundException:
                raise missing_connection(self.conn_id, self.conn_type) from None
            settings = self._settings_from(conn, await compat.aextra_dejson(conn))
            await amask(settings.secret)
            self._settings = settings
        return self._settings

    def read_error(self, body: bytes | str | None) -> tuple[str, bool]:
        """An error answer's text and whether it was the API's JSON (per API: fields not for the user)."""
        return read_error_body(body)

    def _headers_for(self, url: str, settings: ConnSettings) -> dict[str, str]:
        if trusted(url, settings):
            return self.auth.headers(settings)
        return {}

    def _withheld_from(self, url: str, settings: ConnSettings) -> str | None:
        """The host of ``url`` when the connection's credentials were kept from it (it is not trusted)."""
        if trusted(url, settings) or not self.auth.headers(settings):
            return None
        return urlsplit(url).netloc

    def _timeouts(self, settings: ConnSettings) -> tuple[float, float]:
        return self._timeout or (settings.connect_timeout, settings.read_timeout)

    def url_for(self, route: Route, settings: ConnSettings, **ids: str) -> str:
        """Return the absolute URL of ``route`` on this connection."""
        return settings.base_url + route.path(**ids)

    def _locate(
        self,
        route: Route,
        settings: ConnSettings,
        *,
        ids: Mapping[str, str] | None = None,
        job_id: str | int | None = None,
        action: str | None = None,
    ) -> tuple[str, Call]:
        """Return the URL of ``route`` and what the call is about (for messages), for both paths."""
        return self.url_for(route, settings, **(ids or {})), self._call(route, settings, job_id, action)

    def _call(
        self, route: Route, settings: ConnSettings, job_id: str | int | None, action: str | None
    ) -> Call:
        return Call(route=route, conn_id=self.conn_id, job_id=job_id, action=action, host=settings.host)

    @property
    def session(self) -> requests.Session:
        """Return a pooled ``requests.Session``, created on first use."""
        if self._session is None:
            import requests
            from requests.adapters import HTTPAdapter

            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers["User-Agent"] = "airflow-provider-sov"
            self._session = session
        return self._session

    def get_conn(self) -> requests.Session:
        """Return the pooled session (Airflow's hook interface)."""
        return self.session

    def request(self, route: Route, **kwargs: Any) -> Any:
        """Send ``route`` (see :meth:`send`) with the auth's session: prepared, renewed once after a 401."""
        used = self.auth.prepare(self, route)
        try:
            return self.send(route, **kwargs)
        except SovAuthError as error:
            if not self.auth.renew(self, error, route, used):
                raise
            return self.send(route, **kwargs)

    def send(
        self,
        route: Route,
        *,
        ids: Mapping[str, str] | None = None,
        job_id: str | int | None = None,
        action: str | None = None,
        params: Any = None,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        body: Callable[[], AbstractContextManager[tuple[Any, dict[str, str]]]] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """
        Send ``route`` with retries and return its decoded JSON body (auth sends its own calls here).

        :param form: Form fields, sent ``application/x-www-form-urlencoded``.
        :param body: For uploads (see :meth:`upload_body`): a factory of a context manager giving
            ``(data, headers)``, entered once per try so a retry streams the files again from the start.
        :param idempotent: Override the route's own flag (e.g. a get-or-create that overwrites).
        """
        settings = self.settings
        url, call = self._locate(route, settings, ids=ids, job_id=job_id, action=action)
        safe = route.idempotent if idempotent is None else idempotent

        def attempt() -> Any:
            with body() if body else nullcontext((form, {})) as (data, headers):
                response = self._send(route.method, url, settings, call, params, json, data, headers)
            with response:
                return decode_json(response.content, call)

        return self.retry_policy.run(attempt, safe, route)

    def _send(
        self,
        method: str,
        url: str,
        settings: ConnSettings,
        call: Call,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        credentials: bool = True,
    ) -> requests.Response:
        """Send one exchange, following redirects; ``credentials`` (own origin only) is off for signed URLs."""
        import requests

        for _ in range(MAX_REDIRECTS + 1):
            all_headers = {
                "Accept": "application/json",
                **(headers or {}),
                **(self._headers_for(url, settings) if credentials else {}),
            }
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=all_headers,
                    timeout=self._timeouts(settings),
                    verify=settings.verify,
                    allow_redirects=False,
                    stream=stream,
                )
            except requests.RequestException as exc:
                raise requests_failure(exc, call, self._timeouts(settings)) from None
            following = next_hop(method, url, response.status_code, response.headers.get("Location"), call)
            if following:
                response.close()
                url, params = following, None
                continue
            if response.status_code >= 400:
                try:
                    text = response.raw.read(_ERROR_BODY_LIMIT) if stream else response.content
                except requests.RequestException:
                    text = b""
                finally:
                    response.close()
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise error_for_status(
                    response.status_code,
                    text,
                    call,
                    retry_after,
                    withheld=self._withheld_from(url, settings) if credentials else None,
                    read=self.read_error,
                )
            return response
        raise SovError(f"{call.doing} failed: more than {MAX_REDIRECTS} redirects.", job_id=call.job_id)

    def download(
        self,
        url: str,
        destination: Destination,
        *,
        filename: str | None = None,
        overwrite: bool = False,
        expected_size: int | None = None,
        job_id: str | int | None = None,
        what: str = "file",
        credentials: bool = True,
    ) -> DownloadedFile:
        """
        Stream ``url`` into the folder ``destination``; the file appears whole or not at all. The size
        is checked against ``Content-Length`` (or ``expected_size``); a short body is fetched again.

        :param filename: Name to save under (made safe); default: the server's name for it.
        :param credentials: ``False`` for a pre-signed URL: nothing but the URL is sent, even to the
            connection's own host.
        """
        import requests

        settings = self.settings
        absolute = absolute_url(url, settings.base_url)
        call = self._call(_DOWNLOAD_ROUTE, settings, job_id, f"download of {what}")
        call.host = urlsplit(absolute).netloc  # errors name the host the file is on ...
        call.signed_query = urlsplit(absolute).query  # ... and never repeat its query
        context = f"{what}" + (f" of {job_id}" if job_id is not None else "")

        def attempt() -> DownloadedFile:
            response = self._send(
                "GET",
                absolute,
                settings,
                call,
                headers={"Accept-Encoding": "identity"},
                stream=True,
                credentials=credentials,
            )
            with response:
                length = response.headers.get("Content-Length", "")
                expected = int(length) if length.isdigit() else expected_size
                name = filename or filename_from(response.headers, response.url or absolute)
                try:
                    return write_stream(
                        response.iter_content(CHUNK_SIZE),
                        destination,
                        name,
                        overwrite=overwrite,
                        expected_size=expected,
                        context=context,
                    )
                except requests.RequestException as exc:
                    raise requests_failure(exc, call, self._timeouts(settings)) from None

        return self.retry_policy.run(attempt, True)

    def fetch_file(self, item: FileToFetch, *, overwrite: bool) -> DownloadedFile:
        """Write one file a task asked for: here ``source`` is its URL (an API may describe files otherwise)."""
        return self.download(
            str(item.source),
            item.destination,
            filename=item.filename,
            overwrite=overwrite,
            job_id=item.job_id,
        )

    @staticmethod
    def upload_body(
        files: list[tuple[str, Any, str, str]], fields: list[tuple[str, str]] | None = None
    ) -> Callable[[], AbstractContextManager[tuple[Any, dict[str, str]]]]:
        """
        A streamed ``multipart/form-data`` body for :meth:`send`: ``fields`` first, then one part per
        ``(field, path, file name, content type)``, each file opened (locally or in object storage)
        only while it is sent, so a file of hundreds of MB never sits in memory.
        """

        @contextmanager
        def body() -> Iterator[tuple[Any, dict[str, str]]]:
            with ExitStack() as stack:
                parts = [
                    (
                        field,
                        (name, SizedReader(stack.enter_context(path.open("rb")), path.stat().st_size), kind),
                    )
                    for field, path, name, kind in files
                ]
                encoder = multipart_body(parts, fields)
                yield encoder, {"Content-Type": encoder.content_type}

        return body

    def close(self) -> None:
        """Close the pooled sync session, if one was opened."""
        if self._session is not None:
            self._session.close()
            self._session = None

    async def arequest(self, route: Route, **kwargs: Any) -> Any:
        """Do what :meth:`request` does, on the async path for triggers."""
        used = await self.auth.aprepare(self, route)
        try:
            return await self.asend(route, **kwargs)
        except SovAuthError as error:
            if not await self.auth.arenew(self, error, route, used):
                raise
            return await self.asend(route, **kwargs)

    async def asend(self, route: Route, *, params: Any = None, json: Any = None, **where: Any) -> Any:
        """Do what :meth:`send` does on the async path (``where``: ``ids``, ``job_id``, ``action``)."""
        settings = await self.asettings()
        url, call = self._locate(route, settings, **where)
        session = await self._asession(settings)
        attempt = partial(self._asend, session, route.method, url, settings, call, params, json)
        return await self.retry_policy.arun(attempt, route.idempotent, route)

    async def _asend(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        settings: ConnSettings,
        call: Call,
        params: Any,
        json: Any,
    ) -> Any:
        """Send one exchange, following redirects; return its decoded JSON body."""
        import ssl

        import aiohttp

        connect, read = self._timeouts(settings)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        for _ in range(MAX_REDIRECTS + 1):
            headers = {"Accept": "application/json", **self._headers_for(url, settings)}
            try:
                async with session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                ) as response:
                    following = next_hop(method, url, response.status, response.headers.get("Location"), call)
                    if following:
                        url, params = following, None
                        continue
                    if response.status >= 400:
                        text = await response.content.read(_ERROR_BODY_LIMIT)
                        retry_after = parse_retry_after(response.headers.get("Retry-After"))
                        raise error_for_status(
                            response.status,
                            text,
                            call,
                            retry_after,
                            withheld=self._withheld_from(url, settings),
                            read=self.read_error,
                        )
                    return decode_json(await response.read(), call)
            except aiohttp.ClientConnectorCertificateError as exc:
                raise tls_failure(exc.certificate_error, call) from None
            except (aiohttp.ClientSSLError, ssl.SSLError) as exc:  # before ClientConnectorError, its base
                raise tls_failure(exc, call) from None
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                raise transport_error(call, short_reason(exc, connect, read), reached_server=False) from None
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise transport_error(call, short_reason(exc, connect, read), reached_server=True) from None
        raise SovError(f"{call.doing} failed: more than {MAX_REDIRECTS} redirects.", job_id=call.job_id)

    async def _asession(self, settings: ConnSettings) -> aiohttp.ClientSession:
        key = (settings.origin, settings.verify)
        if self._async_session is None:  # held until aclose(): the pool keeps it open meanwhile
            await _POOL.acquire(key, settings.verify)
            self._async_key, self._async_session = key, _POOL.get(key)
        return self._async_session

    async def aclose(self) -> None:
        """Release this hook's share of the event loop's HTTP session (closed when unused)."""
        if self._async_key is not None:
            key, self._async_key, self._async_session = self._async_key, None, None
            await _POOL.release(key)
