"""What a task remembers across its own retries: the job it started, its steps, its wait, its files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov.exceptions import SovInputError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_sov._shared.jobs import JobKind, RefT

#: The job this task created or attached to: its kind's ref, as plain JSON.
JOB = "job"
#: The last step a multi-step task finished (``initiated``, ``locations_added``, ``started``).
STEP = "step"
#: Set just before a guarded creating call whose answer could be lost: ``{"step", "job"}``.
SENT = "sent"
#: The wait this task began: ``{"key", "deadline", "wait_started"}``, so a resumed task keeps its deadline.
WAIT = "wait"
#: An outage of the API a rescheduled wait is riding out: ``{"since", "failures"}`` (:mod:`.outage`).
OUTAGE = "outage"
#: The pages of the job this task found for its links (``{page: url}``; :mod:`airflow_provider_sov.links`).
PAGES = "pages"
#: Files written whole by an earlier try: ``{slot: {"filename", "uri", "size", "sha256", ...}}``.
DOWNLOADED = "downloaded"


class StateStore:
    """
    The task's state store (Airflow 3.3 ``task_state_store``), or nothing where Airflow lacks it.

    It survives task retries, which is what lets a retried task reattach to the job it started
    instead of creating another. Its keys are the constants of this module, named nowhere else.
    """

    def __init__(self, context: Context, log: Any) -> None:
        self._store = context.get("task_state_store")
        if self._store is None:
            log.warning("task_state_store is not available: a retry of this task cannot reattach to its job.")

    def get(self, key: str) -> Any:
        return None if self._store is None else self._store.get(key)

    def set(self, key: str, value: Any) -> None:
        if self._store is not None:
            self._store.set(key, value)

    def delete(self, key: str) -> None:
        if self._store is not None:
            self._store.delete(key)


def saved_ref(kind: JobKind[RefT, Any], store: StateStore) -> RefT | None:
    """Return the job this task recorded (:data:`JOB`) as ``kind``'s ref; None if none, or not one of ``kind``."""
    saved = store.get(JOB)
    if not isinstance(saved, dict):
        return None
    try:
        return kind.ref_from_json(saved)
    except SovInputError:
        return None


def still_there(entry: dict[str, Any]) -> bool:
    """Return whether a file an earlier try wrote (``{"uri", "size"}``) is still in place, whole."""
    from airflow_provider_sov._shared.files import as_destination

    try:
        path = as_destination(entry["uri"])
        return bool(path.exists() and path.stat().st_size == entry["size"])
    except Exception:
        return False
