"""Outputs and new SOVs: get-or-create output and parse jobs, in every wait mode."""

from __future__ import annotations

import json

import pytest

from airflow_provider_sov._shared.waiting import trigger_class as polls
from airflow_provider_sov.exceptions import (
    SovBadRequestError,
    SovInputError,
    SovJobFailedError,
    SovNotFoundError,
)
from airflow_provider_sov.operators.sov import SovGetOrCreateOutputOperator, SovParseOperator
from airflow_provider_sov.sensors.sov import SovOutputSensor, SovParseSensor
from airflow_provider_sov.triggers.sov import SovOutputTrigger, SovParseTrigger
from tests.conftest import OPERATOR_MODES, SENSOR_MODES
from tests.harness import MemoryStateStore, make_context, run_task

SOV = "s-no-ping-hggcsk"


@pytest.fixture
def workbook(tmp_path):
    path = tmp_path / "Harbor Storage.xlsx"
    path.write_bytes(b"PK\x03\x04 workbook bytes")
    return path


def export(**kwargs) -> SovGetOrCreateOutputOperator:
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("timeout", 30)
    return SovGetOrCreateOutputOperator(task_id="export", **kwargs)


def parse(**kwargs) -> SovParseOperator:
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("timeout", 30)
    return SovParseOperator(task_id="parse", **kwargs)


# --- Sensors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_output_sensor_same_result_in_every_mode(live, mode):
    from airflow_provider_sov.hooks.sov import SovHook

    request_id = SovHook().get_or_create_output(SOV, "csv")["request"]["id"]
    result = run_task(
        SovOutputSensor(task_id="w", request_id=request_id, poke_interval=0.2, timeout=30, **mode),
        make_context(),
    )
    assert (result["job_id"], result["status"], result["kind"]) == (request_id, "COMPLETE", "output")
    assert result["outputs"][0]["filename"] == f"{SOV}_r0.csv"


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_parse_sensor_same_result_in_every_mode(live, workbook, mode):
    from airflow_provider_sov.hooks.sov import SovHook

    sov_id = SovHook().start_parse(workbook, output_formats=["json"])
    result = run_task(
        SovParseSensor(task_id="w", sov_id=sov_id, poke_interval=0.2, timeout=30, **mode), make_context()
    )
    assert (result["job_id"], result["status"], result["result_status"]) == (sov_id, "COMPLETE", "SUCCESS")
    assert result["outputs"][0]["filename"].startswith("Harbor Storage ")


@pytest.mark.parametrize("trigger_class", [SovParseTrigger, SovOutputTrigger])
def test_trigger_kinds_serialise_and_their_kind_names_them(trigger_class):
    trigger = trigger_class("id-1", deadline=1_900_000_000.0, poll_interval=3)
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith(trigger_class.__name__) and json.loads(json.dumps(kwargs)) == kwargs
    assert trigger_class(**kwargs).serialize() == (classpath, kwargs)
    assert polls(trigger_class.kind) is trigger_class


# --- Get or create output --------------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["current-shape", "legacy-outputs-shape"])
@pytest.mark.parametrize("deferrable", OPERATOR_MODES)
def test_generated_output_is_waited_for_and_downloaded(live, tmp_path, deferrable, legacy):
    live.legacy_output_shape = legacy
    result = run_task(
        export(id=SOV, output_format="XLSX", revision=0, destination=tmp_path, deferrable=deferrable),
        make_context(),
    )
    assert result["status"] == "COMPLETE" and not result["job_id"].startswith("immediately-done-")
    (saved,) = result["files"]
    assert saved["filename"] == f"{SOV}_r0.xlsx" and saved["description"] == "Excel workbook"
    assert (result["id"], result["output_format"], result["revision"]) == (SOV, "XLSX", 0)
    assert (tmp_path / saved["filename"]).read_bytes() == live.sov.file_bytes(SOV, saved["filename"])
    assert saved["size"] == (tmp_path / saved["filename"]).stat().st_size and len(saved["sha256"]) == 64


def test_cached_output_returns_at_once_without_deferring(live, tmp_path):
    task = export(id=SOV, output_format="json", destination=tmp_path, deferrable=True)
    result = task.execute(make_context())  # a deferral would raise TaskDeferred here
    assert result["job_id"].startswith("immediately-done-") and result["status"] == "COMPLETE"
    assert live.count("get_or_create_output") == 1 and live.count("output_request") == 0
    assert (tmp_path / result["files"][0]["filename"]).exists()


def test_output_of_an_update_by_sud_id(live, corrections_csv):
    from airflow_provider_sov.operators.sov import SovUpdateOperator

    update = run_task(
        SovUpdateOperator(
            task_id="u", sov_id=SOV, locations=corrections_csv, deferrable=False, poll_interval=0.2
        ),
        make_context(),
    )
    result = run_task(export(id=update["job_id"], output_format="json"), make_context())
    assert result["status"] == "COMPLETE" and result["outputs"][0]["url"].startswith(live.url)


