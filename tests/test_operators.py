"""Operators: no duplicate jobs on retry, every CSV checked before any upload, downloads that resume."""

from __future__ import annotations

import pytest

from airflow_provider_sov.exceptions import (
    SovBadRequestError,
    SovConflictError,
    SovFileExistsError,
    SovInputError,
    SovNotFoundError,
    SovServerError,
    SovTransportError,
)
from airflow_provider_sov.operators.sov import (
    SovAddLocationsOperator,
    SovDownloadOutputsOperator,
    SovInitiateUpdateOperator,
    SovStartUpdateOperator,
    SovUpdateOperator,
)
from tests.conftest import finish
from tests.harness import MemoryStateStore, make_context, run_task

SOV = "s-no-ping-hggcsk"


def test_initiate_returns_sud_and_reattaches_on_retry(sov_connection, sov_emulator):
    store = MemoryStateStore()
    task = SovInitiateUpdateOperator(task_id="init", sov_id=SOV, update_type="scrub", client_ref="nightly")
    context = make_context(store)
    first = task.execute(context)
    again = task.execute(make_context(store))  # a retry of the same task instance
    assert first == again
    assert (first["kind"], first["job_id"], first["sov_id"]) == ("update", f"{SOV}-r001", SOV)
    assert (first["status"], first["succeeded"]) == (None, None)  # started, not read
    assert context["ti"].xcoms["job_id"] == f"{SOV}-r001"
    assert sov_emulator.count("initiate_update") == 1
    assert sov_emulator.sov.jobs[first["job_id"]].update_type == "SCRUB"


def test_initiate_checks_update_type_before_any_call(sov_connection, sov_emulator):
    task = SovInitiateUpdateOperator(task_id="init", sov_id=SOV, update_type=["SCRUB"])
    with pytest.raises(SovInputError, match="update_type must be a non-empty string, got \\['SCRUB'\\]"):
        task.execute(make_context())
    assert sum(sov_emulator.counts.values()) == 0


def corrections(path, keys, column="bldg_name"):
    path.write_text("item_key," + column + "\n" + "".join(f"{k},Name {i}\n" for i, k in enumerate(keys)))
    return path


@pytest.fixture
def sud(hook, sov_emulator):
    sud_id = hook.initiate_update(SOV)
    sov_emulator.reset_counts()
    return sud_id


def test_add_locations_accepts_lists_globs_and_object_storage(
    hook, sov_emulator, sud, tmp_path, memory_store
):
    from airflow.sdk import ObjectStoragePath

    corrections(tmp_path / "a.csv", ["b-hggcsk-0001"])
    corrections(tmp_path / "b.csv", ["b-hggcsk-0002", "b-hggcsk-0003"])
    remote = ObjectStoragePath("memory://in/c.csv")
    remote.write_text("item_key,city\nb-hggcsk-0004,Reno\n")
    task = SovAddLocationsOperator(task_id="add", sud_id=sud, locations=[str(tmp_path / "*.csv"), remote])
    result = task.execute(make_context())
    assert (result["job_id"], result["files"]) == (sud, [])
    sent = result["uploads"]
    assert [(s["file"].rsplit("/", 1)[-1], s["rows"], s["batches"]) for s in sent] == [
        ("a.csv", 1, 1),
        ("b.csv", 2, 1),
        ("c.csv", 1, 1),
    ]
    assert sov_emulator.count("add_locations") == 3
    assert sov_emulator.sov.jobs[sud].rows_received == 4


def test_large_csv_goes_up_in_batches_with_header_repeated(hook, sov_emulator, tmp_path):
    sov_id = sov_emulator.sov.add_sov("s-no-ping-batch1", buildings=25)
    sud_id = hook.initiate_update(sov_id)
    keys = [f"b-batch1-{i:04d}" for i in range(1, 26)]
    csv = corrections(tmp_path / "big.csv", keys)
    sent = SovAddLocationsOperator(task_id="add", sud_id=sud_id, locations=csv, batch_rows=10).execute(
        make_context()
    )["uploads"]
    assert sent[0]["rows"] == 25 and sent[0]["batches"] == 3
    assert sov_emulator.count("add_locations") == 3
    job = sov_emulator.sov.jobs[sud_id]
    assert job.rows_received == 25 and len(job.corrections) == 25


