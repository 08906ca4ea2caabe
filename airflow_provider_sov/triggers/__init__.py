"""Triggers: async polling for deferrable waits, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_sov._shared.jobs import JobKind
    from airflow_provider_sov._shared.trigger import JobTrigger


def trigger_for(kind: JobKind[Any, Any]) -> type[JobTrigger]:
    """
    Return the trigger class that polls ``kind``: the :class:`~airflow_provider_sov._shared.trigger.JobTrigger`
    subclass that names it (this package's own are in :mod:`.sov` and :mod:`.broker`).
    """
    from airflow_provider_sov._shared.trigger import JobTrigger
    from airflow_provider_sov.triggers import broker, sov  # noqa: F401 - each defines its kinds' triggers

    try:
        return JobTrigger.by_kind[kind]
    except KeyError:
        raise LookupError(
            f"no trigger polls job kind {kind.name!r}: define a JobTrigger with kind = it"
        ) from None
