"""
DATA Act Broker authentication: the three ways in (proxy, session ID, login) as the auth object
(:class:`BrokerAuth`) the Broker hook is given.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.auth import Auth
from airflow_provider_sov._shared.connection import amask, mask
from airflow_provider_sov._shared.http import require_keys
from airflow_provider_sov.exceptions import SovAuthError, SovConnectionConfigError
from airflow_provider_sov.hooks.broker_rules import AUTH_MODES, PROXY_HOST_MARK, ROUTES, SESSION_ROUTES

if TYPE_CHECKING:
    from airflow_provider_sov._shared.auth import AuthHost
    from airflow_provider_sov._shared.connection import ConnSettings
    from airflow_provider_sov._shared.routes import Route


class _SessionCache:
    """
    Broker sessions started in this process, shared per account: a triggerer's waits log in once,
    and after a 401 the first to renew renews for all (an epoch tells a newer session).
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, str], tuple[str | None, int]] = {}
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, asyncio.Lock]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, key: tuple[str, str, str]) -> tuple[str | None, int] | None:
        return self._entries.get(key)

    def put(self, key: tuple[str, str, str], session_id: str | None) -> int:
        """Record a new session for ``key``; return its epoch."""
        epoch = (self._entries.get(key, (None, 0))[1]) + 1
        self._entries[key] = (session_id, epoch)
        return epoch

    def lock(self, key: tuple[str, str, str]) -> asyncio.Lock:
        """Return one lock per key on the running event loop: concurrent triggers start one session."""
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        return locks.setdefault(key, asyncio.Lock())

    def clear(self) -> None:
        self._entries.clear()


_SESSIONS = _SessionCache()


