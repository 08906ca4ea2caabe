"""
Operators for SOV Fixer updates: initiate, add locations, start, wait, or all in one task.

The hook and the CSV checks are imported inside ``execute``: a DAG file that only declares these
tasks does not load them.
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_sov._shared.lineage import Lineage, dataset
from airflow_provider_sov._shared.operator import JobOperator
from airflow_provider_sov._shared.routes import IdArguments
from airflow_provider_sov._shared.task_state import StateStore, clear_records
from airflow_provider_sov.exceptions import SovBadRequestError, SovConflictError
from airflow_provider_sov.hooks.sov_jobs import INITIATED, SOV_FIXER, STARTED, UPDATE, SovJobKind, SovJobRef
from airflow_provider_sov.hooks.sov_rules import (
    UPDATE_TYPES,
    StartOptions,
    check_batch_rows,
    check_name,
    start_payload,
    task_client_ref,
)
from airflow_provider_sov.links import SOV_LINKS, record_pages
from airflow_provider_sov.operators.sov_outputs import (
    output_files,
    select_outputs,
    sov_dataset,
    update_history,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow.sdk import Context

    from airflow_provider_sov._shared.files import FileToFetch
    from airflow_provider_sov._shared.jobs import JobRef, Reading
    from airflow_provider_sov.hooks.sov import SovHook
    from airflow_provider_sov.hooks.sov_locations import CsvSummary


def upload_locations(
    hook: SovHook,
    sud_id: str,
    checked: list[tuple[Any, CsvSummary]],
    batch_rows: int | None,
    log: Any,
    what: str = "update",
    delegate_to_team: str | int | None = None,
) -> list[dict[str, Any]]:
    """
    Stream each checked CSV (in batches if asked) to a pending job; return rows sent per file.

    :param what: How messages name the job the locations go to (``update``, ``submission``).
    :param delegate_to_team: Send them as this team.
    """
    from airflow_provider_sov.hooks.sov_locations import split_csv

    sent: list[dict[str, Any]] = []
    for path, summary in checked:
        name = Path(str(path)).name
        try:
            if batch_rows is None or summary.rows <= batch_rows:
                hook.add_locations(
                    sud_id, path, check=False, upload_name=name, delegate_to_team=delegate_to_team
                )
                batches = 1
            else:
                batches = 0
                with tempfile.TemporaryDirectory(prefix="sov-batches-") as folder:
                    for part, rows in split_csv(path, batch_rows, folder):
                        batches += 1
                        stem = name.rsplit(".", 1)[0]
                        hook.add_locations(
                            sud_id,
                            part,
                            check=False,
                            upload_name=f"{stem}.part{batches:03d}.csv",
                            delegate_to_team=delegate_to_team,
                        )
                        log.info("Sent batch %d of %s: %d row(s).", batches, name, rows)
        except (SovConflictError, SovBadRequestError) as exc:
            started = isinstance(exc, SovConflictError)
            raise type(exc)(
                f"Cannot add {name} to {what} {sud_id}: the {what} was already started ({exc.server_message})."
                if started
                else f"SOV Fixer rejected {name} for {what} {sud_id}: {exc.server_message}.",
                job_id=sud_id,
                http_status=exc.http_status,
                server_message=exc.server_message,
                hint=(
                    "Locations can only be added before start; initiate a new update for these corrections."
                    if what == "update"
                    else f"Locations can only be added before start; create a new {what} for these rows."
                )
                if started
                else "Fix the column or row the message names and run the task again.",
            ) from None
        log.info("Added %d location row(s) from %s to %s in %d call(s).", summary.rows, name, sud_id, batches)
        sent.append({"file": str(path), "rows": summary.rows, "batches": batches})
    return sent


def client_ref_of(task: Any, context: Context) -> str:
    """The task's ``client_ref``, else the one its task instance makes (the same on every try)."""
    if task.client_ref:
        return str(task.client_ref)
    ti = context["ti"]
    return task_client_ref(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))


def created_jobs(
    hook: SovHook, kind: SovJobKind, sov_id: str | None = None
) -> Callable[[str, float], list[SovJobRef]]:
    """How a retry finds the jobs of ``kind`` a lost answer made (:meth:`.StepRunner.create`'s ``find``)."""

    def find(client_ref: str, since: float) -> list[SovJobRef]:
        found = hook.find_created(kind.name, client_ref, since=since, sov_id=sov_id)
        return [kind.ref_from_json({"job_id": job_id}) for job_id in found]

    return find


