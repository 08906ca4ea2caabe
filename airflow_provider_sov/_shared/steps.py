"""
Creating a job in its kind's named steps, each done once across a task's tries: the job's ref and
the last step done are recorded as they happen, so a retry resumes after it. A *guarded* step is
marked "sent" before it is sent; a retry finding the mark reads the server's "already done" answer
(:attr:`~.jobs.Step.done_if`) as the step done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic

from airflow_provider_sov._shared.jobs import RefT
from airflow_provider_sov._shared.task_state import SENT, STEP, saved_ref

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_sov._shared.jobs import JobKind, Step
    from airflow_provider_sov._shared.task_state import StateStore


class StepRunner(Generic[RefT]):
    """Run ``kind``'s creation steps for one task, each once; ``record`` gets the ref as soon as the job exists."""

    def __init__(
        self, kind: JobKind[RefT, Any], store: StateStore, log: Any, record: Callable[[RefT], None]
    ) -> None:
        self.kind, self.store, self.log, self._record = kind, store, log, record
        self._job = saved_ref(kind, store)  # read once: every step below asks which job it is

    def earlier(self) -> RefT | None:
        """Return the job this task recorded (by an earlier try, or by this one), if there is one."""
        return self._job

    def record(self, ref: RefT) -> None:
        """Save ``ref`` as this task's job (and push its ID)."""
        self._record(ref)
        self._job = ref

    def create(self, step: Step, call: Callable[[], RefT]) -> RefT:
        """Do the first step (``call`` returns the ref), or return the job an earlier try made."""
        earlier = self.earlier()
        if earlier is not None:
            self.log.info(
                "Resuming %s %s after step %r from an earlier try; no new %s is created.",
                self.kind.name,
                earlier.key,
                self.store.get(STEP),
                self.kind.name,
            )
            return earlier
        ref = call()
        self.record(ref)
        self.store.set(STEP, step.name)
        return ref

    def attach(self, ref: RefT) -> None:
        """Take a job the DAG author named (e.g. the SUD to start) as this task's; record it."""
        if self.earlier() != ref:
            self.store.delete(STEP)  # the steps recorded, if any, were another job's
        self.record(ref)

    def done(self, ref: RefT, step: Step) -> bool:
        """Return whether an earlier try of this task finished ``step`` (or a later one) of ``ref``."""
        names = [s.name for s in self.kind.steps]
        reached = self.store.get(STEP)
        if reached not in names or self.earlier() != ref:
            return False
        return names.index(reached) >= names.index(step.name)

    def run(self, ref: RefT, step: Step, call: Callable[[], object]) -> None:
        """Do ``step`` of ``ref`` unless an earlier try did it; record it done."""
        name = self.kind.describe(ref)
        if self.done(ref, step):
            self.log.info("Step %r of %s was done by an earlier try; not doing it again.", step.name, name)
            return
        sent_before = False
        if step.guarded:
            mark = {"step": step.name, "job": ref.key}
            sent_before = self.store.get(SENT) == mark
            self.store.set(SENT, mark)
        try:
            call()
        except Exception as exc:
            if not (sent_before and step.done_if is not None and isinstance(exc, step.done_if)):
                raise
            self.log.info(
                "An earlier try sent %s to %s and lost the answer; the server says it was done.",
                step.doing,
                name,
            )
        self.store.set(STEP, step.name)
