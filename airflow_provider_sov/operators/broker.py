"""Operators for DATA Act Broker files: generate (and wait, and download), or download one."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_sov._shared.files import check_destination
from airflow_provider_sov._shared.lineage import LineageMixin, dataset, emit_file_events
from airflow_provider_sov._shared.task_state import StateStore, still_there
from airflow_provider_sov._shared.waiting import as_seconds, check_event
from airflow_provider_sov.exceptions import SovInputError, SovResponseError
from airflow_provider_sov.hooks.broker import (
    DEFAULT_INVALID_GRACE,
    DataActBrokerHook,
    GenerationStatus,
    GenerationTarget,
    check_generation_outcome,
    classify_generation,
    generation_request,
    generation_result,
)
from airflow_provider_sov.sensors.broker import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    DFileWaitMixin,
    _templated,
    check_poll_interval,
)
from airflow_provider_sov.sensors.sov import default_deferrable

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from airflow.sdk import Context


def download_generated(
    context: Context, task: Any, target: GenerationTarget, meta: dict[str, Any], url: str | None = None
) -> dict[str, Any]:
    """
    Download a finished generation's file into the task's ``destination`` (with its ``filename``
    and ``overwrite``). A file an earlier try of the task wrote whole is kept, not fetched again.
    ``url`` is the signed URL of the reading that found it finished (re-signed if it has expired);
    without it, the status is read again first.
    Each file is logged and told to Airflow: an asset event on the task's outlets (with ``meta``)
    and an OpenLineage output.
    """
    store = StateStore(context, task.log)
    previous = store.get("downloaded")
    if isinstance(previous, dict) and still_there(previous):
        task.log.info("Keeping %s, written whole by an earlier try of this task.", previous["uri"])
        entry = previous
    else:
        saved = task.hook.download_file(
            target,
            task.destination,
            filename=task.filename,
            overwrite=task.overwrite or bool(previous),
            url=url,
        )
        entry = saved.to_dict()
        store.set("downloaded", entry)
        task.log.info("Saved %s (%d bytes, sha256 %s).", entry["uri"], entry["size"], entry["sha256"][:12])
    task.lineage_out(*dataset(entry["uri"]))
    described = {
        **entry,
        "format": entry["filename"].rsplit(".", 1)[-1].upper() if "." in entry["filename"] else None,
    }
    emit_file_events(context, list(getattr(task, "outlets", None) or []), [described], meta)
    return entry


class DFileGenerateOperator(LineageMixin, DFileWaitMixin, BaseOperator):
    """
    Generate a D1, D2, E, F (within a submission), A or BOC (detached) file; wait; download it.

    With ``submission_id`` the file is generated for that submission (D1, D2, E, F); without it,
    for the agency named by ``cgac_code`` or ``frec_code`` (D1, D2, A, BOC). Everything is checked
    before the first call. A cached file comes back ``finished`` at once and never defers. A
    retried task reattaches to the generation it requested (unless that one failed).

    Returns ``job_id``, ``submission_id``, ``file_type``, ``status``, ``start``, ``end``,
    ``generated_at``, ``message`` and, when ``destination`` is set, the file's ``filename``,
    ``uri``, ``size`` and ``sha256``.

    The Broker refuses to generate before the submission's validations have finished: that raises
    :class:`~airflow_provider_sov.exceptions.SovPrerequisiteError`; give the task ``retries`` and a
    ``retry_delay`` to try again later. Regenerating D files of a published submission sets it back
    to "updated": it must be certified again.

    :param submission_id: The submission (templated); None for a detached file.
    :param file_type: ``D1``, ``D2``, ``E``, ``F`` (submission) or ``D1``, ``D2``, ``A``, ``BOC``.
    :param start: First day, ``MM/DD/YYYY`` (templated; D1/D2 only).
    :param end: Last day, ``MM/DD/YYYY`` (templated; D1/D2 only).
    :param agency_type: ``awarding`` or ``funding`` (D1/D2).
    :param file_format: ``csv`` or pipe-delimited ``txt`` (D1/D2).
    :param cgac_code: The agency's 3-digit CGAC code (detached); or
    :param frec_code: its 4-digit FREC code (detached).
    :param year: Fiscal year (A and BOC).
    :param period: Fiscal period, 2-12 (A and BOC).
    :param element_numbers: Put element numbers in D1/D2 headers (detached).
    :param wait_for_completion: Wait until the file is generated (and download it).
    :param destination: Folder or object-storage URL to save the file in (templated); None: no download.
    :param filename: Save under this name instead of the Broker's.
    :param overwrite: Replace an existing file of the same name.
    :param data_act_broker_conn_id: The Airflow connection.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between status reads (default 30; the Broker asks for 10 or more).
    :param timeout: Seconds to wait in all (default 6 hours; the Broker itself never gives up).
    :param invalid_grace: Seconds during which ``invalid`` after requesting is not final (default 120).
    """

    template_fields: Sequence[str] = (
        "submission_id",
        "file_type",
        "start",
        "end",
        "agency_type",
        "file_format",
        "cgac_code",
        "frec_code",
        "year",
        "period",
        "destination",
    )
    ui_color = "#eef6ec"

    def __init__(
        self,
        *,
        file_type: str,
        submission_id: int | str | None = None,
        start: str | None = None,
        end: str | None = None,
        agency_type: str = "awarding",
        file_format: str = "csv",
        cgac_code: str | None = None,
        frec_code: str | None = None,
        year: int | str | None = None,
        period: int | str | None = None,
        element_numbers: bool = False,
        wait_for_completion: bool = True,
        destination: Any = None,
        filename: str | None = None,
        overwrite: bool = False,
        data_act_broker_conn_id: str = DataActBrokerHook.default_conn_name,
        deferrable: bool | None = None,
        poll_interval: timedelta | float = DEFAULT_POLL_INTERVAL,
        timeout: timedelta | float = DEFAULT_TIMEOUT,
        invalid_grace: timedelta | float = DEFAULT_INVALID_GRACE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.submission_id = submission_id
        self.file_type = file_type
        self.start = start
        self.end = end
        self.agency_type = agency_type
        self.file_format = file_format
        self.cgac_code = cgac_code
        self.frec_code = frec_code
        self.year = year
        self.period = period
        self.element_numbers = element_numbers
        self.wait_for_completion = wait_for_completion
        self.destination = destination
        self.filename = filename
        self.overwrite = overwrite
        self.data_act_broker_conn_id = data_act_broker_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = check_poll_interval(poll_interval, self.log)
        self.timeout = as_seconds(timeout, "timeout") or 0.0
        self.invalid_grace = as_seconds(invalid_grace, "invalid_grace") or 0.0
        if destination is not None and not wait_for_completion:
            raise SovInputError(
                "destination needs wait_for_completion=True: the file must exist to be saved."
            )
        if not _templated(
            submission_id,
            file_type,
            start,
            end,
            agency_type,
            file_format,
            cgac_code,
            frec_code,
            year,
            period,
            destination,
        ):
            self._checked()  # a literal mistake fails when the DAG is parsed, not at run time

    def _checked(self) -> Any:
        check_destination(self.destination, required=False)
        return generation_request(
            submission_id=self.submission_id,
            file_type=self.file_type,
            start=self.start,
            end=self.end,
            agency_type=self.agency_type,
            file_format=self.file_format,
            cgac_code=self.cgac_code,
            frec_code=self.frec_code,
            year=self.year,
            period=self.period,
            element_numbers=self.element_numbers,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        checked = self._checked()
        store = StateStore(context, self.log)
        target, reading, requested_at = self._reattach(store, checked)
        if reading is None:
            body = self.hook.generate(checked)
            requested_at = time.time()
            if checked.detached:
                if not str(body.get("job_id") or "").isdigit():
                    raise SovResponseError(
                        f"The Broker accepted the detached {checked.file_type} request but sent no job_id "
                        f"(got {body.get('job_id')!r}); nothing can be waited on.",
                        hint="Run the task again; if it persists, the Broker's response has changed.",
                    )
                target = GenerationTarget.of(job_id=body["job_id"], file_type=checked.file_type)
            store.set("generation", {**target.to_kwargs(), "requested_at": requested_at})
            reading = classify_generation(body, target, requested_at=requested_at, grace=self.invalid_grace)
            self.log.info("Requested the %s. %s", target.label, reading.progress_line())
        context["ti"].xcom_push(key="job_id", value=reading.body.get("job_id", target.job_id))
        if not self.wait_for_completion:
            if reading.terminal:
                check_generation_outcome(reading, target)
            return generation_result(reading, target)
        reading = self.wait_for_generation(
            target,
            reading,
            requested_at=requested_at,
            deferrable=self.deferrable,
            timeout=self.timeout,
            poll_interval=self.poll_interval,
        )
        return self._finish(context, target, reading)

    def _reattach(
        self, store: StateStore, checked: Any
    ) -> tuple[GenerationTarget, GenerationStatus | None, float | None]:
        """The generation an earlier try of this task requested, if it is still usable."""
        target = (
            GenerationTarget()
            if checked.detached
            else GenerationTarget.of(checked.body["submission_id"], checked.file_type)
        )
        saved = store.get("generation")
        if not isinstance(saved, dict):
            return target, None, None
        earlier = GenerationTarget.of(saved.get("submission_id"), saved.get("file_type"), saved.get("job_id"))
        if earlier.file_type != checked.file_type or earlier.submission_id != target.submission_id:
            return target, None, None
        requested_at = saved.get("requested_at")
        reading = self.read_generation(earlier, requested_at)
        if reading.terminal and not reading.succeeded:
            self.log.info(
                "The %s requested by an earlier try ended %s; requesting it again.",
                earlier.label,
                reading.status,
            )
            return target, None, None
        self.log.info("Reattaching to the %s requested by an earlier try of this task.", earlier.label)
        return earlier, reading, requested_at

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: accept only a known event for this generation."""
        target = self._event_target(context, event)
        return self._finish(context, target, self.reading_from_event(target, event))

    def _event_target(self, context: Context, event: Any) -> GenerationTarget:
        """The generation this task waits on: its submission's file, or the detached job it requested."""
        checked = self._checked()
        if not checked.detached:
            return GenerationTarget.of(checked.body["submission_id"], checked.file_type)
        saved = StateStore(context, self.log).get("generation")
        if isinstance(saved, dict) and saved.get("job_id"):
            return GenerationTarget.of(job_id=saved["job_id"], file_type=checked.file_type)
        key = str(event.get("job_id") or "") if isinstance(event, dict) else ""
        job_id = key.removeprefix("job ")
        if not job_id.isdigit():
            check_event(event, "job (unknown)", "D-file generation")  # raises: not an event we sent
        return GenerationTarget.of(job_id=job_id, file_type=checked.file_type)

    def _finish(
        self, context: Context, target: GenerationTarget, reading: GenerationStatus
    ) -> dict[str, Any]:
        result = check_generation_outcome(reading, target)
        if self.destination is None:
            return result
        meta = {
            k: result[k] for k in ("job_id", "submission_id", "file_type", "start", "end", "generated_at")
        }
        # Found finished: download without asking again whether it is finished (an odd answer to
        # that now would fail a finished task).
        url = self.hook.finished_file_url(target, reading.body)
        saved = download_generated(context, self, target, meta, url=url)
        return {**result, **saved}


