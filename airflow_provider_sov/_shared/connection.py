"""Read an Airflow connection into the settings both hooks use; checked before anything is sent."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_sov._shared.outage import DEFAULT_OUTAGE_TOLERANCE
from airflow_provider_sov.exceptions import SovConnectionConfigError

if TYPE_CHECKING:
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class ConnSettings:
    """
    Everything a request needs from the connection, the extras of the same names read and checked.
    ``base_url`` has no trailing slash; ``origin`` (``scheme://host:port``) and ``trusted_origins``
    are where credentials may go; ``secret`` is the Password (token, session ID or password).
    """

    conn_id: str
    base_url: str
    origin: str
    trusted_origins: tuple[str, ...] = ()
    verify: bool | str = True
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    login: str | None = None
    secret: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    max_requests_per_second: float | None = None
    outage_tolerance: float = DEFAULT_OUTAGE_TOLERANCE

    @cached_property
    def host(self) -> str:
        """Return ``host:port`` of :attr:`base_url`, as messages name it (read once, then kept)."""
        return urlsplit(self.base_url).netloc


def origin_of(url: str) -> str:
    """Return ``scheme://host:port`` of ``url`` with the default port made explicit."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def trusted(url: str, settings: ConnSettings) -> bool:
    """Whether credentials may go to ``url``: the connection's own origin, or one it lists as trusted."""
    if url.startswith(settings.base_url + "/"):  # under the connection's own base: its origin, unparsed
        return True
    try:
        origin = origin_of(url)
    except ValueError:  # a port that is no port: not a host credentials go to
        return False
    return origin == settings.origin or origin in settings.trusted_origins


def _trusted_origins(value: Any, conn_id: str) -> tuple[str, ...]:
    """Read extra ``trusted_hosts``: a list (or comma-separated string) of hosts or URLs; bare hosts are HTTPS."""
    if value in (None, "", []):
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise SovConnectionConfigError(
            f"Connection {conn_id!r}: extra 'trusted_hosts' must be a list of host names, got {value!r}.",
            hint='e.g. ["files.example.com", "https://downloads.example.com:8443"].',
        )
    origins = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        url = item if "://" in item else f"https://{item}"
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise SovConnectionConfigError(
                f"Connection {conn_id!r}: extra 'trusted_hosts' entry {item!r} is not a host name or http(s) URL."
            )
        origins.append(origin_of(url))
    return tuple(origins)


def _verify(extra: dict[str, Any], conn_id: str) -> bool | str:
    """Read extras ``verify`` (a switch, or for older connections also a CA bundle path) and ``ca_bundle``."""
    verify = _as_bool_or_path(extra.get("verify", True), conn_id)
    bundle = extra.get("ca_bundle")
    if bundle in (None, ""):
        return verify
    if verify is False:
        raise SovConnectionConfigError(
            f"Connection {conn_id!r}: extra 'ca_bundle' is set but 'verify' is off.",
            hint="Turn Verify TLS on to check certificates against the bundle, or clear the CA bundle path.",
        )
    if not isinstance(bundle, str):
        raise SovConnectionConfigError(
            f"Connection {conn_id!r}: extra 'ca_bundle' must be a path, got {bundle!r}."
        )
    return _bundle_path(bundle, conn_id, "ca_bundle")


def _bundle_path(value: str, conn_id: str, name: str) -> str:
    path = os.path.expanduser(value.strip())
    if not os.path.isfile(path):
        raise SovConnectionConfigError(
            f"Connection {conn_id!r}: extra {name!r} names a CA bundle that does not exist: {path!r}.",
            hint="Give the path of a PEM file readable on every Airflow worker and the triggerer.",
        )
    return path


def _as_bool_or_path(value: Any, conn_id: str) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", ""):
            return True
        if lowered in ("false", "0", "no"):
            return False
        return _bundle_path(value, conn_id, "verify")
    raise SovConnectionConfigError(
        f"Connection {conn_id!r}: extra 'verify' must be true, false or a CA bundle path, got {value!r}."
    )


def _positive(
    value: Any,
    name: str,
    conn_id: str,
    what: str = "number",
    hint: str | None = None,
    *,
    zero: bool = False,
) -> float | None:
    """Read a numeric extra: None when empty, else a positive finite number (or 0, with ``zero``)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not (number >= 0 if zero else number > 0) or number == float("inf"):
        kind = f"{what}, 0 or more" if zero else f"positive {what}"
        raise SovConnectionConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be a {kind}, got {value!r}.", hint=hint
        )
    return number


def _as_seconds(value: Any, name: str, default: float, conn_id: str) -> float:
    seconds = _positive(value, name, conn_id, "number of seconds")
    return default if seconds is None else seconds


def _as_tolerance(value: Any, conn_id: str) -> float:
    """Read extra ``outage_tolerance``: empty for the default, else seconds (0: no failure is ridden out)."""
    hint = (
        f"e.g. 1800 to ride out half an hour of failures; leave it empty for {DEFAULT_OUTAGE_TOLERANCE:.0f}."
    )
    seconds = _positive(value, "outage_tolerance", conn_id, "number of seconds", hint, zero=True)
    return DEFAULT_OUTAGE_TOLERANCE if seconds is None else seconds


def _as_rate(value: Any, conn_id: str) -> float | None:
    """Read extra ``max_requests_per_second``: empty for no limit, else a positive number."""
    return _positive(value, "max_requests_per_second", conn_id, hint="e.g. 20; leave it empty for no limit.")


def ui_field_behaviour(conn_type: str) -> dict[str, Any]:
    """A connection type's form shape from ``get_provider_info()`` (Airflow 3.0 and 3.1 ask each hook's own)."""
    from airflow_provider_sov import get_provider_info

    for entry in get_provider_info()["connection-types"]:
        if entry["connection-type"] == conn_type:
            return {k.replace("-", "_"): v for k, v in entry["ui-field-behaviour"].items()}
    return {}


def settings_from_connection(
    conn: Connection, *, default_host: str, require_secret: bool, extra: dict[str, Any] | None = None
) -> ConnSettings:
    """
    Turn an Airflow connection into :class:`ConnSettings`, or say exactly what is wrong with it.
    ``extra``: the extras when the caller read them (the async path). A host without a scheme means
    HTTPS, an empty one ``default_host``. The secret is masked by :func:`mask` / :func:`amask`.
    """
    conn_id = conn.conn_id
    raw_host = (conn.host or "").strip() or default_host
    url = raw_host if "://" in raw_host else f"https://{raw_host}"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise SovConnectionConfigError(
            f"Connection {conn_id!r}: host {raw_host!r} is not an http(s) URL.",
            hint=f"Set the host to e.g. {default_host!r}.",
        )
    netloc = parts.netloc
    if conn.port and parts.port is None:
        netloc = f"{netloc}:{conn.port}"
    base_url = f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"
    # The connection form may store its fields prefixed (``extra__<type>__verify``): accept both.
    prefix = f"extra__{conn.conn_type}__"
    extras = conn.extra_dejson if extra is None else extra
    extra = {k.removeprefix(prefix): v for k, v in (extras or {}).items()}
    secret = conn.password or None
    if require_secret and not secret:
        raise SovConnectionConfigError(
            f"Connection {conn_id!r} has no token.",
            hint="Put the API token in the connection's Password field.",
        )
    verify = _verify(extra, conn_id)
    if verify is False:
        log.warning(
            "Connection %r: TLS certificate verification is turned off (extra verify=false).", conn_id
        )
    settings = ConnSettings(
        conn_id=conn_id,
        base_url=base_url,
        origin=origin_of(base_url),
        trusted_origins=_trusted_origins(extra.get("trusted_hosts"), conn_id),
        verify=verify,
        connect_timeout=_as_seconds(
            extra.get("connect_timeout"), "connect_timeout", DEFAULT_CONNECT_TIMEOUT, conn_id
        ),
        read_timeout=_as_seconds(extra.get("read_timeout"), "read_timeout", DEFAULT_READ_TIMEOUT, conn_id),
        login=conn.login or None,
        secret=secret,
        extra=dict(extra),
        max_requests_per_second=_as_rate(extra.get("max_requests_per_second"), conn_id),
        outage_tolerance=_as_tolerance(extra.get("outage_tolerance"), conn_id),
    )
    return settings


def missing_connection(conn_id: str, conn_type: str) -> SovConnectionConfigError:
    """Return the error for a connection that is not defined, saying how to define it."""
    env = "AIRFLOW_CONN_" + conn_id.upper()
    return SovConnectionConfigError(
        f"Airflow connection {conn_id!r} is not defined.",
        hint=f"Create it (type {conn_type!r}) in the UI or CLI, or set the {env} environment variable.",
    )


def mask(secret: str | None) -> None:
    """Register a connection's secret with Airflow's log masker (the blocking call: operators, hooks)."""
    if secret:
        from airflow_provider_sov._shared.compat import mask_secret

        mask_secret(secret)


async def amask(secret: str | None) -> None:
    """Register a connection's secret with the log masker from an event loop (triggers): never blocks it."""
    if secret:
        from airflow_provider_sov._shared.compat import amask_secret

        await amask_secret(secret)
