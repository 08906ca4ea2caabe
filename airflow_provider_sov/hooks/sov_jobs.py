"""
SOV Fixer's job kinds as specs of the one job model: updates (SUD), parses (SOV), output requests.

How a status body reads (:func:`classify`) and what a final reading means (:func:`outcome`) are
written once here, for sensors, operators and triggers, sync and async alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.jobs import Api, JobSpec, Reading
from airflow_provider_sov._shared.routes import check_id
from airflow_provider_sov.exceptions import SovJobFailedError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_sov._shared.jobs import StatusCall

#: SOV Fixer as tasks name it; :class:`~airflow_provider_sov.hooks.sov.SovHook` takes its names from here.
SOV_FIXER = Api(
    name="SOV Fixer",
    hook="airflow_provider_sov.hooks.sov.SovHook",
    conn_name_attr="sovfixer_conn_id",
    default_conn_name="sovfixer_default",
)

#: Seconds between polls unless told otherwise.
DEFAULT_POLL_INTERVAL = 15.0
#: Default wait: SOV Fixer jobs take seconds to many minutes; two hours is a generous, finite cap.
DEFAULT_TIMEOUT = 2 * 60 * 60.0

#: ``request.status`` values after which a job never changes. Anything else means keep waiting.
TERMINAL_STATUSES = frozenset({"COMPLETE", "FAILED"})
#: ``request.status`` values the API documents as in flight (others are logged, and waited on).
RUNNING_STATUSES = frozenset({"PENDING", "IN_PROGRESS", "ENRICHING", "REENRICHING"})
#: ``result.status`` values that mean the job did what was asked.
SUCCESS_RESULTS = frozenset({"SUCCESS"})


def classify(body: Mapping[str, Any], ref: Mapping[str, Any]) -> Reading:
    """
    Read a status body (``{"request": {...}, "result": {...}}``) of any SOV Fixer job kind.

    ``result`` may carry ``outputs`` (parse and update jobs) or a single output described by
    ``url``/``scrubbed_filename``/``label`` (output requests); both come back as ``outputs``.
    Success is ``COMPLETE`` with a ``SUCCESS`` (or absent) ``result.status``.
    """
    request = body.get("request") or {}
    result = body.get("result") or {}
    status = str(request.get("status") or "UNKNOWN")
    result_status = result.get("status")
    outputs = [dict(o) for o in result.get("outputs") or [] if isinstance(o, dict)]
    if not outputs and result.get("url"):
        outputs = [
            {
                "url": result["url"],
                "filename": result.get("scrubbed_filename") or result.get("filename"),
                "description": result.get("label") or result.get("output_format"),
                "output_format": result.get("output_format"),
            }
        ]
    pct = request.get("pct_complete")
    health = request.get("last_health_status")
    detail = " ".join(
        part
        for part in (
            f"{pct:g}%" if isinstance(pct, (int, float)) else "",
            f"- {health}" if health else "",
            "" if status in TERMINAL_STATUSES | RUNNING_STATUSES else "(unrecognised status; still waiting)",
        )
        if part
    )
    return Reading(
        job_id=str(ref.get("job_id")),
        status=status,
        terminal=status in TERMINAL_STATUSES,
        succeeded=status == "COMPLETE" and (result_status is None or result_status in SUCCESS_RESULTS),
        message=result.get("message"),
        detail=detail,
        extras={"result_status": result_status, "outputs": outputs},
    )


def outcome(reading: Reading | None, ref: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """
    Return the extras of an SOV Fixer result (``result_status``, ``outputs``), or the typed failure.

    One rule for every wait mode: ``COMPLETE`` with ``SUCCESS`` (or no result status) succeeds;
    ``PARTIAL_PARSE`` is used only with the option ``accept_partial`` (with a warning on the
    option ``log``); anything else fails with the API's status and message. The option ``label``
    names the kind in messages.
    """
    if reading is None:
        return {"result_status": None, "outputs": []}
    result_status = reading.extras.get("result_status")
    outputs = list(reading.extras.get("outputs") or [])
    extras = {"result_status": result_status, "outputs": outputs}
    if not reading.terminal or reading.succeeded:
        return extras
    name = f"{options.get('label', 'job')} {reading.job_id}"
    if result_status == "PARTIAL_PARSE" and options.get("accept_partial"):
        log = options.get("log")
        if log is not None:
            log.warning(
                "%s ended PARTIAL_PARSE (%s); accept_partial=True, so its %d output(s) are used.",
                name,
                reading.message or "no message",
                len(outputs),
            )
        return extras
    hint = (
        "Pass accept_partial=True to use the outputs of a partial parse."
        if result_status == "PARTIAL_PARSE"
        else "Check the input in the SOV Fixer app, correct it and run the task again."
    )
    raise SovJobFailedError(
        f"{name} ended {reading.status} with result {result_status or 'none'}: "
        f"{reading.message or 'no message'}.",
        result_status=result_status,
        job_id=reading.job_id,
        server_message=reading.message,
        hint=hint,
    )


def _status_call(kind: str, ref: Mapping[str, Any]) -> StatusCall:
    from airflow_provider_sov.hooks.sov import status_call  # the routes: needed once a task runs

    return status_call(kind, ref.get("job_id"))


def _spec(kind: str, label: str, trigger: str, field: str) -> JobSpec:
    return JobSpec(
        kind=kind,
        label=label,
        api=SOV_FIXER,
        trigger=f"airflow_provider_sov.triggers.sov.{trigger}",
        status_call=lambda ref: _status_call(kind, ref),
        classify=classify,
        outcome=lambda reading, ref, options: outcome(reading, ref, {"label": label, **options}),
        name=lambda ref: f"{label} {ref.get('job_id')}",
        task_fields=(field,),
        task_ref=lambda values, started, options: {"job_id": check_id(values.get(field), field)},
        key=lambda ref: str(ref.get("job_id")),
        poll_interval=DEFAULT_POLL_INTERVAL,
        timeout=DEFAULT_TIMEOUT,
    )


#: An update job (SUD): initiate, add locations, start, wait.
UPDATE = _spec("update", "SUD", "SovUpdateTrigger", "sud_id")
#: A new SOV's parse job.
PARSE = _spec("parse", "SOV", "SovParseTrigger", "sov_id")
#: An output request (``get_or_create_output``).
OUTPUT = _spec("output", "output request", "SovOutputTrigger", "request_id")
