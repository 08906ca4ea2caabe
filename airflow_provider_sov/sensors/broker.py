"""The sensors of the DATA Act Broker: a file generation, or a submission's validations, in every wait mode."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.jobs import templated
from airflow_provider_sov._shared.sensor import JobSensor
from airflow_provider_sov._shared.waiting import as_seconds
from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks.broker_jobs import DEFAULT_INVALID_GRACE, GENERATION
from airflow_provider_sov.hooks.broker_lifecycle import validation_types
from airflow_provider_sov.hooks.broker_rules import GenerationTarget, check_int_id
from airflow_provider_sov.hooks.broker_validation import VALIDATION
from airflow_provider_sov.links import BROKER_LINKS

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from airflow.sdk import Context

    from airflow_provider_sov.hooks.broker import DataActBrokerHook  # noqa: F401 - the hook type of the base class


class DFileGenerationSensor(JobSensor["DataActBrokerHook"]):
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
    :param start_from_trigger: Let the scheduler start the wait in the triggerer, no worker at all
        (default False; see :class:`~airflow_provider_sov._shared.sensor.JobSensor`).
    :param end_from_trigger: End a successful wait in the triggerer, its result in XCom (default False).
    :param poke_interval: Seconds between polls (default 30; the Broker asks for 10 or more).
    :param timeout: Seconds to wait in all, in every mode (default 6 hours).
    :param invalid_grace: Seconds during which ``invalid`` is not yet final (default 120).
    """

    kind = GENERATION
    operator_extra_links = BROKER_LINKS
    template_fields: Sequence[str] = GENERATION.task_fields  # submission_id, file_type, job_id
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
        # First: Airflow reads the start arguments (which carry it) after each __init__.
        self.invalid_grace = as_seconds(invalid_grace, "invalid_grace") or 0.0
        super().__init__(**kwargs)
        self.submission_id = submission_id
        self.file_type = file_type
        self.job_id = job_id
        if not templated(submission_id, file_type, job_id):
            GenerationTarget.of(submission_id, file_type, job_id)
        self._wait_started: float | None = None

    def options(self) -> dict[str, Any]:
        return {"invalid_grace": self.invalid_grace}

    def wait_began(self, context: Context) -> float:
        """When this wait began (``invalid`` is judged from then): the first poke, or the first reschedule."""
        if self.reschedule:
            first = context["ti"].get_first_reschedule_date(context)
            if first is not None:
                return float(first.timestamp())
        if self._wait_started is None:
            self._wait_started = time.time()
        return self._wait_started


class SubmissionValidationSensor(JobSensor["DataActBrokerHook"]):
    """
    Wait until a submission's validations are finished (``check_status``); return their result.

    D1/D2 generation needs the A, B and C validations finished without errors, E/F generation the
    cross-file one (the Broker refuses ``generate_file`` before that): wait with this sensor
    instead of retrying ``DFileGenerateOperator`` until the Broker stops refusing. It ends when
    every watched file type is ``finished`` (succeeding unless one has errors) or one is
    ``failed``. Errors, a failure, or a file type the submission does not have raise
    :class:`~airflow_provider_sov.exceptions.SovJobFailedError` with the Broker's messages and its
    error and warning counts (``submission_metadata``); warnings alone pass, with a log line,
    unless ``fail_on_warnings=True``.

    Returns the common result (``kind`` ``validation``, ``job_id`` the submission's ID) with
    ``submission_id``, ``file_types``, ``validations`` (per type: ``status``, ``has_errors``,
    ``has_warnings``, ``message``, ``file_name``), ``number_of_errors`` and ``number_of_warnings``.

    :param submission_id: The submission (templated).
    :param file_types: Which validations: ``["A", "B", "C"]`` (the default for DABS; ``fabs`` for
        FABS), ``["cross"]`` before E and F, or the Broker's own names (``appropriations``...).
    :param fail_on_warnings: Fail when a watched validation found warnings (default False).
    :param data_act_broker_conn_id: The Airflow connection (default ``data_act_broker_default``).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param start_from_trigger: Let the scheduler start the wait in the triggerer, no worker at all.
    :param end_from_trigger: End a successful wait in the triggerer, its result in XCom.
    :param poke_interval: Seconds between polls (default 30; the Broker asks for 10 or more).
    :param timeout: Seconds to wait in all, in every mode (default 6 hours).
    """

    kind = VALIDATION
    operator_extra_links = BROKER_LINKS
    template_fields: Sequence[str] = VALIDATION.task_fields  # submission_id
    ui_color = "#eef6ec"

    def __init__(
        self,
        *,
        submission_id: int | str,
        file_types: Sequence[str] | None = None,
        fail_on_warnings: bool = False,
        **kwargs: Any,
    ) -> None:
        # First: Airflow reads the start arguments (which carry them) after each __init__.
        self.file_types = validation_types(file_types)
        if not isinstance(fail_on_warnings, bool):
            raise SovInputError(f"fail_on_warnings must be True or False, got {fail_on_warnings!r}.")
        self.fail_on_warnings = fail_on_warnings
        super().__init__(**kwargs)
        self.submission_id = submission_id
        if not templated(submission_id):
            check_int_id(submission_id, "submission_id")

    def options(self) -> dict[str, Any]:
        return {"file_types": list(self.file_types), "fail_on_warnings": self.fail_on_warnings}
