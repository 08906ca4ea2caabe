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
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

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
    from airflow_provider_sov.testing.wire import EmulatorHost


def login_required() -> web.Response:
    """``requires_login``'s answer: HTTP 401 and the bare ``{"message": "Login Required"}`` (``permissions.py``)."""
    return web.json_response({"message": "Login Required"}, status=401)


def user_json(name: str, session_id: str | None) -> dict[str, Any]:
    """A user as ``json_for_user`` gives it (``handlers/account_handler.py``), its session included."""
    return {
        "user_id": 1,
        "name": name,
        "title": None,
        "skip_guide": True,
        "website_admin": False,
        "affiliations": [{"agency_name": "Department of the Treasury (TREAS)", "permission": "submitter"}],
        "session_id": session_id,
    }


class BrokerSessions:
    """Sessions, login, the proxy's checks and storage of :class:`~.broker_app.BrokerState` (its state lives there)."""

    server: EmulatorHost
    sessions: dict[str, float]
    proxy_sessions: dict[str, str]
    issued: list[str]
    signed: list[str]
    credential_attempts: list[Seen]
    stored: dict[str, bytes]
    storage_on_api_host: bool
    local_files: bool
    started_wall: float
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
                    return login_required()
                return None
            if route in ("login", "session"):
                return None
            if not self._session_alive(request.headers.get("x-session-id")):
                return login_required()
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
        # ``create_session_and_response``: the user as ``json_for_user`` gives it, and the message.
        body = {**user_json("Emulator User", session_id), "message": "Login successful"}
        return web.json_response(body, headers={"x-session-id": session_id})

    async def active_user(self, request: web.Request) -> web.Response:
        with self.server.lock:
            if request.path.startswith(PROXY_PREFIX):
                session_id = self.proxy_sessions.get(request.headers.get("client_id") or "")
            else:
                session_id = request.headers.get("x-session-id")
        headers = {"x-session-id": session_id} if session_id else {}
        return web.json_response(user_json("Emulator System Account", session_id), headers=headers)

    def response_session(self, request: web.Request) -> str:
        """
        The ``x-session-id`` every Broker response carries (``UserSessionInterface.save_session``):
        the request's own session while it lives, else a new one (anonymous: it logs nobody in).
        """
        with self.server.lock:
            if request.path.startswith(PROXY_PREFIX):
                session_id = self.proxy_sessions.get(request.headers.get("client_id") or "")
            else:
                session_id = request.headers.get("x-session-id")
            alive = bool(session_id) and session_id in self.sessions
        return str(session_id) if alive else str(uuid.uuid4())

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
            # As S3 answers it: the signature it was given and the request it signed, repeated.
            provided = escape(request.query.get("Signature", ""))
            text = (
                "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated "
                f"does not match the signature you provided.</Message><SignatureProvided>{provided}"
                f"</SignatureProvided><CanonicalRequest>GET\n{escape(request.path_qs)}</CanonicalRequest></Error>"
            )
            return web.Response(status=403, text=text, content_type="application/xml")
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
        name = filename or gen.filename
        return self._file_url(f"/files/{gen.job_id}/{quote(name)}", name)

    def _file_url(self, path: str, name: str) -> str:
        """
        A stored file's URL: signed, valid 60 seconds, on the storage server; or, for a Broker
        without AWS (``local_files``: ``use_aws: false``), its path on the Broker's disk, as
        ``check_file_generation`` and ``file_history_url`` answer there.
        """
        if self.local_files:
            return f"/data-act/backend/tmp/{name}"
        expires = int(self.server.clock.wall()) + URL_LIFETIME
        signature = hmac.new(self._signing_key, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()
        base = self.server.url if self.storage_on_api_host else self.server.storage_url
        self.signed.append(f"Signature={signature}")
        return f"{base}{path}?Expires={expires}&Signature={signature}"
