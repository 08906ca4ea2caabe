"""
Writing one object so that it appears whole and checked, or not at all, with no rename (on a store a
copy of the whole object): the bytes go to the object's own key through an upload the store keeps
invisible until committed.

- **S3**: a multipart upload, each part sent with its SHA-256; before completing, the parts S3 holds
  are compared (size, SHA-256 or ETag) with those sent. Any failure aborts it; memory holds two parts;
  an upload a killed worker left for the same key is aborted by the next write.
- **Any other fsspec store**: fsspec's uncommitted file (``autocommit=False``), committed once checked.
"""

from __future__ import annotations

import base64
import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_sov.exceptions import SovDownloadError

if TYPE_CHECKING:
    from concurrent.futures import Future

    from airflow.sdk import ObjectStoragePath

#: Bytes per part of a multipart upload (S3's minimum is 5 MiB for every part but the last).
PART_SIZE = 8 * 1024 * 1024


class ObjectWriter(Protocol):
    """What :func:`~airflow_provider_sov._shared.files.write_stream` needs of a remote target."""

    def write(self, chunk: bytes) -> None: ...

    def commit(self, size: int) -> None:
        """Make the object appear, after checking the store holds ``size`` bytes as sent."""

    def abort(self) -> None:
        """Leave nothing behind; safe to call after a failed :meth:`commit`."""


def object_writer(target: ObjectStoragePath, *, part_size: int = PART_SIZE) -> ObjectWriter:
    """Return the writer for ``target``: a checked multipart upload on S3, else fsspec's transaction."""
    fs = target.fs
    if getattr(target, "protocol", "") in ("s3", "s3a") and hasattr(fs, "_call_s3"):
        return S3MultipartWriter(fs, str(target.path), part_size=part_size)
    return TransactionalWriter(fs, str(target.path))


def check_stored(where: str, stored: int, size: int) -> None:
    """After a commit: the store must hold as many bytes as were written (the caller then aborts)."""
    if stored != size:
        raise SovDownloadError(
            f"{where} holds {stored} bytes, not the {size} written; it was removed.",
            hint="Run the task again; the file is fetched from the start.",
            transient=True,
        )


class TransactionalWriter:
    """fsspec's ``autocommit=False`` file: the object exists only after :meth:`commit`."""

    def __init__(self, fs: Any, path: str) -> None:
        from fsspec.implementations.memory import MemoryFile, MemoryFileSystem

        self._fs, self._path = fs, path
        if isinstance(fs, MemoryFileSystem):  # its open() shows the file at once, autocommit or not
            self._handle = MemoryFile(fs, fs._strip_protocol(path))
        else:
            self._handle = fs.open(path, "wb", autocommit=False)
        self._committed = False

    def write(self, chunk: bytes) -> None:
        self._handle.write(chunk)

    def commit(self, size: int) -> None:
        self._handle.close()
        self._handle.commit()
        self._committed = True
        check_stored(self._path, self._fs.size(self._path), size)

    def abort(self) -> None:
        if self._committed:  # committed, then found wrong: the object must go
            self._fs.rm(self._path)
        else:
            self._handle.discard()


