"""
The figures the docs show, written by the runs that measure them, each stamped with the commit and
the date it was measured on (``docs/_generated/``, included by the docs pages).

    python tests/summary.py make-test BEGAN EXIT_CODE [ENDED]   # epoch seconds; after make test's groups

``make test`` writes ``docs/_generated/make-test.md`` (each group's wall and CPU time and its test
counts); ``make reliability`` the reliability report; ``make bench`` the benchmarks' output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "docs" / "_generated"
GROUP_LINE = re.compile(r"^=== group (\S+): exit (\d+), (\d+) s wall, (\d+) s CPU")
PYTEST_LINE = re.compile(r"^=* ?(\d+ passed[^=]*?) in ([\d.]+)s")


def stamp() -> str:
    """One line: the commit (``+`` uncommitted changes), the UTC date, and the machine's cores."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = "+" if git("status", "--porcelain", "--untracked-files=no") else ""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"Measured on commit `{commit}{dirty}`, {when}, on {os.cpu_count()} cores."


def write(name: str, body: str) -> Path:
    """Write ``docs/_generated/<name>.md``: the stamp, then ``body``."""
    GENERATED.mkdir(parents=True, exist_ok=True)
    path = GENERATED / f"{name}.md"
    path.write_text(f"{stamp()}\n\n{body.rstrip()}\n")
    return path


def make_test(began: float, code: int, logs: Path, ended: float | None = None) -> str:
    """The table of one ``make test``: per group, its exit, wall and CPU seconds, and its tests."""
    rows = []
    for log in sorted(logs.glob("*.log")):
        text = log.read_text(errors="replace").splitlines()
        group = next((m for line in text if (m := GROUP_LINE.match(line))), None)
        if group is None:
            continue
        counts = "; ".join(m.group(1) for line in text if (m := PYTEST_LINE.match(line)))
        rows.append(
            f"| `{group.group(1)}` | {group.group(2)} | {group.group(3)} | {group.group(4)} | {counts} |"
        )
    wall = (ended or time.time()) - began
    passed = sum(int(n) for row in rows for n in re.findall(r"(\d+) passed", row.rsplit("|", 2)[-2]))
    return "\n".join(
        [
            f"`make test`: exit {code}; its groups, side by side, took {wall / 60:.1f} minutes (after the "
            f"set-up and lint before them); {passed:,} tests passed.",
            "",
            "| group | exit | wall s | CPU s | tests |",
            "| --- | --- | --- | --- | --- |",
            *rows,
        ]
    )


def main(argv: list[str]) -> int:
    if len(argv) in (3, 4) and argv[0] == "make-test":
        ended = float(argv[3]) if len(argv) == 4 else None
        path = write("make-test", make_test(float(argv[1]), int(argv[2]), ROOT / ".test", ended))
        print(f"wrote {path.relative_to(ROOT)}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
