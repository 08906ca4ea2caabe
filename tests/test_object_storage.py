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


# --- Another object store: Google Cloud Storage's API (a GCS emulator on loopback, through gcsfs) ---
# Every store but S3 is written through fsspec's uncommitted file (``autocommit=False``): this proves
# that path on a real store's API, where the object is one resumable upload finalised last.


@pytest.fixture(scope="module")
def gcs_server():
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._api._httpd.server_address[1]}"
    finally:
        server.stop()


@pytest.fixture
def gcs(gcs_server, request):
    """``gs://`` attached to the GCS emulator, and a new bucket; returns (filesystem, bucket)."""
    import re
    import uuid

    from airflow.sdk.io import attach
    from gcsfs.core import GCSFileSystem  # the plain client (no gRPC probing of the bucket)

    # Paths name it, as a DAG names its connection; Airflow keeps the first store attached for it.
    client = GCSFileSystem(endpoint_url=gcs_server, token="anon", project="test", skip_instance_cache=True)
    fs = attach("gs", conn_id="gcs_test", fs=client).fs
    assert fs._location == gcs_server, "gs:// was attached to another server"
    bucket = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + uuid.uuid4().hex[:6]
    fs.mkdir(bucket)
    return fs, bucket


def gcs_keys(fs, bucket: str) -> list[str]:
    fs.invalidate_cache()
    return sorted(fs.find(bucket))


def test_on_gcs_the_object_appears_whole_and_only_when_written(gcs):
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_sov._shared.objects import TransactionalWriter, object_writer

    fs, bucket = gcs
    target = ObjectStoragePath(f"gs://gcs_test@{bucket}/out/")
    assert isinstance(object_writer(target / "big.bin"), TransactionalWriter)  # the path under test
    body, seen = blocks(12), []

    def chunks():
        for block in body:
            yield block
            seen.append(gcs_keys(fs, bucket))

    saved = write_stream(chunks(), target, "big.bin", expected_size=12 * MIB)
    assert seen == [[]] * 12  # nothing listed, under any name, before the last byte was checked
    assert gcs_keys(fs, bucket) == [f"{bucket}/out/big.bin"]
    assert fs.cat_file(f"{bucket}/out/big.bin") == b"".join(body)
    assert saved.sha256 == hashlib.sha256(b"".join(body)).hexdigest()


def test_on_gcs_an_incomplete_download_leaves_nothing(gcs):
    from airflow.sdk import ObjectStoragePath

    fs, bucket = gcs
    with pytest.raises(SovDownloadError, match="incomplete: got 1048576 of 2097152"):
        write_stream(
            iter(blocks(1)),
            ObjectStoragePath(f"gs://gcs_test@{bucket}/out/"),
            "short.bin",
            expected_size=2 * MIB,
        )
    assert gcs_keys(fs, bucket) == []


def test_on_gcs_an_object_the_store_holds_short_is_removed(gcs, monkeypatch):
    from airflow.sdk import ObjectStoragePath

    fs, bucket = gcs
    monkeypatch.setattr(fs, "size", lambda path: 5)  # the store says it holds 5 bytes
    with pytest.raises(SovDownloadError, match="holds 5 bytes, not the 1048576 written"):
        write_stream(iter(blocks(1)), ObjectStoragePath(f"gs://gcs_test@{bucket}/out/"), "held-short.bin")
    assert gcs_keys(fs, bucket) == []


def test_broker_files_are_uploaded_from_s3_and_their_reports_written_there(s3_server, s3_bucket, broker_live):
    """A DABS submission's files read from the bucket as they are sent, its reports written back whole."""
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_sov.operators.broker import DabsSubmissionOperator
    from tests.harness import make_context, run_task

    broker_live.broker.validation_seconds = 0.3
    client = s3_server.client()
    file_b = b"AgencyIdentifier,ObjectClass\n" + b"097,25.2\n" * 20000  # about 180 KB
    file_c = b"AgencyIdentifier,PIID,Amount\n097,W91-1,WARNING\n"
    client.put_object(Bucket=s3_bucket, Key="in/file_b.csv", Body=file_b)
    client.put_object(Bucket=s3_bucket, Key="in/file_c.csv", Body=file_c)
    source = f"s3://aws_default@{s3_bucket}/in"
    task = DabsSubmissionOperator(
        task_id="task",
        program_activity=ObjectStoragePath(f"{source}/file_b.csv"),
        award_financial=f"{source}/file_c.csv",  # a URL string works as well
        cgac_code="097",
        reporting_period_start_date="04/2026",
        reporting_period_end_date="04/2026",
        reports_destination=folder(s3_bucket, "reports/"),
        poll_interval=0.2,
        timeout=60,
    )
    result = run_task(task, make_context())
    submission = result["submission_id"]
    assert broker_live.broker.uploaded[submission]["program_activity"] == file_b
    assert broker_live.broker.uploaded[submission]["award_financial"] == file_c
    reports = {r["filename"]: r for r in result["reports"]}
    assert len(reports) == 10 and s3_server.unfinished_uploads(s3_bucket) == []
    for name, entry in reports.items():
        stored = client.get_object(Bucket=s3_bucket, Key=f"reports/{name}")["Body"].read()
        expected = broker_live.broker.report_bytes(
            submission, entry["file_type"], warning=entry["warning"], cross_type=entry["cross_type"]
        )
        assert stored == expected and entry["uri"] == f"s3://aws_default@{s3_bucket}/reports/{name}"


def test_sov_fixer_locations_are_uploaded_from_s3(s3_server, s3_bucket, hook, sov_emulator):
    """An object store's file has no fileno: its size is told to the multipart encoder, not guessed."""
    from airflow.sdk import ObjectStoragePath

    from tests.conftest import EXAMPLE_CSV

    s3_server.client().put_object(Bucket=s3_bucket, Key="in/corrections.csv", Body=EXAMPLE_CSV.read_bytes())
    sud = hook.initiate_update("s-no-ping-hggcsk")
    hook.add_locations(sud, ObjectStoragePath(f"s3://aws_default@{s3_bucket}/in/corrections.csv"))
    rows = EXAMPLE_CSV.read_text().count("\n") - 1
    assert sov_emulator.sov.jobs[sud].rows_received == rows
