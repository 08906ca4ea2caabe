"""
DAG-parse cost: the import time our operator and sensor modules add on top of ``import
airflow.sdk`` (which every DAG file pays anyway), next to the dbt Cloud and HTTP providers'
operator and sensor modules, measured the same way in the same run.

Each figure is the median of ``--repeat`` fresh interpreters that first import ``airflow.sdk``,
then time importing the provider's modules, in two set-ups:

- *bytecode cached*: as a package installed from a wheel runs (pip writes ``.pyc`` files at install).
  The cache goes to a temporary ``PYTHONPYCACHEPREFIX``, written by one untimed run first, so
  nothing is left in the source tree or the environment.
- *compiled at import*: no bytecode cache (``PYTHONDONTWRITEBYTECODE=1`` on a source or editable
  install): every module is compiled from source at every parse.

Goal: ours <= 25 ms with bytecode cached, and <= 0.3x dbt Cloud's.

    python benchmarks/import_cost.py --repeat 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run_child, table

PROVIDERS = {
    "airflow-provider-sov": [
        "airflow_provider_sov.operators.sov",
        "airflow_provider_sov.operators.broker",
        "airflow_provider_sov.sensors.sov",
        "airflow_provider_sov.sensors.broker",
    ],
    "dbt Cloud provider": [
        "airflow.providers.dbt.cloud.operators.dbt",
        "airflow.providers.dbt.cloud.sensors.dbt",
    ],
    "HTTP provider": [
        "airflow.providers.http.operators.http",
        "airflow.providers.http.sensors.http",
    ],
}

CHILD = """
import importlib, json, sys, time
import airflow.sdk
modules = sys.argv[1:]
before = set(sys.modules)
start = time.perf_counter()
for name in modules:
    importlib.import_module(name)
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "modules": len(set(sys.modules) - before)}))
"""


def measure(modules: list[str], repeat: int, cache: str | None) -> tuple[float, int]:
    """Median seconds and modules loaded; ``cache`` is a bytecode cache folder, or None for none."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="no-pyc-")  # empty: no stale cache is read
    else:
        env["PYTHONPYCACHEPREFIX"] = cache
        run_child(CHILD, *modules, env=env)  # writes the bytecode cache, untimed
    runs = [run_child(CHILD, *modules, env=env) for _ in range(repeat)]
    return statistics.median(r["seconds"] for r in runs), runs[-1]["modules"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7, help="fresh interpreters per provider and set-up")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pyc-") as cache:
        cached = {name: measure(modules, args.repeat, cache) for name, modules in PROVIDERS.items()}
    compiled = {name: measure(modules, args.repeat, None) for name, modules in PROVIDERS.items()}
    rows = [
        [
            name,
            f"{cached[name][0] * 1000:.1f}",
            f"{compiled[name][0] * 1000:.1f}",
            cached[name][1],
            len(modules),
        ]
        for name, modules in PROVIDERS.items()
    ]
    print(
        table(
            f"Import time over `import airflow.sdk`, ms (median of {args.repeat} fresh interpreters)",
            ["provider", "bytecode cached", "compiled at import", "modules loaded", "modules imported"],
            rows,
        )
    )
    ours, dbt, http = (cached[name][0] for name in PROVIDERS)
    print(f"ratio, ours / dbt Cloud: {ours / dbt:.2f}")
    print(f"ratio, ours / HTTP: {ours / http:.2f}")
    ours_c, dbt_c, _ = (compiled[name][0] for name in PROVIDERS)
    print(f"ratio, compiled at import, ours / dbt Cloud: {ours_c / dbt_c:.2f}")
    print()
    print(f"goal <= 25 ms (bytecode cached): {'met' if ours <= 0.025 else 'MISSED'} ({ours * 1000:.1f} ms)")
    print(f"goal <= 0.3x dbt Cloud: {'met' if ours <= 0.3 * dbt else 'MISSED'} ({ours / dbt:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
