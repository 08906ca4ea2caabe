"""
The one job model: every job either API runs is named, read, judged and reported the same way.

- A **ref** (:class:`JobRef`) names one job: a small frozen dataclass, checked when it is built
  (from a task's arguments, or from the plain JSON it travels as in trigger kwargs, events and the
  task's state), never again per poll.
- A **kind** (:class:`JobKind`) is one sort of job: how its status is read (sync and async, on its
  hook's own typed methods), how a status body becomes a :class:`Reading`, how a final reading
  becomes the task's result (or its typed failure), and how its ref is built. A kind's
  :attr:`~JobKind.steps` name what creating one takes (:mod:`.steps` runs them).
- An **API** (:class:`Api`) is what a kind's tasks need to talk to it: the connection argument,
  the default connection and the hook class (imported only when a task runs).

The wait (:mod:`.waiting`), the trigger (:mod:`.trigger`) and the download path
(:mod:`.downloads`) take a kind and know nothing else about the API. A new kind is a new
:class:`JobKind` subclass (and a ref class where the API's IDs differ), and a trigger class that
names it (:class:`~.trigger.JobTrigger`): a kind never imports its hook or its trigger, which import it.
"""

from __future__ import annotations

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
    """
    Build the one result shape every task returns: the common keys, then the kind's own extras.

    :param kind: The job kind (``update``, ``parse``, ``output``, ``generation``).
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
class Step:
    """
    One named step of creating a job (:mod:`.steps` runs them).

    :param name: What the task's state records once the step is done (``initiated``, ``started``).
    :param doing: How the log names the step (``start the update``).
    :param guarded: The call creates work and its answer can be lost: mark it sent before sending.
    :param done_if: After a sent mark of an earlier try, this error from the server means the earlier
        call went through (e.g. the 409 a second start gets).
    """

    name: str
    doing: str
    guarded: bool = False
    done_if: type[SovError] | None = None


class JobRef(ABC):
    """
    What names one job; each API subclasses it (a frozen dataclass) with its own checked fields.

    A ref is built only by its kind (:meth:`JobKind.ref_from_task`, :meth:`JobKind.ref_from_json`),
    which check every ID once; afterwards it is trusted as it is.
    """

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
        """Return the ref as plain JSON: the trigger's kwargs, the event's ``ref``, the task's state."""


class Api(ABC, Generic[HookT]):
    """
    One API as tasks name it at DAG-parse time; its hook is imported only when a task runs.

    :param name: How messages name the API (``SOV Fixer``).
    :param conn_name_attr: The task argument naming the connection (``sovfixer_conn_id``).
    :param default_conn_name: The connection used when a task names none.
    """

    def __init__(self, name: str, conn_name_attr: str, default_conn_name: str) -> None:
        self.name, self.conn_name_attr, self.default_conn_name = name, conn_name_attr, default_conn_name

    @abstractmethod
    def hook_class(self) -> type[HookT]:
        """Return the API's hook class (its module is imported on first use)."""

    def hook_for(self, task: object) -> HookT:
        """Return a hook of this API on the connection ``task`` names (its ``conn_name_attr``)."""
        return self.hook_class()(getattr(task, self.conn_name_attr))

    def __repr__(self) -> str:
        return f"<Api {self.name}>"


class JobKind(ABC, Generic[RefT, HookT]):
    """
    One job kind, declared once for sensors, operators and triggers.

    :attr name: The kind's name in results and events (``update``, ``parse``, ``output``, ``generation``).
    :attr label: How messages name its jobs (``SUD``, ``SOV``, ``output request``, ``D-file generation``).
    :attr api: Its API.
    :attr task_fields: The task arguments that name one job: a sensor's templated fields.
    :attr steps: The named steps that create a job of this kind, in order (none: one call).
    :attr poll_interval: Default seconds between polls.
    :attr timeout: Default seconds a wait lasts in all.
    :attr min_poll_interval: The API asks clients not to poll more often (a shorter one warns).
    :attr trigger: The class path of the trigger that polls it in the triggerer (as Airflow stores it
        in its trigger table); None: its jobs are never waited on there.
    """

    name: str
    label: str
    api: Api[HookT]
    task_fields: tuple[str, ...]
    steps: tuple[Step, ...] = ()
    poll_interval: float = 15.0
    timeout: float = 2 * 60 * 60.0
    min_poll_interval: float = 0.0
    trigger: str | None = None

    def __repr__(self) -> str:
        return f"<JobKind {self.name}>"

    # --- Refs -----------------------------------------------------------------------------------

    @abstractmethod
    def ref_from_task(self, values: Mapping[str, Any], started: float, options: Mapping[str, Any]) -> RefT:
        """
        Return the ref named by a task's (rendered) :attr:`task_fields`; raise
        :class:`~airflow_provider_sov.exceptions.SovInputError` for a bad ID, before any call.

        :param started: When the wait began (a kind whose readings depend on it keeps it).
        :param options: The task's ``options()``.
        """

    @abstractmethod
    def ref_from_json(self, data: Mapping[str, Any]) -> RefT:
        """Return the ref that :meth:`JobRef.to_json` gave, checked again (it crossed a process)."""

    def describe(self, ref: RefT) -> str:
        """Return what messages call this job (``SUD s-...-r001``)."""
        return f"{self.label} {ref.key}"

    def pages(self, hook: HookT, ref: RefT, known: Mapping[str, Any], ended: bool) -> dict[str, str] | None:
        """
        Return the job's pages for the task's links (``{page: url}``; :mod:`airflow_provider_sov.links`),
        read once while the task runs; none by default. None: they cannot be known before the job ended.

        :param known: The IDs the task knows besides the ref (its ``sov_id``...; None where unknown).
        :param ended: Whether the job has ended (its final reading is in hand).
        """
        return {}

    # --- Reading its status -----------------------------------------------------------------------

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

    # --- The outcome ----------------------------------------------------------------------------

    @abstractmethod
    def outcome(
        self, reading: Reading | None, ref: RefT, options: Mapping[str, Any], log: Any
    ) -> dict[str, Any]:
        """
        Return the result's extras for ``reading`` (None: the task read no status); for a final
        reading that failed (and that ``options`` do not accept) raise the typed failure instead.
        """

    def result(
        self,
        reading: Reading | None,
        ref: RefT,
        options: Mapping[str, Any] | None = None,
        files: list[dict[str, Any]] | None = None,
        log: Any = None,
    ) -> dict[str, Any]:
        """
        Return the task's result for ``reading``: a final one that failed raises the typed failure (unless
        ``options`` accept it); one that is not final, or none at all (a task that started the job
        and did not read it), gives ``succeeded`` null.
        """
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
    """
    Return whether any value is known only at run time: a Jinja template, or an XComArg (anything
    Airflow resolves when the task runs). Such values are checked once rendered.
    """
    return any((isinstance(v, str) and "{{" in v) or callable(getattr(v, "resolve", None)) for v in values)
