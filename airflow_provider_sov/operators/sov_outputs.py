"""Operators for SOV Fixer outputs: get or create one output, or download a finished job's outputs."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_sov._shared.files import check_destination, numbered, safe_filename
from airflow_provider_sov._shared.jobs import job_result
from airflow_provider_sov._shared.operator import JobOperator
from airflow_provider_sov._shared.task_state import StateStore, saved_ref
from airflow_provider_sov._shared.waiting import read_job
from airflow_provider_sov.exceptions import SovBadRequestError, SovError, SovInputError, SovResponseError
from airflow_provider_sov.hooks.sov_jobs import OUTPUT, UPDATE, SovJobRef
from airflow_provider_sov.hooks.sov_rules import check_output_format, check_revision
from airflow_provider_sov.links import SOV_LINKS, record_pages

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_sov._shared.files import FileToFetch
    from airflow_provider_sov._shared.jobs import JobRef, Reading
    from airflow_provider_sov.hooks.sov import SovHook


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


def output_files(outputs: list[dict[str, Any]], destination: Any, job_id: str) -> list[FileToFetch]:
    """
    Return one file to write per output. Two outputs with the same name get distinct names
    (``name (2).ext``) and never overwrite each other; each is recorded under its name.
    """
    from airflow_provider_sov._shared.files import FileToFetch

    check_destination(destination)
    taken: set[str] = set()
    files = []
    for output in outputs:
        base = safe_filename(output.get("filename") or output.get("scrubbed_filename"))
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = numbered(base, n)
        taken.add(name.lower())
        files.append(
            FileToFetch(name, output, destination, name, job_id, {"description": output.get("description")})
        )
    return files


def sov_dataset(hook: SovHook, job_id: str) -> tuple[str, str]:
    """Return the OpenLineage (namespace, name) of an SOV, update or output on this connection's host."""
    return f"sovfixer://{urlsplit(hook.settings.base_url).netloc}", str(job_id)


#: What an update's history item says of the SOV chain (the item carries no revision number).
HISTORY_LINKS = ("sovid", "previous_sovid", "original_sovid", "sheet_name")


def update_history(task: Any, hook: SovHook, sud_id: str) -> dict[str, Any] | None:
    """
    Return an update's place in its SOV chain, from its history item; read only for tasks with outlets.

    ``None`` when the task has no outlets, or when the item cannot be read (logged; the files are
    written and recorded all the same).
    """
    if not getattr(task, "outlets", None):
        return None
    try:
        item = hook.get_history_item(sud_id)
    except SovError as exc:
        task.log.warning("Could not read the history item of %s: %s", sud_id, exc)
        return None
    return {key: item.get(key) for key in HISTORY_LINKS}


