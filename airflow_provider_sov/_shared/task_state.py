"""What a task remembers across its own retries: the job it started, its steps, its wait, its files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

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


#: The prefix of the Airflow Variables that keep a task's records where Airflow has no task state store.
FALLBACK_PREFIX = "sov_task_state:"
#: Airflow's limit on a Variable's key.
_MAX_KEY = 250


class StateStore:
    """
    What a task keeps across its tries (so a retry reattaches to its job): Airflow 3.3's
    ``task_state_store``, before 3.3 one Variable per task instance. Keys: this module's constants.
    """

    def __init__(self, context: Context, log: Any) -> None:
        self._store: Any = context.get("task_state_store")
        if self._store is None:
            self._store = VariableRecords.of(context, log)

    def get(self, key: str) -> Any:
        return None if self._store is None else self._store.get(key)

    def set(self, key: str, value: Any) -> None:
        if self._store is not None:
            self._store.set(key, value)

    def delete(self, key: str) -> None:
        if self._store is not None:
            self._store.delete(key)


def task_instance_name(
    prefix: str, sep: str, dag_id: str, run_id: str, task_id: str, map_index: int | None, limit: int
) -> str:
    """
    A task instance's readable name, the same on every try: ``<prefix><dag><sep><run><sep><task><sep><map
    index>``; past ``limit`` characters the DAG, run and task give way to a SHA-256 digest of them.
    """
    index = -1 if map_index is None else map_index
    name = f"{prefix}{sep.join((dag_id, run_id, task_id))}{sep}{index}"
    if len(name) <= limit:
        return name
    import hashlib

    digest = hashlib.sha256(sep.join((dag_id, run_id, task_id)).encode()).hexdigest()
    return f"{prefix}{digest}{sep}{index}"


def fallback_key(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The Variable of a task instance's records, ``sov_task_state:<dag>:<run>:<task>:<map index>``
    (no ``/``: it goes in a URL path), within Airflow's 250 characters (:func:`task_instance_name`)."""
    return task_instance_name(FALLBACK_PREFIX, ":", dag_id, run_id, task_id, map_index, _MAX_KEY)


class VariableRecords:
    """
    The fallback store before Airflow 3.3: the records as one JSON object in the Variable
    :func:`fallback_key` names, written through at once, removed when the task succeeds. IDs, step
    names and file URIs only, never a secret. One object per task instance and try in a process.
    """

    _open: ClassVar[dict[tuple[str, int], VariableRecords]] = {}

    def __init__(self, key: str) -> None:
        from airflow.sdk import Variable

        self.key, self._variable = key, Variable
        loaded = Variable.get(key, default=None, deserialize_json=True)
        self._records: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
        self._exists = loaded is not None

    @classmethod
    def of(cls, context: Context, log: Any) -> VariableRecords | None:
        """Return the task instance's records (None outside a running task, which keeps none)."""
        ti = context.get("ti")
        dag_id, run_id, task_id = (getattr(ti, name, None) for name in ("dag_id", "run_id", "task_id"))
        if not (isinstance(dag_id, str) and isinstance(run_id, str) and isinstance(task_id, str)):
            return None
        map_index = getattr(ti, "map_index", -1)
        key = fallback_key(dag_id, run_id, task_id, map_index if isinstance(map_index, int) else -1)
        slot = (key, int(getattr(ti, "try_number", 0) or 0))
        if slot not in cls._open:
            try:
                cls._open[slot] = cls(key)
            except Exception as exc:  # no Variable API (outside a task runner): keep nothing
                log.warning("The task's records cannot be kept in Variable %r: %s", key, exc)
                return None
            log.info(
                "This Airflow has no task state store: this task's records (its job, steps and files) "
                "are kept in Variable %r until it succeeds, so a retry reattaches to its job.",
                key,
            )
        return cls._open[slot]

    def get(self, key: str) -> Any:
        return self._records.get(key)

    def set(self, key: str, value: Any) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")  # as task_state_store
        self._records[key] = value
        self._save()

    def delete(self, key: str) -> None:
        if self._records.pop(key, None) is not None:
            self._save()

    def _save(self) -> None:
        self._variable.set(
            self.key,
            self._records,
            serialize_json=True,
            description="airflow-provider-sov: this task's job, steps and files, kept until it succeeds",
        )
        self._exists = True

    def clear(self) -> None:
        """Remove the Variable: the task succeeded, and no retry will need its records."""
        if self._exists:
            self._variable.delete(self.key)
        self._records, self._exists = {}, False


def clear_records(context: Context, log: Any) -> None:
    """Remove a succeeded task's fallback records (every task calls it from ``post_execute``)."""
    if context.get("task_state_store") is None:
        records = VariableRecords.of(context, log)
        if records is not None:
            records.clear()


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
