"""
The DATA Act Broker emulator's ways in: sessions that expire, login, the Treasury proxy's
``client_id``/``client_secret`` headers and bare paths; and its storage, which takes a signed URL's
signature as the only credential.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from aiohttp import web

from airflow_provider_sov.testing.broker_model import (
    CLIENT_ID,
    CLIENT_SECRET,
    CREDENTIAL_HEADERS,
    PASSWORD,
    PROXY_PREFIX,
    SESSION_TIMEOUT,
    URL_LIFETIME,
    USER,
    Generation,
    _gateway_error,
    _json_error,
)
from airflow_provider_sov.testing.faults import Seen
from airflow_provider_sov.testing.wire import serve_bytes

if TYPE_CHECKING:
    from airflow_provider_sov.testing.server import EmulatorServer


class BrokerSessions:
    """Sessions, login, the proxy's checks and storage of :class:`~.broker_app.BrokerState` (its state lives there)."""

    server: EmulatorServer
    sessions: dict[str, float]
    proxy_sessions: dict[str, str]
    issued: list[str]
    credential_attempts: list[Seen]
    stored: dict[str, bytes]
    storage_on_api_host: bool
    _signing_key: bytes

    def _session_alive(self, session_id: str | None, touch: bool = True) -> bool:
        now = self.server.clock.now()
        last = self.sessions.get(session_id or "")
        if last is None or now - last > SESSION_TIMEOUT:
            self.sessions.pop(session_id or "", None)
            return False
        if touch:
            self.sessions[session_id or ""] = now
        return True

    def _new_session(self) -> str:
        session_id = secrets.token_hex(16)
        self.sessions[session_id] = self.server.clock.now()
        self.issued.append(session_id)
        return session_id

    def check_auth(self, request: web.Request) -> web.Response | None:
        """Direct Broker: ``x-session-id``; proxy: client headers, bare paths, a started session."""
        route = request.match_info.route.name
        with self.server.lock:
            if request.path.startswith(PROXY_PREFIX):
                if request.path.endswith("/"):
                    return _gateway_error(404, "resource_not_found")
                client, secret = request.headers.get("client_id"), request.headers.get("client_secret")
                if not client or not secret:
                    return _gateway_error(401, "Authentication denied")
                if client != CLIENT_ID or not hmac.compare_digest(secret, CLIENT_SECRET):
                    return _gateway_error(401, "Invalid Client")
                if route == "active_user":
                    self.proxy_sessions[client] = self._new_session()
                    return None
                if route is None:
                    return _gateway_error(404, "resource_not_found")
                if not self._session_alive(self.proxy_sessions.get(client), touch=route != "session"):
                    return _json_error(401, "Login Required")
                return None
            if route in ("login", "session"):
                return None
            if not self._session_alive(request.headers.get("x-session-id")):
                return _json_error(401, "Login Required")
        return None

    def check_storage(self, request: web.Request) -> web.Response | None:
        """
        Storage takes the signature as the only credential: anything else is refused, and recorded.
        The same holds for the ``elsewhere`` route, which stands for any host but the API's.
        """
        carried = [h for h in CREDENTIAL_HEADERS if h in {k.lower() for k in request.headers}]
        if carried:
            with self.server.lock:
                self.credential_attempts.append(
                    Seen(
                        request.match_info.route.name or "storage",
                        request.method,
                        request.path,
                        dict(request.headers),
                    )
                )
            return web.Response(
                status=400,
                text="<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
                content_type="application/xml",
            )
        return None

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        raw = await request.read()
        if not raw:
            # The real Broker's JSON parsing fails on an empty body: an unhandled 500.
            return _json_error(500, "Internal Server Error")
        try:
            data = json.loads(raw)
        except ValueError:
            return _json_error(400, "Request body must be JSON")
        return data if isinstance(data, dict) else _json_error(400, "Request body must be a JSON object")

    async def login(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        if data.get("username") != USER or data.get("password") != PASSWORD:
            return _json_error(401, "Invalid username and/or password")
        with self.server.lock:
            session_id = self._new_session()
        body = {
            "message": "Login successful",
            "user_id": 1,
            "name": "Emulator User",
            "session_id": session_id,
        }
        return web.json_response(body, headers={"x-session-id": session_id})

    async def active_user(self, request: web.Request) -> web.Response:
        with self.server.lock:
            session_id = self.proxy_sessions.get(request.headers.get("client_id") or "")
        headers = {"x-session-id": session_id} if session_id else {}
        return web.json_response({"user_id": 1, "name": "Emulator System Account"}, headers=headers)

    async def session(self, request: web.Request) -> web.Response:
        with self.server.lock:
            client = request.headers.get("client_id")
            session_id = (
                self.proxy_sessions.get(client or "") if request.path.startswith(PROXY_PREFIX) else None
            )
            alive = self._session_alive(session_id or request.headers.get("x-session-id"), touch=False)
        return web.json_response({"status": "True" if alive else "False"})

    # --- Storage ----------------------------------------------------------------------------------

    async def elsewhere(self, request: web.Request) -> web.StreamResponse:
        """Another host: whatever is asked, a few bytes (credentials were refused and recorded already)."""
        return await serve_bytes(request, b"bytes from another host\n")

    async def storage(self, request: web.Request) -> web.StreamResponse:
        path = f"/files/{request.match_info['job_id']}/{quote(unquote(request.match_info['filename']))}"
        expires = request.query.get("Expires", "")
        expected = hmac.new(self._signing_key, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()
        denied = "<Error><Code>AccessDenied</Code><Message>{}</Message></Error>"
        if not hmac.compare_digest(expected, request.query.get("Signature", "")):
            return web.Response(
                status=403, text=denied.format("SignatureDoesNotMatch"), content_type="application/xml"
            )
        if not expires.isdigit() or self.server.clock.wall() > int(expires):
            return web.Response(
                status=403, text=denied.format("Request has expired"), content_type="application/xml"
            )
        with self.server.lock:
            data = self.stored.get(path)
        if data is None:
            return web.Response(status=404, text=denied.format("NoSuchKey"), content_type="application/xml")
        return await serve_bytes(request, data, "text/csv")

    def _signed(self, request: web.Request, gen: Generation, filename: str | None = None) -> str:
        expires = int(self.server.clock.wall()) + URL_LIFETIME
        path = f"/files/{gen.job_id}/{quote(filename or gen.filename)}"
        signature = hmac.new(self._signing_key, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()
        base = self.server.url if self.storage_on_api_host else self.server.storage_url
        return f"{base}{path}?Expires={expires}&Signature={signature}"
