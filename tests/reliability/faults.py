"""
The faults the emulator offers, the routes the provider calls, and how one fault case is judged.

Shared by the hook-, trigger- and operator-level matrices so that the three agree on what a fault
is and what surviving it means.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_sov.exceptions import SovError
from airflow_provider_sov.hooks import broker as broker_hook_module
from airflow_provider_sov.hooks import sov as sov_hook_module
from tests.reliability.report import FAILED_CLEARLY, REPORT, SURVIVED, UNCLEAR

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_sov.testing.server import EmulatorServer

#: Read timeout of the hooks under a slow fault, and how late the slow faults answer.
READ_TIMEOUT = 0.25
SLOW = 0.6
#: Read timeout of the hooks under any other fault: no answer on a busy machine takes that long.
PATIENT_READ_TIMEOUT = 30.0
RETRY_AFTER = "1"
#: The fault emulator's token: recognisable, so that any leak into a message is found.
FAULT_TOKEN = "sov-token-FAULTS-3Kd8WqZ"
#: The fault emulator (attached by its fixture): the session IDs it issued are read live from it,
#: so a session issued during a case is searched for too.
FAULT_SERVER: list[EmulatorServer] = []


def secrets_in(message: str) -> list[str]:
    """
    Every secret of the fault emulator that ``message`` contains: token, passwords, any session ID
    issued, and the signature of any storage URL it signed (a signed query is the file's credential).
    """
    from airflow_provider_sov.testing import broker_app

    issued = FAULT_SERVER[0].broker.issued if FAULT_SERVER else []
    signed = [q.partition("=")[2] for q in FAULT_SERVER[0].broker.signed] if FAULT_SERVER else []
    secrets = [FAULT_TOKEN, broker_app.PASSWORD, broker_app.CLIENT_SECRET, *issued, *signed]
    return [s for s in secrets if message and s in message]


@dataclass(frozen=True)
class FaultKind:
    """One fault as the report names it, and how the emulator injects it."""

    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    #: Only where a status field can carry it; never on a file's bytes.
    status_only: bool = False
    json_only: bool = False

    @property
    def slow(self) -> bool:
        return self.kind in ("latency", "slow_after")


FAULTS = [
    FaultKind("429 + Retry-After", "status", {"status": 429, "retry_after": RETRY_AFTER}),
    FaultKind("500", "status", {"status": 500}),
    # Gateways answer 502 and 504 after the service behind them may have acted.
    FaultKind("502", "status_after", {"status": 502}),
    FaultKind("503", "status", {"status": 503}),
    FaultKind("504", "status_after", {"status": 504}),
    FaultKind("connection reset", "reset"),
    FaultKind("read timeout", "latency", {"delay": SLOW}),
    FaultKind("truncated body", "truncate"),
    FaultKind("malformed JSON", "malformed_json", json_only=True),
    FaultKind("unknown status", "unknown_status", status_only=True),
    FaultKind("slower than timeout", "slow_after", {"delay": SLOW}),
]

REPORT.fault_order = [f.name for f in FAULTS]

#: Routes that create work on the server: never repeated once the server may have acted.
CREATING = {
    "parse",
    "create_submission",
    "add_building",
    "initiate_update",
    "add_locations",
    "start_update",
    "generate_file",
    "generate_detached_file",
    "upload_dabs_files",
    "upload_fabs_file",
    "restart_validation",
    "publish_fabs_file",
    "publish_dabs_submission",
    "certify_dabs_submission",
    "publish_and_certify_dabs_submission",
}
#: Routes whose answer carries a job status.
STATUS_ROUTES = {
    "parse_status",
    "update_status",
    "output_request",
    "get_or_create_output",
    "check_generation_status",
    "check_detached_generation_status",
}
#: Routes that serve a file's bytes.
FILE_ROUTES = {"download", "storage"}


def applies(fault: FaultKind, route: str) -> bool:
    if fault.status_only and route not in STATUS_ROUTES:
        return False
    return not (fault.json_only and route in FILE_ROUTES)


def declared_creating() -> set[str]:
    """The creating routes as the hooks themselves declare them (``idempotent=False``)."""
    routes = {**sov_hook_module.ROUTES, **broker_hook_module.ROUTES}
    return {name for name, route in routes.items() if not route.idempotent}


def is_clear(error: BaseException, names: str | int | None) -> bool:
    """A clear error: ours, says what it was doing and with which ID, and what to do."""
    if not isinstance(error, SovError) or not error.hint:
        return False
    text = str(error)
    return names is None or str(names) in text


def partial_files(folder: Path | None) -> list[str]:
    """Files under ``folder`` that are not whole outputs: temporary or hidden leftovers."""
    if folder is None or not folder.exists():
        return []
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and p.name.startswith("."))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Observation:
    """What one call under a fault did."""

    outcome: str
    result: Any = None
    error: BaseException | None = None


def observe(call: Any, names: str | int | None) -> Observation:
    try:
        return Observation(SURVIVED, result=call())
    except Exception as error:
        return Observation(FAILED_CLEARLY if is_clear(error, names) else UNCLEAR, error=error)


async def aobserve(call: Any, names: str | int | None) -> Observation:
    try:
        return Observation(SURVIVED, result=await call())
    except Exception as error:
        return Observation(FAILED_CLEARLY if is_clear(error, names) else UNCLEAR, error=error)


def record(
    level: str,
    subject: str,
    route: str,
    fault: FaultKind,
    seen: Observation,
    *,
    duplicates: int = 0,
    folder: Path | None = None,
) -> list[str]:
    """
    Add the case to the report; return the partial files found (for the caller to assert on).
    The error's message (or error event) must carry no secret: that is checked here, for every case.
    """

    leftovers = partial_files(folder)
    message = str(seen.error) if seen.error is not None else ""
    if isinstance(seen.result, dict) and seen.result.get("status") == "error":
        message = str(seen.result.get("message"))
    leaks = secrets_in(message)
    if message:
        REPORT.messages_scanned += 1
        REPORT.message_leaks += len(leaks)
    REPORT.fault(
        level=level,
        subject=subject,
        route=route,
        fault=fault.name,
        outcome=seen.outcome,
        duplicates=duplicates,
        partial_files=len(leftovers),
    )
    assert leaks == [], f"a secret in the error message: {message}"
    return leftovers


def inject(emulator: EmulatorServer, route: str, fault: FaultKind, times: int | None = 1) -> Any:
    return emulator.inject(route, fault.kind, times=times, **fault.options)
