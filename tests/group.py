"""
Run one group of ``make test`` and say what it cost: its exit code, wall time and CPU seconds.

    python tests/group.py NAME COMMAND [ARG ...]

The CPU is the whole process tree's: this process becomes the "subreaper" of everything the command
starts (Linux), so the Airflow services, emulators and databases a test starts and kills are reaped
here and their CPU counted too. The last line of the output reads, for example:

    === group unit: exit 0, 312 s wall, 298 s CPU (271 s user, 27 s sys) ===
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Orphans of the command are re-parented to this process (and reaped by it), not to init."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def reap_exited() -> None:
    """Reap every descendant that has exited, so that its CPU is counted; never wait for a live one."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    name, command = argv[0], argv[1:]
    complete = become_subreaper()
    began = time.monotonic()
    process = subprocess.Popen(command)
    code = process.wait()
    time.sleep(0.5)  # services a test killed as it ended: let them exit, to be counted
    reap_exited()
    wall = time.monotonic() - began
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = used.ru_utime + used.ru_stime
    tree = "" if complete else "; services left running are not counted"
    print(
        f"=== group {name}: exit {code}, {wall:.0f} s wall, {cpu:.0f} s CPU "
        f"({used.ru_utime:.0f} s user, {used.ru_stime:.0f} s sys{tree}) ===",
        flush=True,
    )
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
