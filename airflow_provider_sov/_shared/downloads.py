"""
The one download-and-record path: each file a task names (:class:`FileToFetch`) is fetched by its
hook, recorded in the task's state (a retry keeps it), logged, told to OpenLineage and emitted as an
asset event on the task's outlets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.lineage import dataset, emit_file_events
from airflow_provider_sov._shared.task_state import DOWNLOADED, StateStore, still_there

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_sov._shared.files import FileToFetch
    from airflow_provider_sov._shared.hook import ApiHook


def download_and_record(
    context: Context,
    task: Any,
    hook: ApiHook,
    files: list[FileToFetch],
    *,
    overwrite: bool,
    meta: dict[str, Any],
) -> list[dict[str, Any]]:
    """
    Write ``files`` for ``task``; return ``[{"filename", "uri", "size", "sha256", ...}]``. A file an
    earlier try wrote whole is kept; ``meta`` goes into the asset events.
    """
    store = StateStore(context, task.log)
    done = dict(store.get(DOWNLOADED) or {})
    written = []
    for item in files:
        previous = done.get(item.slot)
        if isinstance(previous, dict) and still_there(previous):
            task.log.info("Keeping %s, written whole by an earlier try of this task.", previous["uri"])
            written.append(previous)
            continue
        entry = {**hook.fetch_file(item, overwrite=overwrite or bool(previous)).to_dict(), **item.describe}
        done[item.slot] = entry
        store.set(DOWNLOADED, done)
        task.log.info("Saved %s (%d bytes, sha256 %s).", entry["uri"], entry["size"], entry["sha256"][:12])
        written.append(entry)
    for entry in written:
        task.lineage.outputs.append(dataset(entry["uri"]))
    described = [{**e, "format": _extension(e["filename"])} for e in written]
    emit_file_events(context, list(getattr(task, "outlets", None) or []), described, meta)
    return written


def _extension(filename: str) -> str | None:
    """``report.json`` -> ``JSON``; None without an extension."""
    return filename.rsplit(".", 1)[1].upper() if "." in filename else None
