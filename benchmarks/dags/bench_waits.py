"""DAGs the worker-time and latency benchmarks trigger: one SOV update wait, deferred or poked."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_sov.sensors.sov import SovUpdateSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")

for dag_id, deferrable in (("bench_wait_deferrable", True), ("bench_wait_poke", False)):
    with DAG(dag_id, schedule=None, start_date=START, catchup=False, params={"sud_id": "", "poll": 5}):
        SovUpdateSensor(
            task_id="wait",
            sud_id="{{ params.sud_id }}",
            deferrable=deferrable,
            mode="poke",
            poke_interval=5,
            timeout=900,
        )
