"""SOV Fixer's job kinds (update, submission, parse, output), each read from one status route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_sov._shared.jobs import Api, JobKind, JobRef, Reading, Step
from airflow_provider_sov._shared.routes import check_id
from airflow_provider_sov.exceptions import SovConflictError, SovJobFailedError
from airflow_provider_sov.hooks import sov_routes

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_sov._shared.routes import Route
    from airflow_provider_sov.hooks.sov import SovHook


SOV_FIXER: Api[SovHook] = Api(
    sov_routes.API_NAME,
    sov_routes.CONN_NAME_ATTR,
    sov_routes.DEFAULT_CONN_NAME,
    hook="airflow_provider_sov.hooks.sov.SovHook",
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


@dataclass(frozen=True)
class SovJobRef(JobRef):
    """One SOV Fixer job: its checked ID (SUD, SOV or output request, by kind)."""

    id: str

    @property
    def key(self) -> str:
        return self.id

    @property
    def job_id(self) -> str:
        return self.id

    def to_json(self) -> dict[str, Any]:
        return {"job_id": self.id}


def classify(body: Mapping[str, Any], ref: SovJobRef) -> Reading:
    """
    Read any kind's status body: success is ``COMPLETE`` with a ``SUCCESS`` (or no) ``result.status``;
    an output request's single output comes back in ``outputs`` too.
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
        job_id=ref.id,
        status=status,
        terminal=status in TERMINAL_STATUSES,
        succeeded=status == "COMPLETE" and (result_status is None or result_status in SUCCESS_RESULTS),
        message=result.get("message"),
        detail=detail,
        extras={"result_status": result_status, "outputs": outputs},
    )


def outcome(reading: Reading | None, label: str, options: Mapping[str, Any], log: Any) -> dict[str, Any]:
    """The result's extras, or the typed failure; ``PARTIAL_PARSE`` passes only with ``accept_partial``."""
    if reading is None:
        return {"result_status": None, "outputs": []}
    result_status = reading.extras.get("result_status")
    outputs = list(reading.extras.get("outputs") or [])
    extras = {"result_status": result_status, "outputs": outputs}
    if not reading.terminal or reading.succeeded:
        return extras
    name = f"{label} {reading.job_id}"
    if result_status == "PARTIAL_PARSE" and options.get("accept_partial"):
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


class SovJobKind(JobKind[SovJobRef, "SovHook"]):
    """
    A kind of SOV Fixer job: named by one task argument (``field``), read from one status route.
    ``sov`` says how its SOV (for the links) is found: ``"job"`` (it is the SOV), ``"history"``
    (the history item's ``sovid``) or None.
    """

    api = SOV_FIXER
    poll_interval = DEFAULT_POLL_INTERVAL
    timeout = DEFAULT_TIMEOUT

    def __init__(
        self,
        name: str,
        label: str,
        field: str,
        status_route: Route,
        example: str,
        *,
        status_params: Mapping[str, str] | None = None,
        steps: tuple[Step, ...] = (),
        sov: Literal["job", "history"] | None = None,
        trigger: str,
    ) -> None:
        self.name, self.label, self.field, self.example = name, label, field, example
        self.task_fields = (field,)
        self.status_route, self.status_params, self.steps = status_route, status_params, steps
        self.sov, self.trigger = sov, trigger

    def ref_from_task(
        self, values: Mapping[str, Any], started: float, options: Mapping[str, Any]
    ) -> SovJobRef:
        return SovJobRef(check_id(values.get(self.field), self.field, self.example))

    def ref_from_json(self, data: Mapping[str, Any]) -> SovJobRef:
        return SovJobRef(check_id(data.get("job_id"), self.field, self.example))

    def read_status(self, hook: SovHook, ref: SovJobRef) -> Mapping[str, Any]:
        return hook.job_status(self.status_route, ref.id, params=self.status_params)

    async def aread_status(self, hook: SovHook, ref: SovJobRef) -> Mapping[str, Any]:
        return await hook.ajob_status(self.status_route, ref.id, params=self.status_params)

    def classify(self, body: Mapping[str, Any], ref: SovJobRef) -> Reading:
        return classify(body, ref)

    def pages(
        self, hook: SovHook, ref: SovJobRef, known: Mapping[str, Any], ended: bool
    ) -> dict[str, str] | None:
        if self.sov == "job":
            return hook.sov_pages(ref.id)
        if known.get("sov_id"):
            return hook.sov_pages(str(known["sov_id"]))
        if self.sov == "history":  # an update enters the history feed, which names its SOV, when it ends
            return hook.sov_pages(of=ref.id) if ended else None
        return {}

    def outcome(
        self, reading: Reading | None, ref: SovJobRef, options: Mapping[str, Any], log: Any
    ) -> dict[str, Any]:
        return outcome(reading, self.label, options, log)


#: The steps of an update: initiate (makes the SUD), add locations, start (guarded: a lost answer
#: to a start that went through reads 409 on the retry, which is then the step done).
INITIATED = Step("initiated", "initiate the update")
LOCATIONS_ADDED = Step("locations_added", "add the locations")
STARTED = Step("started", "start the update", guarded=True, done_if=SovConflictError)

#: An update job (SUD): initiate, add locations, start, wait.
UPDATE = SovJobKind(
    "update",
    "SUD",
    "sud_id",
    sov_routes.UPDATE_STATUS,
    sov_routes.EXAMPLE_SUD_ID,
    steps=(INITIATED, LOCATIONS_ADDED, STARTED),
    sov="history",
    trigger="airflow_provider_sov.triggers.sov.SovUpdateTrigger",
)
#: The first step of a new submission: create it (its ID then names it on the update routes).
CREATED = Step("created", "create the submission")
#: A new SOV built from rows: create the submission, add its locations, start (guarded), wait. The
#: vendor's client says to follow ``create_submission`` with the update routes on its ID, so its
#: status is read where an update's is.
SUBMISSION = SovJobKind(
    "submission",
    "submission",
    "submission_id",
    sov_routes.UPDATE_STATUS,
    sov_routes.EXAMPLE_SUBMISSION_ID,
    steps=(CREATED, LOCATIONS_ADDED, STARTED),
    sov="history",
    trigger="airflow_provider_sov.triggers.sov.SovSubmissionTrigger",
)
#: A new SOV's parse job: upload, wait.
PARSE = SovJobKind(
    "parse",
    "SOV",
    "sov_id",
    sov_routes.PARSE_STATUS,
    sov_routes.EXAMPLE_SOV_ID,
    status_params=sov_routes.PARSE_STATUS_PARAMS,
    steps=(Step("uploaded", "upload the SOV"),),
    sov="job",
    trigger="airflow_provider_sov.triggers.sov.SovParseTrigger",
)
#: An output request (``get_or_create_output``).
OUTPUT = SovJobKind(
    "output",
    "output request",
    "request_id",
    sov_routes.OUTPUT_REQUEST,
    sov_routes.EXAMPLE_REQUEST_ID,
    trigger="airflow_provider_sov.triggers.sov.SovOutputTrigger",
)