def test_validate_format_checks_the_list_first(live):
    with pytest.raises(
        SovInputError, match=r"'pdf' is not available for s-no-ping-hggcsk; allowed: JSON, XLSX, CSV"
    ):
        export(id=SOV, output_format="pdf", validate_format=True).execute(make_context())
    assert live.count("output_formats") == 1 and live.count("get_or_create_output") == 0
    export(id=SOV, output_format="Json", validate_format=True).execute(make_context())
    assert live.count("output_formats") == 2 and live.count("get_or_create_output") == 1


def test_format_refused_by_server_lists_allowed_formats_once(live):
    with pytest.raises(SovBadRequestError) as info:
        export(id=SOV, output_format="pdf").execute(make_context())
    message = str(info.value)
    assert message.count("JSON, XLSX, CSV") == 1 and "Allowed: JSON, XLSX, CSV" in message  # the API's list
    assert info.value.job_id == SOV and live.count("output_formats") == 0
    # A refusal that lists nothing gets the list, read once.
    live.inject("get_or_create_output", "status", status=400, value="Unknown output format.", times=1)
    with pytest.raises(SovBadRequestError) as info:
        export(id=SOV, output_format="pdf").execute(make_context())
    assert "Unknown output format. Formats allowed: JSON, XLSX, CSV." in str(info.value)
    assert live.count("output_formats") == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"revision": -2}, "below -1"),
        ({"revision": "1"}, "must be an integer"),
        ({"overwrite_existing": "yes"}, "True or False"),
        ({"output_format": ""}, "non-empty string"),
        ({"id": "s-no ping"}, "not a valid ID"),
    ],
)
def test_bad_export_arguments_send_nothing(live, kwargs, message):
    args = {"id": SOV, "output_format": "json", **kwargs}
    with pytest.raises(SovInputError, match=message):
        export(**args).execute(make_context())
    assert sum(live.counts.values()) == 0


def test_retry_reattaches_to_its_output_request(live):
    store = MemoryStateStore()
    first = run_task(export(id=SOV, output_format="csv", revision=0), make_context(store))
    again = run_task(export(id=SOV, output_format="csv", revision=0), make_context(store))
    assert again["job_id"] == first["job_id"]
    assert live.count("get_or_create_output") == 1


def test_retry_after_a_failed_request_asks_again(live):
    store = MemoryStateStore()
    live.sov.script_next("output", "FAILED_TO_PROCESS", "renderer crashed")
    with pytest.raises(SovJobFailedError, match="renderer crashed"):
        run_task(export(id=SOV, output_format="csv"), make_context(store))
    result = run_task(export(id=SOV, output_format="csv"), make_context(store))
    assert result["status"] == "COMPLETE" and live.count("get_or_create_output") == 2


# --- Parse -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", OPERATOR_MODES)
def test_parse_operator_end_to_end(live, workbook, tmp_path, deferrable):
    context = make_context()
    result = run_task(
        parse(
            file=workbook,
            output_formats=["json", "csv"],
            extra_data={"insured_name": "Harbor"},
            client_ref="ref-7",
            destination=tmp_path,
            deferrable=deferrable,
        ),
        context,
    )
    sov_id = result["job_id"]
    assert context["ti"].xcoms["job_id"] == sov_id and result["status"] == "COMPLETE"
    assert sorted(f["filename"] for f in result["files"]) == sorted(o["filename"] for o in result["outputs"])
    assert all(f["filename"].startswith("Harbor ") for f in result["files"])
    assert live.sov.jobs[sov_id].client_ref == "ref-7"


def test_parse_retry_does_not_upload_twice(live, workbook):
    store = MemoryStateStore()
    live.inject("parse_status", "status", status=404, times=1)  # the first try fails after the upload
    with pytest.raises(SovNotFoundError, match="HTTP 404"):
        run_task(parse(file=workbook), make_context(store))
    result = run_task(parse(file=workbook), make_context(store))
    assert result["status"] == "COMPLETE" and live.count("parse") == 1


def test_partial_parse_fails_unless_accepted(live, workbook):
    live.sov.script_next("parse", "PARTIAL_PARSE", "sheet 2 unreadable")
    live.sov.script_next("parse", "PARTIAL_PARSE", "sheet 2 unreadable")
    with pytest.raises(SovJobFailedError, match="accept_partial=True"):
        run_task(parse(file=workbook), make_context())
    result = run_task(parse(file=workbook, accept_partial=True), make_context())
    assert result["result_status"] == "PARTIAL_PARSE" and result["outputs"]


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "message"),
    [
        ("missing.xlsx", None, {}, "was not found"),
        ("empty.xlsx", b"", {}, "is empty"),
        ("sov.xlsx", b"x", {"document_type": 3}, "document_type must be a non-empty string"),
        ("sov.xlsx", b"x", {"extra_data": {"insured-name": "x"}}, "not plain identifiers"),
        ("sov.xlsx", b"x", {"output_formats": "json,xlsx"}, "must be a list such as"),
    ],
)
def test_bad_parse_input_sends_nothing(live, tmp_path, name, content, kwargs, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SovInputError, match=message):
        run_task(parse(file=path, **kwargs), make_context())
    assert sum(live.counts.values()) == 0
