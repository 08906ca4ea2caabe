"""
The API routes and the check every ID passes before it fills one (no I/O: DAG files import it).
Every ID argument also takes a task's result of a kind whose job that ID names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass
from functools import cached_property, lru_cache
from string import Formatter
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_sov.exceptions import SovInputError

if TYPE_CHECKING:
    from airflow.sdk import Context

_ID_PATTERN = re.compile(r"[^/\s\\?#%]+")

#: What each ID argument takes from a task's result, by the result's ``kind``: the result's field
#: that holds that ID. A result of a kind not listed for an argument is refused, naming both.
RESULT_IDS: Mapping[str, Mapping[str, str]] = {
    # SOV Fixer: a parse's job is the SOV; an update's result names the SOV it updated.
    "sov_id": {"parse": "job_id", "update": "sov_id"},
    # A new submission is read and started on the update routes, by its own ID.
    "sud_id": {"update": "job_id", "submission": "job_id"},
    "request_id": {"output": "job_id"},
    # An SOV or an update (outputs, the history item).
    "id": {"parse": "job_id", "update": "job_id", "submission": "job_id"},
    # The Broker: validations are named by their submission; a generation's result names both.
    "submission_id": {
        "validation": "job_id",
        "generation": "submission_id",
        "reports": "job_id",
        "publication": "job_id",
    },
    "existing_submission_id": {"validation": "job_id", "publication": "job_id"},
    "job_id": {"generation": "job_id"},
}


def is_result(value: object) -> bool:
    """Whether ``value`` is a task's result (the one shape every task of this package returns)."""
    return isinstance(value, Mapping) and "kind" in value and "job_id" in value


def id_from_result(value: object, what: str) -> object:
    """
    Return the ID a task's result gives for the argument ``what`` (:data:`RESULT_IDS`); any other value
    unchanged. A result of another kind raises :class:`SovInputError` naming both.
    """
    if not is_result(value):
        return value
    assert isinstance(value, Mapping)
    kinds = RESULT_IDS.get(what, {})
    kind = value.get("kind")
    field = kinds.get(str(kind))
    accepted = " or ".join(repr(k) for k in kinds) or "no"
    if field is None:
        raise SovInputError(
            f"{what} was given the result of a {kind!r} task (job_id {value.get('job_id')!r}), but {what} "
            f"takes an ID or the result of a task of kind {accepted}.",
            hint=f"Pass the task whose job this {what} names, or the ID itself.",
        )
    found = value.get(field)
    if found in (None, ""):
        raise SovInputError(
            f"{what} was given the result of a {kind!r} task (job_id {value.get('job_id')!r}) that names "
            f"no {what}: its {field!r} is empty.",
            hint=f"Pass a result that names the {what}, or the ID itself.",
        )
    return found


class IdArguments:
    """
    A task's ID arguments take a result as well as an ID: once rendered, each holds the result's ID;
    what else the results name stays known to the task (:meth:`known`).
    """

    template_fields: Any
    #: The results the task's ID arguments were given, once its templated fields are rendered.
    given_results: tuple[dict[str, Any], ...] = ()

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)  # type: ignore[misc]
        given = []
        for name in self.template_fields:
            value = getattr(self, name, None)
            if name in RESULT_IDS and isinstance(value, Mapping) and is_result(value):
                given.append(dict(value))
                setattr(self, name, id_from_result(value, name))
        self.given_results = tuple(given)

    def known(self, name: str) -> Any:
        """Return the task's own ``name`` argument, else what a result it was given names as ``name``."""
        value = getattr(self, name, None)
        for given in self.given_results:
            if value is None:
                value = given.get(name)
        return value

    def known_ids(self) -> dict[str, Any]:
        """Return every ID the task knows (:meth:`known`) by argument name; None where it knows none."""
        return {name: self.known(name) for name in RESULT_IDS}


def check_id(value: object, what: str, example: str | None = None) -> str:
    """
    Return ``value`` as a path-safe ID (opaque: only checked not empty and free of ``/``, whitespace,
    ``?``, ``#``, ``%``), or raise :class:`SovInputError` before anything is sent.
    """
    value = id_from_result(value, what)
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
    One API route: its name (logs, errors, counters), method, path template and ``what`` it acts on
    (messages). ``idempotent``: a retry after the server may have acted is harmless (a route that
    creates work is retried only when the request provably never reached the server).
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
        """Fill the template with checked IDs, percent-encoding all but RFC 3986 ``pchar`` (as the vendor's client)."""
        return self.template.format(**{k: _quoted(v) for k, v in ids.items()})


@lru_cache(maxsize=16384)
def _quoted(value: str) -> str:
    """An ID as a path segment; cached, as a triggerer fills the same IDs into every poll's URL."""
    return quote(value, safe=_PCHAR)
