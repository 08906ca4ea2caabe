"""What the distributed run measured (printed at the end; ``docs/reliability.md`` shows it), and helpers."""

from __future__ import annotations

from tests.reliability.report import Report

#: Rows of the "Distributed run" table, recorded by each test before it asserts.
DISTRIBUTED = Report()


def history_watchers(stack) -> list[tuple[int, int | None]]:
    """(trigger ID, triggerer job ID) of each running SOV history watcher."""
    return [
        (trigger_id, triggerer)
        for trigger_id, classpath, triggerer in stack.query("select id, classpath, triggerer_id from trigger")
        if classpath.endswith("SovHistoryTrigger") and triggerer is not None
    ]
