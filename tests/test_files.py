"""Safe names and downloads that never leave half a file, to local folders and object storage."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_sov._shared.files import safe_filename, write_stream
from airflow_provider_sov.exceptions import SovDownloadError, SovFileExistsError
from airflow_provider_sov.hooks.sov_jobs import SovJobRef, classify

SOV = "s-no-ping-hggcsk"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Acme Corp 2026-06.json", "Acme Corp 2026-06.json"),
        ("../x", "x"),
        ("../../etc/passwd", "passwd"),
        ("/etc/passwd", "passwd"),
        ("a/b", "b"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("", "download"),
        (None, "download"),
        ("..", "download"),
        ("...", "download"),
        ("a\x00b.json", "a_b.json"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("LPT1.csv", "_LPT1.csv"),
        ("report?.csv", "report_.csv"),
        (".hidden", "hidden"),
    ],
)
def test_safe_filename(given, expected):
    assert safe_filename(given) == expected


def test_safe_filename_trims_long_names_keeping_extension():
    name = safe_filename("é" * 300 + ".xlsx")
    assert name.endswith(".xlsx") and len(name.encode()) <= 200


@pytest.mark.parametrize("stem", ["é" * 150, "é" * 99 + "e" * 3])
def test_safe_filename_counts_the_limit_in_bytes_not_characters(stem):
    # 150 "é" are 150 characters but 300 bytes in UTF-8: over the 200-byte limit most filesystems set.
    name = safe_filename(stem + ".json")
    assert name.endswith(".json") and len(name.encode()) <= 200
    assert name.removesuffix(".json") == stem.encode()[: 200 - 5].decode("utf-8", "ignore")


def test_size_mismatch_leaves_nothing(tmp_path):
    with pytest.raises(SovDownloadError, match="got 6 of 10 bytes"):
        write_stream([b"abc", b"def"], tmp_path, "f.json", expected_size=10, context="output of X")
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_stream_leaves_nothing(tmp_path):
    def chunks():
        yield b"abc"
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        write_stream(chunks(), tmp_path, "f.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("store", ["local", "object"])
@pytest.mark.parametrize("old", [None, b"the old, whole file"])
def test_the_target_is_never_partial_during_or_after_a_failed_download(tmp_path, memory_store, store, old):
    """While bytes stream in, and after the stream fails, the target is absent or holds its old bytes."""
    from airflow.sdk import ObjectStoragePath

    folder = tmp_path if store == "local" else ObjectStoragePath("memory://sov-test/partial/")
    target = folder / "f.json"
    if old is not None:
        target.write_bytes(old)

    def current() -> bytes | None:
        return target.read_bytes() if target.exists() else None

    seen = []

    def chunks():
        for _ in range(3):
            yield b"x" * (3 << 20)  # more than one write's worth, so a direct write would show
            seen.append(current())
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        write_stream(chunks(), folder, "f.json", overwrite=True)
    assert seen == [old, old, old] and current() == old
    left = sorted(p.name for p in folder.iterdir()) if folder.exists() else []  # no folders in object stores
    assert left == (["f.json"] if old is not None else [])


def test_the_hash_of_a_large_stream_is_exact_and_its_worker_ends(tmp_path):
    """The SHA-256 is computed beside the writes; it covers every byte, and no worker thread outlives a call."""
    import threading

    blocks = [bytes([i]) * (1 << 20) + b"tail" for i in range(40)]  # more than the hashing queue holds
    saved = write_stream(iter(blocks), tmp_path, "big.bin")
    assert (
        saved.sha256
        == hashlib.sha256(b"".join(blocks)).hexdigest()
        == hashlib.sha256((tmp_path / "big.bin").read_bytes()).hexdigest()
    )

    def failing():
        yield from blocks[:20]
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        write_stream(failing(), tmp_path, "cut.bin")
    assert [t for t in threading.enumerate() if t.name == "sha256"] == []


def test_existing_file_is_not_overwritten_unless_asked(tmp_path):
    (tmp_path / "f.json").write_bytes(b"old")
    with pytest.raises(SovFileExistsError, match="already exists"):
        write_stream([b"new"], tmp_path, "f.json")
    assert (tmp_path / "f.json").read_bytes() == b"old"
    saved = write_stream([b"new"], tmp_path, "f.json", overwrite=True)
    assert (tmp_path / "f.json").read_bytes() == b"new" and saved.size == 3


def test_destination_forms(tmp_path):
    local = write_stream([b"one"], str(tmp_path / "a" / "b"), "x.csv")
    assert local.uri == str((tmp_path / "a" / "b" / "x.csv").resolve())
    via_url = write_stream([b"two"], f"file://{tmp_path}/c", "y.csv")
    assert (tmp_path / "c" / "y.csv").read_bytes() == b"two" and via_url.sha256 == hashlib.sha256(
        b"two"
    ).hexdigest()


def test_object_storage_destination(memory_store):
    from airflow.sdk import ObjectStoragePath

    folder = ObjectStoragePath("memory://sov-test/outputs/")
    saved = write_stream([b"hello ", b"storage"], folder, "../report.json")
    # universal-pathlib 0.3 spells it memory://sov-test/..., 0.2 (Airflow 3.0, 3.1) memory:///sov-test/...
    assert saved.uri.replace(":///", "://") == "memory://sov-test/outputs/report.json"
    assert ObjectStoragePath(saved.uri).read_bytes() == b"hello storage"
    assert sorted(p.name for p in folder.iterdir()) == ["report.json"]


@pytest.mark.parametrize("hostile", ["../../x.json", "/etc/passwd", "a/b", "", "CON", "x" * 300, "a\x00b"])
def test_hostile_server_names_land_inside_destination(hook, sov_emulator, tmp_path, hostile):
    sov_emulator.inject("parse_status", "hostile_filename", value=hostile)
    output = classify(hook.get_parse_status(SOV), SovJobRef(SOV)).extras["outputs"][0]
    assert output["filename"] == hostile
    dest = tmp_path / "dest"
    saved = hook.download_output(output, dest)
    written = list(dest.iterdir())
    assert written == [dest / saved.filename]
    assert written[0].resolve().parent == dest.resolve()
    assert written[0].stat().st_size == saved.size > 0


def test_download_to_object_storage_from_emulator(hook, sov_emulator, memory_store):
    from airflow.sdk import ObjectStoragePath

    output = classify(hook.get_parse_status(SOV), SovJobRef(SOV)).extras["outputs"][0]
    saved = hook.download_output(output, "memory://sov-downloads/run-1")
    data = ObjectStoragePath(saved.uri).read_bytes()
    assert data == sov_emulator.sov.file_bytes(SOV, saved.filename)


def test_an_object_store_holding_other_than_was_written_loses_the_object(memory_store, monkeypatch):
    """After the commit the store's own size is checked; a mismatch removes the object and says so."""
    from airflow.sdk import ObjectStoragePath
    from fsspec.implementations.memory import MemoryFileSystem

    from airflow_provider_sov.exceptions import SovDownloadError

    folder = ObjectStoragePath("memory://sov-test/checked/")
    monkeypatch.setattr(MemoryFileSystem, "size", lambda self, path: 2)  # the store reports 2 bytes
    with pytest.raises(SovDownloadError, match=r"holds 2 bytes, not the 3 written; it was removed"):
        write_stream([b"abc"], folder, "f.json")
    assert not (folder / "f.json").exists()


def test_a_hook_writes_a_task_file_given_by_its_url(sov_connection, sov_emulator, tmp_path):
    """The base hook's fetch_file takes a URL source: an API whose files are plain URLs needs no more."""
    from airflow_provider_sov._shared.auth import TokenAuth
    from airflow_provider_sov._shared.files import FileToFetch
    from airflow_provider_sov._shared.hook import ApiHook
    from airflow_provider_sov.hooks.sov import SovHook

    output = classify(SovHook(sov_connection).get_parse_status(SOV), SovJobRef(SOV)).extras["outputs"][0]
    plain = ApiHook(sov_connection, auth=TokenAuth())
    item = FileToFetch("out", output["url"], tmp_path, "out.json", SOV)
    saved = plain.fetch_file(item, overwrite=False)
    assert (tmp_path / "out.json").read_bytes() == sov_emulator.sov.file_bytes(SOV, output["filename"])
    assert saved.size == (tmp_path / "out.json").stat().st_size
