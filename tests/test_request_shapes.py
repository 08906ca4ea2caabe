"""Exact request shapes (headers, JSON bodies, multipart fields), with requests-mock."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

import pytest

from airflow_provider_sov.hooks.sov import SovHook

BASE = "https://api.sovfixer.com"
TOKEN = "tok-shape-1234"


@pytest.fixture
def mock_hook(monkeypatch, policy):
    monkeypatch.setenv("AIRFLOW_CONN_SOV_SHAPES", json.dumps({"conn_type": "sovfixer", "password": TOKEN}))
    return SovHook("sov_shapes", retry_policy=policy)


def capture_multipart(requests_mock, url: str, answer: dict) -> list:
    """Register ``url`` and record each multipart body as it is streamed (the file closes after)."""
    seen: list = []

    def respond(request, context):
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        seen.append(multipart_fields(request.headers["Content-Type"], body))
        return answer

    requests_mock.post(url, json=respond)
    return seen


def multipart_fields(content_type: str, body: bytes) -> list[tuple[str, str | None, bytes]]:
    """(field name, filename, value) of each part of a multipart body."""
    from email.parser import BytesParser
    from email.policy import HTTP

    raw = b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    message = BytesParser(policy=HTTP).parsebytes(raw)
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]


def sent_like_the_vendor(requests_mock, url: str, answer: dict, ours, vendors) -> tuple[dict, dict]:
    """Send one request with our hook and one with the vendor's client; return (ours, vendor's) shapes."""
    route = requests_mock.post(url, json=answer)
    shapes = []
    for send in (ours, vendors):
        send()
        sent = route.last_request
        shapes.append(
            {
                "content_type": sent.headers.get("Content-Type"),
                "fields": parse_qs(sent.text or "", keep_blank_values=True),
                "auth": sent.headers["Authorization"],
            }
        )
    return shapes[0], shapes[1]


@pytest.fixture
def vendor():
    from pingintel_api import SOVFixerAPIClient

    return SOVFixerAPIClient(api_url=BASE, auth_token=TOKEN)


def test_initiate_update_is_sent_as_the_vendor_sends_it(mock_hook, requests_mock, vendor):
    url = f"{BASE}/api/v1/sov/s-no-ping-hggcsk/initiate_update"
    ours, theirs = sent_like_the_vendor(
        requests_mock,
        url,
        {"message": "OK", "id": "s-no-ping-hggcsk-r001"},
        lambda: mock_hook.initiate_update("s-no-ping-hggcsk", update_type="scrub", client_ref="ref-1"),
        lambda: vendor.update_sov_async_init("s-no-ping-hggcsk", update_type="SCRUB", client_ref="ref-1"),
    )
    assert ours == theirs
    assert ours["content_type"] == "application/x-www-form-urlencoded"
    assert ours["fields"] == {"update_type": ["SCRUB"], "client_ref": ["ref-1"]}


@pytest.mark.parametrize("overwrite", [False, True])
def test_get_or_create_output_is_sent_as_the_vendor_sends_it(mock_hook, requests_mock, vendor, overwrite):
    ours, theirs = sent_like_the_vendor(
        requests_mock,
        f"{BASE}/api/v1/sov/s-1/get_or_create_output",
        {"request": {"id": "r", "status": "PENDING"}},
        lambda: mock_hook.get_or_create_output("s-1", "XLSX", revision=0, overwrite_existing=overwrite),
        lambda: vendor.get_or_create_output_async_start(
            "s-1", "XLSX", revision=0, overwrite_existing=overwrite
        ),
    )
    assert ours == theirs
    assert ours["content_type"] == "application/x-www-form-urlencoded"
    assert ours["fields"]["revision"] == ["0"] and ours["fields"]["output_format"] == ["XLSX"]


def test_start_update_sends_extra_data_at_least_empty(mock_hook, requests_mock):
    route = requests_mock.post(f"{BASE}/api/v1/sov/update/s-1-r001/start", json={"message": "OK"})
    mock_hook.start_update("s-1-r001")
    assert route.last_request.json() == {"extra_data": {}}
    mock_hook.start_update(
        "s-1-r001", extra_data={"insured_name": "Acme"}, output_formats=["json", "xlsx"], metadata={"k": 1}
    )
    assert route.last_request.json() == {
        "extra_data": {"insured_name": "Acme"},
        "output_formats": ["json", "xlsx"],
        "metadata": {"k": 1},
    }


def test_add_locations_is_multipart_file_field(mock_hook, requests_mock, corrections_csv):
    seen = capture_multipart(
        requests_mock, f"{BASE}/api/v1/sov/update/s-1-r001/add_locations", {"message": "OK"}
    )
    mock_hook.add_locations("s-1-r001", corrections_csv)
    assert requests_mock.last_request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert seen == [[("file", "corrections.csv", corrections_csv.read_bytes())]]


def test_parse_form_fields(mock_hook, requests_mock, tmp_path):
    seen = capture_multipart(requests_mock, f"{BASE}/api/v1/sov", {"message": "OK", "id": "s-no-ping-new"})
    workbook = tmp_path / "Acme SOV.xlsx"
    workbook.write_bytes(b"workbook-bytes")
    assert (
        mock_hook.start_parse(
            workbook,
            document_type="sov",
            output_formats=["json", "xlsx"],
            extra_data={"insured_name": "Acme", "inception_date": "2026-07-01"},
            client_ref="c-9",
            integrations=["geo"],
        )
        == "s-no-ping-new"
    )
    assert seen[0] == [
        ("document_type", None, b"SOV"),
        ("output_formats", None, b"json"),
        ("output_formats", None, b"xlsx"),
        ("integrations", None, b"geo"),
        ("extra_data_insured_name", None, b"Acme"),
        ("extra_data_inception_date", None, b"2026-07-01"),
        ("client_ref", None, b"c-9"),
        ("file", "Acme SOV.xlsx", b"workbook-bytes"),
    ]


def test_status_and_history_query_strings(mock_hook, requests_mock):
    status = requests_mock.get(f"{BASE}/api/v1/sov/s-1", json={"request": {"status": "PENDING"}})
    history = requests_mock.get(f"{BASE}/api/v1/sov/history", json={"results": []})
    mock_hook.get_parse_status("s-1")
    assert status.last_request.qs == {"include_progress": ["true"]}
    mock_hook.get_history_page(cursor_id=41, start="20260101000000", page_size=250)
    assert history.last_request.qs == {"cursor_id": ["41"], "start": ["20260101000000"], "page_size": ["250"]}


def test_ids_are_url_quoted_not_parsed(mock_hook, requests_mock):
    route = requests_mock.get(
        f"{BASE}/api/v1/sov/update/s-no-ping-%C3%A9-r001", json={"request": {"status": "PENDING"}}
    )
    mock_hook.get_update_status("s-no-ping-é-r001")
    assert route.called


def test_no_token_to_another_host(mock_hook, requests_mock, tmp_path):
    storage = requests_mock.get(
        "https://storage.example.com/bucket/file.json?sig=abc", content=b"{}", headers={"Content-Length": "2"}
    )
    mock_hook.download_output(
        {"url": "https://storage.example.com/bucket/file.json?sig=abc", "filename": "f.json"}, tmp_path
    )
    assert "Authorization" not in storage.last_request.headers


def test_redirect_to_another_host_drops_the_token(mock_hook, requests_mock, tmp_path):
    requests_mock.get(
        f"{BASE}/api/v1/sov/s-1/output/f.json",
        status_code=302,
        headers={"Location": "https://cdn.example.net/f.json"},
    )
    cdn = requests_mock.get(
        "https://cdn.example.net/f.json", content=b"data", headers={"Content-Length": "4"}
    )
    saved = mock_hook.download_output(
        {"url": f"{BASE}/api/v1/sov/s-1/output/f.json", "filename": "f.json"}, tmp_path
    )
    assert requests_mock.request_history[0].headers["Authorization"] == f"Token {TOKEN}"
    assert "Authorization" not in cdn.last_request.headers
    assert saved.size == 4


def test_same_host_redirect_keeps_the_token(mock_hook, requests_mock):
    requests_mock.get(
        f"{BASE}/api/v1/sov/s-1", status_code=301, headers={"Location": f"{BASE}/api/v1/sov/s-1/"}
    )
    final = requests_mock.get(f"{BASE}/api/v1/sov/s-1/", json={"request": {"status": "COMPLETE"}})
    mock_hook.get_parse_status("s-1")
    assert final.last_request.headers["Authorization"] == f"Token {TOKEN}"


def test_download_requests_identity_encoding(mock_hook, requests_mock, tmp_path):
    route = requests_mock.get(
        f"{BASE}/api/v1/sov/s-1/output/a.json", content=b"{}", headers={"Content-Length": "2"}
    )
    mock_hook.download_output("/api/v1/sov/s-1/output/a.json", tmp_path)
    assert route.last_request.headers["Accept-Encoding"] == "identity"
    assert (tmp_path / "a.json").read_bytes() == b"{}"


def test_content_disposition_names_the_file(mock_hook, requests_mock, tmp_path):
    requests_mock.get(
        f"{BASE}/dl/123",
        content=b"abc",
        headers={"Content-Length": "3", "Content-Disposition": 'attachment; filename="../Acme 2026.csv"'},
    )
    saved = mock_hook.download_output(f"{BASE}/dl/123", tmp_path)
    assert saved.filename == "Acme 2026.csv"


def test_redirected_post_is_not_followed(mock_hook, requests_mock):
    from airflow_provider_sov.exceptions import SovError

    first = requests_mock.post(
        f"{BASE}/api/v1/sov/s-1/initiate_update",
        status_code=307,
        headers={"Location": "https://api2.sovfixer.com/api/v1/sov/s-1/initiate_update?sig=secret"},
    )
    other = requests_mock.post("https://api2.sovfixer.com/api/v1/sov/s-1/initiate_update", json={"id": "x"})
    with pytest.raises(
        SovError,
        match=re.escape("HTTP 307, redirecting to https://api2.sovfixer.com/api/v1/sov/s-1/initiate_update"),
    ) as info:
        mock_hook.initiate_update("s-1")
    assert "sig=secret" not in str(info.value) and "https://" in info.value.hint
    assert first.call_count == 1 and not other.called
