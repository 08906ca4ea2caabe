"""
The latest published files of an agency, fiscal year and period (``list_latest_published_files``),
as a kind of the one job model: read once, nothing to wait on, files to download.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_sov._shared.jobs import JobRef, Reading
from airflow_provider_sov.exceptions import SovInputError, SovJobFailedError
from airflow_provider_sov.hooks.broker_jobs import BrokerJobKind
from airflow_provider_sov.hooks.broker_lifecycle import published_files_params

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_sov.hooks.broker import DataActBrokerHook

#: ``filetype`` values of a published file: the file letters, ``FABS``, and agency ``comments``.
PUBLISHED_FILE_KINDS = ("A", "B", "C", "D1", "D2", "E", "F", "FABS", "comments")


def published_kinds(file_types: object) -> tuple[str, ...]:
    """Which published files to take (``["A", "B", "C"]``, ``["comments"]``...); empty: every one."""
    if file_types in (None, "", [], ()):
        return ()
    items = [file_types] if isinstance(file_types, str) else file_types
    if not isinstance(items, (list, tuple)):
        raise SovInputError(f"file_types must be a list such as ['A', 'B'], got {file_types!r}.")
    out = []
    for item in items:
        name = "comments" if str(item).strip().lower() == "comments" else str(item).strip().upper()
        if name not in PUBLISHED_FILE_KINDS:
            raise SovInputError(
                f"file_types: {item!r} is not a kind of published file; use {', '.join(PUBLISHED_FILE_KINDS)}."
            )
        out.append(name)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class PublishedRef(JobRef):
    """The latest published files (``dabs``/``fabs``) of an agency for one fiscal period."""

    type: str
    agency: str
    year: int
    period: int
    file_types: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"published {self.type} files of agency {self.agency} FY{self.year} P{self.period:02d}"

    @property
    def job_id(self) -> str | None:
        return None  # the submissions the files come from are known once listed

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "agency": self.agency,
            "year": self.year,
            "period": self.period,
            "file_types": list(self.file_types),
        }


def published_ref(values: Mapping[str, Any]) -> PublishedRef:
    """Check a period's four coordinates (all four are needed to reach its files) and build its ref."""
    missing = [n for n in ("type", "agency", "year", "period") if values.get(n) in (None, "")]
    if missing:
        raise SovInputError(
            f"Published files are found by type, agency, year and period: {', '.join(missing)} missing.",
            hint="E.g. type='dabs', agency='097', year=2026, period=6.",
        )
    params = published_files_params(values["type"], values["agency"], values["year"], values["period"])
    return PublishedRef(
        params["type"],
        params["agency"],
        params["year"],
        params["period"],
        published_kinds(values.get("file_types")),
    )


class PublishedKind(BrokerJobKind[PublishedRef]):
    """The latest published files of an agency and period: one read, then the downloads."""

    name = "published"
    label = "published files"
    task_fields = ("type", "agency", "year", "period")

    def ref_from_task(
        self, values: Mapping[str, Any], started: float, options: Mapping[str, Any]
    ) -> PublishedRef:
        return published_ref({**values, "file_types": options.get("file_types")})

    def ref_from_json(self, data: Mapping[str, Any]) -> PublishedRef:
        return published_ref(data)

    def describe(self, ref: PublishedRef) -> str:
        return ref.key

    def read_status(self, hook: DataActBrokerHook, ref: PublishedRef) -> Mapping[str, Any]:
        return {
            "files": hook.list_latest_published_files(
                ref.type, agency=ref.agency, year=ref.year, period=ref.period
            )
        }

    async def aread_status(self, hook: DataActBrokerHook, ref: PublishedRef) -> Mapping[str, Any]:
        files = await hook.alist_latest_published_files(
            ref.type, agency=ref.agency, year=ref.year, period=ref.period
        )
        return {"files": files}

    def classify(self, body: Mapping[str, Any], ref: PublishedRef) -> Reading:
        listed = [f for f in body.get("files") or [] if isinstance(f, dict)]
        chosen = [f for f in listed if not ref.file_types or f.get("filetype") in ref.file_types]
        submissions = sorted(
            {str(f.get("submission_id")) for f in chosen if f.get("submission_id") is not None}
        )
        return Reading(
            job_id=",".join(submissions),
            status="published" if chosen else "none",
            terminal=True,
            succeeded=bool(chosen),
            message=None,
            detail=f"- {len(chosen)} of {len(listed)} file(s)",
            extras={
                "type": ref.type,
                "agency": ref.agency,
                "year": ref.year,
                "period": ref.period,
                "published": [
                    {k: f.get(k) for k in ("id", "label", "filetype", "submission_id")} for f in chosen
                ],
                "listed": len(listed),
            },
        )

    def outcome(
        self, reading: Reading | None, ref: PublishedRef, options: Mapping[str, Any], log: Any
    ) -> dict[str, Any]:
        keys = ("type", "agency", "year", "period", "published")
        if reading is None:
            return {**{k: v for k, v in ref.to_json().items() if k in keys}, "published": []}
        if not reading.succeeded:
            only = f" of kind {', '.join(ref.file_types)}" if ref.file_types else ""
            raise SovJobFailedError(
                f"The Broker lists no {ref.key}{only} ({reading.extras.get('listed')} listed in all).",
                result_status="none",
                job_id=ref.key,
                hint="Check the agency code, fiscal year and period (DABS periods: 3, 6, 9 and 12 for the "
                "quarters, or the month's period), and that the account can see the agency.",
            )
        return {k: reading.extras[k] for k in keys}


#: The latest published files of an agency and period.
PUBLISHED = PublishedKind()
