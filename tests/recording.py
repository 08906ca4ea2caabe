"""
A loopback HTTP server that records every request whole and answers what the test tells it.

Two clients (the vendor's and ours) send the same call to it in turn; :meth:`Recorded.shape`
reduces each request to what the service can see of it (method, path as sent, query, encoding,
fields, files, JSON body, credentials), so the two can be compared for equality.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Recorded:
    """One request as it arrived."""

    method: str
    target: str  # the request line's target, byte for byte
    headers: dict[str, str]
    body: bytes

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip()

    def shape(self) -> dict[str, Any]:
        """What the service can tell of this request (the order of distinct keys does not count)."""
        split = urlsplit(self.target)
        shape: dict[str, Any] = {
            "method": self.method,
            "path": split.path,
            "query": _grouped(parse_qsl(split.query, keep_blank_values=True)),
            "media_type": self.media_type or None,
            "authorization": self.headers.get("authorization"),
        }
        if self.media_type == "application/x-www-form-urlencoded":
            shape["fields"] = _grouped(parse_qsl(self.body.decode(), keep_blank_values=True))
        elif self.media_type == "multipart/form-data":
            parts = _multipart(self.headers["content-type"], self.body)
            shape["fields"] = _grouped([(n, v.decode()) for n, f, v in parts if f is None])
            shape["files"] = [(n, f, v) for n, f, v in parts if f is not None]
        elif self.media_type == "application/json":
            shape["json"] = json.loads(self.body)
        else:
            shape["body"] = self.body
        return shape


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


def _multipart(content_type: str, body: bytes) -> list[tuple[str, str | None, bytes]]:
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]


@dataclass
class RecordingServer:
    """Serve on loopback; answer every request with :attr:`answer` (status, JSON body); record it."""

    answer: tuple[int, Any] = (200, {"message": "OK"})
    requests: list[Recorded] = field(default_factory=list)

    def __enter__(self) -> RecordingServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = self._chunked()
                else:
                    body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                owner.requests.append(Recorded(self.command, self.path, headers, body))
                status, answer = owner.answer
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _chunked(self) -> bytes:
                out = b""
                while size := int(self.rfile.readline().strip() or b"0", 16):
                    out += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return out

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def last(self) -> Recorded:
        return self.requests[-1]
