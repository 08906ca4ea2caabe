"""
How a hook's requests carry credentials: an object the hook is given, not a base class. It gives
headers for the connection's own origin, may prepare a request (start a session) and, after a 401,
says whether a new session may cure it (then the hook retries once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from airflow_provider_sov._shared.connection import ConnSettings
    from airflow_provider_sov._shared.routes import Route
    from airflow_provider_sov.exceptions import SovAuthError


class AuthHost(Protocol):
    """What an auth uses of the hook it serves: the connection's settings, sends that skip the auth's
    own handling (a login), the record of a call (for messages) and the log."""

    @property
    def settings(self) -> ConnSettings: ...

    @property
    def log(self) -> Any: ...

    async def asettings(self) -> ConnSettings: ...

    def send(self, route: Route, *, json: Any = None) -> Any: ...

    async def asend(self, route: Route, *, json: Any = None) -> Any: ...

    def _call(
        self, route: Route, settings: ConnSettings, job_id: str | int | None, action: str | None
    ) -> Any: ...


class Auth:
    """No credentials; the base of every auth. Each hook has its own (it may keep a session)."""

    def headers(self, settings: ConnSettings) -> dict[str, str]:
        """Return the headers that carry the credentials (sent only to the connection's origin)."""
        return {}

    def prepare(self, hook: AuthHost, route: Route) -> int:
        """Get ready to send ``route`` (e.g. start a session); return the session's epoch it goes with."""
        return 0

    async def aprepare(self, hook: AuthHost, route: Route) -> int:
        """Do what :meth:`prepare` does, on the async path."""
        return 0

    def renew(self, hook: AuthHost, error: SovAuthError, route: Route, used: int) -> bool:
        """
        After ``error`` (a 401 or 403), return whether a new session is in place for one retry;
        False re-raises the error. ``used`` is the epoch :meth:`prepare` returned.
        """
        return False

    async def arenew(self, hook: AuthHost, error: SovAuthError, route: Route, used: int) -> bool:
        """Do what :meth:`renew` does, on the async path."""
        return False


class TokenAuth(Auth):
    """
    A token from the connection's Password, as ``Authorization: <scheme> <token>``.

    :param scheme: The word before the token (SOV Fixer: ``Token``).
    """

    def __init__(self, scheme: str = "Token") -> None:
        self.scheme = scheme

    def headers(self, settings: ConnSettings) -> dict[str, str]:
        return {"Authorization": f"{self.scheme} {settings.secret}"}
