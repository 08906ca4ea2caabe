"""Output files the SOV Fixer emulator renders: real JSON, CSV and XLSX bytes of an SOV's buildings."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any
from xml.sax.saxutils import escape

from airflow_provider_sov.testing.sov_fixtures import ORG_FORMATS


def _xlsx(rows: list[dict[str, Any]]) -> bytes:
    """A minimal but valid XLSX workbook (one sheet, inline strings)."""
    columns = list(rows[0]) if rows else ["item_key"]

    def cell(ref: str, value: Any) -> str:
        return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'

    def col(i: int) -> str:
        name = ""
        i += 1
        while i:
            i, rem = divmod(i - 1, 26)
            name = chr(65 + rem) + name
        return name

    lines = ["".join(cell(f"{col(i)}1", c) for i, c in enumerate(columns))]
    for r, row in enumerate(rows, start=2):
        lines.append("".join(cell(f"{col(i)}{r}", row.get(c, "")) for i, c in enumerate(columns)))
    sheet_rows = "".join(f'<row r="{n}">{cells}</row>' for n, cells in enumerate(lines, start=1))
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel_ns = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel_ns}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook {ns} xmlns:r="{rel_ns}">'
            '<sheets><sheet name="SOV" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel_ns}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet {ns}><sheetData>{sheet_rows}</sheetData></worksheet>'
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def render(fmt: str, sov_id: str, revision: int, rows: list[dict[str, Any]]) -> bytes:
    """The bytes of one output file."""
    if fmt == "JSON":
        return json.dumps({"sovid": sov_id, "revision": revision, "buildings": rows}, indent=2).encode()
    if fmt == "CSV":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["item_key"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return text.getvalue().encode()
    return _xlsx(rows)


def output_format_entry(name: str) -> tuple[str, str, str] | None:
    for entry in ORG_FORMATS:
        if entry[0] == name.upper():
            return entry
    return None