class SovGetOrCreateOutputOperator(JobOperator["SovHook"]):
    """
    Get one output of an SOV or update, creating it if needed; optionally download it.

    A cached output (``COMPLETE`` in the first answer, e.g. an ``immediately-done-`` request) returns
    at once, without waiting or deferring. Otherwise the task waits (deferrable) for the output
    request, whose ID it pushes to XCom (``job_id``) first. A retried task reattaches to the
    request it made, unless that request failed.

    :param id: SOV ID or SUD ID (templated).
    :param output_format: e.g. ``"json"`` or ``"XLSX"``; case does not matter (templated).
    :param revision: -1 latest (default), 0 original parse, N that revision; ignored for a SUD ID.
    :param overwrite_existing: Discard a cached output and make it again.
    :param delegate_to_team: Ask as this team (its UUID or ID).
    :param destination: Download the output here (local folder or object-storage URL) (templated).
    :param validate_format: Check ``output_format`` against the organisation's list first (one call).
    :param overwrite: Replace a file already at the destination.
    :param wait_for_completion: Wait for an output that is not ready yet.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between polls.
    :param timeout: Seconds to wait in all.
    :return: The common result (``job_id`` is the output request's ID) with ``result_status``,
        ``outputs`` (the one output), ``id``, ``output_format`` and ``revision``.
    """

    kind = OUTPUT
    operator_extra_links = SOV_LINKS
    template_fields: Sequence[str] = ("id", "output_format", "destination")

    def __init__(
        self,
        *,
        id: str,
        output_format: str,
        revision: int = -1,
        overwrite_existing: bool = False,
        validate_format: bool = False,
        delegate_to_team: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.id = id
        self.output_format = output_format
        self.revision = revision
        self.overwrite_existing = overwrite_existing
        self.validate_format = validate_format
        self.delegate_to_team = delegate_to_team

    def start_job(self, context: Context, store: StateStore) -> tuple[SovJobRef, Reading | None]:
        fmt = check_output_format(self.output_format)
        check_revision(self.revision)
        if not isinstance(self.overwrite_existing, bool):
            raise SovInputError(f"overwrite_existing must be True or False, got {self.overwrite_existing!r}.")
        earlier = saved_ref(OUTPUT, store)
        if earlier is not None:
            reading = read_job(self, OUTPUT, earlier)
            if not (reading.terminal and not reading.succeeded):
                self.log.info("Reattaching to output request %s from an earlier try.", earlier.key)
                return earlier, reading
            self.log.warning(
                "Output request %s from an earlier try ended %s; asking again.", earlier.key, reading.status
            )
        if self.validate_format:
            self._check_format(fmt)
        body = self._request(fmt)
        request_id = str((body.get("request") or {}).get("id") or "")
        if not request_id:
            raise SovResponseError(
                f"The answer for {fmt} output of {self.id} carried no request ID, so there is nothing to wait on.",
                job_id=self.id,
                hint="Run the task again; if it persists, report it to SOV Fixer's support.",
            )
        ref = OUTPUT.ref_from_json({"job_id": request_id})
        reading = OUTPUT.classify(body, ref)
        self.log.info("%s", reading.progress_line(OUTPUT.describe(ref)))
        return ref, reading

    def job_pages(self, ref: JobRef, ended: bool) -> dict[str, str]:
        return self.hook.sov_pages(of=self.id)  # the request's ID does not name its SOV; the task's does

    def result_extras(self, result: dict[str, Any], ref: JobRef, context: Context) -> dict[str, Any]:
        outputs = result.get("outputs") or [{}]
        fmt = outputs[0].get("output_format") or check_output_format(self.output_format).upper()
        return {"id": self.id, "output_format": fmt, "revision": self.revision}

    def files_to_fetch(self, result: dict[str, Any], ref: JobRef, reading: Reading) -> list[FileToFetch]:
        self.lineage.inputs.append(sov_dataset(self.hook, self.id))
        if not result["outputs"]:
            raise SovResponseError(
                f"Output request {result['job_id']} finished without a file to download.",
                job_id=result["job_id"],
                hint="Ask for the output again with overwrite_existing=True.",
            )
        if self.destination in (None, ""):
            return []
        return output_files(result["outputs"][:1], self.destination, result["job_id"])

    def file_meta(self, result: dict[str, Any], ref: JobRef) -> dict[str, Any]:
        return {"id": self.id, "revision": self.revision, "output_format": result["output_format"]}

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
            return dict(
                self.hook.get_or_create_output(
                    self.id,
                    fmt,
                    revision=self.revision,
                    overwrite_existing=self.overwrite_existing,
                    delegate_to_team=self.delegate_to_team,
                )
            )
        except SovBadRequestError as exc:
            said = (exc.server_message or "no message").rstrip(".")
            if "allowed" in said.lower():  # the API's own message lists them already
                listed = ""
            else:
                try:
                    listed = f" Formats allowed: {', '.join(self._allowed())}."
                except SovError:
                    listed = " The allowed formats could not be listed."
            raise SovBadRequestError(
                f"SOV Fixer refused {fmt!r} output of {self.id}: {said}.{listed}",
                job_id=self.id,
                http_status=400,
                server_message=exc.server_message,
                hint="Use one of the allowed formats (case does not matter).",
            ) from None


class SovDownloadOutputsOperator(JobOperator["SovHook"]):
    """
    Download a finished update's outputs (all, or those matching descriptions or extensions).

    Give either ``sud_id`` (its status is read for the outputs) or ``outputs`` (a result from a
    sensor or another operator, or a list of outputs).

    :param destination: Local folder or object-storage URL (``s3://...``, ``gs://...``) (templated).
    :param sud_id: The finished update (templated).
    :param outputs: Outputs to download instead of reading them from ``sud_id`` (templated).
    :param overwrite: Replace files that already exist at the destination.
    :param descriptions: Only outputs with these descriptions (e.g. ``["JSON"]``), case-insensitive.
    :param extensions: Only outputs with these extensions (e.g. ``["xlsx"]``).
    :param accept_partial: Download the outputs of a ``PARTIAL_PARSE`` update too.
    :return: The common result, with the written files in ``files``.
    """

    kind = UPDATE
    operator_extra_links = SOV_LINKS
    can_wait = False
    waits_by_default = False
    template_fields: Sequence[str] = ("destination", "sud_id", "outputs")

    def __init__(
        self,
        *,
        sud_id: str | None = None,
        outputs: Any = None,
        descriptions: Sequence[str] | None = None,
        extensions: Sequence[str] | None = None,
        accept_partial: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sud_id = sud_id
        self.outputs = outputs
        self.descriptions = descriptions
        self.extensions = extensions
        self.accept_partial = accept_partial
        if (sud_id is None) == (outputs is None):
            raise SovInputError(f"Task {self.task_id!r}: give exactly one of sud_id or outputs.")

    def execute(self, context: Context) -> dict[str, Any]:
        check_destination(self.destination)
        if self.sud_id is not None:
            return super().execute(context)
        raw, given = self.outputs, self.outputs if isinstance(self.outputs, dict) else {}
        if given:
            raw = given.get("outputs")
        if not isinstance(raw, list) or not all(isinstance(o, dict) and o.get("url") for o in raw):
            raise SovInputError(f"outputs must be a list of outputs with a 'url', got {self.outputs!r}.")
        job_id = str(given.get("job_id") or "outputs")
        chosen = self._chosen(raw, job_id)
        if given.get("job_id"):  # a finished update's result: its SOV's links (the update has ended)
            record_pages(
                self, context, StateStore(context, self.log), partial(self._pages_of, given), final=True
            )
        from airflow_provider_sov._shared.downloads import download_and_record

        files = download_and_record(
            context,
            self,
            self.hook,
            output_files(chosen, self.destination, job_id),
            overwrite=self.overwrite,
            meta={"sud_id": None, "job_id": job_id, "history": None},
        )
        return job_result(
            UPDATE.name,
            given.get("job_id"),
            given.get("status"),
            given.get("succeeded"),
            given.get("message"),
            files,
            result_status=given.get("result_status"),
            outputs=raw,
        )

    def start_job(self, context: Context, store: StateStore) -> tuple[SovJobRef, Reading | None]:
        ref = UPDATE.ref_from_task({"sud_id": self.sud_id}, 0.0, {})
        reading = read_job(self, UPDATE, ref)
        if not reading.terminal:
            raise SovInputError(
                f"Update {self.sud_id} has not finished (status {reading.status}); it has no outputs yet.",
                job_id=self.sud_id,
                hint="Wait for it first with SovUpdateSensor.",
            )
        return ref, reading

    def result_extras(self, result: dict[str, Any], ref: JobRef, context: Context) -> dict[str, Any]:
        return {"sov_id": self.known("sov_id")}  # the SOV, when the task was given a result that names it

    def _pages_of(self, given: dict[str, Any], ended: bool) -> dict[str, str]:
        """The pages of the SOV of an update's result given as ``outputs``."""
        sov_id = given.get("sov_id")
        return self.hook.sov_pages(str(sov_id)) if sov_id else self.hook.sov_pages(of=str(given["job_id"]))

    def options(self) -> dict[str, Any]:
        return {"accept_partial": self.accept_partial}

    def files_to_fetch(self, result: dict[str, Any], ref: JobRef, reading: Reading) -> list[FileToFetch]:
        self.lineage.inputs.append(sov_dataset(self.hook, str(self.sud_id)))
        chosen = self._chosen(result["outputs"], str(self.sud_id))
        return output_files(chosen, self.destination, str(self.sud_id))

    def file_meta(self, result: dict[str, Any], ref: JobRef) -> dict[str, Any]:
        sud_id = str(self.sud_id)
        return {"sud_id": sud_id, "job_id": sud_id, "history": update_history(self, self.hook, sud_id)}

    def _chosen(self, outputs: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
        chosen = select_outputs(outputs, self.descriptions, self.extensions)
        if outputs and not chosen:
            raise SovInputError(
                f"No output of {job_id} matches descriptions={self.descriptions} extensions={self.extensions}; "
                f"it has {[o.get('filename') for o in outputs]}."
            )
        return chosen
