"""Operators for SOV Fixer updates: initiate, add locations, start, wait, download, or all in one task."""

from __future__ import annotations

import csv
import glob
import io
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseOperator

from airflow_provider_sov._shared.files import (
    CsvSummary,
    as_source,
    check_destination,
    check_locations_csv,
    numbered,
    safe_filename,
)
from airflow_provider_sov._shared.lineage import LineageMixin, dataset, emit_file_events
from airflow_provider_sov._shared.task_state import StateStore as _StateStore
from airflow_provider_sov._shared.task_state import still_there
from airflow_provider_sov.exceptions import SovBadRequestError, SovConflictError, SovError, SovInputError
from airflow_provider_sov.hooks.sov import (
    JOB_KINDS,
    UPDATE_TYPES,
    SovHook,
    check_choice,
    check_outcome,
    check_output_format,
    check_revision,
    classify,
)
from airflow_provider_sov.sensors.sov import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    SovWaitMixin,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from airflow.sdk import Context

UPDATE = JOB_KINDS["update"]
_GLOB_CHARS = set("*?[")


# --- Helpers shared by the operators ------------------------------------------------------------


def resolve_locations(locations: Any) -> list[Any]:
    """Expand ``locations`` (a path, a glob, ``ObjectStoragePath``s, or a list of them) to files."""
    items = list(locations) if isinstance(locations, (list, tuple)) else [locations]
    if not items or any(item in (None, "") for item in items):
        raise SovInputError(f"locations must name at least one CSV file, got {locations!r}.")
    files: list[Any] = []
    for item in items:
        text = os.fspath(item) if isinstance(item, (str, os.PathLike)) and not hasattr(item, "fs") else None
        if text is not None and "://" not in text and _GLOB_CHARS & set(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise SovInputError(
                    f"No locations CSV matches {text!r}.", hint="Check the pattern and folder."
                )
            files.extend(Path(m) for m in matches)
        else:
            files.append(as_source(item, "locations CSV"))
    return files


def split_csv(path: Any, batch_rows: int, folder: str) -> Iterator[tuple[Path, int]]:
    """Write ``path`` as CSV files of at most ``batch_rows`` rows each, header repeated; stream-only."""
    with path.open("rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        header = next(reader)
        part, rows, handle, writer = 0, 0, None, None
        try:
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if handle is None or rows == batch_rows:
                    if handle is not None:
                        handle.close()
                        yield Path(handle.name), rows
                    part += 1
                    handle = open(Path(folder) / f"part-{part:04d}.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
                    writer = csv.writer(handle)
                    writer.writerow(header)
                    rows = 0
                assert writer is not None
                writer.writerow(row)
                rows += 1
            if handle is not None:
                handle.close()
                yield Path(handle.name), rows
        finally:
            if handle is not None and not handle.closed:
                handle.close()


def check_batch_rows(batch_rows: Any) -> int | None:
    """``batch_rows`` is None or a positive integer (checked when the DAG is parsed)."""
    if batch_rows is not None and (
        isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1
    ):
        raise SovInputError(f"batch_rows must be a positive integer, got {batch_rows!r}.")
    return batch_rows


def check_locations(locations: Any) -> list[tuple[Any, CsvSummary]]:
    """Resolve ``locations`` and check every CSV, each read once, before anything is sent."""
    return [(f, check_locations_csv(f)) for f in resolve_locations(locations)]


def upload_locations(
    hook: SovHook, sud_id: str, checked: list[tuple[Any, CsvSummary]], batch_rows: int | None, log: Any
) -> list[dict[str, Any]]:
    """Stream each checked CSV (in batches if asked); return rows sent per file."""
    sent: list[dict[str, Any]] = []
    for path, summary in checked:
        name = Path(str(path)).name
        try:
            if batch_rows is None or summary.rows <= batch_rows:
                hook.add_locations(sud_id, path, check=False, upload_name=name)
                batches = 1
            else:
                batches = 0
                with tempfile.TemporaryDirectory(prefix="sov-batches-") as folder:
                    for part, rows in split_csv(path, batch_rows, folder):
                        batches += 1
                        stem = name.rsplit(".", 1)[0]
                        hook.add_locations(
                            sud_id, part, check=False, upload_name=f"{stem}.part{batches:03d}.csv"
                        )
                        log.info("Sent batch %d of %s: %d row(s).", batches, name, rows)
        except SovConflictError as exc:
            raise SovConflictError(
                f"Cannot add {name} to update {sud_id}: the update was already started ({exc.server_message}).",
                job_id=sud_id,
                http_status=409,
                server_message=exc.server_message,
                hint="Locations can only be added before start; initiate a new update for these corrections.",
            ) from None
        except SovBadRequestError as exc:
            raise SovBadRequestError(
                f"SOV Fixer rejected {name} for update {sud_id}: {exc.server_message}.",
                job_id=sud_id,
                http_status=400,
                server_message=exc.server_message,
                hint="Fix the column or row the message names and run the task again.",
            ) from None
        log.info("Added %d location row(s) from %s to %s in %d call(s).", summary.rows, name, sud_id, batches)
        sent.append({"file": str(path), "rows": summary.rows, "batches": batches})
    return sent


def select_outputs(
    outputs: list[dict[str, Any]], descriptions: Sequence[str] | None, extensions: Sequence[str] | None
) -> list[dict[str, Any]]:
    """Keep the outputs whose description or file extension was asked for (all when neither is)."""
    wanted_desc = {d.lower() for d in descriptions or []}
    wanted_ext = {e.lower().lstrip(".") for e in extensions or []}
    chosen = []
    for output in outputs:
        name = str(output.get("filename") or output.get("url") or "")
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        desc = str(output.get("description") or "").lower()
        if (not wanted_desc or desc in wanted_desc) and (not wanted_ext or ext in wanted_ext):
            chosen.append(output)
    return chosen


def download_outputs(
    hook: SovHook,
    outputs: list[dict[str, Any]],
    destination: Any,
    *,
    overwrite: bool,
    job_id: str,
    done: dict[str, Any] | None = None,
    record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """
    Download ``outputs`` into ``destination``; return ``[{filename, uri, size, sha256, description}]``.

    Two outputs with the same name get distinct names (``name (2).ext``), never overwrite each
    other. ``done`` holds files an earlier try of the same task already wrote: they are kept, not
    fetched again, so a retry after a failure mid-way does not trip over its own files.
    """
    check_destination(destination)
    done = dict(done or {})
    taken: set[str] = set()
    results = []
    for output in outputs:
        base = safe_filename(output.get("filename") or output.get("scrubbed_filename"))
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = numbered(base, n)
        taken.add(name.lower())
        previous = done.get(name)
        if previous and still_there(previous):
            results.append(previous)
            continue
        saved = hook.download_output(
            output, destination, filename=name, overwrite=overwrite or bool(previous), job_id=job_id
        )
        entry = {**saved.to_dict(), "description": output.get("description")}
        results.append(entry)
        if record is not None:
            record(entry)
    return results


def sov_dataset(hook: SovHook, job_id: str) -> tuple[str, str]:
    """The OpenLineage (namespace, name) of an SOV, update or output on this connection's host."""
    return f"sovfixer://{urlsplit(hook.settings.base_url).netloc}", str(job_id)


def update_revision(task: Any, hook: SovHook, sud_id: str) -> int | None:
    """The revision an update produced, from the history feed; read only for tasks with outlets."""
    if not getattr(task, "outlets", None):
        return None
    try:
        revision = hook.get_history_item(sud_id).get("revision")
    except SovError as exc:
        task.log.warning("Could not read the revision of %s from the history feed: %s", sud_id, exc)
        return None
    return revision if isinstance(revision, int) else None


def download_resumable(
    context: Context,
    task: Any,
    hook: SovHook,
    outputs: list[dict[str, Any]],
    destination: Any,
    *,
    overwrite: bool,
    job_id: str,
    meta: dict[str, Any],
) -> list[dict[str, Any]]:
    """
    :func:`download_outputs` for a task: each file is recorded in the task's state store (so a
    retry keeps it), logged, emitted as an asset event on the task's outlets with ``meta``, and
    noted for lineage.
    """
    store = _StateStore(context, task.log)
    done = dict(store.get("downloaded") or {})

    def record(entry: dict[str, Any]) -> None:
        done[entry["filename"]] = entry
        store.set("downloaded", done)

    files = download_outputs(
        hook, outputs, destination, overwrite=overwrite, job_id=job_id, done=done, record=record
    )
    for f in files:
        task.log.info("Saved %s (%d bytes, sha256 %s).", f["uri"], f["size"], f["sha256"][:12])
        task.lineage_out(*dataset(f["uri"]))
    described = [
        {**f, "format": f["filename"].rsplit(".", 1)[-1].upper() if "." in f["filename"] else None}
        for f in files
    ]
    emit_file_events(context, list(getattr(task, "outlets", None) or []), described, meta)
    return files


# --- Operators ----------------------------------------------------------------------------------


class SovInitiateUpdateOperator(BaseOperator):
    """
    Create an update job for an SOV; return its SUD ID.

    A retried task returns the SUD its earlier try created (task state store) instead of creating
    another update.

    :param sov_id: The SOV to update (templated).
    :param update_type: ``API`` (default), ``SCRUB``, ``AIR``, ``RMS``, ``RMS_ANALYSIS``, ``COMPLETE``, ``PINGREADY``.
    :param callback_url: Optional webhook for the update's completion.
    :param client_ref: Your own reference, echoed in the history feed (templated).
    :param sovfixer_conn_id: The Airflow connection.
    """

    template_fields: Sequence[str] = ("sov_id", "update_type", "client_ref", "callback_url")

    def __init__(
        self,
        *,
        sov_id: str,
        update_type: str = "API",
        callback_url: str | None = None,
        client_ref: str | None = None,
        sovfixer_conn_id: str = SovHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sov_id = sov_id
        self.update_type = update_type
        self.callback_url = callback_url
        self.client_ref = client_ref
        self.sovfixer_conn_id = sovfixer_conn_id

    def execute(self, context: Context) -> str:
        store = _StateStore(context, self.log)
        update_type = check_choice(self.update_type, UPDATE_TYPES, "update_type")
        earlier = store.get("sud_id")
        if earlier:
            self.log.info(
                "Reattaching to update %s created by an earlier try; no new update is created.", earlier
            )
            return str(earlier)
        hook = SovHook(self.sovfixer_conn_id)
        sud_id = hook.initiate_update(
            self.sov_id, update_type=update_type, callback_url=self.callback_url, client_ref=self.client_ref
        )
        store.set("sud_id", sud_id)
        self.log.info("Initiated update %s of SOV %s (%s).", sud_id, self.sov_id, update_type)
        return sud_id


class SovAddLocationsOperator(LineageMixin, BaseOperator):
    """
    Upload corrections to a pending update: every CSV is checked locally first, then streamed.

    :param sud_id: The pending update (templated), e.g. ``SovInitiateUpdateOperator``'s XCom.
    :param locations: A path, a glob (``data/*.csv``), an ``ObjectStoragePath``, or a list (templated).
    :param batch_rows: Send a large CSV in several calls of at most this many rows, header repeated.
    :param sovfixer_conn_id: The Airflow connection.
    :return: ``[{"file", "rows", "batches"}]``, one entry per CSV.
    """

    template_fields: Sequence[str] = ("sud_id", "locations")

    def __init__(
        self,
        *,
        sud_id: str,
        locations: Any,
        batch_rows: int | None = None,
        sovfixer_conn_id: str = SovHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sud_id = sud_id
        self.locations = locations
        self.batch_rows = check_batch_rows(batch_rows)
        self.sovfixer_conn_id = sovfixer_conn_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        hook = SovHook(self.sovfixer_conn_id)
        sent = upload_locations(hook, self.sud_id, check_locations(self.locations), self.batch_rows, self.log)
        for entry in sent:
            self.lineage_in(*dataset(entry["file"]))
        self.lineage_out(*sov_dataset(hook, self.sud_id))
        return sent


class SovStartUpdateOperator(SovWaitMixin, BaseOperator):
    """
    Start a pending update; optionally wait for it (deferrable) and return its final result.

    :param sud_id: The update to start (templated).
    :param extra_data: Policy-level fields, e.g. ``{"insured_name": "Acme Corp"}``; they name the output files (templated).
    :param output_formats: e.g. ``["json", "xlsx"]`` (default JSON) (templated).
    :param policy_terms: Optional policy terms, passed through.
    :param outputter_name: Optional outputter, passed through.
    :param metadata: Optional metadata dict, passed through.
    :param wait_for_completion: Wait for the update to finish and return its result.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between polls while waiting.
    :param timeout: Seconds to wait in all.
    :param accept_partial: Treat ``PARTIAL_PARSE`` as usable (with a warning).
    """

    template_fields: Sequence[str] = ("sud_id", "extra_data", "output_formats", "metadata")

    def __init__(
        self,
        *,
        sud_id: str,
        extra_data: dict[str, Any] | None = None,
        output_formats: list[str] | None = None,
        policy_terms: Any = None,
        outputter_name: str | None = None,
        metadata: dict[str, Any] | None = None,
        wait_for_completion: bool = False,
        deferrable: bool | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        accept_partial: bool = False,
        sovfixer_conn_id: str = SovHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sud_id = sud_id
        self.extra_data = extra_data
        self.output_formats = output_formats
        self.policy_terms = policy_terms
        self.outputter_name = outputter_name
        self.metadata = metadata
        self.wait_for_completion = wait_for_completion
        self.configure_wait(deferrable, poll_interval, timeout)
        self.accept_partial = accept_partial
        self.sovfixer_conn_id = sovfixer_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        store = _StateStore(context, self.log)
        key = f"started:{self.sud_id}"
        if store.get(key):
            self.log.info("Update %s was started by an earlier try; not starting it again.", self.sud_id)
        else:
            self.hook.start_update(
                self.sud_id,
                extra_data=self.extra_data,
                output_formats=self.output_formats,
                policy_terms=self.policy_terms,
                outputter_name=self.outputter_name,
                metadata=self.metadata,
            )
            store.set(key, True)
            self.log.info("Started update %s.", self.sud_id)
        if not self.wait_for_completion:
            return {"job_id": self.sud_id, "kind": "update", "started": True}
        status = self.wait_for_job(
            UPDATE,
            self.sud_id,
            deferrable=self.deferrable,
            timeout=self.timeout,
            poll_interval=self.poll_interval,
        )
        return self.outcome(UPDATE, status)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: accept only a known event for this update."""
        return self.outcome(UPDATE, self.status_from_event(UPDATE, self.sud_id, event))


class SovDownloadOutputsOperator(LineageMixin, BaseOperator):
    """
    Download an update's outputs (all, or those matching descriptions or extensions).

    Give either ``sud_id`` (its status is read for the outputs) or ``outputs`` (a result from a
    sensor or ``SovStartUpdateOperator(wait_for_completion=True)``, or a list of outputs).

    :param destination: Local folder or object-storage URL (``s3://...``, ``gs://...``) (templated).
    :param sud_id: The finished update (templated).
    :param outputs: Outputs to download instead of reading them from ``sud_id`` (templated).
    :param overwrite: Replace files that already exist at the destination.
    :param descriptions: Only outputs with these descriptions (e.g. ``["JSON"]``), case-insensitive.
    :param extensions: Only outputs with these extensions (e.g. ``["xlsx"]``).
    :param accept_partial: Download the outputs of a ``PARTIAL_PARSE`` update too.
    :return: ``[{"filename", "uri", "size", "sha256", "description"}]``.
    """

    template_fields: Sequence[str] = ("destination", "sud_id", "outputs")

    def __init__(
        self,
        *,
        destination: Any,
        sud_id: str | None = None,
        outputs: Any = None,
        overwrite: bool = False,
        descriptions: Sequence[str] | None = None,
        extensions: Sequence[str] | None = None,
        accept_partial: bool = False,
        sovfixer_conn_id: str = SovHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.destination = destination
        self.sud_id = sud_id
        self.outputs = outputs
        self.overwrite = overwrite
        self.descriptions = descriptions
        self.extensions = extensions
        self.accept_partial = accept_partial
        self.sovfixer_conn_id = sovfixer_conn_id
        if (sud_id is None) == (outputs is None):
            raise SovInputError(f"Task {self.task_id!r}: give exactly one of sud_id or outputs.")

    def execute(self, context: Context) -> list[dict[str, Any]]:
        check_destination(self.destination)
        hook = SovHook(self.sovfixer_conn_id)
        job_id = self.sud_id or "outputs"
        if self.sud_id is not None:
            status = UPDATE.status(hook, self.sud_id)
            if not status.terminal:
                raise SovInputError(
                    f"Update {self.sud_id} has not finished (status {status.status}); it has no outputs yet.",
                    job_id=self.sud_id,
                    hint="Wait for it first with SovUpdateSensor.",
                )
            outcome = check_outcome(status, UPDATE, accept_partial=self.accept_partial, log=self.log)
            outputs = list(outcome["outputs"])
        else:
            raw = self.outputs
            if isinstance(raw, dict):
                job_id = str(raw.get("job_id") or job_id)
                raw = raw.get("outputs")
            if not isinstance(raw, list) or not all(isinstance(o, dict) and o.get("url") for o in raw):
                raise SovInputError(f"outputs must be a list of outputs with a 'url', got {self.outputs!r}.")
            outputs = raw
        chosen = select_outputs(outputs, self.descriptions, self.extensions)
        if outputs and not chosen:
            raise SovInputError(
                f"No output of {job_id} matches descriptions={self.descriptions} extensions={self.extensions}; "
                f"it has {[o.get('filename') for o in outputs]}."
            )
        if self.sud_id is not None:
            self.lineage_in(*sov_dataset(hook, self.sud_id))
        return download_resumable(
            context,
            self,
            hook,
            chosen,
            self.destination,
            overwrite=self.overwrite,
            job_id=job_id,
            meta={
                "sud_id": self.sud_id,
                "job_id": job_id,
                "revision": update_revision(self, hook, self.sud_id) if self.sud_id else None,
            },
        )


class SovUpdateOperator(LineageMixin, SovWaitMixin, BaseOperator):
    """
    Run a whole SOV update in one task: initiate, add locations, start, wait, download.

    Before each step it records the SUD ID and the last completed step in the task's state store,
    so a retried task resumes on the same update from where it stopped (and says so in the log)
    instead of creating another. The wait is deferrable.

    :param sov_id: The SOV to update (templated; map over it with ``.expand(sov_id=[...])``).
    :param locations: Corrections CSV(s): path, glob, ``ObjectStoragePath`` or list; omit for e.g. a SCRUB (templated).
    :param destination: Where to download the outputs; omit to only wait (templated).
    :param update_type: ``API`` (default) or another documented type.
    :param extra_data: Policy-level fields naming the output files (templated).
    :param output_formats: e.g. ``["json", "xlsx"]`` (templated).
    :param batch_rows: Upload large CSVs in batches of at most this many rows.
    :param overwrite: Replace files already at the destination.
    :param descriptions: Download only outputs with these descriptions.
    :param extensions: Download only outputs with these extensions.
    :param accept_partial: Treat ``PARTIAL_PARSE`` as usable (with a warning).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between polls while waiting.
    :param timeout: Seconds to wait for the update in all.
    :return: ``{"sov_id", "job_id", "status", "result_status", "message", "outputs", "files"}``.
    """

    template_fields: Sequence[str] = (
        "sov_id",
        "locations",
        "destination",
        "extra_data",
        "output_formats",
        "client_ref",
        "metadata",
    )

    def __init__(
        self,
        *,
        sov_id: str,
        locations: Any = None,
        destination: Any = None,
        update_type: str = "API",
        callback_url: str | None = None,
        client_ref: str | None = None,
        extra_data: dict[str, Any] | None = None,
        output_formats: list[str] | None = None,
        policy_terms: Any = None,
        outputter_name: str | None = None,
        metadata: dict[str, Any] | None = None,
        batch_rows: int | None = None,
        overwrite: bool = False,
        descriptions: Sequence[str] | None = None,
        extensions: Sequence[str] | None = None,
        accept_partial: bool = False,
        deferrable: bool | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        sovfixer_conn_id: str = SovHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sov_id = sov_id
        self.locations = locations
        self.destination = destination
        self.update_type = update_type
        self.callback_url = callback_url
        self.client_ref = client_ref
        self.extra_data = extra_data
        self.output_formats = output_formats
        self.policy_terms = policy_terms
        self.outputter_name = outputter_name
        self.metadata = metadata
        self.batch_rows = check_batch_rows(batch_rows)
        self.overwrite = overwrite
        self.descriptions = descriptions
        self.extensions = extensions
        self.accept_partial = accept_partial
        self.configure_wait(deferrable, poll_interval, timeout)
        self.sovfixer_conn_id = sovfixer_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        store = _StateStore(context, self.log)
        update_type = check_choice(self.update_type, UPDATE_TYPES, "update_type")
        checked = check_locations(self.locations) if self.locations is not None else []
        sud_id, step = store.get("sud_id"), store.get("step")
        if sud_id:
            self.log.info(
                "Resuming update %s of SOV %s after step %r from an earlier try; no new update is created.",
                sud_id,
                self.sov_id,
                step,
            )
        else:
            sud_id = self.hook.initiate_update(
                self.sov_id,
                update_type=update_type,
                callback_url=self.callback_url,
                client_ref=self.client_ref,
            )
            step = "initiated"
            store.set("sud_id", sud_id)
            store.set("step", step)
            self.log.info("Initiated update %s of SOV %s.", sud_id, self.sov_id)
        context["ti"].xcom_push(key="sud_id", value=sud_id)
        if step == "initiated":
            if checked:
                upload_locations(self.hook, sud_id, checked, self.batch_rows, self.log)
                for path, _ in checked:
                    self.lineage_in(*dataset(str(path)))
            step = "locations_added"
            store.set("step", step)
        if step == "locations_added":
            sent_before = store.get("start_sent")
            store.set("start_sent", True)
            try:
                self.hook.start_update(
                    sud_id,
                    extra_data=self.extra_data,
                    output_formats=self.output_formats,
                    policy_terms=self.policy_terms,
                    outputter_name=self.outputter_name,
                    metadata=self.metadata,
                )
            except SovConflictError:
                if not sent_before:
                    raise
                # An earlier try sent start and lost the answer: the server did start it.
                self.log.info("Update %s was already started by an earlier try.", sud_id)
            step = "started"
            store.set("step", step)
            self.log.info("Started update %s.", sud_id)
        status = self.wait_for_job(
            UPDATE, sud_id, deferrable=self.deferrable, timeout=self.timeout, poll_interval=self.poll_interval
        )
        return self._finish(context, sud_id, self.outcome(UPDATE, status))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: check the event, then download the outputs."""
        sud_id = _StateStore(context, self.log).get("sud_id") or (event or {}).get("job_id")
        if not sud_id:
            raise SovInputError("Resumed without an update ID in the task state or the trigger event.")
        return self._finish(
            context, str(sud_id), self.outcome(UPDATE, self.status_from_event(UPDATE, sud_id, event))
        )

    def _finish(self, context: Context, sud_id: str, result: dict[str, Any]) -> dict[str, Any]:
        result = {"sov_id": self.sov_id, **result, "files": []}
        if self.destination in (None, ""):
            return result
        chosen = select_outputs(result["outputs"], self.descriptions, self.extensions)
        result["files"] = download_resumable(
            context,
            self,
            self.hook,
            chosen,
            self.destination,
            overwrite=self.overwrite,
            job_id=sud_id,
            meta={
                "sov_id": self.sov_id,
                "sud_id": sud_id,
                "revision": update_revision(self, self.hook, sud_id),
            },
        )
        return result


OUTPUT = JOB_KINDS["output"]
PARSE = JOB_KINDS["parse"]


class SovGetOrCreateOutputOperator(LineageMixin, SovWaitMixin, BaseOperator):
    """
    Get one output of an SOV or update, creating it if needed; optionally download it.

    A cached output (``COMPLETE`` in the first answer, e.g. an ``immediately-done-`` request) returns
    at once, without waiting or deferring. Otherwise the task waits (deferrable) for the output
    request. A retried task reattaches to the request it made, unless that request failed.

    :param id: SOV ID or SUD ID (templated).
    :param output_format: e.g. ``"json"`` or ``"XLSX"``; case does not matter (templated).
    :param revision: -1 latest (default), 0 original parse, N that revision; ignored for a SUD ID.
    :param overwrite_existing: Discard a cached output and make it again.
    :param destination: Download the output here (local folder or object-storage URL) (templated).
    :param validate_format: Check ``output_format`` against the organisation's list first (one call).
    :param overwrite: Replace a file already at the destination.
    :param wait_for_completion: Wait for an output that is not ready yet.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between polls.
    :param timeout: Seconds to wait in all.
    :return: ``{request_id, status, result_status, label, output_format, filename, url}`` plus
        ``uri``, ``size`` and ``sha256`` after a download.
    """

    template_fields: Sequence[str] = ("id", "output_format", "destination")

    def __init__(
        self,
        *,
        id: str,
        output_format: str,
        revision: int = -1,
        overwrite_existing: bool = False,
        destination: Any = None,
        validate_format: bool = False,
        overwrite: bool = False,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        sovfixer_conn_id: str = SovHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.id = id
        self.output_format = output_format
        self.revision = revision
        self.overwrite_existing = overwrite_existing
        self.destination = destination
        self.validate_format = validate_format
        self.overwrite = overwrite
        self.wait_for_completion = wait_for_completion
        self.configure_wait(deferrable, poll_interval, timeout)
        self.accept_partial = False
        self.sovfixer_conn_id = sovfixer_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        fmt = check_output_format(self.output_format)
        check_revision(self.revision)
        if not isinstance(self.overwrite_existing, bool):
            raise SovInputError(f"overwrite_existing must be True or False, got {self.overwrite_existing!r}.")
        store = _StateStore(context, self.log)
        request_id = store.get("request_id")
        status = None
        if request_id:
            status = OUTPUT.status(self.hook, request_id)
            if status.terminal and not status.succeeded:
                self.log.warning(
                    "Output request %s from an earlier try ended %s; asking again.", request_id, status.status
                )
                status = None
            else:
                self.log.info("Reattaching to output request %s from an earlier try.", request_id)
        if status is None:
            if self.validate_format:
                self._check_format(fmt)
            body = self._request(fmt)
            request_id = str((body.get("request") or {}).get("id") or "")
            if not request_id:
                raise SovInputError(
                    f"The answer for {fmt} output of {self.id} carried no request ID: {body!r}."
                )
            store.set("request_id", request_id)
            status = classify(body, request_id)
        self.log.info("%s", status.progress_line())
        if not status.terminal:
            if not self.wait_for_completion:
                return {"request_id": request_id, "status": status.status, "id": self.id}
            status = self.wait_for_job(
                OUTPUT,
                request_id,
                deferrable=self.deferrable,
                timeout=self.timeout,
                poll_interval=self.poll_interval,
            )
        return self._finish(context, status)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: check the event, then download if asked."""
        request_id = _StateStore(context, self.log).get("request_id") or (event or {}).get("job_id")
        if not request_id:
            raise SovInputError(
                "Resumed without an output request ID in the task state or the trigger event."
            )
        return self._finish(context, self.status_from_event(OUTPUT, str(request_id), event))

    def _allowed(self) -> list[str]:
        return [str(f.get("output_format")) for f in self.hook.list_output_formats(self.id)]

    def _check_format(self, fmt: str) -> None:
        allowed = self._allowed()
        if fmt.upper() not in {a.upper() for a in allowed}:
            raise SovInputError(
                f"Output format {fmt!r} is not available for {self.id}; allowed: {', '.join(allowed)}.",
                job_id=self.id,
            )

    def _request(self, fmt: str) -> dict[str, Any]:
        try:
            return self.hook.get_or_create_output(
                self.id, fmt, revision=self.revision, overwrite_existing=self.overwrite_existing
            )
        except SovBadRequestError as exc:
            try:
                allowed = ", ".join(self._allowed())
            except Exception:
                allowed = "(could not be listed)"
            raise SovBadRequestError(
                f"SOV Fixer refused {fmt!r} output of {self.id}: {exc.server_message}. Formats allowed: {allowed}.",
                job_id=self.id,
                http_status=400,
                server_message=exc.server_message,
                hint="Use one of the allowed formats (case does not matter).",
            ) from None

    def _finish(self, context: Context, status: Any) -> dict[str, Any]:
        outcome = self.outcome(OUTPUT, status)
        outputs = outcome["outputs"]
        if not outputs:
            raise SovInputError(
                f"Output request {status.job_id} finished without a file to download.", job_id=status.job_id
            )
        output = outputs[0]
        result = {
            "request_id": status.job_id,
            "id": self.id,
            "status": status.status,
            "result_status": status.result_status,
            "label": output.get("description"),
            "output_format": output.get("output_format") or self.output_format.upper(),
            "filename": output.get("filename"),
            "url": output.get("url"),
        }
        self.lineage_in(*sov_dataset(self.hook, self.id))
        if self.destination not in (None, ""):
            (saved,) = download_resumable(
                context,
                self,
                self.hook,
                [output],
                self.destination,
                overwrite=self.overwrite,
                job_id=status.job_id,
                meta={"id": self.id, "revision": self.revision, "output_format": result["output_format"]},
            )
            result.update({k: saved[k] for k in ("filename", "uri", "size", "sha256")})
        return result


class SovParseOperator(LineageMixin, SovWaitMixin, BaseOperator):
    """
    Upload a new SOV workbook (streamed), parse it, and optionally download its outputs.

    The file is checked locally first (exists, not empty, ``.xls/.xlsx/.xlsm/.xlsb/.pdf``). A retried
    task reattaches to the SOV its earlier try created instead of uploading the file again.

    :param file: Local path or ``ObjectStoragePath`` of the workbook (templated).
    :param document_type: ``SOV`` (default), ``PREM_BDX``, ``CLAIM_BDX``, ``SOV_BDX`` or ``ACORD``.
    :param output_formats: Formats to produce, e.g. ``["json", "xlsx"]`` (default JSON) (templated).
    :param extra_data: Sent as ``extra_data_<key>`` fields, e.g. ``{"insured_name": "Acme"}`` (templated).
    :param client_ref: Your own reference (templated).
    :param callback_url: Optional webhook for the parse.
    :param update_callback_url: Optional webhook for later updates.
    :param integrations: Optional integrations to run.
    :param workflow: Optional workflow name.
    :param destination: Download the outputs here when done (templated).
    :param overwrite: Replace files already at the destination.
    :param wait_for_completion: Wait for the parse (default); otherwise return the SOV ID at once.
    :param accept_partial: Treat ``PARTIAL_PARSE`` as usable (with a warning).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :return: ``{job_id (the SOV ID), status, result_status, message, outputs, files}``; the SOV ID is
        also pushed under the XCom key ``sov_id`` as soon as it exists (wire it with
        ``parse.output["sov_id"]``).
    """

    template_fields: Sequence[str] = ("file", "output_formats", "extra_data", "client_ref", "destination")

    def __init__(
        self,
        *,
        file: Any,
        document_type: str = "SOV",
        output_formats: list[str] | None = None,
        extra_data: dict[str, Any] | None = None,
        client_ref: str | None = None,
        callback_url: str | None = None,
        update_callback_url: str | None = None,
        integrations: list[str] | None = None,
        workflow: str | None = None,
        destination: Any = None,
        overwrite: bool = False,
        wait_for_completion: bool = True,
        accept_partial: bool = False,
        deferrable: bool | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        sovfixer_conn_id: str = SovHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.file = file
        self.document_type = document_type
        self.output_formats = output_formats
        self.extra_data = extra_data
        self.client_ref = client_ref
        self.callback_url = callback_url
        self.update_callback_url = update_callback_url
        self.integrations = integrations
        self.workflow = workflow
        self.destination = destination
        self.overwrite = overwrite
        self.wait_for_completion = wait_for_completion
        self.accept_partial = accept_partial
        self.configure_wait(deferrable, poll_interval, timeout)
        self.sovfixer_conn_id = sovfixer_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        store = _StateStore(context, self.log)
        sov_id = store.get("sov_id")
        if sov_id:
            self.log.info(
                "Reattaching to SOV %s uploaded by an earlier try; the file is not sent again.", sov_id
            )
        else:
            sov_id = self.hook.start_parse(
                self.file,
                document_type=self.document_type,
                output_formats=self.output_formats,
                extra_data=self.extra_data,
                client_ref=self.client_ref,
                callback_url=self.callback_url,
                update_callback_url=self.update_callback_url,
                integrations=self.integrations,
                workflow=self.workflow,
            )
            store.set("sov_id", sov_id)
            self.log.info("Uploaded %s; parsing as SOV %s.", self.file, sov_id)
        context["ti"].xcom_push(key="sov_id", value=sov_id)
        if not self.wait_for_completion:
            return {"job_id": sov_id, "kind": "parse", "status": "PENDING"}
        status = self.wait_for_job(
            PARSE, sov_id, deferrable=self.deferrable, timeout=self.timeout, poll_interval=self.poll_interval
        )
        return self._finish(context, sov_id, status)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: check the event, then download if asked."""
        sov_id = _StateStore(context, self.log).get("sov_id") or (event or {}).get("job_id")
        if not sov_id:
            raise SovInputError("Resumed without an SOV ID in the task state or the trigger event.")
        return self._finish(context, str(sov_id), self.status_from_event(PARSE, str(sov_id), event))

    def _finish(self, context: Context, sov_id: str, status: Any) -> dict[str, Any]:
        result = {**self.outcome(PARSE, status), "files": []}
        if self.destination in (None, ""):
            return result
        result["files"] = download_resumable(
            context,
            self,
            self.hook,
            result["outputs"],
            self.destination,
            overwrite=self.overwrite,
            job_id=sov_id,
            meta={"sov_id": sov_id, "revision": 0},
        )
        return result