def test_every_csv_is_checked_before_any_upload(hook, sov_emulator, sud, tmp_path):
    good = corrections(tmp_path / "good.csv", ["b-hggcsk-0001"])
    bad = tmp_path / "bad.csv"
    bad.write_text("bldg_name\nHQ\n")
    with pytest.raises(SovInputError, match=r"bad\.csv has no identifying column"):
        SovAddLocationsOperator(task_id="add", sud_id=sud, locations=[good, bad]).execute(make_context())
    assert sov_emulator.count("add_locations") == 0


@pytest.mark.parametrize(
    ("locations", "message"),
    [
        ([], "at least one CSV"),
        ("/nowhere/*.csv", "No locations CSV matches"),
        ("/nowhere/x.csv", "was not found"),
    ],
)
def test_bad_locations_are_refused_before_any_call(sov_connection, sov_emulator, locations, message):
    with pytest.raises(SovInputError, match=message):
        SovAddLocationsOperator(task_id="add", sud_id="s-1-r001", locations=locations).execute(make_context())
    assert sum(sov_emulator.counts.values()) == 0


def test_add_after_start_says_the_update_was_started(hook, sov_emulator, sud, tmp_path):
    hook.start_update(sud)
    csv = corrections(tmp_path / "late.csv", ["b-hggcsk-0001"])
    with pytest.raises(SovConflictError) as info:
        SovAddLocationsOperator(task_id="add", sud_id=sud, locations=csv).execute(make_context())
    message = str(info.value)
    assert (
        "late.csv" in message
        and sud in message
        and "already started" in message
        and "initiate a new update" in message
    )


def test_server_rejection_names_the_file(hook, sov_emulator, sud, tmp_path):
    csv = corrections(tmp_path / "typo.csv", ["b-hggcsk-0001"], column="bldg_nmae")
    with pytest.raises(SovBadRequestError) as info:
        SovAddLocationsOperator(task_id="add", sud_id=sud, locations=csv).execute(make_context())
    assert "typo.csv" in str(info.value) and "bldg_nmae: unknown attribute" in str(info.value)


@pytest.fixture
def finished(hook, sov_emulator, corrections_csv):
    sud_id = hook.initiate_update(SOV)
    hook.add_locations(sud_id, corrections_csv)
    hook.start_update(
        sud_id, extra_data={"insured_name": "Acme Corp"}, output_formats=["json", "xlsx", "csv"]
    )
    finish(sov_emulator)
    return sud_id


def test_download_operator_filters_and_reports(sov_emulator, finished, tmp_path):
    task = SovDownloadOutputsOperator(
        task_id="dl", sud_id=finished, destination=tmp_path, extensions=["xlsx", ".csv"]
    )
    result = task.execute(make_context())
    files = result["files"]
    assert (result["job_id"], result["status"], result["succeeded"]) == (finished, "COMPLETE", True)
    assert sorted(f["filename"].rsplit(".", 1)[1] for f in files) == ["csv", "xlsx"]
    assert {f["description"] for f in files} == {"Excel workbook", "Flat CSV"}
    assert all(set(f) == {"filename", "uri", "size", "sha256", "description"} for f in files)
    json_only = SovDownloadOutputsOperator(
        task_id="dl2", sud_id=finished, destination=tmp_path / "j", descriptions=["json"]
    )
    assert [f["filename"].endswith(".json") for f in json_only.execute(make_context())["files"]] == [True]


def test_download_operator_refuses_unfinished_update(hook, sov_emulator, sud, tmp_path):
    with pytest.raises(SovInputError, match="has not finished"):
        SovDownloadOutputsOperator(task_id="dl", sud_id=sud, destination=tmp_path).execute(make_context())


def test_same_name_outputs_never_overwrite_each_other(hook, sov_emulator, finished, tmp_path):
    sov_emulator.inject("update_status", "hostile_filename", value="../same.json")
    status = hook.get_update_status(finished)
    outputs = status["result"]["outputs"]
    files = SovDownloadOutputsOperator(task_id="dl", outputs=outputs, destination=tmp_path).execute(
        make_context()
    )["files"]
    assert [f["filename"] for f in files] == ["same.json", "same (2).json", "same (3).json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same (2).json", "same (3).json", "same.json"]


def test_download_retry_keeps_files_an_earlier_try_wrote(sov_emulator, finished, tmp_path):
    store = MemoryStateStore()
    task = SovDownloadOutputsOperator(task_id="dl", sud_id=finished, destination=tmp_path)
    first = task.execute(make_context(store))
    sov_emulator.reset_counts()
    again = task.execute(make_context(store))  # the same task instance, retried
    assert again == first
    assert sov_emulator.count("download") == 0
    # Another task writing to the same place does not silently overwrite them.
    other = SovDownloadOutputsOperator(task_id="other", sud_id=finished, destination=tmp_path)
    with pytest.raises(SovFileExistsError, match="already exists"):
        other.execute(make_context())


