"""What a task remembers across its own retries: the job it started, its steps, the files it wrote."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The job this task created or attached to: its spec's ref (plain JSON).
JOB = "job"
#: The last step a multi-step task finished (``initiated``, ``locations_added``, ``started``).
STEP = "step"
#: Set just before a creating call whose answer could be lost (e.g. starting an update).
SENT = "sent"
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


def still_there(entry: dict[str, Any]) -> bool:
    """Return whether a file an earlier try wrote (``{"uri", "size"}``) is still in place, whole."""
    from airflow_provider_sov._shared.files import as_destination

    try:
        path = as_destination(entry["uri"])
        return bool(path.exists() and path.stat().st_size == entry["size"])
    except Exception:
        return False
