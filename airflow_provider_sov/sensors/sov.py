"""Sensors that wait for SOV Fixer jobs: poke, reschedule or deferrable, with one meaning of timeout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.sensor import JobSensor
from airflow_provider_sov.hooks.sov_jobs import OUTPUT, PARSE, UPDATE
from airflow_provider_sov.links import SOV_LINKS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_sov.hooks.sov import SovHook  # noqa: F401 - the hook type of the base class


class SovJobSensor(JobSensor["SovHook"]):
    """
    Wait for one SOV Fixer job; the base of the per-kind sensors.

    Returns (pushes to XCom) the job's result: ``kind``, ``job_id``, ``status``, ``succeeded``,
    ``message``, ``files`` (empty), ``result_status`` and ``outputs``. A failed job raises
    :class:`~airflow_provider_sov.exceptions.SovJobFailedError`; a timeout raises
    :class:`~airflow_provider_sov.exceptions.SovTimeoutError` in every mode.

    :param sovfixer_conn_id: The Airflow connection (default ``sovfixer_default``).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param start_from_trigger: Let the scheduler start the wait in the triggerer, no worker at all
        (default False; see :class:`~airflow_provider_sov._shared.sensor.JobSensor`).
    :param end_from_trigger: End a successful wait in the triggerer, its result in XCom (default False).
    :param accept_partial: Treat a ``PARTIAL_PARSE`` result as usable (with a warning).
    :param poke_interval: Seconds between polls (default 15).
    :param timeout: Seconds to wait in all, in every mode (default 2 hours).
    """

    ui_color = "#e8f1fb"
    operator_extra_links = SOV_LINKS

    def __init__(self, *, accept_partial: bool = False, **kwargs: Any) -> None:
        self.accept_partial = accept_partial  # first: Airflow reads the start arguments after each __init__
        super().__init__(**kwargs)

    def options(self) -> dict[str, Any]:
        return {"accept_partial": self.accept_partial}


class SovUpdateSensor(SovJobSensor):
    """
    Wait for an SOV update (SUD) to finish; return its status, message and outputs.

    :param sud_id: The SUD ID (templated), e.g. ``SovInitiateUpdateOperator``'s ``job_id``.
    """

    kind = UPDATE
    template_fields: Sequence[str] = UPDATE.task_fields  # ("sud_id",)

    def __init__(self, *, sud_id: str, **kwargs: Any) -> None:  # named, so that .expand(sud_id=...) maps it
        super().__init__(**kwargs)
        self.sud_id = sud_id


class SovParseSensor(SovJobSensor):
    """
    Wait for a new SOV's parse job to finish; return its status, message and outputs.

    :param sov_id: The SOV ID returned by ``SovParseOperator`` (templated).
    """

    kind = PARSE
    template_fields: Sequence[str] = PARSE.task_fields  # ("sov_id",)

    def __init__(self, *, sov_id: str, **kwargs: Any) -> None:  # named, so that .expand(sov_id=...) maps it
        super().__init__(**kwargs)
        self.sov_id = sov_id


class SovOutputSensor(SovJobSensor):
    """
    Wait for an output request to finish; return its status and the output (in ``outputs``).

    :param request_id: The output request ID, e.g. ``SovGetOrCreateOutputOperator``'s ``job_id`` (templated).
    """

    kind = OUTPUT
    operator_extra_links = ()  # an output request's ID does not name its SOV
    template_fields: Sequence[str] = OUTPUT.task_fields  # ("request_id",)

    def __init__(self, *, request_id: str, **kwargs: Any) -> None:  # .expand(request_id=...) maps it
        super().__init__(**kwargs)
        self.request_id = request_id