class S3MultipartWriter:
    """
    One object written as an S3 multipart upload, checked part by part and as a whole before it is
    completed. A part is hashed and sent on a thread of its own while the next part fills, so the
    download feeding it never waits for S3 unless S3 is the slower of the two.
    """

    def __init__(self, fs: Any, path: str, *, part_size: int = PART_SIZE) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ValueError("S3 parts must be at least 5 MiB (all but the last).")
        self._fs = fs
        self.bucket, self.key, _ = fs.split_path(path)
        self._part_size = part_size
        self._chunks: list[bytes] = []
        self._filled = 0
        self._upload_id: str | None = None
        self._sent: list[dict[str, Any]] = []  # PartNumber, Size, MD5, SHA256, ETag: what was sent
        self._sender: ThreadPoolExecutor | None = None
        self._in_flight: Future[dict[str, Any]] | None = None
        self._finished = False

    # -- the writer -------------------------------------------------------------------------------

    def write(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._filled += len(chunk)
        if self._filled >= self._part_size:
            data = b"".join(self._chunks)
            while len(data) >= self._part_size:
                part, data = data[: self._part_size], data[self._part_size :]  # whole: no copy
                self._send(part)
            self._chunks, self._filled = ([data] if data else []), len(data)

    def commit(self, size: int) -> None:
        rest = b"".join(self._chunks)
        self._chunks, self._filled = [], 0
        if self._upload_id is None:  # smaller than one part: one checked PUT
            self._call(
                "put_object", Bucket=self.bucket, Key=self.key, Body=rest, ChecksumSHA256=_sha256_b64(rest)
            )
            self._finished = True
            self._check_written(size)
            return
        if rest:
            self._send(rest)
        self._wait_in_flight()
        self._stop_sender()
        self._check_parts(size)
        self._call(
            "complete_multipart_upload",
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": p["PartNumber"], "ETag": p["ETag"], "ChecksumSHA256": p["SHA256"]}
                    for p in self._sent
                ]
            },
        )
        self._finished = True
        self._check_written(size)

    def abort(self) -> None:
        if self._in_flight is not None:
            self._in_flight.exception()  # let a part being sent land before the upload goes
            self._in_flight = None
        self._stop_sender()
        if self._finished:  # completed, then found wrong: the object must go
            self._call("delete_object", Bucket=self.bucket, Key=self.key)
            return
        if self._upload_id is not None:
            self._call("abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
            self._upload_id = None

    # -- parts ------------------------------------------------------------------------------------

    def _begin(self) -> str:
        self._abort_abandoned()
        started = self._call(
            "create_multipart_upload", Bucket=self.bucket, Key=self.key, ChecksumAlgorithm="SHA256"
        )
        return str(started["UploadId"])

    def _send(self, part: bytes) -> None:
        """Hand ``part`` to the sending thread, once the part before it has landed (two at most)."""
        if self._upload_id is None:
            self._upload_id = self._begin()
            self._sender = ThreadPoolExecutor(1, thread_name_prefix="s3-part")
        self._wait_in_flight()
        assert self._sender is not None
        self._in_flight = self._sender.submit(self._upload_part, len(self._sent) + 1, part)

    def _upload_part(self, number: int, part: bytes) -> dict[str, Any]:
        checksum = _sha256_b64(part)
        response = self._call(
            "upload_part",
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=part,
            ChecksumSHA256=checksum,
        )
        md5 = hashlib.md5(part).hexdigest()
        return {
            "PartNumber": number,
            "Size": len(part),
            "MD5": md5,
            "SHA256": checksum,
            "ETag": response["ETag"],
        }

    def _wait_in_flight(self) -> None:
        if self._in_flight is not None:
            sent, self._in_flight = self._in_flight, None
            self._sent.append(sent.result())

    def _stop_sender(self) -> None:
        if self._sender is not None:
            self._sender.shutdown(wait=True)
            self._sender = None

    def _check_parts(self, size: int) -> None:
        """Compare the parts S3 holds with those sent: numbers, sizes, digests (SHA-256, else ETag) and total."""
        held: list[dict[str, Any]] = []
        marker = 0
        while True:
            page = self._call(
                "list_parts",
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumberMarker=marker,
            )
            held.extend(page.get("Parts", []))
            if not page.get("IsTruncated"):
                break
            marker = int(page["NextPartNumberMarker"])
        wrong = [n for n, (h, s) in enumerate(zip(held, self._sent, strict=False), 1) if not _same_part(h, s)]
        if wrong or len(held) != len(self._sent) or sum(p["Size"] for p in held) != size:
            first = f", first at part {wrong[0]}" if wrong else ""
            raise SovDownloadError(
                f"s3://{self.bucket}/{self.key}: the parts S3 holds do not match the {size} bytes sent "
                f"({len(held)} parts held, {len(self._sent)} sent{first}); the upload was aborted and "
                "nothing was saved.",
                hint="Run the task again; the file is fetched and uploaded from the start.",
                transient=True,
            )

    def _check_written(self, size: int) -> None:
        head = self._call("head_object", Bucket=self.bucket, Key=self.key)
        check_stored(f"s3://{self.bucket}/{self.key}", int(head["ContentLength"]), size)

    def _abort_abandoned(self) -> None:
        """Abort unfinished uploads of this key an earlier, killed try left (else billed forever, unseen)."""
        listed = self._call("list_multipart_uploads", Bucket=self.bucket, Prefix=self.key)
        for upload in listed.get("Uploads", []):
            if upload["Key"] == self.key:
                self._call(
                    "abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=upload["UploadId"]
                )

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self._fs.call_s3(method, **kwargs)


def _same_part(held: dict[str, Any], sent: dict[str, Any]) -> bool:
    if held["PartNumber"] != sent["PartNumber"] or held["Size"] != sent["Size"]:
        return False
    if held.get("ChecksumSHA256"):
        return bool(held["ChecksumSHA256"] == sent["SHA256"])
    etag = str(held.get("ETag", "")).strip('"')
    if len(etag) == 32:  # a plain part's ETag is the MD5 of the bytes the store received
        return etag == sent["MD5"]
    return etag == str(sent.get("ETag", "")).strip('"')  # e.g. KMS-encrypted: at least the part sent


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()
