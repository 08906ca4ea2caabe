"""Locations CSVs (an update's corrections): found, checked locally and streaming before any call, split."""

from __future__ import annotations

import codecs
import csv
import glob
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.files import CHUNK_SIZE, as_source
from airflow_provider_sov.exceptions import SovInputError

if TYPE_CHECKING:
    from collections.abc import Iterator

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class CsvSummary:
    """What the local check learned about a locations CSV."""

    path: str
    rows: int
    columns: tuple[str, ...]
    size: int


def check_locations_csv(source: Any) -> CsvSummary:
    """
    Check a locations CSV locally, streaming it; raise :class:`SovInputError` naming the problem.

    A valid file is UTF-8 (a BOM is fine); its header names every building by ``item_key``, or by
    both ``sheet_name`` and ``sheet_row_number``, with unique, non-empty names; it has a data row;
    every row has as many fields as the header. A plain file is decided fast
    (:func:`_check_plain_csv`); any other, or one that fails, by :mod:`csv`, so messages agree.
    """
    path = as_source(source, "locations CSV")
    label = str(source)
    plain = _check_plain_csv(path, label)
    if plain is not None:
        return plain
    rows = 0
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader, None)
            if header is None:
                raise SovInputError(f"Locations CSV {label} is empty.", hint=_CSV_HINT)
            columns = tuple(h.strip() for h in header)
            _check_header(columns, label)
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                rows += 1
                if len(row) != len(columns):
                    raise SovInputError(
                        f"Locations CSV {label}, line {reader.line_num}: {len(row)} fields but the header "
                        f"has {len(columns)}.",
                        hint="Every row needs one value per column; quote values that contain commas.",
                    )
        except UnicodeDecodeError as exc:
            line, offset = _first_bad_utf8(path)
            raise SovInputError(
                f"Locations CSV {label} is not UTF-8: line {line} has an invalid byte (byte offset "
                f"{offset}: {exc.reason}).",
                hint="Save it as 'CSV UTF-8' and try again.",
            ) from None
        except csv.Error as exc:
            raise SovInputError(f"Locations CSV {label}, line {reader.line_num}: {exc}.") from None
        size = raw.tell()  # the reader read to the end
    if rows == 0:
        raise SovInputError(f"Locations CSV {label} has a header but no data rows.", hint=_CSV_HINT)
    return CsvSummary(path=label, rows=rows, columns=columns, size=size)


#: Every byte but the two that shape a plain CSV (for :func:`_check_plain_csv`).
_NOT_SHAPE = bytes(b for b in range(256) if b not in b",\n")