def initiate(hook: SovHook, log: Any, task: Any, update_type: str, client_ref: str) -> SovJobRef:
    """Create an update of the task's ``sov_id`` (the step ``initiated``); return its ref."""
    sud_id = hook.initiate_update(
        task.sov_id,
        update_type=update_type,
        callback_url=task.callback_url,
        client_ref=client_ref,
        username=task.username,
        delegate_to_team=task.delegate_to_team,
    )
    log.info("Initiated update %s of SOV %s (%s).", sud_id, task.sov_id, update_type)
    return SovJobRef(sud_id)


def start_options(task: Any) -> dict[str, Any]:
    """A task's :class:`StartOptions`: its attributes of those names."""
    return {name: getattr(task, name) for name in StartOptions.__annotations__}


def start(hook: SovHook, log: Any, ref: SovJobRef, task: Any, what: str = "update") -> None:
    """Start a pending job (the guarded step ``started``) with the task's :class:`StartOptions`."""
    hook.start_update(ref.id, **start_options(task))
    log.info("Started %s %s.", what, ref.id)


class LocationsJobOperator(JobOperator["SovHook"]):
    """
    What the one-task jobs built from locations CSVs share (:class:`SovUpdateOperator`,
    :class:`~airflow_provider_sov.operators.sov_submission.SovCreateSubmissionOperator`): every CSV
    checked before the first call, the job created by its kind's first step, its locations added
    and the job started, each step once across retries; then the wait and the downloads.

    A subclass sets ``locations``, ``batch_rows``, ``delegate_to_team``, ``descriptions``,
    ``extensions``, ``accept_partial`` and every :class:`StartOptions` field in its ``__init__``.
    """

    locations: Any
    batch_rows: int | None
    delegate_to_team: str | int | None
    descriptions: Sequence[str] | None
    extensions: Sequence[str] | None
    accept_partial: bool

    def run_steps(
        self, context: Context, store: StateStore, create: Callable[[str], SovJobRef], find: Any
    ) -> SovJobRef:
        """Check the CSVs and the start's options, then create the job (``create``, given the
        ``client_ref``; a lost answer's job is looked for with ``find``), add its locations and
        start it: what can be checked here fails before the first call."""
        from airflow_provider_sov.hooks.sov_locations import check_locations

        start_payload(start_options(self))
        checked = check_locations(self.locations) if self.locations is not None else []
        first, added, started = self.kind.steps
        steps = self.steps(context, store)
        client_ref = client_ref_of(self, context)
        ref = steps.create(first, partial(create, client_ref), client_ref=client_ref, find=find)
        steps.run(ref, added, partial(self.add_locations, ref, checked))
        steps.run(ref, started, partial(start, self.hook, self.log, ref, self, self.kind.name))
        return ref

    def add_locations(self, ref: SovJobRef, checked: list[tuple[Any, CsvSummary]]) -> None:
        """Send the checked CSVs to the job (the step ``locations_added``; none: nothing to send)."""
        if checked:
            upload_locations(
                self.hook, ref.id, checked, self.batch_rows, self.log, self.kind.name, self.delegate_to_team
            )
            for path, _ in checked:
                self.lineage.inputs.append(dataset(str(path)))

    def options(self) -> dict[str, Any]:
        return {"accept_partial": self.accept_partial}

    def files_to_fetch(self, result: dict[str, Any], ref: JobRef, reading: Reading) -> list[FileToFetch]:
        if self.destination in (None, ""):
            return []
        chosen = select_outputs(result["outputs"], self.descriptions, self.extensions)
        return output_files(chosen, self.destination, result["job_id"])


