"""SOV Fixer's routes, as the vendor's client calls them (no I/O: the hook and the kinds import it)."""

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

#: Every route the provider calls: method, path, whether a second call is harmless, what it acts on
#: (for messages) and what the call does (for messages; empty: its name).
_ROUTE_TABLE: dict[str, tuple[str, str, bool, str, str]] = {
    "parse": ("POST", "/api/v1/sov", False, "", "start parse"),
    "parse_status": ("GET", "/api/v1/sov/{sov_id}", True, "SOV", "read parse status"),
    "output_formats": ("GET", "/api/v1/output_formats", True, "SOV", "list output formats"),
    "get_or_create_output": ("POST", "/api/v1/sov/{id}/get_or_create_output", True, "SOV/SUD", ""),
    "output_request": (
        "GET",
        "/api/v1/sov/get_or_create_output/{request_id}",
        True,
        "output request",
        "read output request",
    ),
    "initiate_update": ("POST", "/api/v1/sov/{sov_id}/initiate_update", False, "SOV", "initiate update"),
    "add_locations": ("POST", "/api/v1/sov/update/{sud_id}/add_locations", False, "SUD", "add locations"),
    "start_update": ("POST", "/api/v1/sov/update/{sud_id}/start", False, "SUD", "start update"),
    "update_status": ("GET", "/api/v1/sov/update/{sud_id}", True, "SUD", "read update status"),
    "create_submission": ("POST", "/api/v1/submission", False, "", "create submission"),
    "activity": ("GET", "/api/v1/sov/activity", True, "", "list activity"),
    "add_building": ("POST", "/api/v1/sov/{sov_id}/add_building", False, "SOV", "add building"),
    "building": ("GET", "/api/v1/building/{item_key}", True, "building", "read building"),
    "public_shareable_url": (
        "GET",
        "/api/v1/pli/policy/{sov_id}/get_public_shareable_url",
        True,
        "SOV",
        "get public shareable URL",
    ),
    "history": ("GET", "/api/v1/sov/history", True, "", "read history"),
    "history_item": ("GET", "/api/v1/sov/history/{id}", True, "history item", "read history item"),
}
ROUTES = {
    name: Route(name, method, path, idempotent=safe, what=what, action=action)
    for name, (method, path, safe, what, action) in _ROUTE_TABLE.items()
}

#: The status route of each job kind. A new submission is read as an update: the vendor's client
#: has no route of its own for it and says to follow ``create_submission`` with the update routes.
UPDATE_STATUS = ROUTES["update_status"]
PARSE_STATUS = ROUTES["parse_status"]
#: What a parse's status read asks for (its progress, as the vendor's client asks).
PARSE_STATUS_PARAMS = {"include_progress": "true"}
OUTPUT_REQUEST = ROUTES["output_request"]
