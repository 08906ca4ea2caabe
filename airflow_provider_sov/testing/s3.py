"""
A real S3 API on loopback (``moto`` in server mode, its own process) and the Airflow connection to it.

Every process of a test (workers, triggerers, the test itself) reaches it over HTTP, as they would
reach S3; ``s3://aws_default@bucket/key`` in a DAG names it through the ``aws_default`` connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

#: Credentials the server accepts (moto accepts any; these are recognisable in a leak scan).
ACCESS_KEY = "s3-test-access-RECOGNISABLE"
SECRET_KEY = "s3-test-secret-RECOGNISABLE-9Zp"
REGION = "us-east-1"


#: Where the server takes its faults (no bucket name can begin with "_").
FAULTS_PATH = "/_faults/writes"
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class S3Server:
    """``moto`` serving the S3 API on ``127.0.0.1``; ``with S3Server() as s3:`` starts and stops it."""

    def __init__(self, log: Path | None = None) -> None:
        from airflow_provider_sov.testing.stack import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None
        self._scratch: Any = None

    def start(self) -> S3Server:
        import tempfile

        out = self._log.open("ab") if self._log else subprocess.DEVNULL
        self._scratch = tempfile.TemporaryDirectory(prefix="s3-server-")  # moto's recording goes here
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(self.port)],
            cwd=self._scratch.name,
            env={**os.environ, "MOTO_RECORDER_FILEPATH": f"{self._scratch.name}/recording"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the S3 server (moto) exited at start with code {self._proc.returncode}")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2).close()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the S3 server (moto) did not answer on {self.url} within 60 s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(10)
        self._proc = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def refuse_writes(self, seconds: float, *, after: int = 0) -> None:
        """
        Answer every write (``PUT``, ``POST``, ``DELETE``) with S3's ``503 SlowDown`` for ``seconds``,
        counted from the first write refused; ``after`` writes still go through first (so a test can
        let an upload begin). Reads are served throughout.
        """
        self._faults("POST", {"seconds": seconds, "after": after})

    def refused_writes(self) -> dict[str, Any]:
        """``{"refused": <writes refused so far>, "refusing": <whether it still refuses>}``."""
        return dict(self._faults("GET"))

    def _faults(self, method: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{FAULTS_PATH}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def connection(self) -> dict[str, Any]:
        """The ``aws`` connection on this server (what ``AIRFLOW_CONN_AWS_DEFAULT`` holds)."""
        return {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"endpoint_url": self.url, "region_name": REGION},
        }

    def connection_env(self, conn_id: str = "aws_default") -> dict[str, str]:
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(self.connection())}

    def client(self) -> Any:
        """A boto3 S3 client on this server, for tests to look at the bucket directly."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under ``prefix`` (all pages)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def unfinished_uploads(self, bucket: str) -> list[str]:
        """Keys with a multipart upload begun and neither completed nor aborted (billed, unseen)."""
        listed = self.client().list_multipart_uploads(Bucket=bucket)
        return sorted(u["Key"] for u in listed.get("Uploads", []))

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[dict[str, str]]]:
        """
        Record the requests the server receives inside the block (moto's recorder); the list is filled
        on exit with each request's ``method``, ``path`` (``/bucket/key``) and ``copy_source``.
        """

        def post(action: str) -> None:
            request = urllib.request.Request(
                f"{self.url}/moto-api/recorder/{action}", data=b"", method="POST"
            )
            urllib.request.urlopen(request, timeout=10).close()

        seen: list[dict[str, str]] = []
        post("reset-recording")
        post("start-recording")
        try:
            yield seen
        finally:
            post("stop-recording")
            with urllib.request.urlopen(f"{self.url}/moto-api/recorder/download-recording", timeout=30) as r:
                text = r.read().decode()
            decoder, at = json.JSONDecoder(), 0
            while (at := len(text) - len(text[at:].lstrip())) < len(text):  # records, not always one a line
                entry, at = decoder.raw_decode(text, at)
                headers = {k.lower(): v for k, v in entry["headers"].items()}
                path = urllib.parse.urlsplit(entry["url"]).path
                seen.append(
                    {
                        "method": entry["method"],
                        "path": path,
                        "copy_source": headers.get("x-amz-copy-source", ""),
                    }
                )


def refusing_writes(app: Any) -> Any:
    """
    ``app`` (moto's WSGI application) behind a switch that refuses writes, as S3 does when it sheds
    load: ``POST`` :data:`FAULTS_PATH` ``{"seconds": s, "after": n}`` arms it, ``GET`` reads it.
    """
    import threading

    lock = threading.Lock()
    state: dict[str, Any] = {"seconds": 0.0, "after": 0, "until": None, "refused": 0}

    def refusing(now: float) -> bool:
        if state["until"] is not None:
            return bool(now < state["until"])
        return bool(state["seconds"] > 0 and state["after"] <= 0)

    def gate(environ: dict[str, Any], start_response: Any) -> Any:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        now = time.monotonic()
        if path == FAULTS_PATH:
            with lock:
                if method == "POST":
                    body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
                    state.update(seconds=float(body["seconds"]), after=int(body.get("after", 0)), until=None)
                answer = json.dumps({"refused": state["refused"], "refusing": refusing(now)}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [answer]
        if method in ("PUT", "POST", "DELETE") and not path.startswith("/moto-api"):
            with lock:
                if state["seconds"] > 0 and state["until"] is None and state["after"] > 0:
                    state["after"] -= 1
                elif refusing(now):
                    if state["until"] is None:
                        state["until"] = now + state["seconds"]
                    state["refused"] += 1
                    start_response("503 Slow Down", [("Content-Type", "application/xml")])
                    return [SLOW_DOWN]
        return app(environ, start_response)

    return gate


def main(argv: list[str] | None = None) -> None:
    """``python -m airflow_provider_sov.testing.s3 PORT``: moto's S3 on loopback, with the write switch."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    (port,) = argv if argv is not None else sys.argv[1:]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    os.environ.setdefault("MOTO_PORT", port)
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        "127.0.0.1", int(port), refusing_writes(app), threaded=True, request_handler=MotoRequestHandler
    )


if __name__ == "__main__":
    main()
