"""The SOV Fixer emulator's fixed data: the organisation's formats, seeded SOVs, buildings, jobs."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

#: Output formats the emulated organisation may request: (output_format, label, extension).
ORG_FORMATS = (("JSON", "JSON", "json"), ("XLSX", "Excel workbook", "xlsx"), ("CSV", "Flat CSV", "csv"))
UPDATE_TYPES = ("API", "SCRUB", "AIR", "RMS", "RMS_ANALYSIS", "COMPLETE", "PINGREADY")
DOCUMENT_TYPES = ("SOV", "PREM_BDX", "CLAIM_BDX", "SOV_BDX", "ACORD", "LOSS_RUN")
PARSE_EXTENSIONS = (".xls", ".xlsx", ".xlsm", ".xlsb", ".pdf")
ATTRIBUTES = (
    "item_key",
    "sheet_name",
    "sheet_row_number",
    "bldg_name",
    "street_address",
    "city",
    "state",
    "postal_code",
    "country",
    "occupancy",
    "construction",
    "year_built",
    "num_stories",
    "sq_footage",
    "limits__building_limit",
    "limits__contents_limit",
    "limits__bi_limit",
)
SEEDED_SOVS = ("s-no-ping-hggcsk", "s-no-ping-k2m4qa", "s-no-ping-p7x9zt")
UPDATE_HEALTH = (
    "Queued for processing.",
    "Reading locations file.",
    "Priming enrichment cache.",
    "Geocoding updated buildings.",
    "Processing completed, storing internal artifacts.",
)
PARSE_HEALTH = (
    "Queued for processing.",
    "Reading workbook.",
    "Extracting buildings.",
    "Enriching buildings.",
)
ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass
class Outcome:
    """How a job ends: ``result_status`` SUCCESS, or a failure with a message."""

    result_status: str = "SUCCESS"
    message: str = "Success."
    duration: float | None = None
    #: The request's final status when it is not the usual one for ``result_status`` (e.g.
    #: ``COMPLETE`` beside ``FAILED_TO_PROCESS``, which the API's types allow).
    request_status: str | None = None
    #: Only for the next job whose ``client_ref`` starts with this (e.g. an Airflow run's own),
    #: not for whichever job comes next: other DAGs on the same emulator may start theirs meanwhile.
    client_ref: str | None = None


@dataclass
class Sov:
    sov_id: str
    buildings: list[dict[str, Any]]
    revisions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    extra_data: dict[str, Any] = field(default_factory=dict)
    client_ref: str | None = None
    updates: int = 0
    document_type: str = "SOV"

    @property
    def revision(self) -> int:
        return max(self.revisions) if self.revisions else 0


@dataclass
class Job:
    """A parse job, an update job (SUD, or a new submission read as one) or an output request."""

    kind: str  # "parse", "update" or "output"
    job_id: str
    sov_id: str
    created_at: float
    duration: float
    outcome: Outcome
    started_at: float | None = None
    finished_at: float | None = None
    update_type: str = "API"
    client_ref: str | None = None
    extra_data: dict[str, Any] = field(default_factory=dict)
    output_formats: list[str] = field(default_factory=lambda: ["JSON"])
    corrections: dict[str, dict[str, str]] = field(default_factory=dict)
    rows_received: int = 0
    revision: int | None = None
    outputs: list[dict[str, str]] = field(default_factory=list)
    request_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: A new submission (an update of an SOV that has no buildings yet): its rows add buildings.
    submission: bool = False


def make_buildings(sov_id: str, count: int, seed: str) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cities = (
        ("Austin", "TX", "78701"),
        ("Denver", "CO", "80202"),
        ("Miami", "FL", "33131"),
        ("Boise", "ID", "83702"),
    )
    short = sov_id.rsplit("-", 1)[-1]
    rows = []
    for i in range(count):
        city, state, postal = rng.choice(cities)
        rows.append(
            {
                "item_key": f"b-{short}-{i + 1:04d}",
                "sheet_name": "SOV",
                "sheet_row_number": str(i + 2),
                "bldg_name": f"Building {i + 1}",
                "street_address": f"{rng.randint(10, 9999)} Main St",
                "city": city,
                "state": state,
                "postal_code": postal,
                "country": "USA",
                "occupancy": rng.choice(("Office", "Retail", "Warehouse")),
                "construction": rng.choice(("Frame", "Masonry", "Steel")),
                "year_built": str(rng.randint(1950, 2020)),
                "num_stories": str(rng.randint(1, 12)),
                "sq_footage": str(rng.randint(2000, 90000)),
                "limits__building_limit": str(rng.randint(1, 50) * 100000),
                "limits__contents_limit": str(rng.randint(1, 20) * 50000),
                "limits__bi_limit": str(rng.randint(1, 10) * 25000),
            }
        )
    return rows
