"""
The locations-CSV check has a fast path for plain files; it must answer exactly as the csv reader does.

Thousands of generated files (quotes, blank lines, CRLF and bare CR, a BOM, multi-byte and invalid
UTF-8, long fields, ragged rows, no final newline), read in tiny blocks so every boundary is crossed,
are checked twice: as shipped, and with the fast path switched off. Summary or message must match.
"""

from __future__ import annotations

import csv
import random

import pytest

from airflow_provider_sov.exceptions import SovInputError
from airflow_provider_sov.hooks import sov_locations
from airflow_provider_sov.hooks.sov_locations import check_locations_csv

FIELD_LIMIT = 40  # small, so that long fields are cheap to generate


def outcome(path):
    try:
        return check_locations_csv(path)
    except SovInputError as exc:
        return str(exc)


def random_field(rng: random.Random, messy: bool) -> str:
    pick = rng.random() if messy else 1.0
    if pick < 0.05:
        return "x" * rng.randint(FIELD_LIMIT - 3, FIELD_LIMIT + 30)  # around csv's field limit
    if pick < 0.1:
        return '"quoted, with comma"'
    if pick < 0.13:
        return '"two\nlines"'
    return "".join(rng.choice("abcé 1-") for _ in range(rng.randint(0, 6)))


def random_csv(rng: random.Random) -> bytes:
    """Half plain files (the fast path's), half with something only the csv reader can judge."""
    messy = rng.random() < 0.5
    header = rng.choice(
        ["item_key,bldg_name,city", "item_key,bldg_name", "sheet_name,sheet_row_number,x"]
        + (['"item_key",bldg_name', "bldg_name,city", "item_key", "item_key,item_key"] if messy else [])
    )
    width = header.count(",") + 1
    newline = rng.choice(["\n", "\r\n"])
    lines = [header]
    for _ in range(rng.randint(0 if messy else 1, 12)):
        pick = rng.random() if messy else 1.0
        if pick < 0.05:
            lines.append("")  # blank line
        elif pick < 0.08:
            lines.append("   ")
        elif pick < 0.1:  # as many commas as a good row, one field fewer: only quotes tell
            lines.append(",".join(['"p,q"'] + [random_field(rng, messy) for _ in range(width - 2)]))
        elif pick < 0.12:  # a bare carriage return ends a row inside what looks like one line
            fields = [random_field(rng, messy) for _ in range(width)]
            lines.append(",".join([*fields[:1], "\r" + fields[1] if width > 1 else "\r", *fields[2:]]))
        else:
            count = width + rng.choice([-1, 1]) if pick < 0.16 else width
            lines.append(",".join(random_field(rng, messy) for _ in range(max(count, 1))))
    text = newline.join(lines) + (newline if rng.random() > 0.2 else "")
    if messy and rng.random() < 0.1:
        text = text.replace(newline, "\r", 1)  # one bare carriage return
    data = text.encode()
    if rng.random() < 0.1:
        data = b"\xef\xbb\xbf" + data
    if messy and rng.random() < 0.1:
        at = rng.randrange(len(data) + 1)
        data = data[:at] + b"\xe9" + data[at:]  # a Latin-1 byte somewhere
    return data


@pytest.fixture
def tiny_blocks(monkeypatch):
    previous = csv.field_size_limit(FIELD_LIMIT)
    yield monkeypatch
    csv.field_size_limit(previous)


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64])
def test_the_fast_path_answers_as_the_csv_reader_does(tiny_blocks, tmp_path, block):
    rng = random.Random(block)
    fast = 0
    for case in range(600):
        path = tmp_path / f"c{case}.csv"
        path.write_bytes(random_csv(rng))
        tiny_blocks.setattr(sov_locations, "CHUNK_SIZE", block)
        shipped = outcome(path)
        fast += not isinstance(shipped, str) and sov_locations._check_plain_csv(path, str(path)) is not None
        with pytest.MonkeyPatch.context() as off:
            off.setattr(sov_locations, "_check_plain_csv", lambda path, label: None)
            reference = outcome(path)
        assert shipped == reference, (path.read_bytes(), shipped, reference)
    assert fast > 250, fast  # the plain half (and some messy files) took the fast path


def test_a_plain_file_is_read_once_by_the_fast_path(tmp_path, monkeypatch):
    path = tmp_path / "plain.csv"
    path.write_bytes(b"item_key,bldg_name\n" + b"".join(b"b-%d,HQ\n" % i for i in range(50_000)))
    monkeypatch.setattr(sov_locations.csv, "reader", None)  # the csv reader is not used at all
    summary = check_locations_csv(path)
    assert (summary.rows, summary.columns, summary.size) == (
        50_000,
        ("item_key", "bldg_name"),
        path.stat().st_size,
    )
