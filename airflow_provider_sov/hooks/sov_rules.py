"""What SOV Fixer accepts, checked before anything is sent (shared by the hook and the operators)."""

from __future__ import annotations

import re
from typing import Any, TypedDict

from airflow_provider_sov._shared.routes import check_id
from airflow_provider_sov._shared.task_state import task_instance_name
from airflow_provider_sov.exceptions import SovInputError

# Known names are spelled the API's way whatever their case; others go to the API as given, since
# nothing shows the API refuses them (the vendor's client passes any), and its 400 is shown verbatim.
#: ``update_type`` values the API documents for ``initiate_update``.
UPDATE_TYPES = ("API", "SCRUB", "AIR", "RMS", "RMS_ANALYSIS", "COMPLETE", "PINGREADY")
#: ``document_type`` values the API documents for a new parse, and ``LOSS_RUN`` the vendor's CLI offers.
DOCUMENT_TYPES = ("SOV", "PREM_BDX", "CLAIM_BDX", "SOV_BDX", "ACORD", "LOSS_RUN")
#: ``document_type`` values the vendor's client documents for a new submission.
SUBMISSION_DOCUMENT_TYPES = ("SOV", "PREM_BDX", "CLAIM_BDX", "SOV_BDX")
#: ``status`` values the activity list filters on (the vendor's client: pending, in progress,
#: enriching, re-enriching, complete, failed).
ACTIVITY_STATUSES = ("P", "I", "E", "R", "C", "F")
#: ``origin`` values the activity list filters on.
ACTIVITY_ORIGINS = ("api", "email")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_revision(revision: object) -> int:
    """``revision``: -1 (latest), 0 (original parse) or a positive revision number."""
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise SovInputError(f"revision must be an integer, got {revision!r}.", hint="Use -1 for the latest.")
    if revision < -1:
        raise SovInputError(
            f"revision {revision} is below -1.", hint="Use -1 for the latest, 0 for the original parse, or N."
        )
    return revision


def check_output_format(output_format: object) -> str:
    """Return a non-empty format name; case does not matter to the API."""
    if not isinstance(output_format, str) or not output_format.strip():
        raise SovInputError(
            f"output_format must be a non-empty string such as 'json', got {output_format!r}.",
            hint="List the formats your organisation may request with SovHook.list_output_formats().",
        )
    return output_format.strip()


def check_name(value: object, known: tuple[str, ...], name: str) -> str:
    """``value`` is a non-empty string; a ``known`` name in any case comes back in the API's spelling."""
    if not isinstance(value, str) or not value.strip():
        raise SovInputError(
            f"{name} must be a non-empty string, got {value!r}.", hint=f"Documented: {', '.join(known)}."
        )
    value = value.strip()
    return value.upper() if value.upper() in known else value


def check_extra_data(extra_data: object) -> dict[str, Any]:
    """``extra_data`` is a mapping with plain identifier keys (they become form-field names)."""
    if extra_data is None:
        return {}
    if not isinstance(extra_data, dict):
        raise SovInputError(f"extra_data must be a dict, got {type(extra_data).__name__}.")
    bad = [k for k in extra_data if not isinstance(k, str) or not _IDENTIFIER.match(k)]
    if bad:
        raise SovInputError(
            f"extra_data key(s) {bad!r} are not plain identifiers.",
            hint="Use names like insured_name or inception_date.",
        )
    return dict(extra_data)


