"""The triggers that poll the DATA Act Broker for deferrable waits (a generation, validations, a publication); they only read."""

from __future__ import annotations

from airflow_provider_sov._shared.trigger import JobTrigger
from airflow_provider_sov.hooks.broker_jobs import GENERATION
from airflow_provider_sov.hooks.broker_publication import PUBLICATION
from airflow_provider_sov.hooks.broker_validation import VALIDATION


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


class SubmissionValidationTrigger(JobTrigger):
    """
    Poll a submission's validations (``check_status``) until the watched ones finished or one
    failed; then read its error and warning counts (``submission_metadata``) and send one event.

    :param submission_id: The submission.
    :param file_types: The watched file types, by the Broker's names (empty: the submission's own).
    :param data_act_broker_conn_id: The Airflow connection.
    """

    kind = VALIDATION


class SubmissionPublishTrigger(JobTrigger):
    """
    Poll a submission's publish status (``submission_metadata``) until it is ``published`` (and
    certified when the action asks), or back at ``unpublished``/``updated`` (the publication failed);
    send one event. It never sends the publishing call itself.

    :param submission_id: The submission.
    :param action: ``publish``, ``certify`` or ``publish_and_certify``.
    :param data_act_broker_conn_id: The Airflow connection.
    """

    kind = PUBLICATION
