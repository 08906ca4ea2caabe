"""
Links to each job's page, and ID arguments that take a task's result: what a DAG author sees in the
UI and writes first. The real-Airflow proofs are in test_airflow_e2e.py (``airflow dags test``)
and test_browser.py (the web UI).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import requests

from airflow_provider_sov import get_provider_info
from airflow_provider_sov._shared.compat import TaskDeferred
from airflow_provider_sov._shared.routes import RESULT_IDS, id_from_result
from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks.broker_rules import submission_page
from airflow_provider_sov.links import JobPageLink
from airflow_provider_sov.operators.broker import DFileGenerateOperator
from airflow_provider_sov.operators.sov import (
    SovAddLocationsOperator,
    SovCreateSubmissionOperator,
    SovDownloadOutputsOperator,
    SovInitiateUpdateOperator,
    SovStartUpdateOperator,
    SovUpdateOperator,
)
from airflow_provider_sov.sensors.broker import DFileGenerationSensor, SubmissionValidationSensor
from airflow_provider_sov.sensors.sov import SovParseSensor, SovUpdateSensor
from tests.conftest import EXAMPLE_CSV, NEW_SOV_CSV
from tests.harness import MemoryStateStore, make_context, run_task

MAPS, VISION, BROKER = "_link_PingMapsLink", "_link_PingVisionLink", "_link_BrokerSubmissionLink"
#: Tasks whose job has no page of its own: an output request's ID names no SOV; published files
#: belong to an agency's period, not to one submission.
NO_PAGE = {"SovOutputSensor", "PublishedFilesDownloadOperator"}


def public_tasks() -> list[type]:
    """The package's public operators and sensors: its stable names (the one list, docs/check_site.py)."""
    import runpy

    names = runpy.run_path(str(Path(__file__).resolve().parents[1] / "docs" / "check_site.py"))[
        "PUBLIC_NAMES"
    ]
    return [
        getattr(importlib.import_module(module), name)
        for module, members in names.items()
        if module.startswith(("airflow_provider_sov.operators.", "airflow_provider_sov.sensors."))
        for name in members
    ]


# --- Links ----------------------------------------------------------------------------------------


def test_every_link_is_registered_in_the_provider_info_and_every_task_with_a_page_has_one():
    registered = get_provider_info()["extra-links"]
    classes = [
        getattr(importlib.import_module(p.rpartition(".")[0]), p.rpartition(".")[2]) for p in registered
    ]
    assert all(issubclass(c, JobPageLink) for c in classes)
    tasks = public_tasks()
    for task in tasks:
        links = {type(link) for link in task.operator_extra_links}
        assert links <= set(classes), task
        assert bool(links) != (task.__name__ in NO_PAGE), task.__name__


def opens(url: str, *texts: str) -> bool:
    page = requests.get(url, timeout=30)
    return page.ok and all(text in page.text for text in texts)


def test_an_update_records_its_sovs_pages_before_it_waits_and_reads_them_once(live, tmp_path):
    sov_id = "s-no-ping-hggcsk"
    task = SovUpdateOperator(
        task_id="refresh", sov_id=sov_id, locations=EXAMPLE_CSV, deferrable=True, poll_interval=0.2
    )
    store = MemoryStateStore()
    context = make_context(store)
    with pytest.raises(TaskDeferred):  # the links are in XCom when the task defers
        task.execute(context)
    xcoms = context["ti"].xcoms
    assert opens(xcoms[MAPS], "Ping Maps", f"SOV {sov_id}<") and opens(xcoms[VISION], "Ping Vision", sov_id)
    assert live.count("activity") == 1
    # A retry (same task state, fresh XCom) pushes the same links without reading them again.
    retried = make_context(store)
    run_task(task, retried)
    assert retried["ti"].xcoms[MAPS] == xcoms[MAPS] and live.count("activity") == 1


