"""
The API routes and the check every ID passes before it fills one: no I/O, cheap to import.

A DAG file's operators and sensors check IDs and name routes at parse time; sending (and the
retry and error rules in :mod:`.http`) waits until a task runs.
"""

from __future__ import annotations

import re
from dataclasses import KW_ONLY, dataclass
from functools import cached_property
from string import Formatter
from urllib.parse import quote

from airflow_provider_sov.exceptions import SovInputError

_ID_PATTERN = re.compile(r"[^/\s\\?#%]+")


def check_id(value: object, what: str, example: str | None = None) -> str:
    """
    Return ``value`` as a path-safe ID, or raise :class:`SovInputError` before anything is sent.

    IDs are opaque strings from the API: they are never parsed, only checked not to be empty and
    not to contain characters that would change the URL (``/``, whitespace, ``?``, ``#``, ``%``).
    """
    hint = f"IDs are returned by the API, e.g. {example!r}." if example else "IDs are returned by the API."
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SovInputError(f"{what} must be a string, got {type(value).__name__}.", hint=hint)
    text = str(value)
    if not text:
        raise SovInputError(f"{what} is empty.", hint=hint)
    if not _ID_PATTERN.fullmatch(text):
        raise SovInputError(
            f"{what} {text!r} is not a valid ID: it contains '/', whitespace or another character "
            "that cannot appear in one.",
            hint=hint,
        )
    return text


#: Characters RFC 3986 lets a path segment carry unencoded, beyond letters, digits and ``-._~``.
_PCHAR = "!$&'()*+,;=:@"


@dataclass(frozen=True)
class Route:
    """
    One API route: how to call it and whether calling it twice is safe.

    :param name: Short name used in logs, errors and the emulator's counters.
    :param method: HTTP method.
    :param template: Path template, e.g. ``/api/v1/sov/update/{sud_id}``.
    :param idempotent: Whether a retry after the server may have acted is harmless. Routes that
        create work (a parse, an update) are not: they are retried only when the request provably
        never reached the server.
    :param what: What the route acts on, for messages (``"SUD"``, ``"SOV"``...).
    """

    name: str
    method: str
    template: str
    _: KW_ONLY
    idempotent: bool
    what: str = ""
    action: str = ""

    @cached_property
    def id_name(self) -> str:
        """Return the one ID the template takes (``sud_id`` for ``/api/v1/sov/update/{sud_id}``)."""
        names = [name for _, name, _, _ in Formatter().parse(self.template) if name]
        if len(names) != 1:
            raise ValueError(f"route {self.name} takes {len(names)} IDs, not one")
        return names[0]

    def path(self, **ids: str) -> str:
        """
        Fill the template with URL-quoted IDs (already checked by :func:`check_id`).

        Characters a path segment may hold as they are (RFC 3986 ``pchar``: ``!`` of an item key
        such as ``i-s-e-xxxxxxx!SOV!1``, ``:``, ``@`` ...) are sent as they are, as the vendor's
        client sends them; everything else is percent-encoded.
        """
        return self.template.format(**{k: quote(v, safe=_PCHAR) for k, v in ids.items()})
