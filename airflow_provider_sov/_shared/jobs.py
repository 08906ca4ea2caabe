"""
The one job model: every job either API runs is read, judged and reported the same way.

A job kind (an SOV update, an output request, a parse, a D-file generation) is a :class:`JobSpec`:
the call that reads its status, how a status body becomes a :class:`Reading`, how a final reading
becomes a result (or a failure), the trigger that polls it and the words messages use. The wait
(:mod:`.waiting`), the trigger (:mod:`.trigger`) and the download path (:mod:`.downloads`) take a
spec and know nothing else about the API. A new kind, or a third API, is a new spec.

A job is named by its *ref*: a small plain-JSON dict the spec understands (``{"job_id": ...}`` for
SOV Fixer; submission and file type, or a detached job, for the Broker). It travels in trigger
kwargs and events unchanged.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow_provider_sov._shared.hook import ApiHook
    from airflow_provider_sov._shared.routes import Route

#: The keys every operator and sensor result carries, whatever the API (see the README's table).
RESULT_KEYS = ("kind", "job_id", "status", "succeeded", "message", "files")
#: How long after a wait's own deadline Airflow's deferral timeout fires, as a backstop only. A wait
#: the scheduler starts in the triggerer takes its deadline back from that timeout (minus this).
DEFERRAL_GRACE = 300.0


def job_result(
    kind: str,
    job_id: str | int | None,
    status: str | None,
    succeeded: bool | None,
    message: str | None = None,
    files: list[dict[str, Any]] | None = None,
    **extras: Any,
) -> dict[str, Any]:
    """
    Build the one result shape every task returns: the common keys, then the kind's own extras.

    :param kind: The job kind (``update``, ``parse``, ``output``, ``d_file``).
    :param job_id: The API's own ID of the job, as a string; None only when no job exists yet.
    :param status: The API's status word at the last reading; None when the task read none.
    :param succeeded: Whether the job succeeded; None while it has not finished.
    :param message: The API's message for the job, if it gave one.
    :param files: Files the task wrote (``filename``, ``uri``, ``size``, ``sha256``, ...).
    """
    return {
        "kind": kind,
        "job_id": None if job_id is None else str(job_id),
        "status": status,
        "succeeded": succeeded,
        "message": message,
        "files": list(files or []),
        **extras,
    }


@dataclass(frozen=True)
class Reading:
    """
    One classified status reading of any job of either API, the same for sync and async reads.

    :param job_id: The API's ID of the job (empty when the status body does not say it).
    :param status: The status word as the API sent it (``COMPLETE``, ``waiting``...).
    :param terminal: Whether waiting longer cannot change the answer.
    :param succeeded: Terminal, and the job did what was asked.
    :param message: The API's message, if any.
    :param detail: More for the progress line (percent, health, why it is not final yet).
    :param extras: The kind's own fields for the result, plain JSON (never a credential).
    :param private: What only this process may use (e.g. a signed download URL); never serialised.
    """

    job_id: str
    status: str
    terminal: bool = False
    succeeded: bool = False
    message: str | None = None
    detail: str = ""
    extras: Mapping[str, Any] = field(default_factory=dict)
    private: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def progress_line(self, name: str) -> str:
        """Return one short line for the task log: the job, its status, then percent, health or notes."""
        return f"{name}: {self.status} {self.detail}".rstrip()

    def to_json(self) -> dict[str, Any]:
        """Return plain JSON, for trigger events."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "terminal": self.terminal,
            "succeeded": self.succeeded,
            "message": self.message,
            "extras": dict(self.extras),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reading:
        """Return the reading a trigger event carried (see :meth:`to_json`)."""
        extras = data.get("extras")
        return cls(
            job_id=str(data.get("job_id") or ""),
            status=str(data.get("status") or "unknown"),
            terminal=bool(data.get("terminal")),
            succeeded=bool(data.get("succeeded")),
            message=data.get("message"),
            extras=dict(extras) if isinstance(extras, dict) else {},
        )


@dataclass(frozen=True)
class StatusCall:
    """The request that reads a job's status: a route and what fills it."""

    route: Route
    ids: Mapping[str, str] | None = None
    params: Mapping[str, Any] | None = None
    job_id: str | int | None = None
    action: str | None = None

    def kwargs(self) -> dict[str, Any]:
        return {"ids": self.ids, "params": self.params, "job_id": self.job_id, "action": self.action}


@dataclass(frozen=True)
class Api:
    """
    One API as tasks name it at DAG-parse time; its hook is imported only when a task runs.

    :param name: How messages name the API (``SOV Fixer``).
    :param hook: Import path of its hook class.
    :param conn_name_attr: The task argument naming the connection (``sovfixer_conn_id``).
    :param default_conn_name: The connection used when a task names none.
    """

    name: str
    hook: str
    conn_name_attr: str
    default_conn_name: str

    def hook_class(self) -> type[ApiHook]:
        """Return the hook class (imported on first use)."""
        return _import(self.hook)


