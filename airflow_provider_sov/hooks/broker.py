"""Hook for the DATA Act Broker API: connection, authentication and session handling."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.hook import ApiHook
from airflow_provider_sov._shared.http import Route, require_keys
from airflow_provider_sov.exceptions import SovConnectionConfigError

if TYPE_CHECKING:
    from airflow_provider_sov._shared.connection import ConnSettings

DEFAULT_HOST = "https://broker-api.usaspending.gov"
PROXY_HOST_MARK = "api.fiscal.treasury.gov"
AUTH_MODES = ("proxy", "session", "login")

# Never a trailing slash: the Treasury proxy accepts only the bare form.
ROUTES = {
    r.name: r
    for r in (
        Route("login", "POST", "/v1/login", idempotent=True, action="log in"),
        Route("active_user", "GET", "/v1/active_user", idempotent=True, action="start proxy session"),
        Route("session", "GET", "/v1/session", idempotent=True, action="check session"),
    )
}


class DataActBrokerHook(ApiHook):
    """
    Talk to the DATA Act Broker, authenticating one of three ways chosen from the connection.

    - ``proxy``: the Treasury API proxy. Login = ``client_id``, Password = ``client_secret``; both
      go as headers on every request; ``GET /v1/active_user`` starts the session.
    - ``session``: Password = an ``x-session-id`` from an interactive login.
    - ``login``: Login and Password exchanged at ``POST /v1/login`` for a session (local and test
      Brokers only).

    The mode is the connection extra ``auth_mode``; when it is empty: ``proxy`` for a host on
    ``api.fiscal.treasury.gov``, ``login`` when Login is set, else ``session``.

    :param data_act_broker_conn_id: The Airflow connection to use.
    """

    conn_name_attr = "data_act_broker_conn_id"
    default_conn_name = "data_act_broker_default"
    conn_type = "data_act_broker"
    hook_name = "DATA Act Broker"
    default_host = DEFAULT_HOST

    def __init__(self, data_act_broker_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(data_act_broker_conn_id, **kwargs)
        self.data_act_broker_conn_id = self.conn_id
        self._session_id: str | None = None

    def auth_mode(self, settings: ConnSettings | None = None) -> str:
        """The authentication mode this connection uses (see the class docstring)."""
        settings = settings or self.settings
        mode = str(settings.extra.get("auth_mode") or "").strip().lower()
        if not mode:
            if PROXY_HOST_MARK in settings.base_url:
                mode = "proxy"
            elif settings.login:
                mode = "login"
            else:
                mode = "session"
        if mode not in AUTH_MODES:
            raise SovConnectionConfigError(
                f"Connection {self.conn_id!r}: auth_mode {mode!r} is not one of {', '.join(AUTH_MODES)}."
            )
        if mode in ("proxy", "login") and not settings.login:
            what = "client_id" if mode == "proxy" else "user name"
            raise SovConnectionConfigError(
                f"Connection {self.conn_id!r} uses auth_mode {mode!r} but has no Login.",
                hint=f"Put the {what} in the connection's Login field.",
            )
        return mode

    def auth_headers(self, settings: ConnSettings) -> dict[str, str]:
        mode = self.auth_mode(settings)
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

    def establish_session(self) -> None:
        """
        Start a session where the mode allows it: log in, or call ``/v1/active_user`` via the proxy.

        A bare session ID cannot be renewed here: it comes from an interactive login.
        """
        settings = self.settings
        mode = self.auth_mode(settings)
        if mode == "login":
            self._session_id = None
            route = ROUTES["login"]
            body = self.request(route, json={"username": settings.login, "password": settings.secret})
            session_id = str(
                require_keys(body, ("session_id",), self._call(route, settings, None, None))["session_id"]
            )
            from airflow_provider_sov._shared.connection import mask

            mask(session_id)
            self._session_id = session_id
        elif mode == "proxy":
            self.request(ROUTES["active_user"])

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials: ``/v1/active_user`` via the proxy, else ``/v1/session``."""
        try:
            mode = self.auth_mode()
            if mode == "proxy":
                self.request(ROUTES["active_user"])
                return True, f"Connected to {self.settings.base_url} through the Treasury API proxy."
            if mode == "login":
                self.establish_session()
            body = self.request(ROUTES["session"])
        except Exception as exc:
            return False, str(exc)
        if str(body.get("status")) == "True":
            return True, f"Connected to {self.settings.base_url}; the session is active."
        return False, (
            f"Connected to {self.settings.base_url}, but the session is not active: renew the session ID "
            f"in connection {self.conn_id!r} (log in again and copy the new x-session-id)."
        )
