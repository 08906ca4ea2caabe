"""
SOV Fixer's routes, as the vendor's client calls them: no I/O, cheap to import (DAG files do).

The hook (:mod:`.sov`) sends them; the job kinds (:mod:`.sov_jobs`) name the status route each
kind is read from. Both import this module, and it imports neither.
"""

from __future__ import annotations

from airflow_provider_sov._shared.routes import Route

#: How messages name the API, the task argument naming its connection, and its default connection.
API_NAME = "SOV Fixer"
CONN_NAME_ATTR = "sovfixer_conn_id"
DEFAULT_CONN_NAME = "sovfixer_default"
DEFAULT_HOST = "https://api.sovfixer.com"
#: IDs as the API writes them, for the message a malformed one gets.
EXAMPLE_SOV_ID = "s-no-ping-hggcsk"
EXAMPLE_SUD_ID = "s-no-ping-hggcsk-r001"
EXAMPLE_REQUEST_ID = "9f4d8c10-3b7e-4a52-bd91-c823f15e4d76"
#: A new submission's ID: an integer in the answer, used as a SUD ID by the update routes.
EXAMPLE_SUBMISSION_ID = "80412"
#: A building's item key, as the vendor's client documents one.
EXAMPLE_ITEM_KEY = "i-s-e-xxxxxxx!SOV!1"

ROUTES = {
    r.name: r
    for r in (
        Route("parse", "POST", "/api/v1/sov", idempotent=False, what="", action="start parse"),
        Route(
            "parse_status",
            "GET",
            "/api/v1/sov/{sov_id}",
            idempotent=True,
            what="SOV",
            action="read parse status",
        ),
        Route(
            "output_formats",
            "GET",
            "/api/v1/output_formats",
            idempotent=True,
            what="SOV",
            action="list output formats",
        ),
        Route(
            "get_or_create_output",
            "POST",
            "/api/v1/sov/{id}/get_or_create_output",
            idempotent=True,
            what="SOV/SUD",
        ),
        Route(
            "output_request",
            "GET",
            "/api/v1/sov/get_or_create_output/{request_id}",
            idempotent=True,
            what="output request",
            action="read output request",
        ),
        Route(
            "initiate_update",
            "POST",
            "/api/v1/sov/{sov_id}/initiate_update",
            idempotent=False,
            what="SOV",
            action="initiate update",
        ),
        Route(
            "add_locations",
            "POST",
            "/api/v1/sov/update/{sud_id}/add_locations",
            idempotent=False,
            what="SUD",
            action="add locations",
        ),
        Route(
            "start_update",
            "POST",
            "/api/v1/sov/update/{sud_id}/start",
            idempotent=False,
            what="SUD",
            action="start update",
        ),
        Route(
            "update_status",
            "GET",
            "/api/v1/sov/update/{sud_id}",
            idempotent=True,
            what="SUD",
            action="read update status",
        ),
        Route(
            "create_submission",
            "POST",
            "/api/v1/submission",
            idempotent=False,
            what="",
            action="create submission",
        ),
        Route("activity", "GET", "/api/v1/sov/activity", idempotent=True, action="list activity"),
        Route(
            "add_building",
            "POST",
            "/api/v1/sov/{sov_id}/add_building",
            idempotent=False,
            what="SOV",
            action="add building",
        ),
        Route(
            "building",
            "GET",
            "/api/v1/building/{item_key}",
            idempotent=True,
            what="building",
            action="read building",
        ),
        Route(
            "public_shareable_url",
            "GET",
            "/api/v1/pli/policy/{sov_id}/get_public_shareable_url",
            idempotent=True,
            what="SOV",
            action="get public shareable URL",
        ),
        Route("history", "GET", "/api/v1/sov/history", idempotent=True, action="read history"),
        Route(
            "history_item",
            "GET",
            "/api/v1/sov/history/{id}",
            idempotent=True,
            what="history item",
            action="read history item",
        ),
    )
}

#: The status route of each job kind. A new submission is read as an update: the vendor's client
#: has no route of its own for it and says to follow ``create_submission`` with the update routes.
UPDATE_STATUS = ROUTES["update_status"]
PARSE_STATUS = ROUTES["parse_status"]
#: What a parse's status read asks for (its progress, as the vendor's client asks).
PARSE_STATUS_PARAMS = {"include_progress": "true"}
OUTPUT_REQUEST = ROUTES["output_request"]
