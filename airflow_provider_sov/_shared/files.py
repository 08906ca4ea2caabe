"""
Files in and out: safe names, streamed downloads that never leave half a file, sources, uploads.

Every download in the project goes through :func:`write_stream`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from airflow_provider_sov.exceptions import SovDownloadError, SovFileExistsError, SovInputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows, where Airflow does not run
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from airflow.sdk import ObjectStoragePath

    Destination = str | os.PathLike[str] | ObjectStoragePath

CHUNK_SIZE = 1024 * 1024
#: Temporary files being downloaded end so (hidden: they start with a dot).
PART_SUFFIX = ".part"
MAX_NAME_BYTES = 200
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*\\/]')


def safe_filename(name: str | None, default: str = "download") -> str:
    """
    Reduce a server-supplied file name to a safe base name that cannot leave its folder: readable
    names stay; folder parts, control and reserved characters, leading dots and device names go;
    trimmed to 200 bytes keeping the extension.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").split("/")[-1]
    text = _UNSAFE_CHARS.sub("_", text).strip().lstrip(".").strip()
    if not text or set(text) <= {"_", "."}:
        text = default
    stem, dot, ext = text.rpartition(".")
    if not dot:
        stem, ext = text, ""
    if stem.upper().split(".")[0] in _WINDOWS_RESERVED:
        text = f"_{text}"
        stem = f"_{stem}" if dot else text
    if len(text.encode("utf-8")) > MAX_NAME_BYTES:
        suffix = f".{ext[:20]}" if dot else ""
        budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
        stem_bytes = (stem if dot else text).encode("utf-8")[:budget]
        text = stem_bytes.decode("utf-8", "ignore").rstrip() + suffix
    return text


