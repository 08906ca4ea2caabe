"""
Files written to a real S3 API (moto's server on loopback, through s3fs and Airflow's ObjectStoragePath):
the object appears whole and checked or not at all, with no temporary object and nothing left unfinished.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from airflow_provider_sov._shared.files import write_stream
from airflow_provider_sov._shared.objects import PART_SIZE
from airflow_provider_sov.exceptions import SovDownloadError, SovFileExistsError

MIB = 1 << 20


def folder(bucket: str, prefix: str = "out/"):
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(f"s3://aws_default@{bucket}/{prefix}")


def blocks(total_mib: int) -> list[bytes]:
    return [os.urandom(MIB) for _ in range(total_mib)]


@pytest.mark.parametrize("mib", [0, 1, 20], ids=["empty", "one-put", "three-parts"])
def test_the_object_is_byte_identical_and_alone(s3_server, s3_bucket, mib):
    body = blocks(mib)
    saved = write_stream(iter(body), folder(s3_bucket), "report.json", expected_size=mib * MIB)
    stored = s3_server.client().get_object(Bucket=s3_bucket, Key="out/report.json")["Body"].read()
    assert stored == b"".join(body)
    assert saved.sha256 == hashlib.sha256(stored).hexdigest() and saved.size == mib * MIB
    assert saved.uri == f"s3://aws_default@{s3_bucket}/out/report.json"
    assert s3_server.keys(s3_bucket) == ["out/report.json"]
    assert s3_server.unfinished_uploads(s3_bucket) == []


def test_nothing_is_visible_in_the_bucket_while_it_is_written(s3_server, s3_bucket):
    """No temporary object, no target before the last byte (3 parts of 8 MiB), and no copy to rename."""
    seen = []

    def chunks():
        for block in blocks(3 * PART_SIZE // MIB):
            yield block
            seen.append(s3_server.keys(s3_bucket))

    with s3_server.recording() as sent:
        write_stream(chunks(), folder(s3_bucket), "big.bin")
    assert seen == [[]] * len(seen) and len(seen) == 24
    assert s3_server.keys(s3_bucket) == ["out/big.bin"]
    # Only the object's own key was ever written, and nothing was copied or deleted to rename it.
    writes = [r for r in sent if r["method"] in ("PUT", "POST", "DELETE")]
    assert {r["path"] for r in writes} == {f"/{s3_bucket}/out/big.bin"}
    assert [r for r in writes if r["copy_source"] or r["method"] == "DELETE"] == []


@pytest.mark.parametrize("mib", [1, 20], ids=["one-put", "three-parts"])
def test_an_incomplete_download_leaves_nothing(s3_server, s3_bucket, mib):
    with pytest.raises(
        SovDownloadError, match=rf"got {mib * MIB} of {mib * MIB + 1} bytes; nothing was saved"
    ):
        write_stream(iter(blocks(mib)), folder(s3_bucket), "cut.bin", expected_size=mib * MIB + 1)
    assert s3_server.keys(s3_bucket) == []
    assert s3_server.unfinished_uploads(s3_bucket) == []


def test_a_stream_broken_after_two_parts_leaves_nothing(s3_server, s3_bucket):
    def chunks():
        yield from blocks(2 * PART_SIZE // MIB + 1)
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        write_stream(chunks(), folder(s3_bucket), "cut.bin")
    assert s3_server.keys(s3_bucket) == []
    assert s3_server.unfinished_uploads(s3_bucket) == []


def test_a_part_the_store_holds_differently_is_caught_before_the_object_appears(s3_server, s3_bucket):
    """Another writer replaces part 1 of the upload mid-way: the check before completing finds it."""
    client = s3_server.client()

    def chunks():
        for n, block in enumerate(blocks(2 * PART_SIZE // MIB + 1)):
            yield block
            if n == 2 * PART_SIZE // MIB - 1:  # part 2 is being sent, so part 1 has landed
                (upload,) = client.list_multipart_uploads(Bucket=s3_bucket)["Uploads"]
                client.upload_part(
                    Bucket=s3_bucket,
                    Key=upload["Key"],
                    UploadId=upload["UploadId"],
                    PartNumber=1,
                    Body=b"z" * PART_SIZE,
                )

    with pytest.raises(
        SovDownloadError, match=r"out/odd\.bin: the parts S3 holds do not match .*first at part 1"
    ):
        write_stream(chunks(), folder(s3_bucket), "odd.bin")
    assert s3_server.keys(s3_bucket) == []
    assert s3_server.unfinished_uploads(s3_bucket) == []


def test_an_upload_a_killed_try_left_is_aborted_by_the_next_write_of_that_key(s3_server, s3_bucket):
    client = s3_server.client()
    for key in ("out/report.json", "out/report.json.other"):
        upload = client.create_multipart_upload(Bucket=s3_bucket, Key=key)
        client.upload_part(
            Bucket=s3_bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * PART_SIZE
        )
    write_stream(iter(blocks(9)), folder(s3_bucket), "report.json")
    assert s3_server.unfinished_uploads(s3_bucket) == ["out/report.json.other"]  # another key's: not ours
    assert s3_server.keys(s3_bucket) == ["out/report.json"]


def test_an_existing_object_is_refused_before_any_byte_unless_overwrite(s3_server, s3_bucket):
    write_stream([b"old"], folder(s3_bucket), "f.json")
    pulled = []

    def chunks():
        pulled.append(1)
        yield b"new"

    with pytest.raises(SovFileExistsError, match=rf"s3://aws_default@{s3_bucket}/out/f.json already exists"):
        write_stream(chunks(), folder(s3_bucket), "f.json")
    assert pulled == []
    write_stream(chunks(), folder(s3_bucket), "f.json", overwrite=True)
    assert s3_server.client().get_object(Bucket=s3_bucket, Key="out/f.json")["Body"].read() == b"new"


def test_a_completed_upload_the_store_holds_short_is_removed(s3_server, s3_bucket, monkeypatch):
    """
    The store completes the upload from fewer parts than were sent (S3 accepts any subset): the size
    check after completing finds it, and the short object is deleted rather than left as the file.
    """
    from airflow_provider_sov._shared import objects

    call = objects.S3MultipartWriter._call

    def store_completing_only_the_first_part(self, method, **kwargs):
        if method == "complete_multipart_upload":
            kwargs["MultipartUpload"] = {"Parts": kwargs["MultipartUpload"]["Parts"][:1]}
        return call(self, method, **kwargs)

    monkeypatch.setattr(objects.S3MultipartWriter, "_call", store_completing_only_the_first_part)
    size = 2 * PART_SIZE + MIB
    with pytest.raises(
        SovDownloadError,
        match=rf"out/short\.bin holds {PART_SIZE} bytes, not the {size} written; it was removed",
    ):
        write_stream(iter(blocks(size // MIB)), folder(s3_bucket), "short.bin", expected_size=size)
    assert s3_server.keys(s3_bucket) == []
    assert s3_server.unfinished_uploads(s3_bucket) == []