def test_tasks_given_a_sud_link_to_its_sov_from_the_result_they_were_given_or_once_it_ended(live, tmp_path):
    sov_id = live.sov.add_sov("s-no-ping-links2")
    initiated = run_task(SovInitiateUpdateOperator(task_id="i", sov_id=sov_id), make_context())
    sud_id = initiated["job_id"]
    # A bare SUD of an update not yet ended names no SOV anywhere: no link, no failure, no read.
    bare = make_context()
    run_task(SovStartUpdateOperator(task_id="s", sud_id=sud_id), bare)
    assert MAPS not in bare["ti"].xcoms and live.count("history_item") == 0
    # A sensor on the bare SUD links to the SOV once the update ended (its history item names it).
    waited = make_context()
    result = run_task(
        SovUpdateSensor(task_id="w", sud_id=sud_id, deferrable=False, poke_interval=0.2), waited
    )
    assert result["succeeded"] is True and opens(waited["ti"].xcoms[MAPS], f"SOV {sov_id}<")
    assert live.count("history_item") == 1  # once, when the update had ended
    # Its downloads, given the sensor's result as outputs, link to the same SOV.
    downloaded = make_context()
    run_task(SovDownloadOutputsOperator(task_id="d", outputs=result, destination=str(tmp_path)), downloaded)
    assert opens(downloaded["ti"].xcoms[VISION], f"SOV {sov_id}<")


def test_a_start_given_the_initiate_result_links_to_its_sov_and_passes_the_sov_on(live):
    sov_id = live.sov.add_sov("s-no-ping-links5")
    initiated = run_task(SovInitiateUpdateOperator(task_id="i", sov_id=sov_id), make_context())
    task = SovStartUpdateOperator(task_id="s", sud_id=initiated)
    task.render_template_fields({"ti": None})
    context = make_context()
    assert run_task(task, context)["sov_id"] == sov_id
    assert opens(context["ti"].xcoms[MAPS], f"SOV {sov_id}<") and live.count("history_item") == 0


def test_a_new_submission_links_to_its_sov_once_it_ended(live):
    context = make_context()
    task = SovCreateSubmissionOperator(
        task_id="n", locations=NEW_SOV_CSV, deferrable=False, poll_interval=0.2, timeout=60
    )
    run_task(task, context)
    # Its SOV is named by no ID the task holds: the submission's history item names it at the end.
    assert opens(context["ti"].xcoms[MAPS], "Ping Maps", "SOV s-") and live.count("history_item") == 1


def test_a_page_that_cannot_be_read_leaves_no_link_and_fails_nothing(live, capsys):
    sov_id = live.sov.add_sov("s-no-ping-links3")
    live.inject("activity", "status", status=403, times=10)
    context = make_context()
    result = run_task(
        SovParseSensor(task_id="p", sov_id=sov_id, deferrable=False, poke_interval=0.2), context
    )
    assert result["succeeded"] is True
    assert MAPS not in context["ti"].xcoms and VISION not in context["ti"].xcoms
    assert "No link to the job's page" in capsys.readouterr().out


def test_broker_tasks_link_to_the_submission_on_the_connections_website(broker_emulator):
    context = make_context()
    run_task(SubmissionValidationSensor(task_id="v", submission_id=1001, deferrable=False), context)
    url = context["ti"].xcoms[BROKER]
    assert url == f"{broker_emulator.website_url}/#/submission/1001"
    assert opens(url.split("#")[0], "DATA Act Broker")


@pytest.mark.parametrize(
    ("host", "extra", "expected"),
    [
        ("https://broker-api.usaspending.gov", {}, "https://broker.usaspending.gov/#/submission/7"),
        (
            "https://api.fiscal.treasury.gov/ap/exp/v1/data-act-broker",
            {},
            "https://broker.usaspending.gov/#/submission/7",
        ),
        (
            "http://broker.internal:9999",
            {"website_url": "http://web.internal:3000/"},
            "http://web.internal:3000/#/submission/7",
        ),
        ("http://broker.internal:9999", {}, None),
    ],
)
def test_which_broker_website_a_connection_links_to(host, extra, expected):
    assert submission_page(host, extra, "7") == expected


