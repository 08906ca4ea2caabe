"""
The emulator's new submissions, activity list, buildings, links and history answer in the vendor
client's types, field for field (``tests/vendor_types.py``), and the hook reads them as they come.
"""

from __future__ import annotations

import pytest

from airflow_provider_sov.exceptions import SovInputError, SovNotFoundError
from tests.conftest import NEW_SOV_CSV, finish
from tests.vendor_types import problems, vendor_type

SOV = "s-no-ping-hggcsk"


def raw(hook, server, path: str):
    """A route's body exactly as the emulator sends it."""
    answer = hook.session.get(f"{server.url}{path}", headers={"Authorization": f"Token {server.token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def busy(hook, sov_emulator, corrections_csv):
    """An emulator with a parsed SOV's update done, one pending, and a new submission done."""
    done = hook.initiate_update(SOV, client_ref="nightly/2026-12-01")
    hook.add_locations(done, corrections_csv)
    hook.start_update(done, output_formats=["json", "xlsx"])
    pending = hook.initiate_update(SOV, client_ref="adhoc")
    submission = hook.create_submission(client_ref="warehouse/1", extra_data={"insured_name": "Harbor"})
    hook.add_locations(submission, NEW_SOV_CSV)
    hook.start_update(submission, output_formats=["json"])
    finish(sov_emulator)
    return {"done": done, "pending": pending, "submission": submission}


def test_a_new_submission_answers_as_the_vendor_types_it(hook, sov_emulator):
    answer = hook.session.post(
        f"{sov_emulator.url}/api/v1/submission",
        data={"document_type": "SOV", "client_ref": "r-1"},
        headers={"Authorization": f"Token {sov_emulator.token}"},
    ).json()
    assert problems(answer, vendor_type("CreateSubmissionResponse")) == []
    assert isinstance(answer["id"], int)


def test_a_submission_is_read_as_an_update(hook, sov_emulator, busy):
    body = raw(hook, sov_emulator, f"/api/v1/sov/update/{busy['submission']}")
    assert problems(body, vendor_type("SOVUpdateResponse")) == []
    assert body["request"]["status"] == "COMPLETE" and body["result"]["status"] == "SUCCESS"


def test_the_activity_list_answers_as_the_vendor_types_it(hook, sov_emulator, busy):
    body = raw(hook, sov_emulator, "/api/v1/sov/activity?page_size=250")
    assert problems(body, vendor_type("ActivityResponse")) == []
    by_id = {r["id"]: r for r in body["results"]}
    sov = by_id[SOV]
    assert [u["sudid"] for u in sov["all_updates"]] == [busy["done"], busy["pending"]]
    assert [u["status"] for u in sov["all_updates"]] == ["C", "P"]
    assert set(sov["updates"]) == {busy["done"], busy["pending"]}
    # A record's status is the activity filter's one-letter code.
    assert {r["status"] for r in body["results"]} <= {"P", "I", "E", "R", "C", "F"}
    # Only the fields asked for, when asked.
    some = raw(hook, sov_emulator, "/api/v1/sov/activity?fields=id&fields=client_ref")
    assert {frozenset(r) for r in some["results"]} == {frozenset({"id", "client_ref"})}


def test_every_sov_once_across_pages_and_updates_found_by_client_ref(hook, sov_emulator, busy):
    every = [r["id"] for r in hook.iter_activity(page_size=2)]
    assert len(every) == len(set(every)) == len(sov_emulator.sov.sovs)
    assert set(every) == set(sov_emulator.sov.sovs)
    first = hook.list_activity(page_size=2)
    assert first["has_remaining"] and first["cursor_id"] == first["results"][-1]["id"]
    second = hook.list_activity(cursor_id=first["cursor_id"], page_size=2)
    back = hook.list_activity(prev_cursor_id=second["prev_cursor_id"], page_size=2)
    assert second["prev_cursor_id"] == second["results"][0]["id"]
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    (update,) = hook.find_updates("nightly/2026-12-01", sov_id=SOV)
    assert (update["sudid"], update["status"], update["record_type"]) == (busy["done"], "C", "API")
    assert [u["sudid"] for u in hook.find_updates("adhoc")] == [busy["pending"]]  # across every SOV
    assert hook.find_updates("nobody") == []


def test_activity_filters_reach_the_list(hook, sov_emulator, busy):
    assert [r["id"] for r in hook.list_activity(id=SOV)["results"]] == [SOV]
    assert {r["client_ref"] for r in hook.list_activity(search="warehouse")["results"]} == {"warehouse/1"}
    assert hook.list_activity(status="F")["results"] == []
    with pytest.raises(SovInputError, match="status must be one of P, I, E, R, C, F"):
        hook.list_activity(status="complete")
    with pytest.raises(SovInputError, match="list_activity takes no option 'client_ref'"):
        hook.list_activity(client_ref="x")  # type: ignore[call-arg]
    assert sov_emulator.count("activity") == 3  # the refused ones sent nothing


def test_buildings_and_links(hook, sov_emulator):
    assert hook.add_building(SOV, {"bldg_name": "Annex", "city": "Austin"}) == {"message": "OK"}
    added = sov_emulator.sov.sovs[SOV].buildings[-1]
    assert hook.get_building(added["item_key"]) == added
    with pytest.raises(SovNotFoundError, match="b-none"):
        hook.get_building("b-none")
    with pytest.raises(SovInputError, match="building_data"):
        hook.add_building(SOV, {})
    url = hook.get_public_shareable_url(SOV)
    body = raw(hook, sov_emulator, f"/api/v1/pli/policy/{SOV}/get_public_shareable_url")
    assert problems(body, vendor_type("GetPublicShareableUrlResponse")) == [] and body["url"] == url


def test_history_records_and_items_carry_no_invented_id(hook, sov_emulator, busy):
    page = raw(hook, sov_emulator, "/api/v1/sov/history?page_size=250")
    # completed_time is a string on the wire (the client parses it into a datetime).
    assert problems(page, vendor_type("HistoryResponse")) == []
    ids = {r["id"] for r in page["results"]}
    assert not ids & {busy["done"], busy["submission"], SOV}  # a record's own ID is neither
    assert all(r["pingid"] is None for r in page["results"])
    item = raw(hook, sov_emulator, f"/api/v1/sov/history/{busy['done']}")
    assert problems(item, vendor_type("SOVHistoryResponse")) == []
    with pytest.raises(SovNotFoundError):
        hook.get_history_item(next(iter(ids)))  # it takes an SOV or SUD ID, not a record's ID