def numbered(name: str, n: int) -> str:
    """Return the ``n``-th file of a safe ``name`` (``report (2).json``), within the length limit."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    suffix = f" ({n}){dot}{ext}"
    budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip()
    return f"{stem}{suffix}"


@dataclass(frozen=True)
class DownloadedFile:
    """A file a download wrote (for XCom): its safe name, local path or object URL, size and SHA-256."""

    filename: str
    uri: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_remote(destination: Any) -> bool:
    """
    Whether ``destination`` is off the local disk, told by its filesystem's protocol, not its class
    (under universal-pathlib below 0.3, Airflow 3.0 and 3.1, an ``ObjectStoragePath`` is a ``Path`` too).
    """
    return hasattr(destination, "fs") and getattr(destination, "protocol", "file") not in (
        "file",
        "local",
        "",
    )


def is_local(path: Any) -> bool:
    """Whether ``path`` is on the local disk (a plain :class:`Path`), not an object-store path."""
    return isinstance(path, Path) and not _is_remote(path)


def check_destination(destination: Any, *, required: bool = True) -> None:
    """Refuse a blank ``destination`` (or a missing one, when ``required``) before any request."""
    if destination is None:
        if required:
            raise SovInputError("destination is required: a local folder or an object-storage URL.")
        return
    if not str(destination).strip():
        alternative = "" if required else ", or None"
        raise SovInputError(
            f"destination is empty: give a local folder or an object-storage URL{alternative}."
        )


def as_destination(destination: Destination) -> Path | ObjectStoragePath:
    """Return a folder to write into: an ``ObjectStoragePath`` for a URL with a scheme, else a local ``Path``."""
    if hasattr(destination, "fs"):  # an ObjectStoragePath (before 0.3 a pathlib.Path as well)
        if _is_remote(destination):
            return destination  # type: ignore[return-value]
        return Path(str(getattr(destination, "path", destination)))
    if isinstance(destination, Path):
        return destination
    text = os.fspath(destination)
    if not isinstance(text, str) or not text.strip():
        raise SovInputError(f"destination must be a folder path or URL, got {destination!r}.")
    if text.startswith("file://"):
        return Path(text[len("file://") :])
    if "://" in text:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(text)
    return Path(text)


def uri_of(path: Path | ObjectStoragePath) -> str:
    """Return the URI to report for ``path`` (absolute local path or the storage URL)."""
    if is_local(path):
        return str(path.resolve())
    return str(path)


def write_stream(
    chunks: Iterable[bytes],
    destination: Destination,
    filename: str,
    *,
    overwrite: bool = False,
    expected_size: int | None = None,
    context: str = "download",
) -> DownloadedFile:
    """
    Write ``chunks`` to ``destination/filename`` (made safe) so that the file appears whole or not at
    all: hashed and counted as they pass, checked against ``expected_size``, in flat memory.

    - **Local disk**: a hidden temporary name beside the target, renamed into place once checked. It
      is held under an exclusive lock while written, so the next download of the name removes any
      a killed process left (no live process holds it).
    - **Object storage**: the object's own upload, committed once checked, else aborted (:mod:`.objects`).

    ``overwrite`` replaces an existing file (else refused before writing); ``context`` names the
    download in messages.
    """
    folder = as_destination(destination)
    name = safe_filename(filename)
    target = folder / name
    if not overwrite and target.exists():
        raise SovFileExistsError(
            f"Not downloading {context}: {uri_of(target)} already exists.",
            hint="Pass overwrite=True to replace it, or choose another destination.",
        )
    if is_local(folder):
        local = cast("Path", folder)
        size, sha256 = _write_local(chunks, local, local / name, expected_size, context)
    else:
        size, sha256 = _write_object(chunks, cast("ObjectStoragePath", folder / name), expected_size, context)
    return DownloadedFile(filename=name, uri=uri_of(target), size=size, sha256=sha256)


def _write_local(
    chunks: Iterable[bytes], folder: Path, target: Path, expected_size: int | None, context: str
) -> tuple[int, str]:
    """To a hidden, locked temporary file beside ``target``, renamed into place once checked."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name[:150]}."
    temp = folder / f"{prefix}{uuid.uuid4().hex[:12]}{PART_SUFFIX}"
    digest = BackgroundSha256()
    try:
        with _open_temp(temp) as handle:
            remove_abandoned_parts(folder, prefix)
            size = _copy(chunks, handle.write, digest)
            _check_size(size, expected_size, context)
            sha256 = digest.hexdigest()  # every byte hashed before the file takes its name
            handle.flush()
            os.replace(temp, target)  # still locked: no sweeper can take it first
    except BaseException:
        digest.close()
        _remove_quietly(temp)
        raise
    return size, sha256


def _write_object(
    chunks: Iterable[bytes], target: ObjectStoragePath, expected_size: int | None, context: str
) -> tuple[int, str]:
    """Straight to the object's own key, committed only once whole and checked (see ``objects``)."""
    from airflow_provider_sov._shared.objects import object_writer

    digest = BackgroundSha256()
    writer = object_writer(target)
    try:
        size = _copy(chunks, writer.write, digest)
        _check_size(size, expected_size, context)
        sha256 = digest.hexdigest()
        writer.commit(size)
    except BaseException:
        digest.close()
        try:
            writer.abort()
        except Exception as e:  # the first error is the one to report; an unfinished upload is
            # aborted by the next write of this key (or the bucket's lifecycle rule)
            logging.getLogger(__name__).warning("Could not abort the upload to %s: %s", target, e)
        raise
    return size, sha256


def _copy(chunks: Iterable[bytes], write: Callable[[bytes], Any], digest: BackgroundSha256) -> int:
    size = 0
    for chunk in chunks:
        if chunk:
            write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return size


def _check_size(size: int, expected_size: int | None, context: str) -> None:
    if expected_size is not None and size != expected_size:
        raise SovDownloadError(
            f"Download of {context} was incomplete: got {size} of {expected_size} bytes; nothing was saved.",
            hint="Run the task again; the file is fetched from the start.",
            transient=True,
        )


