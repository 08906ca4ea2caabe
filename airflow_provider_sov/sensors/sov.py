"""Sensors that wait for SOV Fixer jobs: poke, reschedule or deferrable, with one meaning of timeout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.routes import check_id
from airflow_provider_sov._shared.waiting import JobSensor
from airflow_provider_sov.hooks.sov_jobs import OUTPUT, PARSE, UPDATE

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class SovJobSensor(JobSensor):
    """
    Wait for one SOV Fixer job; the base of the per-kind sensors.

    Returns (pushes to XCom) the job's result: ``kind``, ``job_id``, ``status``, ``succeeded``,
    ``message``, ``files`` (empty), ``result_status`` and ``outputs``. A failed job raises
    :class:`~airflow_provider_sov.exceptions.SovJobFailedError`; a timeout raises
    :class:`~airflow_provider_sov.exceptions.SovTimeoutError` in every mode.

    :param sovfixer_conn_id: The Airflow connection (default ``sovfixer_default``).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param accept_partial: Treat a ``PARTIAL_PARSE`` result as usable (with a warning).
    :param poke_interval: Seconds between polls (default 15).
    :param timeout: Seconds to wait in all, in every mode (default 2 hours).
    """

    ui_color = "#e8f1fb"

    def __init__(self, *, job_id: str, accept_partial: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        setattr(self, self.id_field, job_id)
        self.accept_partial = accept_partial

    @property
    def id_field(self) -> str:
        """Return the argument that holds the ID to wait on: the one templated field."""
        (field,) = self.template_fields
        return str(field)

    def job_ref(self, context: Context) -> dict[str, Any]:
        return {"job_id": check_id(getattr(self, self.id_field), self.id_field)}

    def outcome_options(self) -> dict[str, Any]:
        return {"accept_partial": self.accept_partial, "log": self.log}


class SovUpdateSensor(SovJobSensor):
    """
    Wait for an SOV update (SUD) to finish; return its status, message and outputs.

    :param sud_id: The SUD ID (templated), e.g. ``SovInitiateUpdateOperator``'s ``job_id``.
    """

    spec = UPDATE
    template_fields: Sequence[str] = ("sud_id",)

    def __init__(self, *, sud_id: str, **kwargs: Any) -> None:  # named, so that .expand(sud_id=...) maps it
        super().__init__(job_id=sud_id, **kwargs)


class SovParseSensor(SovJobSensor):
    """
    Wait for a new SOV's parse job to finish; return its status, message and outputs.

    :param sov_id: The SOV ID returned by ``SovParseOperator`` (templated).
    """

    spec = PARSE
    template_fields: Sequence[str] = ("sov_id",)

    def __init__(self, *, sov_id: str, **kwargs: Any) -> None:  # named, so that .expand(sov_id=...) maps it
        super().__init__(job_id=sov_id, **kwargs)


class SovOutputSensor(SovJobSensor):
    """
    Wait for an output request to finish; return its status and the output (in ``outputs``).

    :param request_id: The output request ID, e.g. ``SovGetOrCreateOutputOperator``'s ``job_id`` (templated).
    """

    spec = OUTPUT
    template_fields: Sequence[str] = ("request_id",)

    def __init__(
        self, *, request_id: str, **kwargs: Any
    ) -> None:  # named, so that .expand(request_id=...) maps it
        super().__init__(job_id=request_id, **kwargs)
