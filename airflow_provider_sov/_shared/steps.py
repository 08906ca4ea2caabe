"""
Creating a job in its kind's named steps, each done once across a task's tries: the job's ref and
the last step done are recorded as they happen, so a retry resumes after it. A *guarded* step is
marked "sent" before it is sent; a retry finding the mark reads the server's "already done" answer
(:attr:`~.jobs.Step.done_if`) as the step done. A creating step given a ``client_ref`` is marked sent
too, and a retry after its lost answer looks the job up by that reference before creating another.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Generic

from airflow_provider_sov._shared.jobs import RefT
from airflow_provider_sov._shared.task_state import SENT, STEP, saved_ref
from airflow_provider_sov.exceptions import SovConflictError

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_sov._shared.jobs import JobKind, Step
    from airflow_provider_sov._shared.task_state import StateStore


#: Seconds a server's clock may be behind this one: how much earlier than a "sent" mark a job
#: carrying its client_ref may say it was made and still count as the one that call made.
CLOCK_SKEW = 300.0


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

    def create(
        self,
        step: Step,
        call: Callable[[], RefT],
        *,
        client_ref: str | None = None,
        find: Callable[[str, float], list[RefT]] | None = None,
    ) -> RefT:
        """
        Do the first step (``call`` returns the ref), or return the job an earlier try made.

        With ``client_ref``, the call is marked sent (with the reference and the time) before it is
        sent. A retry that finds that mark and no job, the answer having been lost, asks ``find``
        for the jobs made with the reference since the mark (less :data:`CLOCK_SKEW`): it reattaches
        to the one found, fails naming them when there are several, and creates anew when none.
        """
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
        mark = self.store.get(SENT) if find is not None else None
        if (
            find is not None
            and isinstance(mark, dict)
            and mark.get("step") == step.name
            and mark.get("client_ref")
        ):
            found = self._find(step, str(mark["client_ref"]), float(mark.get("sent_at") or 0), find)
            if found is not None:
                return found
        if client_ref is not None:
            self.store.set(SENT, {"step": step.name, "client_ref": client_ref, "sent_at": time.time()})
        ref = call()
        self.record(ref)
        self.store.set(STEP, step.name)
        return ref

    def _find(
        self, step: Step, client_ref: str, sent_at: float, find: Callable[[str, float], list[RefT]]
    ) -> RefT | None:
        """Look for the job an earlier try's lost answer named (see :meth:`create`)."""
        found = find(client_ref, sent_at - CLOCK_SKEW)
        label = self.kind.label
        if len(found) > 1:
            keys = ", ".join(ref.key for ref in found)
            raise SovConflictError(
                f"An earlier try sent '{step.doing}' and lost the answer; {len(found)} jobs carry its "
                f"client_ref {client_ref!r} ({label} {keys}), so which one it made is unknown. Nothing was "
                "created now.",
                action=step.doing,
                job_id=keys,
                hint="Give the task a client_ref no other task uses, or remove the extra jobs, and run it again.",
            )
        if found:
            self.log.warning(
                "Found %s created by the earlier try (client_ref %r), whose answer was lost; reattaching "
                "to it instead of creating another.",
                self.kind.describe(found[0]),
                client_ref,
            )
            self.record(found[0])
            self.store.set(STEP, step.name)
            return found[0]
        self.log.info(
            "An earlier try sent '%s' and lost the answer, but no %s carries its client_ref %r: the server "
            "did not act on it. Sending it again.",
            step.doing,
            label,
            client_ref,
        )
        return None

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
