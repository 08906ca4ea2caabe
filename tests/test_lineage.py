"""Written files become asset events (with metadata) on a task's outlets, and OpenLineage datasets."""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_sov.operators.sov import (
    SovDownloadOutputsOperator,
    SovGetOrCreateOutputOperator,
    SovUpdateOperator,
)
from tests.conftest import finish
from tests.harness import make_context, run_task

SOV = "s-no-ping-hggcsk"


def context_with_outlets():
    context = make_context()
    context["outlet_events"] = OutletEventAccessors()
    return context


def test_alias_outlet_gets_one_asset_event_per_file(live, corrections_csv, tmp_path):
    alias = AssetAlias("sov-files")
    task = SovUpdateOperator(
        task_id="u",
        sov_id=SOV,
        locations=corrections_csv,
        destination=tmp_path,
        output_formats=["json", "csv"],
        deferrable=False,
        poll_interval=0.2,
        outlets=[alias],
    )
    context = context_with_outlets()
    result = run_task(task, context)
    events = context["outlet_events"][alias].asset_alias_events
    assert len(events) == 2
    by_uri = {e.dest_asset_key.uri: e.extra for e in events}
    for f in result["files"]:
        extra = by_uri["file://" + f["uri"].replace(" ", "%20")]
        assert extra["sov_id"] == SOV and extra["sud_id"] == result["job_id"] and "revision" not in extra
        assert extra["history"] == {
            "sovid": SOV,
            "previous_sovid": SOV,
            "original_sovid": SOV,
            "sheet_name": "SOV",
        }
        assert (extra["size"], extra["sha256"], extra["uri"]) == (f["size"], f["sha256"], f["uri"])
        assert extra["format"] == f["filename"].rsplit(".", 1)[1].upper()


def test_asset_outlet_gets_the_files_in_its_event(hook, sov_emulator, corrections_csv, tmp_path):
    sud_id = hook.initiate_update(SOV)
    hook.add_locations(sud_id, corrections_csv)
    hook.start_update(sud_id)
    finish(sov_emulator)
    asset = Asset("sov-refresh")
    context = context_with_outlets()
    files = SovDownloadOutputsOperator(
        task_id="d", sud_id=sud_id, destination=tmp_path, outlets=[asset]
    ).execute(context)["files"]
    extra = context["outlet_events"][asset].extra
    assert extra["sud_id"] == sud_id and extra["history"]["sovid"] == SOV and "revision" not in extra
    assert [f["sha256"] for f in extra["files"]] == [f["sha256"] for f in files]


def test_no_outlets_no_events(live, tmp_path):
    context = context_with_outlets()
    SovGetOrCreateOutputOperator(task_id="e", id=SOV, output_format="json", destination=tmp_path).execute(
        context
    )
    assert len(context["outlet_events"]) == 0


def test_openlineage_inputs_and_outputs(live, corrections_csv, tmp_path):
    task = SovUpdateOperator(
        task_id="u",
        sov_id=SOV,
        locations=corrections_csv,
        destination=tmp_path,
        deferrable=False,
        poll_interval=0.2,
    )
    result = run_task(task, make_context())
    lineage = task.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", str(corrections_csv))]
    assert sorted((d.namespace, d.name) for d in lineage.outputs) == sorted(
        ("file", f["uri"]) for f in result["files"]
    )
    export = SovGetOrCreateOutputOperator(
        task_id="e", id=SOV, output_format="json", destination=tmp_path / "x"
    )
    saved = export.execute(make_context())
    lineage = export.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        (f"sovfixer://{live.url.split('://')[1]}", SOV)
    ]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file", saved["files"][0]["uri"])]
