"""
Each SOV Fixer call the hook makes is the request the vendor's own client makes: both send it to
one recording server over loopback, and what the service would see of the two must be equal.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_sov.hooks.sov import SovHook
from tests.recording import RecordingServer

if TYPE_CHECKING:
    from collections.abc import Callable

TOKEN = "tok-recorded-5678"
SOV = "s-no-ping-hggcsk"
SUD = "s-no-ping-hggcsk-r001"


@pytest.fixture
def recorder():
    with RecordingServer() as server:
        yield server


@pytest.fixture
def ours(recorder, monkeypatch, policy) -> SovHook:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOV_RECORDED",
        json.dumps({"conn_type": "sovfixer", "host": recorder.url, "password": TOKEN}),
    )
    return SovHook("sov_recorded", retry_policy=policy)


@pytest.fixture
def theirs(recorder):
    from pingintel_api import SOVFixerAPIClient

    return SOVFixerAPIClient(api_url=recorder.url, auth_token=TOKEN)


def same_request(
    recorder: RecordingServer, answer: Any, ours: Callable[[], Any], theirs: Callable[[], Any]
) -> dict[str, Any]:
    """Send one call each way; assert the service would see the same request; return its shape."""
    recorder.answer = (200, answer)
    shapes = []
    for send in (ours, theirs):
        before = len(recorder.requests)
        send()
        assert len(recorder.requests) == before + 1, "one call, one request"
        shapes.append(recorder.last().shape())
    assert shapes[0] == shapes[1]
    return shapes[0]


def test_create_submission(recorder, ours, theirs):
    shape = same_request(
        recorder,
        {"id": 80412, "message": "OK"},
        lambda: ours.create_submission(
            document_type="prem_bdx",
            client_ref="warehouse/2026-12-01",
            extra_data={"insured_name": "Harbor Storage", "inception_date": "2027-01-01"},
            filename="harbor.csv",
        ),
        lambda: theirs.create_submission(
            document_type="PREM_BDX",
            client_ref="warehouse/2026-12-01",
            extra_data={"insured_name": "Harbor Storage", "inception_date": "2027-01-01"},
            filename="harbor.csv",
        ),
    )
    assert (shape["method"], shape["path"], shape["media_type"]) == (
        "POST",
        "/api/v1/submission",
        "application/x-www-form-urlencoded",
    )
    assert shape["fields"]["extra_data_insured_name"] == ["Harbor Storage"]
    assert shape["authorization"] == f"Token {TOKEN}"


def test_create_submission_returns_the_integer_id_as_a_string(recorder, ours):
    recorder.answer = (200, {"id": 80412, "message": "OK"})
    assert ours.create_submission() == "80412"
    assert recorder.last().shape()["fields"] == {"document_type": ["SOV"]}


ACTIVITY_FILTERS: dict[str, Any] = {
    "id": SOV,
    "fields": ["id", "client_ref", "all_updates"],
    "search": "harbor",
    "origin": "api",
    "status": "C",
    "company__short_name": ["acme", "harbor"],
    "division__short_name": "east",
    "pingid": "p-123",
    "completed_time__gte": "20261101000000",
    "completed_time__lt": "20261201000000",
}


@pytest.mark.parametrize(
    "cursors",
    [{}, {"cursor_id": "c-2"}, {"prev_cursor_id": "c-1"}, {"cursor_id": "c-2", "prev_cursor_id": "c-1"}],
    ids=["first-page", "next", "previous", "next-wins"],
)
def test_list_activity(recorder, ours, theirs, cursors):
    page = {"results": [], "cursor_id": None, "prev_cursor_id": None, "has_remaining": False}
    shape = same_request(
        recorder,
        page,
        lambda: ours.list_activity(page_size=120, **cursors, **ACTIVITY_FILTERS),
        lambda: theirs.list_activity(page_size=120, **cursors, **ACTIVITY_FILTERS),
    )
    assert (shape["method"], shape["path"]) == ("GET", "/api/v1/sov/activity")
    assert shape["query"]["company__short_name"] == ["acme", "harbor"]
    assert shape["query"]["fields"] == ["id", "client_ref", "all_updates"]


def test_list_activity_defaults(recorder, ours, theirs):
    shape = same_request(recorder, {"results": []}, ours.list_activity, theirs.list_activity)
    assert shape["query"] == {"page_size": ["50"]}


def test_add_building(recorder, ours, theirs):
    building = {"bldg_name": "Annex", "city": "Austin", "limits__building_limit": 900000}
    shape = same_request(
        recorder,
        {"message": "OK"},
        lambda: ours.add_building(SOV, building),
        lambda: theirs.add_building(SOV, building),
    )
    assert (shape["path"], shape["json"]) == (f"/api/v1/sov/{SOV}/add_building", {"building_data": building})


def test_get_building_sends_the_item_key_as_the_client_does(recorder, ours, theirs):
    shape = same_request(
        recorder,
        {"item_key": "i-s-e-xxxxxxx!SOV!1"},
        lambda: ours.get_building("i-s-e-xxxxxxx!SOV!1"),
        lambda: theirs.get_building("i-s-e-xxxxxxx!SOV!1"),
    )
    assert recorder.last().target == "/api/v1/building/i-s-e-xxxxxxx!SOV!1"
    assert shape["method"] == "GET"


def test_get_public_shareable_url(recorder, ours, theirs):
    same_request(
        recorder,
        {"url": "https://maps.example/share/abc"},
        lambda: ours.get_public_shareable_url(SOV),
        lambda: theirs.get_public_shareable_url(SOV),
    )
    assert recorder.last().target == f"/api/v1/pli/policy/{SOV}/get_public_shareable_url"
    assert ours.get_public_shareable_url(SOV) == "https://maps.example/share/abc"


def test_parse_of_several_files_with_every_option(recorder, ours, theirs, tmp_path):
    first, second = tmp_path / "Harbor SOV.xlsx", tmp_path / "Harbor annex.xlsx"
    first.write_bytes(b"first-workbook")
    second.write_bytes(b"second-workbook")
    options: dict[str, Any] = {
        "document_type": "SOV",
        "output_formats": ["json", "xlsx"],
        "client_ref": "c-9",
        "integrations": ["geo"],
        "extra_data": {"insured_name": "Harbor"},
        "delegate_to_team": "5d1f5f5e-0000-4000-8000-000000000001",
        "allow_ping_data_api": True,
        "workflow": "standard",
        "company": "harbor",
        "team": "east",
        "callback_url": "https://hooks.example/parsed",
        "update_callback_url": "https://hooks.example/updated",
    }
    shape = same_request(
        recorder,
        {"id": "s-no-ping-new", "message": "OK"},
        lambda: ours.start_parse([first, second], **options),
        lambda: theirs.fix_sov_async_start([str(first), str(second)], **options),
    )
    assert shape["files"] == [
        ("file", "Harbor SOV.xlsx", b"first-workbook"),
        ("file", "Harbor annex.xlsx", b"second-workbook"),
    ]
    assert shape["fields"]["allow_ping_data_api"] == ["True"]


def test_initiate_update_with_username_and_team(recorder, ours, theirs):
    kwargs = {"update_type": "SCRUB", "client_ref": "r-1", "username": "ana", "delegate_to_team": 42}
    shape = same_request(
        recorder,
        {"id": SUD, "message": "OK"},
        lambda: ours.initiate_update(SOV, callback_url="https://hooks.example/u", **kwargs),
        lambda: theirs.update_sov_async_init(SOV, callback_url="https://hooks.example/u", **kwargs),
    )
    assert shape["fields"]["delegate_to_team"] == ["42"]


def test_add_locations_with_team(recorder, ours, theirs, corrections_csv):
    shape = same_request(
        recorder,
        {"message": "OK"},
        lambda: ours.add_locations(SUD, corrections_csv, delegate_to_team="team-7"),
        lambda: theirs.update_sov_async_add_locations(SUD, str(corrections_csv), delegate_to_team="team-7"),
    )
    assert shape["files"] == [("file", corrections_csv.name, corrections_csv.read_bytes())]
    assert shape["fields"] == {"delegate_to_team": ["team-7"]}


@pytest.mark.parametrize("team", ["team-7", 42])
def test_start_update_with_every_option(recorder, ours, theirs, team):
    options: dict[str, Any] = {
        "extra_data": {"insured_name": "Harbor"},
        "output_formats": ["json"],
        "policy_terms": {"deductible": 1000},
        "outputter_name": "standard",
        "metadata": {"run": "nightly"},
        "integrations": ["geo"],
        "delegate_to_team": team,
    }
    shape = same_request(
        recorder,
        {"message": "OK"},
        lambda: ours.start_update(SUD, **options),
        lambda: theirs.update_sov_async_start(SUD, **options),
    )
    assert shape["json"]["delegate_to_team"] == team


def test_get_or_create_output_with_team(recorder, ours, theirs):
    answer = {"request": {"id": "r-1", "status": "PENDING"}}
    same_request(
        recorder,
        answer,
        lambda: ours.get_or_create_output(SOV, "xlsx", revision=2, delegate_to_team="team-7"),
        lambda: theirs.get_or_create_output_async_start(SOV, "xlsx", revision=2, delegate_to_team="team-7"),
    )


def test_list_output_formats_by_division_and_team(recorder, ours, theirs):
    shape = same_request(
        recorder,
        {"output_formats": []},
        lambda: ours.list_output_formats(division_uuid="d-1", team_uuid="t-1"),
        lambda: theirs.list_output_formats(division_uuid="d-1", team_uuid="t-1"),
    )
    assert shape["query"] == {"division_uuid": ["d-1"], "team_uuid": ["t-1"]}


def test_history_reads(recorder, ours, theirs):
    same_request(
        recorder,
        {"results": [], "cursor_id": None},
        lambda: ours.get_history_page(cursor_id="h-9", page_size=50),
        lambda: theirs.list_history(cursor_id="h-9", page_size=50),
    )
    same_request(
        recorder,
        {"result": {}},
        lambda: ours.get_history_item(SUD),
        lambda: theirs.get_history_item(SUD),
    )