class SovInitiateUpdateOperator(JobOperator["SovHook"]):
    """
    Create an update job for an SOV; return its SUD ID as ``job_id`` (also pushed to XCom as ``job_id``).

    A retried task returns the SUD its earlier try created (task state store) instead of creating
    another update.

    :param sov_id: The SOV to update (templated).
    :param update_type: ``API`` (default), ``SCRUB``, ``AIR``, ``RMS``, ``RMS_ANALYSIS``, ``COMPLETE``, ``PINGREADY``.
    :param callback_url: Optional webhook for the update's completion.
    :param client_ref: Your own reference, echoed in the history feed and the result
        (templated; default ``airflow:<dag_id>/<run_id>/<task_id>/<map_index>``): a retry whose
        earlier try lost the answer finds the job by it instead of creating another.
    :param username: The user the update is made for.
    :param delegate_to_team: Run it as this team (its UUID or ID).
    :param sovfixer_conn_id: The Airflow connection.
    """

    kind = UPDATE
    operator_extra_links = SOV_LINKS
    can_wait = False
    waits_by_default = False
    template_fields: Sequence[str] = ("sov_id", "update_type", "client_ref", "callback_url")

    def __init__(
        self,
        *,
        sov_id: str,
        update_type: str = "API",
        callback_url: str | None = None,
        client_ref: str | None = None,
        username: str | None = None,
        delegate_to_team: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sov_id = sov_id
        self.update_type = update_type
        self.callback_url = callback_url
        self.client_ref = client_ref
        self.username = username
        self.delegate_to_team = delegate_to_team

    def start_job(self, context: Context, store: StateStore) -> tuple[SovJobRef, Reading | None]:
        update_type = check_name(self.update_type, UPDATE_TYPES, "update_type")
        client_ref = client_ref_of(self, context)
        create = partial(initiate, self.hook, self.log, self, update_type, client_ref)
        find = created_jobs(self.hook, UPDATE, self.sov_id)
        return self.steps(context, store).create(INITIATED, create, client_ref=client_ref, find=find), None

    def result_extras(self, result: dict[str, Any], ref: JobRef, context: Context) -> dict[str, Any]:
        return {"sov_id": self.sov_id, "client_ref": client_ref_of(self, context)}

    def job_pages(self, ref: JobRef, ended: bool) -> dict[str, str]:
        return self.hook.sov_pages(self.sov_id)


class SovAddLocationsOperator(IdArguments, BaseOperator):
    """
    Upload corrections to a pending update: every CSV is checked locally first, then streamed.

    :param sud_id: The pending update (templated), e.g. ``SovInitiateUpdateOperator``'s XCom.
    :param locations: A path, a glob (``data/*.csv``), an ``ObjectStoragePath``, or a list (templated).
    :param batch_rows: Send a large CSV in several calls of at most this many rows, header repeated.
    :param delegate_to_team: Send them as this team (its UUID or ID).
    :param sovfixer_conn_id: The Airflow connection.
    :return: The common result for the update (not read: ``status`` and ``succeeded`` null) with
        ``uploads``: ``[{"file", "rows", "batches"}]``, one entry per CSV.
    """

    template_fields: Sequence[str] = ("sud_id", "locations")
    operator_extra_links = SOV_LINKS

    def __init__(
        self,
        *,
        sud_id: str,
        locations: Any,
        batch_rows: int | None = None,
        delegate_to_team: str | int | None = None,
        sovfixer_conn_id: str = SOV_FIXER.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sud_id = sud_id
        self.locations = locations
        self.batch_rows = check_batch_rows(batch_rows)
        self.delegate_to_team = delegate_to_team
        self.sovfixer_conn_id = sovfixer_conn_id
        self.lineage = Lineage()

    def execute(self, context: Context) -> dict[str, Any]:
        self.lineage = Lineage()
        from airflow_provider_sov.hooks.sov import SovHook
        from airflow_provider_sov.hooks.sov_locations import check_locations

        hook = SovHook(self.sovfixer_conn_id)
        checked = check_locations(self.locations)
        # A pending update is in no feed that names its SOV: only a result given names it.
        known = self.known("sov_id")

        def find(ended: bool) -> dict[str, str] | None:
            return hook.sov_pages(known) if known else None

        record_pages(self, context, StateStore(context, self.log), find)
        sent = upload_locations(
            hook, self.sud_id, checked, self.batch_rows, self.log, delegate_to_team=self.delegate_to_team
        )
        for entry in sent:
            self.lineage.inputs.append(dataset(entry["file"]))
        self.lineage.outputs.append(sov_dataset(hook, self.sud_id))
        return {
            **UPDATE.result(None, SovJobRef(self.sud_id)),
            "sov_id": self.known("sov_id"),
            "uploads": sent,
        }

    def post_execute(self, context: Context, result: Any = None) -> None:
        super().post_execute(context, result)
        clear_records(context, self.log)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Return the CSVs uploaded (inputs) and the SOV they correct (output)."""
        return self.lineage.facets()


class SovStartUpdateOperator(JobOperator["SovHook"]):
    """
    Start a pending update; optionally wait for it (deferrable) and return its final result.

    :param sud_id: The update to start (templated).
    :param extra_data: Policy-level fields, e.g. ``{"insured_name": "Acme Corp"}``; they name the output files (templated).
    :param output_formats: e.g. ``["json", "xlsx"]`` (default JSON) (templated).
    :param policy_terms: Optional policy terms, passed through.
    :param outputter_name: Optional outputter, passed through.
    :param metadata: Optional metadata dict, passed through.
    :param integrations: Optional integrations to run on the result.
    :param delegate_to_team: Start it as this team (its UUID or ID).
    :param wait_for_completion: Wait for the update to finish and return its result.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between polls while waiting.
    :param timeout: Seconds to wait in all.
    :param accept_partial: Treat ``PARTIAL_PARSE`` as usable (with a warning).
    """

    kind = UPDATE
    operator_extra_links = SOV_LINKS
    waits_by_default = False
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
        integrations: list[str] | None = None,
        delegate_to_team: str | int | None = None,
        accept_partial: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sud_id = sud_id
        self.extra_data = extra_data
        self.output_formats = output_formats
        self.policy_terms = policy_terms
        self.outputter_name = outputter_name
        self.metadata = metadata
        self.integrations = integrations
        self.delegate_to_team = delegate_to_team
        self.accept_partial = accept_partial

    def start_job(self, context: Context, store: StateStore) -> tuple[SovJobRef, Reading | None]:
        ref = UPDATE.ref_from_task({"sud_id": self.sud_id}, 0.0, {})  # a bad SUD ID fails before any call
        steps = self.steps(context, store)
        steps.attach(ref)
        steps.run(ref, STARTED, partial(start, self.hook, self.log, ref, self))
        return ref, None

    def result_extras(self, result: dict[str, Any], ref: JobRef, context: Context) -> dict[str, Any]:
        return {"sov_id": self.known("sov_id")}  # the SOV, when the task was given a result that names it

    def options(self) -> dict[str, Any]:
        return {"accept_partial": self.accept_partial}


class SovUpdateOperator(LocationsJobOperator):
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
    :param client_ref: Your own reference, echoed in the history feed, the activity list and the result
        (templated; default ``airflow:<dag_id>/<run_id>/<task_id>/<map_index>``): a retry whose
        earlier try lost the answer finds the job by it instead of creating another.
    :param username: The user the update is made for.
    :param integrations: Optional integrations to run on the result.
    :param delegate_to_team: Run it as this team (its UUID or ID).
    :param batch_rows: Upload large CSVs in batches of at most this many rows.
    :param overwrite: Replace files already at the destination.
    :param descriptions: Download only outputs with these descriptions.
    :param extensions: Download only outputs with these extensions.
    :param accept_partial: Treat ``PARTIAL_PARSE`` as usable (with a warning).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between polls while waiting.
    :param timeout: Seconds to wait for the update in all.
    :return: The common result (``job_id`` is the SUD ID) with ``sov_id``, ``client_ref``,
        ``result_status``, ``outputs`` and the written ``files``.
    """

    kind = UPDATE
    operator_extra_links = SOV_LINKS
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
        update_type: str = "API",
        callback_url: str | None = None,
        client_ref: str | None = None,
        extra_data: dict[str, Any] | None = None,
        output_formats: list[str] | None = None,
        policy_terms: Any = None,
        outputter_name: str | None = None,
        metadata: dict[str, Any] | None = None,
        username: str | None = None,
        integrations: list[str] | None = None,
        delegate_to_team: str | int | None = None,
        batch_rows: int | None = None,
        descriptions: Sequence[str] | None = None,
        extensions: Sequence[str] | None = None,
        accept_partial: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sov_id = sov_id
        self.locations = locations
        self.update_type = update_type
        self.callback_url = callback_url
        self.client_ref = client_ref
        self.extra_data = extra_data
        self.output_formats = output_formats
        self.policy_terms = policy_terms
        self.outputter_name = outputter_name
        self.metadata = metadata
        self.username = username
        self.integrations = integrations
        self.delegate_to_team = delegate_to_team
        self.batch_rows = check_batch_rows(batch_rows)
        self.descriptions = descriptions
        self.extensions = extensions
        self.accept_partial = accept_partial

    def start_job(self, context: Context, store: StateStore) -> tuple[SovJobRef, Reading | None]:
        update_type = check_name(self.update_type, UPDATE_TYPES, "update_type")
        create = partial(initiate, self.hook, self.log, self, update_type)
        return self.run_steps(context, store, create, created_jobs(self.hook, UPDATE, self.sov_id)), None

    def result_extras(self, result: dict[str, Any], ref: JobRef, context: Context) -> dict[str, Any]:
        return {"sov_id": self.sov_id, "client_ref": client_ref_of(self, context)}

    def job_pages(self, ref: JobRef, ended: bool) -> dict[str, str]:
        return self.hook.sov_pages(self.sov_id)

    def file_meta(self, result: dict[str, Any], ref: JobRef) -> dict[str, Any]:
        sud_id = result["job_id"]
        return {"sov_id": self.sov_id, "sud_id": sud_id, "history": update_history(self, self.hook, sud_id)}
