"""Triggers that poll SOV Fixer jobs for deferrable waits; they poll and report, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.trigger import JobTrigger
from airflow_provider_sov.hooks.sov_jobs import OUTPUT, PARSE, SUBMISSION, UPDATE

if TYPE_CHECKING:
    from airflow_provider_sov.triggers.sov_history import HISTORY_FIELDS, SovHistoryTrigger, history_stamp

__all__ = [
    "HISTORY_FIELDS",
    "SovHistoryTrigger",
    "SovJobTrigger",
    "SovOutputTrigger",
    "SovParseTrigger",
    "SovSubmissionTrigger",
    "SovUpdateTrigger",
    "history_stamp",
]

#: The history watcher lives in :mod:`.sov_history` (it loads the hook); importable from here too,
#: loaded on first use, so that a DAG parse naming a job trigger (a sensor started in the triggerer)
#: does not load the sending half.
_HISTORY_NAMES = ("HISTORY_FIELDS", "SovHistoryTrigger", "history_stamp")


def __getattr__(name: str) -> Any:
    if name in _HISTORY_NAMES:
        from airflow_provider_sov.triggers import sov_history

        return getattr(sov_history, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SovJobTrigger(JobTrigger):
    """
    Poll one SOV Fixer job (see :class:`~airflow_provider_sov._shared.trigger.JobTrigger`).

    :param job_id: The ID to poll: SUD ID, submission ID, SOV ID or output request ID, by kind. A wait the
        scheduler started has none yet: it has the sensor's argument instead (``sud_id``...).
    :param sovfixer_conn_id: The Airflow connection.
    """

    def __init__(self, job_id: str | None = None, **kwargs: Any) -> None:
        if job_id is not None:
            kwargs["job_id"] = job_id
        super().__init__(**kwargs)


class SovUpdateTrigger(SovJobTrigger):
    """Poll an SOV update (SUD) until it is ``COMPLETE`` or ``FAILED``."""

    kind = UPDATE


class SovSubmissionTrigger(SovJobTrigger):
    """Poll a new submission (on the update routes) until it is ``COMPLETE`` or ``FAILED``."""

    kind = SUBMISSION


class SovParseTrigger(SovJobTrigger):
    """Poll a new SOV's parse job until it is ``COMPLETE`` or ``FAILED``."""

    kind = PARSE


class SovOutputTrigger(SovJobTrigger):
    """Poll an output request (``get_or_create_output``) until it is ``COMPLETE`` or ``FAILED``."""

    kind = OUTPUT
