"""The trigger that polls a DATA Act Broker file generation for deferrable waits; it only reads."""

from __future__ import annotations

from airflow_provider_sov._shared.trigger import JobTrigger
from airflow_provider_sov.hooks.broker_jobs import GENERATION


class DFileGenerationTrigger(JobTrigger):
    """
    Poll one file generation until ``finished``, ``failed`` or a final ``invalid``; send one event.

    ``waiting`` keeps it polling (the Broker never times a generation out: the deadline here is
    the only one). ``invalid`` is final only ``invalid_grace`` seconds after ``requested_at``. A
    401 is cured by a new session where the connection's mode allows it. See
    :class:`~airflow_provider_sov._shared.trigger.JobTrigger` for the wait's own kwargs.

    :param submission_id: The submission, with ``file_type``; or
    :param job_id: the detached generation's job ID.
    :param file_type: The file type (required with ``submission_id``).
    :param requested_at: UNIX time the generation was requested, if this task requested it.
    :param invalid_grace: Seconds after ``requested_at`` during which ``invalid`` is not final.
    :param data_act_broker_conn_id: The Airflow connection.
    """

    kind = GENERATION
