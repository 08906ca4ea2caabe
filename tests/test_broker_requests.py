"""
Each Broker route the hook calls is sent as the Broker's own route definition has it: method, no
trailing slash (the Treasury proxy's rule), parameter names, where they go, the body's encoding.
The hook sends to a recording server on loopback; the definitions below are copied from the
Broker's source (``dataactbroker/routes/file_routes.py``, ``generation_routes.py``, and
``decorators.py`` for ``convert_to_submission_id``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.recording import RecordingServer

SESSION = "recorded-session-0001"
#: ``convert_to_submission_id`` reads ``submission`` or ``submission_id``, from the query or the JSON body.
SUBMISSION_ID = {"submission", "submission_id"}
#: name: (method, where the arguments go, the names the route reads, those it requires).
DEFINITIONS: dict[str, tuple[str, str, set[str], set[str]]] = {
    # @app.route("/v1/check_status/", methods=["GET"]), convert_to_submission_id, use_kwargs type (query)
    "check_status": ("GET", "query", SUBMISSION_ID | {"type"}, {"submission_id"}),
    # @app.route("/v1/submission_metadata/", methods=["GET"]), convert_to_submission_id
    "submission_metadata": ("GET", "query", SUBMISSION_ID, {"submission_id"}),
    # @app.route("/v1/list_submissions/", methods=["POST"]), use_kwargs(..., location="json")
    "list_submissions": (
        "POST",
        "json",
        {"page", "limit", "published", "sort", "order", "fabs", "filters"},
        {"published"},
    ),
    # @app.route("/v1/list_latest_published_files/", methods=["GET"]), use_kwargs(..., location="query")
    "list_latest_published_files": ("GET", "query", {"type", "agency", "year", "period"}, {"type"}),
    # @app.route("/v1/get_published_file/", methods=["GET"]), use_kwargs(..., location="query")
    "get_published_file": (
        "GET",
        "query",
        {"submission_id", "published_files_history_id", "is_warning"},
        {"submission_id", "published_files_history_id"},
    ),
}


@pytest.fixture
def recorder():
    with RecordingServer() as server:
        yield server


@pytest.fixture
def hook(recorder, monkeypatch, policy):
    from airflow_provider_sov.hooks.broker import DataActBrokerHook

    conn = {
        "conn_type": "data_act_broker",
        "host": recorder.url,
        "password": SESSION,
        "extra": {"auth_mode": "session"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_BROKER_RECORDED", json.dumps(conn))
    return DataActBrokerHook("broker_recorded", retry_policy=policy)


CALLS: list[tuple[str, Any, Any, dict[str, Any]]] = [
    ("check_status", lambda h: h.check_status(1001), {"appropriations": {}}, {"submission_id": ["1001"]}),
    (
        "check_status",
        lambda h: h.check_status(1001, "C"),
        {"award_financial": {}},
        {"submission_id": ["1001"], "type": ["award_financial"]},
    ),
    ("submission_metadata", lambda h: h.submission_metadata("1001"), {}, {"submission_id": ["1001"]}),
    (
        "list_submissions",
        lambda h: h.list_submissions(published=True, page=2, limit=10, filters={"agency_codes": ["097"]}),
        {"submissions": [], "total": 0},
        {
            "published": "true",
            "page": 2,
            "limit": 10,
            "sort": "modified",
            "order": "desc",
            "fabs": False,
            "filters": {"agency_codes": ["097"]},
        },
    ),
    (
        "list_latest_published_files",
        lambda h: h.list_latest_published_files("dabs", agency="097", year=2026, period=6),
        [],
        {"type": ["dabs"], "agency": ["097"], "year": ["2026"], "period": ["6"]},
    ),
    (
        "get_published_file",
        lambda h: h.get_published_file(1001, 701, is_warning=True),
        {"url": "https://storage.example/f.csv?Signature=x"},
        {"submission_id": ["1001"], "published_files_history_id": ["701"], "is_warning": ["true"]},
    ),
]


@pytest.mark.parametrize(("route", "call", "answer", "sent"), CALLS, ids=[c[0] for c in CALLS])
def test_each_route_is_sent_as_the_broker_defines_it(recorder, hook, route, call, answer, sent):
    recorder.answer = (200, answer)
    call(hook)
    request = recorder.last()
    shape = request.shape()
    method, where, names, required = DEFINITIONS[route]
    assert (shape["method"], shape["path"]) == (method, f"/v1/{route}")  # never a trailing slash
    assert shape["authorization"] is None and request.headers["x-session-id"] == SESSION
    given = shape["json"] if where == "json" else shape["query"]
    if where == "json":
        assert shape["media_type"] == "application/json" and shape["query"] == {}
    else:
        assert "json" not in shape and shape.get("body", b"") == b""
    assert set(given) <= names, set(given) - names  # no name the route does not read
    assert required <= set(given)  # what it requires is always sent
    assert given == sent


def test_a_route_the_provider_calls_has_its_definition_here():
    """Every submission route in the hook's route table is one of the definitions above."""
    from airflow_provider_sov.hooks.broker_rules import ROUTES

    new = {
        "check_status",
        "submission_metadata",
        "list_submissions",
        "list_latest_published_files",
        "get_published_file",
    }
    assert new <= set(ROUTES) and {name for name, *_ in CALLS} == new
    assert {name: ROUTES[name].method for name in new} == {name: DEFINITIONS[name][0] for name in new}
