"""
What the reliability suite measured, printed at the end of the run (``docs/reliability.md`` shows it).

Tests record what they observed *before* asserting on it, so a failing case is still reported, and
the report never states a figure no test measured.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

#: Outcomes of one injected fault.
SURVIVED = "survived"
FAILED_CLEARLY = "failed clearly"
UNCLEAR = "UNCLEAR"


#: The matrices, in the order the report shows them ("retry": an operator, then its retry).
LEVELS = ("hook", "trigger", "operator", "retry")


@dataclass
class FaultCase:
    level: str  # "hook", "trigger", "operator" or "retry" (an operator, then its retry)
    subject: str  # the route (hook), trigger or operator
    route: str  # the route the fault was injected on
    fault: str
    outcome: str
    duplicates: int
    partial_files: int


@dataclass
class Report:
    faults: list[FaultCase] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    #: Error messages and error events of the fault cases searched for secrets, and what was found.
    messages_scanned: int = 0
    message_leaks: int = 0
    #: The order of the fault columns (the order faults are listed in, not the order run in).
    fault_order: list[str] = field(default_factory=list)

    def fault(self, **values: Any) -> FaultCase:
        case = FaultCase(**values)
        self.faults.append(case)
        return case

    def row(self, table: str, **values: Any) -> None:
        self.tables[table].append(values)

    # --- Rendering ------------------------------------------------------------------------------

    def render(self) -> list[str]:
        lines: list[str] = []
        if self.faults:
            lines += self._fault_summary()
            for level in LEVELS:
                lines += self._fault_grid(level)
        if self.messages_scanned:
            self.tables["Secrets in what users and other systems see"].insert(
                0,
                {
                    "where": "error messages and error events of the fault matrices",
                    "items": self.messages_scanned,
                    "occurrences (must be 0)": self.message_leaks,
                },
            )
            self.messages_scanned = 0  # rendered once
        for name, rows in self.tables.items():
            lines += ["", f"### {name}", "", *markdown(rows)]
        return lines

    def _fault_summary(self) -> list[str]:
        rows = []
        for level in (*LEVELS, "all"):
            cases = [c for c in self.faults if level in ("all", c.level)]
            if not cases:
                continue
            rows.append(
                {
                    "level": level,
                    "injected": len(cases),
                    "survived": sum(c.outcome == SURVIVED for c in cases),
                    "failed with a clear error": sum(c.outcome == FAILED_CLEARLY for c in cases),
                    "unclear (must be 0)": sum(c.outcome == UNCLEAR for c in cases),
                    "duplicate jobs (must be 0)": sum(c.duplicates for c in cases),
                    "partial files (must be 0)": sum(c.partial_files for c in cases),
                }
            )
        return ["### Faults injected", "", *markdown(rows)]

    def _fault_grid(self, level: str) -> list[str]:
        cases = [c for c in self.faults if c.level == level]
        if not cases:
            return []
        named = list(dict.fromkeys(c.fault for c in cases))
        faults = sorted(
            named, key=lambda f: self.fault_order.index(f) if f in self.fault_order else len(named)
        )
        grid: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        for c in cases:
            mark = {SURVIVED: "S", FAILED_CLEARLY: "F"}.get(c.outcome, "!")
            key = (c.subject, c.route)
            grid[key][c.fault] = grid[key].get(c.fault, "") + mark
        rows = []
        for (subject, route), marks in grid.items():
            row = {"subject": subject} if level != "hook" else {}
            row["route"] = route
            row.update({f: marks.get(f, "-") for f in faults})
            rows.append(row)
        legend = "S survived, F failed with a clear error, ! unclear, - not applicable"
        title = "operator level, then Airflow's retry" if level == "retry" else f"{level} level"
        return ["", f"### Fault matrix, {title} ({legend})", "", *markdown(rows)]


def markdown(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    return lines


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


REPORT = Report()
