"""What can go wrong on an emulated route, and what a request carried: fault injection's vocabulary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

#: Fault kinds: applied before the route acts (the server never saw the request) ...
BEFORE_KINDS = ("status", "reset", "latency", "redirect")
#: ... and after it acted (the server did the work; the client may not know it).
AFTER_KINDS = (
    "status_after",
    "reset_after",
    "slow_after",
    "truncate",
    "malformed_json",
    "unknown_status",
    "hostile_filename",
)
FAULT_KINDS = BEFORE_KINDS + AFTER_KINDS


@dataclass
class Fault:
    """
    One injected fault on a route.

    :param route: Route name (e.g. ``"initiate_update"``, ``"download"``) or ``"*"`` for all.
    :param kind: One of :data:`FAULT_KINDS`.
    :param status: HTTP status for ``status`` / ``status_after`` (``redirect``: 302 unless given).
    :param retry_after: ``Retry-After`` header value for ``status`` faults.
    :param delay: Seconds to wait before acting (``latency``), before answering (``slow_after``) or,
        for ``truncate``, between sending half the body and cutting the connection.
    :param value: The unknown status (``unknown_status``), file name (``hostile_filename``),
        ``Location`` (``redirect``; default: the same path on :attr:`EmulatorServer.elsewhere_url`)
        or the error message a ``status`` fault answers with.
    :param times: How many requests it hits; ``None`` for every one.
    :param path_contains: Only requests whose path contains this (e.g. one job's ID).
    """

    route: str
    kind: str
    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    value: Any = None
    times: int | None = 1
    path_contains: str | None = None
    hits: int = 0

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass
class Seen:
    """What one request carried, for assertions on headers (e.g. that no credential leaked)."""

    route: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    #: The client's (host, port): which connection, hence which process, sent it.
    peer: tuple[str, int] | None = None
    #: Once the emulator is done with it: the status it answered, or the error that ended it (a
    #: body cut short...); None while it is being handled.
    ended: int | str | None = None


#: Where the middleware leaves an "after" fault for a route that streams its own body.
#: Where a request carries its fault (aiohttp's typed key from 3.14; a plain key before).
FAULT_KEY: Any = web.RequestKey("fault", Fault) if hasattr(web, "RequestKey") else "sov_fault"
