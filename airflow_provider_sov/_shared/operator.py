"""
The one shape of an operator that starts a job: create or reattach, record, wait, finish. A
subclass says how to start its job (:meth:`JobOperator.start_job`) and which files to write once it
succeeded (:meth:`JobOperator.files_to_fetch`); the rest is here, once.
"""

from __future__ import annotations

from abc import abstractmethod
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, ClassVar, Generic

from airflow.sdk import BaseOperator

from airflow_provider_sov._shared.jobs import HookT
from airflow_provider_sov._shared.lineage import Lineage
from airflow_provider_sov._shared.routes import IdArguments
from airflow_provider_sov._shared.task_state import JOB, StateStore, clear_records
from airflow_provider_sov._shared.waiting import (
    JobWait,
    as_seconds,
    default_deferrable,
    poll_seconds,
    pop_conn_id,
)
from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.links import record_pages

if TYPE_CHECKING:
    from datetime import timedelta

    from airflow.sdk import Context

    from airflow_provider_sov._shared.files import FileToFetch
    from airflow_provider_sov._shared.jobs import JobKind, JobRef, Reading
    from airflow_provider_sov._shared.steps import StepRunner


class JobOperator(IdArguments, BaseOperator, Generic[HookT]):
    """
    Start one job of the kind :attr:`kind` names, optionally wait for it and write its files.

    Before it waits, the job is saved in the task's state (a retry reattaches to it) and its ID pushed
    to XCom as ``job_id``. Returns the common result; without waiting, ``succeeded`` is null.

    :param wait_for_completion: Wait for the job to end (and write its files).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param mode: How a wait that does not defer waits: ``poke`` (default: on the worker, holding its
        slot) or ``reschedule`` (the task ends between reads and Airflow runs it again when the next
        read is due; the job and the wait's deadline are in the task's state, so it carries on).
    :param poll_interval: Seconds between status reads while waiting (default: the kind's).
    :param timeout: Seconds to wait in all (default: the kind's).
    :param outage_tolerance: Seconds a wait rides out an outage of the API (refused connections,
        5xx, 429, timeouts), from the first failed poll after a good reading (default: the
        connection's extra ``outage_tolerance``, else 600). Never past ``timeout``.
    :param destination: Where to write the job's files: a local folder or an object-storage URL
        (templated where the operator says so); None writes nothing.
    :param overwrite: Replace files already at the destination.
    :param sovfixer_conn_id: (SOV Fixer) or ``data_act_broker_conn_id`` (Broker): the connection.
    """

    #: The kind of job it starts (and waits on).
    kind: JobKind[Any, HookT]
    #: Whether this operator can wait for its job at all (a download or an initiate cannot).
    can_wait: ClassVar[bool] = True
    #: Whether it waits unless told otherwise.
    waits_by_default: ClassVar[bool] = True
    #: Whether a retry after its job failed requests a new job (else it reads the same failure):
    #: :class:`~airflow_provider_sov.retries.SovRetryPolicy` retries only such tasks' failed jobs.
    retry_requests_a_new_job: ClassVar[bool] = False
    #: An operator has work left on the worker when its job ends (a sensor may end in the triggerer).
    end_from_trigger = False

    def __init__(
        self,
        *,
        wait_for_completion: bool | None = None,
        deferrable: bool | None = None,
        mode: str = "poke",
        poll_interval: timedelta | float | None = None,
        timeout: timedelta | float | None = None,
        outage_tolerance: timedelta | float | None = None,
        destination: Any = None,
        overwrite: bool = False,
        **kwargs: Any,
    ) -> None:
        conn_id = pop_conn_id(self.kind, kwargs)
        super().__init__(**kwargs)
        setattr(self, self.kind.api.conn_name_attr, conn_id)
        self.wait_for_completion = (
            self.waits_by_default if wait_for_completion is None else wait_for_completion
        )
        if self.wait_for_completion and not self.can_wait:
            raise SovInputError(
                f"Task {self.task_id!r}: {type(self).__name__} does not wait; wait with a sensor instead."
            )
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        if mode not in ("poke", "reschedule"):
            raise SovInputError(f"Task {self.task_id!r}: mode must be 'poke' or 'reschedule', got {mode!r}.")
        self.mode = mode
        self.poll_interval = poll_seconds(self.kind, poll_interval, self.log)
        self.timeout = as_seconds(self.kind.timeout if timeout is None else timeout, "timeout") or 0.0
        self.outage_tolerance = as_seconds(outage_tolerance, "outage_tolerance")
        self.destination = destination
        self.overwrite = overwrite
        self.lineage = Lineage()
        #: The job this run recorded (its ref as JSON), so that recording it again costs no call.
        self.recorded_job: dict[str, Any] | None = None

    @property
    def reschedules(self) -> bool:
        """Whether a wait on the worker ends the try between reads (``mode="reschedule"``)."""
        return self.mode == "reschedule" and not self.deferrable

    @property
    def keeps_outage(self) -> bool:
        """Whether each read of a wait on a worker runs in a new run of the task (``mode="reschedule"``)."""
        return self.mode == "reschedule"

    @cached_property
    def hook(self) -> HookT:
        """The hook of this task's API on its connection, typed as that API's hook."""
        return self.kind.api.hook_for(self)

    @abstractmethod
    def start_job(self, context: Context, store: StateStore) -> tuple[JobRef, Reading | None]:
        """Create the job, or find the one an earlier try created; return its ref and any first reading."""

    def files_to_fetch(self, result: dict[str, Any], ref: JobRef, reading: Reading) -> list[FileToFetch]:
        """Return the files to write once the job succeeded (none unless a destination is set)."""
        return []

    def file_meta(self, result: dict[str, Any], ref: JobRef) -> dict[str, Any]:
        """Return what asset events for the written files carry besides the files."""
        return {}

    def result_extras(self, result: dict[str, Any], ref: JobRef, context: Context) -> dict[str, Any]:
        """Return what this task adds to the result (e.g. the ``sov_id`` it updated)."""
        return {}

    def options(self) -> dict[str, Any]:
        """The task's options for its kind (``accept_partial``...): plain JSON, in the trigger's kwargs."""
        return {}

    def task_ref(self, context: Context) -> JobRef | None:
        """The job the task's own arguments name: none (an operator's job is the one it started)."""
        return None

    def job_pages(self, ref: JobRef, ended: bool) -> dict[str, str] | None:
        """The job's pages for the task's links (default: its kind's; see :meth:`~.jobs.JobKind.pages`)."""
        return self.kind.pages(self.hook, ref, self.known_ids(), ended)

    def steps(self, context: Context, store: StateStore) -> StepRunner[Any]:
        """Return the runner of this task's kind's creation steps, recording into ``store``."""
        from airflow_provider_sov._shared.steps import StepRunner  # only a running task needs it

        return StepRunner(self.kind, store, self.log, partial(self.record_job, context, store))

    def record_job(
        self, context: Context, store: StateStore, ref: JobRef, first: Reading | None = None
    ) -> None:
        """Save the job for a retry and push its ID to XCom (``job_id``), once per run, before any wait."""
        if self.recorded_job == ref.to_json():
            return
        self.recorded_job = ref.to_json()
        store.set(JOB, self.recorded_job)
        job_id = (first.job_id if first is not None else "") or ref.job_id
        if job_id:
            context["ti"].xcom_push(key="job_id", value=str(job_id))

    def execute(self, context: Context) -> dict[str, Any]:
        self.lineage, self.recorded_job = Lineage(), None  # a new run records afresh
        store = StateStore(context, self.log)
        ref, first = self.start_job(context, store)
        self.record_job(context, store, ref, first)
        # The links, once the job's creation (and every local check before it) is done; before the wait.
        record_pages(self, context, store, partial(self.job_pages, ref))
        if not self.wait_for_completion:
            return self.finish(context, ref, first)
        return self.finish(context, ref, JobWait(self, self.kind, context).until_final(ref, first))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: accept only a known event for the job this task started."""
        ref, reading = JobWait(self, self.kind, context).resume(event)
        return self.finish(context, ref, reading)

    def post_execute(self, context: Context, result: Any = None) -> None:
        super().post_execute(context, result)
        clear_records(context, self.log)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Return inputs (files uploaded, the SOV or update read) and outputs (files written)."""
        return self.lineage.facets()

    def finish(self, context: Context, ref: JobRef, reading: Reading | None) -> dict[str, Any]:
        """Judge the reading (a failed job raises), write the files of a finished one, build the result."""
        result = self.kind.result(reading, ref, self.options(), log=self.log)
        result.update(self.result_extras(result, ref, context))
        if reading is not None and reading.terminal:
            store = StateStore(context, self.log)
            record_pages(self, context, store, partial(self.job_pages, ref), final=True)
            files = self.files_to_fetch(result, ref, reading)
            if files:
                from airflow_provider_sov._shared.downloads import download_and_record  # a running task's

                result["files"] = download_and_record(
                    context,
                    self,
                    self.hook,
                    files,
                    overwrite=self.overwrite,
                    meta=self.file_meta(result, ref),
                )
        return result
