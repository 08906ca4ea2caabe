"""
The one job model: every job of either API is named (a :class:`JobRef`), read, judged and reported
the same way, by its kind (:class:`JobKind`): how its status is read (sync and async, on its hook),
how a status body becomes a :class:`Reading` and a final reading the task's result, and which steps
create one. An :class:`Api` says which connection argument and hook its kinds' tasks use. The wait,
the trigger and the download path take a kind and know nothing else about the API.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_sov._shared.hook import ApiHook
    from airflow_provider_sov.exceptions import SovError

#: The keys every operator and sensor result carries, whatever the API (see the README's table).
RESULT_KEYS = ("kind", "job_id", "status", "succeeded", "message", "files")
#: How long after a wait's own deadline Airflow's deferral timeout fires, as a backstop only. A wait
#: the scheduler starts in the triggerer takes its deadline back from that timeout (minus this).
DEFERRAL_GRACE = 300.0

HookT = TypeVar("HookT", bound="ApiHook")
RefT = TypeVar("RefT", bound="JobRef")


def job_result(
    kind: str,
    job_id: str | int | None,
    status: str | None,
    succeeded: bool | None,
    message: str | None = None,
    files: list[dict[str, Any]] | None = None,
    **extras: Any,
) -> dict[str, Any]:
    """The one result shape every task returns (:data:`RESULT_KEYS`), then the kind's own extras."""
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
    One classified status reading, the same for sync and async reads. ``terminal``: waiting longer
    cannot change it; ``detail``: more for the progress line; ``extras``: the kind's fields for the
    result (plain JSON); ``private``: what only this process may use (a signed URL), never serialised.
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
        """One short line for the task log: the job, its status, then percent, health or notes."""
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
class Step:
    """
    One named step of creating a job (:mod:`.steps` runs them): ``name`` is recorded once it is done,
    ``doing`` names it in the log. ``guarded``: it creates work and its answer can be lost, so it is
    marked sent before sending; ``done_if``: after such a mark, this error means it went through.
    """

    name: str
    doing: str
    guarded: bool = False
    done_if: type[SovError] | None = None


class JobRef(ABC):
    """What names one job (a frozen dataclass per API), built and checked only by its kind."""

    @property
    @abstractmethod
    def key(self) -> str:
        """The stable string a trigger event for this job is matched on."""

    @property
    @abstractmethod
    def job_id(self) -> str | None:
        """The API's own ID of the job, once there is one (the result's ``job_id``)."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The ref as plain JSON: the trigger's kwargs, the event's ``ref``, the task's state."""


@dataclass(frozen=True)
class Api(Generic[HookT]):
    """
    One API as tasks name it: how messages name it, the task argument naming the connection, the
    default connection and its hook's class path (imported only when a task runs, as a trigger's is).
    """

    name: str
    conn_name_attr: str
    default_conn_name: str
    hook: str

    def hook_class(self) -> type[HookT]:
        """Return the API's hook class (its module is imported on first use)."""
        module, _, name = self.hook.rpartition(".")
        found: type[HookT] = getattr(importlib.import_module(module), name)
        return found

    def hook_for(self, task: object) -> HookT:
        """Return a hook of this API on the connection ``task`` names (its ``conn_name_attr``)."""
        return self.hook_class()(getattr(task, self.conn_name_attr))


class JobKind(ABC, Generic[RefT, HookT]):
    """One job kind, declared once for sensors, operators and triggers."""

    name: str  #: in results and events (``update``, ``generation``)
    label: str  #: how messages name its jobs (``SUD``, ``D-file generation``)
    api: Api[HookT]
    task_fields: tuple[str, ...]  #: the task arguments that name one job (a sensor's templated fields)
    steps: tuple[Step, ...] = ()  #: the steps that create one, in order (none: one call)
    poll_interval: float = 15.0  #: default seconds between polls
    timeout: float = 2 * 60 * 60.0  #: default seconds a wait lasts
    min_poll_interval: float = 0.0  #: the API asks not to poll more often (a shorter one warns)
    #: The class path of the trigger that polls it, as Airflow's trigger table stores it (None: never deferred).
    trigger: str | None = None

    def __repr__(self) -> str:
        return f"<JobKind {self.name}>"

    @abstractmethod
    def ref_from_task(self, values: Mapping[str, Any], started: float, options: Mapping[str, Any]) -> RefT:
        """Return the ref a task's rendered :attr:`task_fields` name; a bad ID raises ``SovInputError``."""

    @abstractmethod
    def ref_from_json(self, data: Mapping[str, Any]) -> RefT:
        """Return the ref that :meth:`JobRef.to_json` gave, checked again (it crossed a process)."""

    def describe(self, ref: RefT) -> str:
        """Return what messages call this job (``SUD s-...-r001``)."""
        return f"{self.label} {ref.key}"

    def pages(self, hook: HookT, ref: RefT, known: Mapping[str, Any], ended: bool) -> dict[str, str] | None:
        """
        Return the job's pages for the task's links (``{page: url}``); None: not knowable before it
        ended. ``known``: the IDs the task knows besides the ref (its ``sov_id``...).
        """
        return {}

    @abstractmethod
    def read_status(self, hook: HookT, ref: RefT) -> Mapping[str, Any]:
        """Return the job's status body (sync, for operators and poking sensors)."""

    @abstractmethod
    async def aread_status(self, hook: HookT, ref: RefT) -> Mapping[str, Any]:
        """Return the job's status body (async, for triggers)."""

    @abstractmethod
    def classify(self, body: Mapping[str, Any], ref: RefT) -> Reading:
        """Return what a status body says: status, final or not, succeeded, message, extras."""

    def read(self, hook: HookT, ref: RefT) -> Reading:
        """Read and classify the job's status (sync)."""
        return self.classify(self.read_status(hook, ref), ref)

    async def aread(self, hook: HookT, ref: RefT) -> Reading:
        """Read and classify the job's status (async, for triggers)."""
        return self.classify(await self.aread_status(hook, ref), ref)

    @abstractmethod
    def outcome(
        self, reading: Reading | None, ref: RefT, options: Mapping[str, Any], log: Any
    ) -> dict[str, Any]:
        """Return the result's extras for ``reading`` (None: none read); a failed final one raises."""

    def result(
        self,
        reading: Reading | None,
        ref: RefT,
        options: Mapping[str, Any] | None = None,
        files: list[dict[str, Any]] | None = None,
        log: Any = None,
    ) -> dict[str, Any]:
        """Return the task's result: a failed final reading raises; none, or one not final, gives ``succeeded`` null."""
        extras = self.outcome(reading, ref, options or {}, log)
        if reading is None:
            return job_result(self.name, ref.job_id, None, None, None, files, **extras)
        succeeded = reading.succeeded if reading.terminal else None
        return job_result(
            self.name,
            reading.job_id or ref.job_id,
            reading.status,
            succeeded,
            reading.message,
            files,
            **extras,
        )


def templated(*values: Any) -> bool:
    """Whether any value is known only at run time (a Jinja template, an XComArg): checked once rendered."""
    return any((isinstance(v, str) and "{{" in v) or callable(getattr(v, "resolve", None)) for v in values)
