"""
DAG-parse cost: the import time our operator and sensor modules add on top of ``import
airflow.sdk`` (which every DAG file pays anyway), next to the dbt Cloud and HTTP providers'
operator and sensor modules, measured the same way in the same run.

Each figure is the median of ``--repeat`` fresh interpreters that first import ``airflow.sdk``,
then time importing the provider's modules. Goal: ours <= 0.05 s and <= 0.3x dbt Cloud's.

    python benchmarks/import_cost.py --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
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


def measure(modules: list[str], repeat: int) -> tuple[float, int]:
    if repeat > 1:
        run_child(CHILD, *modules)  # once to write bytecode caches, as a deployed DAG folder has
    runs = [run_child(CHILD, *modules) for _ in range(repeat)]
    return statistics.median(r["seconds"] for r in runs), runs[-1]["modules"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="fresh interpreters per provider")
    args = parser.parse_args(argv)
    results = {name: measure(modules, args.repeat) for name, modules in PROVIDERS.items()}
    rows = [
        [name, f"{seconds * 1000:.1f}", count, len(PROVIDERS[name])]
        for name, (seconds, count) in results.items()
    ]
    print(
        table(
            f"Import time over `import airflow.sdk` (median of {args.repeat} fresh interpreters)",
            ["provider", "ms", "modules loaded", "modules imported"],
            rows,
        )
    )
    ours = results["airflow-provider-sov"][0]
    dbt = results["dbt Cloud provider"][0]
    http = results["HTTP provider"][0]
    print(f"ratio, ours / dbt Cloud: {ours / dbt:.2f}")
    print(f"ratio, ours / HTTP: {ours / http:.2f}")
    print()
    print(f"goal <= 0.05 s: {'met' if ours <= 0.05 else 'MISSED'} ({ours:.3f} s)")
    print(f"goal <= 0.3x dbt Cloud: {'met' if ours <= 0.3 * dbt else 'MISSED'} ({ours / dbt:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
