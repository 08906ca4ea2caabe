"""
Buttons on a task that open its job's own page: the SOV in Ping Maps or Ping Vision, the submission
on the Broker's website.

A task records the address while it runs, as soon as it knows its job (before it waits, so the
button works during the wait), under the link's own XCom key; Airflow's UI reads it from there.
Rendering the page makes no API call. Where the address cannot be known (an output request named
only by its ID, a Broker connection with no website) the task records none and the button stays
grey; reading it never fails a task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

    from airflow_provider_sov._shared.task_state import StateStore


class JobPageLink(BaseOperatorLink):
    """
    A link to a page of the task's job, recorded by the task (:func:`record_pages`).

    :attr name: The button's label.
    :attr page: Which of the job's pages it opens (a key of what the hook's ``*_pages`` returns).
    """

    name: ClassVar[str]
    page: ClassVar[str]

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom  # a running task's (the UI reads the XCom)

        return XCom.get_value(ti_key=ti_key, key=self.xcom_key) or ""


class PingMapsLink(JobPageLink):
    """The SOV on Ping Maps (its activity record's ``ping_maps_url``)."""

    name = "Ping Maps"
    page = "ping_maps"


class PingVisionLink(JobPageLink):
    """The SOV on Ping Vision (its activity record's ``ping_vision_url``)."""

    name = "Ping Vision"
    page = "ping_vision"


class BrokerSubmissionLink(JobPageLink):
    """The submission's page on the Broker website of the connection's environment."""

    name = "Broker submission"
    page = "broker_submission"


#: The links of SOV Fixer tasks and of Broker tasks on a submission.
SOV_LINKS: tuple[JobPageLink, ...] = (PingMapsLink(), PingVisionLink())
BROKER_LINKS: tuple[JobPageLink, ...] = (BrokerSubmissionLink(),)


def record_pages(task: Any, context: Context, store: StateStore, find: Any, *, final: bool = False) -> None:
    """
    Push the addresses of the task's links to XCom, finding them once per task (``find(final)``,
    which returns ``{page: url}`` and may read the API) and keeping them in the task's state.

    ``find`` returns None while the pages cannot be known (an update enters the history feed, which
    names its SOV, only when it ends). Those, and pages that could not be read before the job
    ended, are looked for again once it has (``final``); a page still unreadable then is logged
    and left out. A link never fails a task.
    """
    links: tuple[JobPageLink, ...] = tuple(
        link for link in task.operator_extra_links if isinstance(link, JobPageLink)
    )
    if not links:
        return
    from airflow_provider_sov._shared.task_state import PAGES

    pages: Mapping[str, str] | None = store.get(PAGES)
    if not isinstance(pages, dict):
        from airflow_provider_sov.exceptions import SovError

        try:
            found = find(final)
        except SovError as exc:
            if not final:
                task.log.info(
                    "No link to the job's page yet (looked for again when it ends): %s", exc.message
                )
                return
            task.log.warning("No link to the job's page: %s", exc)
            found = {}  # kept: a retry does not read it again
        if found is None:  # not knowable before the job ends
            return
        pages = dict(found)
        store.set(PAGES, pages)
    for link in links:
        url = pages.get(link.page)
        if url:
            context["ti"].xcom_push(key=link.xcom_key, value=url)
