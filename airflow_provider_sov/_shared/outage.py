"""
How a wait rides out an outage of the API, by time, the same in every mode: after a transient
failure (each already retried within its poll) it keeps polling, with backoff, while the API has
failed for less than its tolerance (the task's ``outage_tolerance``, else the connection's, else
:data:`DEFAULT_OUTAGE_TOLERANCE`), counted from the first failure after the last good reading. Any
other error ends it at once; a good reading ends the outage.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_sov.exceptions import SovError

#: How long a wait rides out transient failures by default (seconds).
DEFAULT_OUTAGE_TOLERANCE = 600.0
#: Backoff while the API fails: the interval doubles per failed poll, up to this (or the interval, if longer).
OUTAGE_BACKOFF_CAP = 60.0


def next_poll_in(interval: float, failures: int) -> float:
    """Return the seconds to the next poll after ``failures`` failed polls in a row (0: the interval)."""
    if failures <= 0:
        return interval
    return min(interval * 2 ** (failures - 1), max(interval, OUTAGE_BACKOFF_CAP))


@dataclasses.dataclass
class Outage:
    """The transient failures of one wait since its last good reading (``since``: None while all is well)."""

    tolerance: float
    since: float | None = None
    failures: int = 0

    def ok(self) -> None:
        """A good reading came: the outage, if any, is over."""
        self.since, self.failures = None, 0

    def rides_out(self, error: BaseException, now: float | None = None) -> bool:
        """Count a failed poll; return whether the wait goes on (transient, and within the tolerance)."""
        from airflow_provider_sov._shared.http import transient  # not at DAG parse: waits only

        if not transient(error):
            return False
        now = time.time() if now is None else now
        if self.since is None:
            self.since = now
        self.failures += 1
        return now - self.since < self.tolerance

    def failing_for(self, now: float | None = None) -> float:
        """Seconds the API has been failing (0 while all is well)."""
        return 0.0 if self.since is None else (time.time() if now is None else now) - self.since

    def describe(self, name: str, error: BaseException, interval: float) -> str:
        """The one log line per failed poll: how long it has failed, what is tolerated, when it polls next."""
        return (
            f"{name}: poll failed ({self.failures} in a row, failing for {self.failing_for():.0f}s of the "
            f"{self.tolerance:.0f}s tolerated; next poll in {next_poll_in(interval, self.failures):.0f}s): {error}"
        )

    def gave_up(self, name: str, error: SovError) -> SovError:
        """Return the error that ends a wait the outage outlasted: the same class, saying for how long."""
        from airflow_provider_sov._shared.http import transient

        if not transient(error):
            return error
        return type(error)(
            f"Gave up waiting for {name}: the API kept failing for {self.failing_for():.0f}s "
            f"({self.failures} polls in a row; {self.tolerance:.0f}s tolerated): {error.message}",
            action=error.action,
            job_id=error.job_id,
            http_status=error.http_status,
            server_message=error.server_message,
            hint=(
                "The job itself may still be running: run the task again to reattach to it. To ride out "
                "longer outages, raise the task's outage_tolerance or the connection's extra outage_tolerance."
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {"since": self.since, "failures": self.failures}

    @classmethod
    def from_json(cls, tolerance: float, data: Any) -> Outage:
        """Return the outage a rescheduled run kept (``data`` from :meth:`to_json`), or a fresh one."""
        if isinstance(data, dict) and isinstance(data.get("since"), int | float):
            return cls(tolerance, float(data["since"]), int(data.get("failures") or 0))
        return cls(tolerance)
