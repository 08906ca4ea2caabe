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
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
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