class BackgroundSha256:
    """
    SHA-256 of a stream on a worker thread (``hashlib`` releases the GIL), beside the reads and writes;
    at most ``depth`` chunks (never copied) wait for it, bounding its memory.
    """

    def __init__(self, depth: int = 8) -> None:
        import queue
        import threading

        self._digest = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()
        self._hex: str | None = None

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._digest.update(chunk)

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def close(self) -> None:
        """Stop the worker (after it hashed what was queued); safe to call more than once."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        """Wait for every queued chunk to be hashed; return the digest."""
        if self._hex is None:
            self.close()
            self._hex = self._digest.hexdigest()
        return self._hex


def _open_temp(temp: Path) -> BinaryIO:
    """Open a new temporary file for writing, under an exclusive lock until closed."""
    handle = temp.open("xb")
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def remove_abandoned_parts(folder: Path, prefix: str = ".") -> list[Path]:
    """Remove (and return) temporary files under ``folder`` starting with ``prefix`` whose lock no live process holds."""
    if fcntl is None:  # pragma: no cover - every platform Airflow runs on has fcntl
        return []
    removed = []
    for path in folder.iterdir():
        if not (path.name.startswith(prefix) and path.name.endswith(PART_SUFFIX)):
            continue
        try:
            with path.open("rb") as probe:
                fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink()
                removed.append(path)
        except OSError:  # held by a live writer (BlockingIOError), or gone already
            continue
    return removed


def _remove_quietly(path: Path) -> None:
    try:
        if path.exists():
            path.unlink()
    except Exception:  # pragma: no cover - best effort cleanup
        pass


def as_source(source: Any, what: str = "file") -> Path | ObjectStoragePath:
    """Return a readable file path (local or object storage); refuse folders and missing files."""
    if hasattr(source, "fs") and hasattr(
        source, "open"
    ):  # an ObjectStoragePath (first: before 0.3 a Path too)
        path: Path | ObjectStoragePath = source
    elif isinstance(source, (str, os.PathLike)) and "://" not in os.fspath(source):
        path = Path(os.fspath(source))
    elif hasattr(source, "open") and hasattr(source, "exists"):
        path = source
    elif isinstance(source, str):
        if source.startswith("file://"):
            path = Path(source[len("file://") :])
        else:
            from airflow.sdk import ObjectStoragePath

            path = ObjectStoragePath(source)
    else:
        raise SovInputError(f"{what} must be a path or ObjectStoragePath, got {type(source).__name__}.")
    if not path.exists():
        raise SovInputError(
            f"{what} {source!s} was not found.", hint="Check the path and that it is readable."
        )
    if path.is_dir():
        raise SovInputError(f"{what} {source!s} is a folder, not a file.")
    return path


class SizedReader:
    """
    A file opened for an upload, telling the multipart encoder how many of its bytes are left
    (``len``): an object store's file handle (s3fs, gcsfs) has no ``fileno`` to tell it by.
    """

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle, self.size = handle, size

    @property
    def len(self) -> int:
        return max(0, self.size - self.handle.tell())

    def read(self, size: int = -1) -> bytes:
        return self.handle.read(size)


def multipart_body(files: list[tuple[str, tuple[str, Any, str]]], fields: Any = None) -> Any:
    """
    Return a streaming ``multipart/form-data`` body (``requests`` alone would build it in memory):
    ``fields`` (pairs allow repeats), then one part per ``(field, (filename, handle, content_type))``.
    """
    from requests_toolbelt.multipart.encoder import MultipartEncoder

    parts: list[tuple[str, Any]] = list(fields or [])
    parts.extend(files)
    return MultipartEncoder(fields=parts)


@dataclass(frozen=True)
class FileToFetch:
    """
    One file a task is to write, fetched by its hook: ``slot`` is recorded across tries; ``source``
    is what the hook fetches (an output entry, a finished generation); ``filename`` None: the
    server's; ``describe``: fields kept with the written file's entry.
    """

    slot: str
    source: Any
    destination: Any
    filename: str | None = None
    job_id: str | None = None
    describe: dict[str, Any] = field(default_factory=dict)