def _check_plain_csv(path: Any, label: str) -> CsvSummary | None:
    """
    Check a CSV without quotes, blank lines or bare carriage returns, in 1 MiB blocks (None: let
    :mod:`csv` decide): a block is right when, all but commas and newlines deleted, it reads the
    header's commas once per line; a separator in every half-limit stretch bounds field sizes.
    """
    limit = csv.field_size_limit()
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    header: tuple[str, ...] | None = None
    line = b""
    rows = 0
    size = 0
    with path.open("rb") as raw:
        while True:
            block = raw.read(CHUNK_SIZE)
            size += len(block)
            if b'"' in block:
                return None
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError:
                return None
            data = line + block if block else line + b"\n" if line else b""
            end = data.rfind(b"\n") + 1
            whole, line = data[:end], data[end:]
            if len(line) > limit or not _fields_within(whole, limit // 2):
                return None
            if whole.count(b"\r") != whole.count(b"\r\n"):
                return None  # a bare carriage return ends a row too
            if header is None and whole:
                first = whole.index(b"\n") + 1
                header = tuple(h.strip() for h in whole[:first].decode("utf-8-sig").rstrip("\r\n").split(","))
                if len(header) < 2:
                    return None  # one column: a blank line looks like a row; the reader decides
                whole = whole[first:]
            if whole:
                assert header is not None
                lines = whole.count(b"\n")
                if whole.translate(None, _NOT_SHAPE) != (b"," * (len(header) - 1) + b"\n") * lines:
                    return None
                rows += lines
            if not block:
                break
    if header is None or rows == 0:
        return None
    _check_header(header, label)  # last, as the reader does once it decoded its first block
    return CsvSummary(path=label, rows=rows, columns=header, size=size)


def _fields_within(data: bytes, stretch: int) -> bool:
    """Whether every ``stretch`` bytes of ``data`` hold a comma or newline (no field reaches twice that)."""
    for start in range(0, len(data) - stretch + 1, stretch):
        end = start + stretch
        if data.find(b",", start, end) < 0 and data.find(b"\n", start, end) < 0:
            return False
    return True


def _first_bad_utf8(path: Any) -> tuple[int, int]:
    """Return the line number and byte offset of the first byte that is not UTF-8 (on the error path only)."""
    offset = 0
    with path.open("rb") as raw:
        for number, line in enumerate(raw, 1):  # a multi-byte character never spans a newline
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, offset + exc.start
            offset += len(line)
    raise AssertionError("unreachable: the caller saw a decode error")  # pragma: no cover


_CSV_HINT = (
    "A locations CSV has a header naming each building by item_key (or sheet_name and "
    "sheet_row_number), then one row per building."
)


def _check_header(columns: tuple[str, ...], label: str) -> None:
    if "item_key" not in columns and not {"sheet_name", "sheet_row_number"} <= set(columns):
        raise SovInputError(
            f"Locations CSV {label} has no identifying column: its header is {', '.join(columns)!r}.",
            hint="Add an item_key column, or both sheet_name and sheet_row_number.",
        )
    empty = [i + 1 for i, c in enumerate(columns) if not c]
    if empty:
        raise SovInputError(f"Locations CSV {label}: header column(s) {empty} have no name.")
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise SovInputError(f"Locations CSV {label}: column {column!r} appears twice in the header.")
        seen.add(column)


def resolve_locations(locations: Any) -> list[Any]:
    """Expand ``locations`` (a path, a glob, ``ObjectStoragePath``s, or a list of them) to files."""
    items = list(locations) if isinstance(locations, (list, tuple)) else [locations]
    if not items or any(item in (None, "") for item in items):
        raise SovInputError(f"locations must name at least one CSV file, got {locations!r}.")
    files: list[Any] = []
    for item in items:
        text = os.fspath(item) if isinstance(item, (str, os.PathLike)) and not hasattr(item, "fs") else None
        if text is not None and "://" not in text and _GLOB_CHARS & set(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise SovInputError(
                    f"No locations CSV matches {text!r}.", hint="Check the pattern and folder."
                )
            files.extend(Path(m) for m in matches)
        else:
            files.append(as_source(item, "locations CSV"))
    return files


def split_csv(path: Any, batch_rows: int, folder: str) -> Iterator[tuple[Path, int]]:
    """Write ``path`` as CSV files of at most ``batch_rows`` rows each, header repeated; stream-only."""
    with path.open("rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        header = next(reader)
        part, rows, handle, writer = 0, 0, None, None
        try:
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if handle is None or rows == batch_rows:
                    if handle is not None:
                        handle.close()
                        yield Path(handle.name), rows
                    part += 1
                    handle = open(Path(folder) / f"part-{part:04d}.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
                    writer = csv.writer(handle)
                    writer.writerow(header)
                    rows = 0
                assert writer is not None
                writer.writerow(row)
                rows += 1
            if handle is not None:
                handle.close()
                yield Path(handle.name), rows
        finally:
            if handle is not None and not handle.closed:
                handle.close()


def check_locations(locations: Any) -> list[tuple[Any, CsvSummary]]:
    """Resolve ``locations`` and check every CSV, each read once, before anything is sent."""
    return [(f, check_locations_csv(f)) for f in resolve_locations(locations)]