class DFileDownloadOperator(LineageMixin, DFileWaitMixin, BaseOperator):
    """
    Download a finished generation's file: within a submission, or a detached job's.

    The status is read right before downloading (signed URLs live 60 seconds); the file is fetched
    with no credentials and lands whole or not at all; a 403 from storage gets a new URL once.
    Returns ``filename``, ``uri``, ``size``, ``sha256``, with ``job_id``, ``submission_id`` and
    ``file_type``.

    :param destination: Folder or object-storage URL to save the file in (templated).
    :param submission_id: The submission (templated), with ``file_type``; or
    :param job_id: a detached generation's job ID (templated).
    :param file_type: ``D1``, ``D2``, ``E`` or ``F`` (templated).
    :param filename: Save under this name instead of the Broker's.
    :param overwrite: Replace an existing file of the same name.
    :param data_act_broker_conn_id: The Airflow connection.
    """

    template_fields: Sequence[str] = ("submission_id", "file_type", "job_id", "destination")
    ui_color = "#eef6ec"

    def __init__(
        self,
        *,
        destination: Any,
        submission_id: int | str | None = None,
        file_type: str | None = None,
        job_id: int | str | None = None,
        filename: str | None = None,
        overwrite: bool = False,
        data_act_broker_conn_id: str = DataActBrokerHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.destination = destination
        self.submission_id = submission_id
        self.file_type = file_type
        self.job_id = job_id
        self.filename = filename
        self.overwrite = overwrite
        self.data_act_broker_conn_id = data_act_broker_conn_id
        check_destination(destination)
        if not _templated(submission_id, file_type, job_id, destination):
            GenerationTarget.of(submission_id, file_type, job_id)

    def execute(self, context: Context) -> dict[str, Any]:
        check_destination(self.destination)
        target = GenerationTarget.of(self.submission_id, self.file_type, self.job_id)
        meta = {**target.to_kwargs()}
        saved = download_generated(context, self, target, meta)
        return {**meta, **saved}