@pytest.mark.parametrize(
    ("fault", "options", "error"),
    [
        pytest.param("status", {"status": 500}, SovServerError, id="start-refused"),
        pytest.param("reset_after", {}, SovTransportError, id="start-acted-answer-lost"),
    ],
)
def test_composite_retry_resumes_on_the_same_update(
    live, corrections_csv, tmp_path, fault, options, error, capsys
):
    store = MemoryStateStore()
    task = SovUpdateOperator(
        task_id="update",
        sov_id=SOV,
        locations=corrections_csv,
        destination=tmp_path,
        deferrable=True,
        poll_interval=0.05,
    )
    live.inject("start_update", fault, **options)
    with pytest.raises(error):
        run_task(task, make_context(store))
    assert store["step"] == "locations_added"
    result = run_task(task, make_context(store))  # Airflow's retry of the same task instance
    assert "Resuming update s-no-ping-hggcsk-r001" in capsys.readouterr().out
    assert result["job_id"] == f"{SOV}-r001" and result["status"] == "COMPLETE" and result["files"]
    assert live.count("initiate_update") == 1 and live.sov.created["update"] == 1
    assert live.count("start_update") == 2


@pytest.mark.parametrize("lost", ["wait-failed-after-start", "start-answer-lost"])
def test_start_operator_retried_after_its_start_reattaches_not_409(live, corrections_csv, lost):
    """A retry of SovStartUpdateOperator whose earlier try started the update waits on it; no 409."""
    from airflow_provider_sov.hooks.sov import SovHook

    hook = SovHook()
    sud_id = hook.initiate_update(SOV)
    hook.add_locations(sud_id, corrections_csv)
    store = MemoryStateStore()
    task = SovStartUpdateOperator(
        task_id="start", sud_id=sud_id, wait_for_completion=True, deferrable=False, poll_interval=0.05
    )
    if lost == "wait-failed-after-start":
        live.inject("update_status", "status", status=404, times=1)  # the first read fails the try
        with pytest.raises(SovNotFoundError):
            run_task(task, make_context(store))
        expected_starts = 1  # the retry does not send start again
    else:
        live.inject("start_update", "reset_after")  # started, but the answer never arrived
        with pytest.raises(SovTransportError):
            run_task(task, make_context(store))
        expected_starts = 2  # the retry sends it again and reads the 409 as "already started"
    assert live.count("start_update") == 1
    result = run_task(task, make_context(store))  # Airflow's retry of the same task instance
    assert (result["job_id"], result["status"], result["succeeded"]) == (sud_id, "COMPLETE", True)
    assert live.count("start_update") == expected_starts and live.sov.created["update"] == 1


def test_download_operator_needs_exactly_one_source_at_parse_time(tmp_path):
    with pytest.raises(SovInputError, match="exactly one of sud_id or outputs"):
        SovDownloadOutputsOperator(task_id="dl", destination=tmp_path)
    with pytest.raises(SovInputError, match="exactly one of sud_id or outputs"):
        SovDownloadOutputsOperator(task_id="dl", destination=tmp_path, sud_id="s-1-r001", outputs=[])


@pytest.mark.parametrize("batch_rows", [0, -3, True, "10"])
def test_batch_rows_is_checked_when_the_dag_is_parsed(batch_rows):
    with pytest.raises(SovInputError, match="batch_rows must be a positive integer"):
        SovAddLocationsOperator(task_id="add", sud_id="s-1-r001", locations="x.csv", batch_rows=batch_rows)
    with pytest.raises(SovInputError, match="batch_rows must be a positive integer"):
        SovUpdateOperator(task_id="u", sov_id=SOV, locations="x.csv", batch_rows=batch_rows)


def test_composite_checks_each_csv_once(live, corrections_csv, tmp_path, monkeypatch):
    from airflow_provider_sov.hooks import sov_locations as operators

    checked: list[str] = []
    real = operators.check_locations_csv

    def counting(path):
        checked.append(str(path))
        return real(path)

    monkeypatch.setattr(operators, "check_locations_csv", counting)
    task = SovUpdateOperator(
        task_id="u", sov_id=SOV, locations=corrections_csv, deferrable=False, poll_interval=0.2
    )
    result = run_task(task, make_context())
    assert result["status"] == "COMPLETE"
    assert checked == [str(corrections_csv)]
    assert live.sov.jobs[result["job_id"]].rows_received == 3