@dataclass(frozen=True)
class JobSpec:
    """
    One job kind, declared once for sensors, operators and triggers.

    :param kind: The kind's name in results and events (``update``, ``parse``, ``output``, ``d_file``).
    :param label: How messages name its jobs (``SUD``, ``SOV``, ``output request``, ``D-file generation``).
    :param api: Its API: the name of the task's connection argument, and the hook (imported when used).
    :param trigger: Import path of the trigger class that polls it (imported only to defer).
    :param status_call: ``ref`` -> the :class:`StatusCall` that reads its status (checks the ref).
    :param classify: ``(body, ref)`` -> :class:`Reading`.
    :param outcome: ``(reading, ref, options)`` -> the result's extras (``reading`` is None when the
        task read no status); for a final reading that failed (and that ``options`` do not accept)
        it raises the typed failure instead.
    :param name: ``ref`` -> what messages call this job (``SUD s-...-r001``).
    :param task_fields: The task arguments that name one job: a sensor's templated fields
        (``sud_id``; ``submission_id``, ``file_type``, ``job_id``).
    :param task_ref: ``(those arguments rendered, when the wait began, the task's options)`` -> the
        ref; it checks them (:class:`~airflow_provider_sov.exceptions.SovInputError`). A sensor calls
        it on a worker; a trigger the scheduler started calls it in the triggerer, after Airflow
        rendered the same arguments there.
    :param key: ``ref`` -> the stable string a trigger event is matched on (default: :attr:`name`).
    :param poll_interval: Default seconds between polls.
    :param timeout: Default seconds a wait lasts in all.
    :param min_poll_interval: The API asks clients not to poll more often (a shorter one warns).
    """

    kind: str
    label: str
    api: Api
    trigger: str
    status_call: Callable[[Mapping[str, Any]], StatusCall]
    classify: Callable[[Mapping[str, Any], Mapping[str, Any]], Reading]
    outcome: Callable[[Reading | None, Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]
    name: Callable[[Mapping[str, Any]], str]
    task_fields: tuple[str, ...]
    task_ref: Callable[[Mapping[str, Any], float, Mapping[str, Any]], dict[str, Any]]
    key: Callable[[Mapping[str, Any]], str] | None = None
    poll_interval: float = 15.0
    timeout: float = 2 * 60 * 60.0
    min_poll_interval: float = 0.0

    def key_of(self, ref: Mapping[str, Any]) -> str:
        """Return the string an event for this job is matched on."""
        return (self.key or self.name)(ref)

    def read(self, hook: ApiHook, ref: Mapping[str, Any]) -> Reading:
        """Read and classify the job's status (sync)."""
        call = self.status_call(ref)
        return self.classify(hook.request(call.route, **call.kwargs()), ref)

    async def aread(self, hook: ApiHook, ref: Mapping[str, Any]) -> Reading:
        """Read and classify the job's status (async, for triggers)."""
        call = self.status_call(ref)
        return self.classify(await hook.arequest(call.route, **call.kwargs()), ref)

    def result(
        self,
        reading: Reading | None,
        ref: Mapping[str, Any],
        options: Mapping[str, Any] | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """
        Return the task's result for ``reading``: a final one that failed raises the typed failure (unless
        ``options`` accept it); one that is not final, or none at all (a task that started the job
        and did not read it), gives ``succeeded`` null.
        """
        extras = self.outcome(reading, ref, options or {})
        if reading is None:
            return job_result(self.kind, ref.get("job_id"), None, None, None, files, **extras)
        succeeded = reading.succeeded if reading.terminal else None
        return job_result(
            self.kind,
            reading.job_id or ref.get("job_id"),
            reading.status,
            succeeded,
            reading.message,
            files,
            **extras,
        )

    def trigger_class(self) -> type:
        """Return the trigger class (imported now: only a task about to defer needs it)."""
        return _import(self.trigger)


def _import(path: str) -> Any:
    """Return the class a dotted path names, importing its module (once: Python keeps it)."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def templated(*values: Any) -> bool:
    """Return whether any value is still a Jinja template (then it is checked once rendered, at run time)."""
    return any(isinstance(v, str) and "{{" in v for v in values)


def keep_arguments(task: Any, arguments: Mapping[str, Any]) -> None:
    """
    Keep a task constructor's own arguments as attributes of the same names (templated fields
    must be attributes): call ``keep_arguments(self, locals())`` after ``super().__init__``.
    """
    for name, value in arguments.items():
        if name not in ("self", "kwargs", "__class__"):
            setattr(task, name, value)