def test_a_website_that_is_not_a_web_address_is_refused():
    with pytest.raises(SovInputError, match="website_url 'ftp://x' is not an http"):
        submission_page("https://broker-api.usaspending.gov", {"website_url": "ftp://x"}, 7)


# --- ID arguments take a task's result ------------------------------------------------------------


def result(kind: str, job_id: object, **extras: object) -> dict:
    return {
        "kind": kind,
        "job_id": job_id,
        "status": None,
        "succeeded": None,
        "message": None,
        "files": [],
        **extras,
    }


@pytest.mark.parametrize(
    ("what", "given", "expected"),
    [
        ("sud_id", result("update", "sud-1"), "sud-1"),
        ("sud_id", result("submission", "80412"), "80412"),
        ("sov_id", result("parse", "s-1"), "s-1"),
        ("sov_id", result("update", "sud-1", sov_id="s-2"), "s-2"),
        ("request_id", result("output", "req-1"), "req-1"),
        ("id", result("parse", "s-1"), "s-1"),
        ("submission_id", result("validation", "1001"), "1001"),
        ("submission_id", result("generation", "77", submission_id=1001), 1001),
        ("job_id", result("generation", "77", submission_id=None), "77"),
        ("sud_id", "sud-plain", "sud-plain"),  # an ID stays an ID
    ],
)
def test_an_id_argument_takes_the_id_a_result_of_its_kind_names(what, given, expected):
    assert id_from_result(given, what) == expected


@pytest.mark.parametrize(
    ("what", "given", "words"),
    [
        (
            "sud_id",
            result("parse", "s-1"),
            "sud_id was given the result of a 'parse' task (job_id 's-1'), but sud_id takes an ID or the result of a task of kind 'update' or 'submission'",
        ),
        ("submission_id", result("update", "sud-1"), "of kind 'validation' or 'generation'"),
        ("sov_id", result("update", "sud-1"), "names no sov_id: its 'sov_id' is empty"),
        ("submission_id", result("generation", "77", submission_id=None), "names no submission_id"),
    ],
)
def test_a_result_of_another_kind_is_refused_naming_both(what, given, words):
    with pytest.raises(SovInputError) as error:
        id_from_result(given, what)
    assert words in str(error.value)


def test_every_id_argument_of_every_task_is_in_the_table():
    id_fields = {
        name
        for task in public_tasks()
        for name in task.template_fields
        if name.endswith("id") or name == "id"
    }
    assert id_fields <= set(RESULT_IDS), id_fields - set(RESULT_IDS)


def test_a_result_given_as_an_argument_becomes_its_id_once_rendered(live):
    sov_id = "s-no-ping-hggcsk"
    initiated = run_task(SovInitiateUpdateOperator(task_id="i", sov_id=sov_id), make_context())
    task = SovAddLocationsOperator(task_id="a", sud_id=initiated, locations=EXAMPLE_CSV)
    task.render_template_fields({"ti": None})
    assert task.sud_id == initiated["job_id"]
    uploaded = run_task(task, make_context())
    assert uploaded["job_id"] == initiated["job_id"] and uploaded["uploads"][0]["rows"] > 0


def test_an_xcomarg_is_checked_when_it_is_resolved_not_when_the_dag_is_parsed():
    from airflow.sdk import DAG

    with DAG("wiring", schedule=None):
        validated = SubmissionValidationSensor(task_id="v", submission_id=1001)
        generate = DFileGenerateOperator(
            task_id="g", submission_id=validated.output, file_type="D1", wait_for_completion=False
        )
        DFileGenerationSensor(task_id="s", submission_id=generate.output, file_type="D1")
        SovUpdateSensor(task_id="u", sud_id=SovInitiateUpdateOperator(task_id="i", sov_id="s-x").output)
    with pytest.raises(SovInputError, match="submission_id must be a positive integer"):
        DFileGenerationSensor(
            task_id="bad", submission_id="abc", file_type="D1"
        )  # a literal still fails at once