class BrokerAuth(Auth):
    """How a Broker hook's requests authenticate (extra ``auth_mode``); one per hook."""

    def __init__(self) -> None:
        self._session_id: str | None = None
        self._session_started = False
        self._epoch = 0  # of the shared session this hook uses (0: none yet)

    def mode(self, settings: ConnSettings) -> str:
        """Return the authentication mode the connection uses."""
        mode = str(settings.extra.get("auth_mode") or "").strip().lower()
        if mode in ("", "auto"):
            if PROXY_HOST_MARK in settings.base_url:
                mode = "proxy"
            elif settings.login:
                mode = "login"
            else:
                mode = "session"
        if mode not in AUTH_MODES:
            raise SovConnectionConfigError(
                f"Connection {settings.conn_id!r}: auth_mode {mode!r} is not one of auto, {', '.join(AUTH_MODES)}."
            )
        if mode in ("proxy", "login") and not settings.login:
            what = "client_id" if mode == "proxy" else "user name"
            raise SovConnectionConfigError(
                f"Connection {settings.conn_id!r} uses auth_mode {mode!r} but has no Login.",
                hint=f"Put the {what} in the connection's Login field.",
            )
        return mode

    def headers(self, settings: ConnSettings) -> dict[str, str]:
        mode = self.mode(settings)
        headers: dict[str, str] = {}
        if mode == "proxy":
            headers = {"client_id": settings.login or "", "client_secret": settings.secret or ""}
            if self._session_id:
                headers["x-session-id"] = self._session_id
        elif mode == "session":
            headers = {"x-session-id": settings.secret or ""}
        elif self._session_id:
            headers = {"x-session-id": self._session_id}
        return headers

    def _login_body(self, settings: ConnSettings) -> dict[str, Any]:
        return {"username": settings.login, "password": settings.secret}

    def _accept_session(self, body: Any, settings: ConnSettings, hook: AuthHost) -> str:
        """Keep the session the login answered with; return it (each path registers it with the masker)."""
        route = ROUTES["login"]
        session_id = str(
            require_keys(body, ("session_id",), hook._call(route, settings, None, None))["session_id"]
        )
        self._session_id = session_id
        return session_id

    def _session_key(self, settings: ConnSettings) -> tuple[str, str, str] | None:
        """Return the account a session belongs to; None for a bare session ID (nothing to start)."""
        mode = self.mode(settings)
        return None if mode == "session" else (settings.base_url, mode, settings.login or "")

    def _adopt(self, key: tuple[str, str, str], newer_than: int) -> bool:
        """Use this process's session for ``key`` if there is one newer than epoch ``newer_than``."""
        entry = _SESSIONS.get(key)
        if entry is None or entry[1] <= newer_than:
            return False
        self._session_id, self._epoch = entry
        self._session_started = True
        return True

    def _shared(self, settings: ConnSettings) -> None:
        key = self._session_key(settings)
        if key is not None:
            self._epoch = _SESSIONS.put(key, self._session_id)

    def establish(self, hook: AuthHost) -> None:
        """Start a session where the mode allows it: log in, or ``/v1/active_user`` via the proxy."""
        settings = hook.settings
        mode = self.mode(settings)
        self._session_started = True
        if mode == "login":
            self._session_id = None
            body = hook.send(ROUTES["login"], json=self._login_body(settings))
            mask(self._accept_session(body, settings, hook))
        elif mode == "proxy":
            hook.send(ROUTES["active_user"])
        self._shared(settings)

    async def aestablish(self, hook: AuthHost) -> None:
        """Do what :meth:`establish` does, on the async path, for triggers."""
        settings = await hook.asettings()
        mode = self.mode(settings)
        self._session_started = True
        if mode == "login":
            self._session_id = None
            body = await hook.asend(ROUTES["login"], json=self._login_body(settings))
            await amask(self._accept_session(body, settings, hook))
        elif mode == "proxy":
            await hook.asend(ROUTES["active_user"])
        self._shared(settings)

    def _fresh(self, route: Route) -> bool:
        return route.name not in SESSION_ROUTES and not self._session_started

    def prepare(self, hook: AuthHost, route: Route) -> int:
        key = self._session_key(hook.settings)
        if self._fresh(route) and key is not None and not self._adopt(key, 0):
            self.establish(hook)
        return self._epoch  # the session this request goes with (another request may renew it meanwhile)

    async def aprepare(self, hook: AuthHost, route: Route) -> int:
        key = self._session_key(await hook.asettings())
        if key is not None and self._fresh(route):
            async with _SESSIONS.lock(key):
                if not self._adopt(key, 0):
                    await self.aestablish(hook)
        return self._epoch  # the session this request goes with: one hook may send many at once

    def renew(self, hook: AuthHost, error: SovAuthError, route: Route, used: int) -> bool:
        key = self._renewal(hook, error, route, hook.settings)
        if key is None:
            return False
        if not self._adopt(key, used):
            self.establish(hook)
        return True

    async def arenew(self, hook: AuthHost, error: SovAuthError, route: Route, used: int) -> bool:
        key = self._renewal(hook, error, route, await hook.asettings())
        if key is None:
            return False
        async with _SESSIONS.lock(key):
            if not self._adopt(key, used):
                await self.aestablish(hook)
        return True

    def _renewal(
        self, hook: AuthHost, error: SovAuthError, route: Route, settings: ConnSettings
    ) -> tuple[str, str, str] | None:
        """The account whose session to renew after ``error`` (None: it cannot help; a refused bare ID raises)."""
        if error.http_status != 401 or route.name in SESSION_ROUTES:
            return None
        if self.mode(settings) == "session":
            raise SovAuthError(
                error.message,
                action=error.action,
                job_id=error.job_id,
                http_status=401,
                server_message=error.server_message,
                hint=(
                    f"The session ID in connection {settings.conn_id!r} is unknown or expired (the Broker "
                    "ends sessions after 30 idle minutes). Log in to the Broker again and put the new "
                    "x-session-id in the connection's Password, or use auth_mode 'proxy' or 'login', "
                    "which renew their sessions themselves."
                ),
            ) from None
        hook.log.info("The Broker answered 401 to %s; starting a new session and retrying once.", route.name)
        return self._session_key(settings)
