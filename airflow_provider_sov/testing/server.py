"""
The emulator's server: a real aiohttp.web app on loopback, run in a background thread.

It owns what every emulated API shares: the clock jobs advance on, per-route fault injection,
request counters and a log of what each request carried. The SOV Fixer routes live in
:mod:`.sov_routes` (over :mod:`.sov_state`), the Broker's in :mod:`.broker_app`; fault injection's
vocabulary in :mod:`.faults`. Test code only: the provider's runtime never imports this package.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_provider_sov.testing.broker_app import PROXY_PREFIX, BrokerState
from airflow_provider_sov.testing.faults import AFTER_KINDS, BEFORE_KINDS, FAULT_KEY, FAULT_KINDS, Fault, Seen
from airflow_provider_sov.testing.pages import BROKER_WEBSITE, PAGE_ROUTES, add_page_routes
from airflow_provider_sov.testing.sov_routes import SovFixerApi
from airflow_provider_sov.testing.wire import serve_bytes

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable

DEFAULT_TOKEN = "emulator-token"


#: Seconds a stopping emulator lets running handlers finish before cancelling them.
SHUTDOWN_SECONDS = 2.0


class Clock:
    """
    The time jobs advance on: manual (moves only by :meth:`advance`) or real time.

    :param realtime: Follow the wall clock (for demos); otherwise tests move time explicitly.
    """

    def __init__(self, realtime: bool = False) -> None:
        self.realtime = realtime
        self._offset = 0.0
        self._epoch = time.time()
        self._start = time.monotonic()

    def now(self) -> float:
        """Seconds since the emulator started, on this clock."""
        if self.realtime:
            return time.monotonic() - self._start + self._offset
        return self._offset

    def advance(self, seconds: float) -> None:
        """Move time forward (both modes)."""
        self._offset += seconds

    def wall(self) -> float:
        """A UNIX timestamp matching :meth:`now`, for the timestamps the API reports."""
        return self._epoch + self.now()


class EmulatorServer:
    """
    A local emulator of the SOV Fixer API over real HTTP, for tests and the demo.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with EmulatorServer() as server:
            hook_conn_host = server.url
            sud_id = ...
            server.advance(60)  # finish running jobs

    :param token: The API token the emulator accepts (``Authorization: Token <token>``).
    :param host: Interface to bind; loopback by default.
    :param port: Port; 0 picks a free one (read :attr:`url`).
    :param realtime: Jobs advance with the wall clock (demo) instead of :meth:`advance` (tests).
    :param job_seconds: How long a parse or update job runs, on the emulator's clock.
    :param output_seconds: How long an output request runs (default half of ``job_seconds``).
    :param relative_urls: Return download URLs as ``/api/...`` instead of absolute ones.
    :param legacy_output_shape: Describe a finished output request as ``result.outputs[]`` (the
        older documented shape) instead of ``result.url``/``scrubbed_filename``/``label``.
    :param generation_seconds: How long a DATA Act Broker file generation runs.
    :param pickup_seconds: How long a requested E, F, A or BOC file reads ``invalid`` once picked
        up (after a fifth of that in the queue, reading ``waiting``).
    :param ssl_context: Serve the APIs over HTTPS with this context (the storage stays HTTP).
    :param rate_limit: Answer 429 (``Retry-After: 1``, DRF's throttling message) to API requests
        beyond this many in any one second, as a throttled API does; :attr:`throttled` counts them.

    The DATA Act Broker is served at :attr:`url` (``x-session-id`` or login) and, as through the
    Treasury proxy, at :attr:`proxy_url`; its signed file URLs point at :attr:`storage_url`, a
    second port.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        realtime: bool = False,
        job_seconds: float = 10.0,
        output_seconds: float | None = None,
        relative_urls: bool = False,
        legacy_output_shape: bool = False,
        generation_seconds: float = 30.0,
        pickup_seconds: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        rate_limit: float | None = None,
    ) -> None:
        self.token = token
        self.rate_limit = rate_limit
        self.throttled = 0
        self._recent: deque[float] = deque()
        self.host = host
        self.port = port
        self.clock = Clock(realtime)
        self.job_seconds = job_seconds
        self.output_seconds = job_seconds / 2 if output_seconds is None else output_seconds
        self.relative_urls = relative_urls
        self.ssl_context = ssl_context
        self.legacy_output_shape = legacy_output_shape
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.counts: Counter[str] = Counter()
        self.seen: deque[Seen] = deque(maxlen=20_000)
        self.sov = SovFixerApi(self)
        self.broker = BrokerState(self, generation_seconds, pickup_seconds)
        self.extra_routes: list[tuple[str, str, Any, str]] = []
        self.storage_port = 0
        self._storage_runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # --- Lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if not self.port:
            raise RuntimeError("The emulator is not running; call start() first.")
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def proxy_url(self) -> str:
        """The Broker as the Treasury API proxy serves it (client headers, no trailing slashes)."""
        return self.url + PROXY_PREFIX

    @property
    def website_url(self) -> str:
        """The Broker website's stand-in (submission pages at ``#/submission/<id>``), and the SOV pages' host."""
        return self.url + BROKER_WEBSITE

    @property
    def storage_url(self) -> str:
        """The file storage that signed Broker URLs point at (another port: another origin)."""
        return f"http://{self.host}:{self.storage_port}"

    @property
    def elsewhere_url(self) -> str:
        """
        Another host (the storage origin) that answers any ``GET`` under it with a few bytes and
        records every credential it is sent in ``broker.credential_attempts``.
        """
        return f"{self.storage_url}/elsewhere"

    def start(self) -> EmulatorServer:
        """
        Start serving in a background thread; return once the port is open. After :meth:`stop`,
        it serves again on the same ports with the same jobs (an outage of the API, ended).
        """
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._serve, name="sov-emulator", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError(f"The emulator failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            future.result(30)
            if self._storage_runner is not None:
                asyncio.run_coroutine_threadsafe(self._storage_runner.cleanup(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(30)
        self._loop = self._runner = self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _open(self) -> None:
        # A handler still running at stop (a stalled download a test left) is cancelled after 2 s.
        self._runner = web.AppRunner(
            self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_SECONDS
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, reuse_address=True, ssl_context=self.ssl_context
        )
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        storage = web.Application(middlewares=[self._middleware])
        self.broker.add_storage_routes(storage)
        self._storage_runner = web.AppRunner(
            storage, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_SECONDS
        )
        await self._storage_runner.setup()
        storage_site = web.TCPSite(self._storage_runner, self.host, self.storage_port, reuse_address=True)
        await storage_site.start()
        assert storage_site._server is not None
        self.storage_port = storage_site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def make_app(self) -> web.Application:
        """Build the aiohttp application (also usable on a caller's own loop)."""
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * 1024**3)
        self.sov.add_routes(app)
        self.broker.add_routes(app)
        add_page_routes(app)
        for method, path, handler, name in self.extra_routes:
            app.router.add_route(method, path, handler, name=name)
        return app

    def add_route(self, method: str, path: str, handler: Any, name: str) -> None:
        """
        Serve one more route (before :meth:`start`), e.g. a new job kind's status. It gets what
        every route gets: counters, faults, and SOV Fixer's token check under ``/api/``.
        """
        if self._runner is not None:
            raise RuntimeError("add routes before start()")
        self.extra_routes.append((method, path, handler, name))

    # --- Test controls --------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward; jobs due by then finish."""
        with self.lock:
            self.clock.advance(seconds)
            self.sov.tick()

    def inject(self, route: str, kind: str, **options: Any) -> Fault:
        """
        Add a fault to ``route``; see :class:`Fault` for the options. Returns it (``.hits`` counts).

        Example: ``server.inject("update_status", "status", status=429, retry_after="1", times=2)``.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        fault = Fault(route=route, kind=kind, **options)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self.lock:
            self.faults.clear()

    def count(self, route: str) -> int:
        """How many requests reached ``route`` (faulted ones included)."""
        with self.lock:
            return self.counts[route]

    def reset_counts(self) -> None:
        """Zero the request counters and the request log."""
        with self.lock:
            self.counts.clear()
            self.seen.clear()

    # --- Request pipeline -------------------------------------------------------------------------

    def _take_fault(self, route: str, kinds: tuple[str, ...], path: str = "") -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path_contains is not None and fault.path_contains not in path:
                    continue
                if fault.kind in kinds and fault.route in (route, "*") and not fault.spent:
                    fault.hits += 1
                    return fault
        return None

    def _over_rate_limit(self) -> bool:
        """Whether this request is one too many for the last second (then it is counted as throttled)."""
        now = time.monotonic()
        with self.lock:
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            if len(self._recent) >= (self.rate_limit or 0):
                self.throttled += 1
                return True
            self._recent.append(now)
            return False

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        route = request.match_info.route.name or "unknown"
        with self.lock:
            self.counts[route] += 1
            peer = request.transport.get_extra_info("peername") if request.transport else None
            seen = Seen(
                route,
                request.method,
                request.path_qs,
                dict(request.headers),
                tuple(peer[:2]) if peer else None,
            )
            self.seen.append(seen)
            self.sov.tick()
        try:
            response = await self._pipeline(request, handler, route)
        except BaseException as exc:
            seen.ended = type(exc).__name__
            raise
        seen.ended = response.status
        return response

    async def _pipeline(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        route: str,
    ) -> web.StreamResponse:
        """Faults, authentication, then the route's handler (and an "after" fault on its answer)."""
        if route in ("storage", "elsewhere"):  # any credential sent there is recorded, fault or not
            denied = self.broker.check_storage(request)
            if denied is not None:
                return denied
        elif self.rate_limit is not None and self._over_rate_limit():
            return web.json_response(
                {"detail": "Request was throttled. Expected available in 1 second."},
                status=429,
                headers={"Retry-After": "1"},
            )
        # Both faults are taken on arrival: a request held by a latency fault must not, once it
        # wakes, take a fault injected meanwhile for a later request.
        before = self._take_fault(route, BEFORE_KINDS, request.path)
        after = None
        if before is None or before.kind == "latency":
            after = self._take_fault(route, AFTER_KINDS, request.path)
        if before is not None:
            if before.kind == "latency":
                await asyncio.sleep(before.delay)
            elif before.kind == "reset":
                return _drop(request)
            elif before.kind == "redirect":
                location = before.value or f"{self.elsewhere_url}{request.path_qs}"
                return _redirect(before.status or 302, location)
            else:
                status = before.status or 503
                headers = {"Retry-After": str(before.retry_after)} if before.retry_after is not None else {}
                body = {"message": before.value or f"emulator: injected HTTP {status}"}
                return web.json_response(body, status=status, headers=headers)
        # Authentication acts (the proxy starts a session): only once no "before" fault refused.
        unrouted = request.match_info.http_exception is not None and not request.path.startswith(PROXY_PREFIX)
        on_broker = not request.path.startswith("/api/") and route not in (
            "storage",
            "elsewhere",
            *PAGE_ROUTES,
        )
        if (
            route not in ("storage", "elsewhere", *PAGE_ROUTES) and not unrouted
        ):  # no such route: the server's 404
            api = self.broker if on_broker else self.sov
            denied = api.check_auth(request)
            if denied is not None:
                if on_broker:
                    denied.headers.setdefault("x-session-id", self.broker.response_session(request))
                return denied
        if after is not None:
            request[FAULT_KEY] = after
        response = await handler(request)
        if on_broker and not unrouted and isinstance(response, web.Response):
            # Every Broker response carries a session ID (its session interface's save_session).
            response.headers.setdefault("x-session-id", self.broker.response_session(request))
        if after is None or not isinstance(response, web.Response):
            return response  # streamed bodies (files): serve_bytes applied the fault itself
        if after.kind == "truncate":
            assert isinstance(response, web.Response) and isinstance(response.body, bytes)
            return await serve_bytes(request, response.body, response.content_type)
        if after.kind == "slow_after":
            await asyncio.sleep(after.delay)
            return response
        if after.kind == "reset_after":
            return _drop(request)
        if after.kind == "status_after":
            status = after.status or 503
            return web.json_response({"message": f"emulator: injected HTTP {status}"}, status=status)
        if after.kind == "malformed_json":
            return web.Response(text='{"request": {"status": "COMPL', content_type="application/json")
        if isinstance(response, web.Response) and response.body is not None:
            data = json.loads(response.body)  # type: ignore[arg-type]
            if after.kind == "unknown_status" and isinstance(data.get("request"), dict):
                data["request"]["status"] = after.value or "REINDEXING"
            elif after.kind == "unknown_status" and "status" in data:
                data["status"] = after.value or "running"
            if after.kind == "hostile_filename":
                result = data.get("result") or {}
                for output in result.get("outputs") or []:
                    output["filename"] = after.value
                if "scrubbed_filename" in result:
                    result["scrubbed_filename"] = after.value
            return web.json_response(data, status=response.status)
        return response


def _redirect(status: int, location: str) -> web.Response:
    return web.Response(status=status, headers={"Location": location})


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer (the client sees a reset)."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)