def str_list(value: object, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if "," in value:
            raise SovInputError(f"{name} must be a list such as ['json', 'xlsx'], got the string {value!r}.")
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SovInputError(f"{name} must be a list of non-empty strings, got {value!r}.")
    return [v.strip() for v in value]


def history_params(cursor_id: str | int | None, start: str | None, page_size: int) -> dict[str, Any]:
    """Check and build the history feed's query parameters (shared by the sync and async reads)."""
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 250:
        raise SovInputError(f"page_size must be an integer from 1 to 250, got {page_size!r}.")
    params: dict[str, Any] = {"page_size": page_size}
    if cursor_id is not None:
        params["cursor_id"] = check_id(cursor_id, "cursor_id")
    if start is not None:
        if not (isinstance(start, str) and re.fullmatch(r"\d{14}", start)):
            raise SovInputError(f"start must be a YYYYmmddHHMMSS string, got {start!r}.")
        params["start"] = start
    return params


class ParseOptions(TypedDict, total=False):
    """What a new parse may be told besides its file (:meth:`SovHook.start_parse`); only what is given is sent."""

    document_type: str  # SOV (default), PREM_BDX, CLAIM_BDX, SOV_BDX, ACORD
    output_formats: list[str] | None
    extra_data: dict[str, Any] | None  # sent as extra_data_<key> fields
    client_ref: str | None
    callback_url: str | None
    update_callback_url: str | None
    integrations: list[str] | None
    workflow: str | None
    delegate_to_team: str | int | None  # a team's UUID or ID: the job runs as that team's
    allow_ping_data_api: bool | None  # the vendor's fix_sov sends True unless told otherwise
    company: str | None
    team: str | None


class StartOptions(TypedDict, total=False):
    """What an update or a new submission may be started with (:meth:`SovHook.start_update`)."""

    extra_data: dict[str, Any] | None  # e.g. insured_name: it names the output files
    output_formats: list[str] | None
    policy_terms: Any
    outputter_name: str | None
    metadata: dict[str, Any] | None
    integrations: list[str] | None
    delegate_to_team: str | int | None


def start_payload(options: dict[str, Any]) -> dict[str, Any]:
    """Check :class:`StartOptions`; build the start's body as the vendor's client does (also before any step)."""
    given = check_options(options, StartOptions, "start_update")
    payload: dict[str, Any] = {"extra_data": check_extra_data(given.get("extra_data"))}
    formats = str_list(given.get("output_formats"), "output_formats")
    if formats:
        payload["output_formats"] = formats
    for key in ("policy_terms", "outputter_name"):
        if given.get(key) is not None:
            payload[key] = given[key]
    integrations = str_list(given.get("integrations"), "integrations")
    if integrations is not None:
        payload["integrations"] = integrations
    team = check_team(given.get("delegate_to_team"))
    if team is not None:
        payload["delegate_to_team"] = team
    metadata = given.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise SovInputError(f"metadata must be a dict, got {type(metadata).__name__}.")
        payload["metadata"] = metadata
    return payload


class ActivityFilters(TypedDict, total=False):
    """
    What the activity list filters on (:meth:`SovHook.list_activity`), as the vendor's client names it.

    Times are ``YYYYMMDDHHmmss`` (UTC); ``company__short_name`` and ``division__short_name`` take
    one name or a list.
    """

    id: str  # one SOV
    fields: list[str]  # only these fields of each SOV
    search: str  # a case-insensitive substring of the SOV's key fields
    origin: str  # api or email
    status: str  # P, I, E, R, C or F
    company__short_name: str | list[str]
    division__short_name: str | list[str]
    pingid: str
    completed_time__gt: str
    completed_time__gte: str
    completed_time__lt: str
    completed_time__lte: str


def check_team(value: object) -> str | int | None:
    """``delegate_to_team``: None, or a team's UUID or ID (a non-empty string or an integer), as given."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise SovInputError(
            f"delegate_to_team must be a team's UUID or ID, got {value!r}.",
            hint="Omit it to run the job as the connection's own team.",
        )
    return value.strip() if isinstance(value, str) else value


def _stamp(value: object, name: str) -> str:
    if not (isinstance(value, str) and re.fullmatch(r"\d{14}", value)):
        raise SovInputError(f"{name} must be a YYYYMMDDHHmmss string (UTC), got {value!r}.")
    return value


def activity_params(
    filters: dict[str, Any], cursor_id: str | None, prev_cursor_id: str | None, page_size: int
) -> list[tuple[str, str]]:
    """Build the activity list's query as the vendor's client does (``cursor_id`` wins over ``prev_cursor_id``)."""
    check_options(filters, ActivityFilters, "list_activity")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 250:
        raise SovInputError(f"page_size must be an integer from 1 to 250, got {page_size!r}.")
    params: list[tuple[str, str]] = []
    if filters.get("id") is not None:
        params.append(("id", check_id(filters["id"], "id")))
    if cursor_id is not None:
        params.append(("cursor_id", check_id(cursor_id, "cursor_id")))
    elif prev_cursor_id is not None:
        params.append(("prev_cursor_id", check_id(prev_cursor_id, "prev_cursor_id")))
    params.append(("page_size", str(page_size)))
    for name in ("fields", "company__short_name", "division__short_name"):
        for value in str_list(filters.get(name), name) or []:
            params.append((name, value))
    if filters.get("origin") is not None:
        params.append(("origin", _one_of(filters["origin"], ACTIVITY_ORIGINS, "origin")))
    if filters.get("status") is not None:
        params.append(("status", _one_of(filters["status"], ACTIVITY_STATUSES, "status")))
    for name in ("search", "pingid"):
        if filters.get(name) is not None:
            if not isinstance(filters[name], str) or not filters[name]:
                raise SovInputError(f"{name} must be a non-empty string, got {filters[name]!r}.")
            params.append((name, filters[name]))
    for name in ("completed_time__gt", "completed_time__gte", "completed_time__lt", "completed_time__lte"):
        if filters.get(name) is not None:
            params.append((name, _stamp(filters[name], name)))
    return params


def _one_of(value: object, allowed: tuple[str, ...], name: str) -> str:
    """A filter's value is one the vendor's client documents (an unknown one would match nothing)."""
    if value not in allowed:
        raise SovInputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}.")
    return str(value)


def check_options(options: dict[str, Any], allowed: type, what: str) -> dict[str, Any]:
    """Refuse an option ``allowed`` (a TypedDict) does not name: a misspelt one would be dropped silently."""
    unknown = sorted(set(options) - set(allowed.__annotations__))
    if unknown:
        raise SovInputError(
            f"{what} takes no option {', '.join(map(repr, unknown))}.",
            hint=f"It takes {', '.join(allowed.__annotations__)}.",
        )
    return options


def check_batch_rows(batch_rows: Any) -> int | None:
    """``batch_rows`` is None or a positive integer (checked when the DAG is parsed)."""
    if batch_rows is not None and (
        isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1
    ):
        raise SovInputError(f"batch_rows must be a positive integer, got {batch_rows!r}.")
    return batch_rows


#: The longest ``client_ref`` a task makes itself (the API documents no limit).
CLIENT_REF_LIMIT = 200


def task_client_ref(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> str:
    """
    Return the ``client_ref`` a task instance sends when it is given none: the same on every try,
    unique to the task instance and readable in SOV Fixer's app,
    ``airflow:<dag_id>/<run_id>/<task_id>/<map_index>`` (a digest past :data:`CLIENT_REF_LIMIT`).
    """
    return task_instance_name("airflow:", "/", dag_id, run_id, task_id, map_index, CLIENT_REF_LIMIT)
