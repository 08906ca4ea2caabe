"""The sensor that waits for a DATA Act Broker file generation: poke, reschedule or deferrable."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.jobs import keep_arguments, templated
from airflow_provider_sov._shared.waiting import JobSensor, as_seconds
from airflow_provider_sov.hooks.broker_jobs import DEFAULT_INVALID_GRACE, GENERATION, generation_ref
from airflow_provider_sov.hooks.broker_rules import GenerationTarget

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from airflow.sdk import Context


class DFileGenerationSensor(JobSensor):
    """
    Wait for a DATA Act Broker file generation to finish; return its result.

    Give ``submission_id`` and ``file_type`` for a file within a submission, or ``job_id`` for a
    detached one. ``waiting`` keeps it waiting; ``finished`` returns the result (``kind``
    ``generation``, the Broker's ``job_id``, ``status``, ``succeeded``, ``message``, ``files``
    (empty), ``submission_id``, ``file_type``, ``start``, ``end``, ``generated_at``); ``failed``
    raises :class:`~airflow_provider_sov.exceptions.SovJobFailedError` with the Broker's message.
    ``invalid`` means nothing was requested: it fails once ``invalid_grace`` has passed since the
    wait began (a just-requested E, F, A or BOC file reads ``invalid`` for a moment). The Broker
    never times a generation out, so ``timeout`` is the only deadline: 6 hours by default.

    :param submission_id: The submission (templated).
    :param file_type: ``D1``, ``D2``, ``E`` or ``F`` (templated); with ``job_id``, optional.
    :param job_id: A detached generation's job ID (templated).
    :param data_act_broker_conn_id: The Airflow connection (default ``data_act_broker_default``).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poke_interval: Seconds between polls (default 30; the Broker asks for 10 or more).
    :param timeout: Seconds to wait in all, in every mode (default 6 hours).
    :param invalid_grace: Seconds during which ``invalid`` is not yet final (default 120).
    """

    spec = GENERATION
    submission_id: int | str | None
    file_type: str | None
    job_id: int | str | None
    template_fields: Sequence[str] = ("submission_id", "file_type", "job_id")
    ui_color = "#eef6ec"

    def __init__(
        self,
        *,
        submission_id: int | str | None = None,
        file_type: str | None = None,
        job_id: int | str | None = None,
        invalid_grace: timedelta | float = DEFAULT_INVALID_GRACE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        keep_arguments(self, locals())
        self.invalid_grace = as_seconds(invalid_grace, "invalid_grace") or 0.0
        if not templated(submission_id, file_type, job_id):
            GenerationTarget.of(submission_id, file_type, job_id)
        self._wait_started: float | None = None

    def job_ref(self, context: Context) -> dict[str, Any]:
        """Return what this sensor waits on, once its fields are rendered; ``invalid`` is judged from when it began."""
        target = GenerationTarget.of(self.submission_id, self.file_type, self.job_id)
        return generation_ref(target, self._grace_from(context), self.invalid_grace)

    def _grace_from(self, context: Context) -> float:
        """When this wait began: the first poke, or the first reschedule in reschedule mode."""
        if self.reschedule:
            first = context["ti"].get_first_reschedule_date(context)
            if first is not None:
                return float(first.timestamp())
        if self._wait_started is None:
            self._wait_started = time.time()
        return self._wait_started
