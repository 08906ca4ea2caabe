"""
What both emulated APIs serve files and errors with: generated blobs, streamed bodies that faults
can cut, truncate or rename; and what an API's state sees of the server (:class:`EmulatorHost`).
Imports nothing else of the emulator but its fault names.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Protocol
from urllib.parse import quote

from aiohttp import web

from airflow_provider_sov.testing.faults import FAULT_KEY


class EmulatorHost(Protocol):
    """What an emulated API's state uses of the server it runs in (:class:`~.server.EmulatorServer`)."""

    clock: Any
    lock: Any
    token: str
    relative_urls: bool
    legacy_output_shape: bool
    job_seconds: float
    output_seconds: float

    @property
    def url(self) -> str: ...

    @property
    def storage_url(self) -> str: ...


class Blob:
    """A large synthetic file, generated as it is served (for download benchmarks)."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        block = hashlib.sha256(str(seed).encode()).digest()
        self._block = (block * (65536 // len(block) + 1))[:65536]

    def chunks(self, chunk: int = 256 * 1024) -> Any:
        remaining = self.size
        piece = self._block * (chunk // len(self._block))
        while remaining > 0:
            n = min(remaining, len(piece))
            yield piece[:n]
            remaining -= n

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for part in self.chunks():
            digest.update(part)
        return digest.hexdigest()


async def serve_bytes(
    request: web.Request, data: bytes | Blob, content_type: str = "application/octet-stream"
) -> web.StreamResponse:
    """
    Stream a file with its Content-Length. A ``truncate`` fault cuts it off half way (after
    waiting its ``delay``); a ``hostile_filename`` fault names it in ``Content-Disposition``.
    """
    size = data.size if isinstance(data, Blob) else len(data)
    fault = request.get(FAULT_KEY)
    # Serving a file changes nothing, so "after acting" is "before the first byte" here.
    if fault is not None and fault.kind == "slow_after":
        await asyncio.sleep(fault.delay)
    if fault is not None and fault.kind == "status_after":
        status = fault.status or 503
        return web.json_response({"message": f"emulator: injected HTTP {status}"}, status=status)
    headers = {"Content-Type": content_type}
    if fault is not None and fault.kind == "hostile_filename":
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(str(fault.value), safe='')}"
    response = web.StreamResponse(headers=headers)
    response.content_length = size
    await response.prepare(request)
    limit = size // 2 if fault is not None and fault.kind == "truncate" else size
    sent = 0
    chunks = data.chunks() if isinstance(data, Blob) else [data]
    for chunk in chunks:
        piece = chunk[: max(0, limit - sent)]
        if piece:
            await response.write(piece)
            sent += len(piece)
        if sent >= limit:
            break
    if limit < size:
        assert request.transport is not None
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        request.transport.close()
        return response
    await response.write_eof()
    return response
