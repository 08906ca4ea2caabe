"""What a task remembers across its own retries: the job it started, the files it wrote."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context


class StateStore:
    """
    The task's state store (Airflow 3.3 ``task_state_store``), or nothing where Airflow lacks it.

    It survives task retries, which is what lets a retried task reattach to the job it started
    instead of creating another.
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
    """Whether a file an earlier try wrote (``{"uri", "size"}``) is still in place, whole."""
    from airflow_provider_sov._shared.files import as_destination

    try:
        path = as_destination(entry["uri"])
        return bool(path.exists() and path.stat().st_size == entry["size"])
    except Exception:
        return False
