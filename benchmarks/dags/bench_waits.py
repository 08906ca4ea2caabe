"""
DAGs the worker-time and latency benchmarks trigger: one wait each, in every way it can wait, and
Airflow's own standard sensor beside them as the floor.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import DAG

from airflow_provider_sov.operators.sov import SovUpdateOperator
from airflow_provider_sov.sensors.sov import SovUpdateSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")

# SovUpdateSensor: deferred from a worker, poked on a worker, started and ended in the triggerer.
for dag_id, how in (
    ("bench_wait_deferrable", {"deferrable": True}),
    ("bench_wait_poke", {"deferrable": False, "mode": "poke"}),
    ("bench_wait_triggerer", {"start_from_trigger": True, "end_from_trigger": True}),
):
    with DAG(dag_id, schedule=None, start_date=START, catchup=False, params={"sud_id": ""}):
        SovUpdateSensor(task_id="wait", sud_id="{{ params.sud_id }}", poke_interval=5, timeout=900, **how)

# The whole update in one task (start on a worker, wait in the triggerer, download on a worker).
with DAG(
    "bench_update_composite",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"sov_id": "", "destination": ""},
):
    SovUpdateOperator(
        task_id="wait",
        sov_id="{{ params.sov_id }}",
        update_type="SCRUB",
        destination="{{ params.destination }}",
        deferrable=True,
        poll_interval=5,
        timeout=900,
    )

# Airflow's floor: its standard deferrable sensor waiting for a moment, started on a worker (and
# resumed on one), started in the triggerer (resumed on a worker), and started and ended there.
for dag_id, how in (
    ("bench_floor_deferred", {}),
    ("bench_floor_start_in_triggerer", {"start_from_trigger": True}),
    ("bench_floor_start_end_in_triggerer", {"start_from_trigger": True, "end_from_trigger": True}),
):
    with DAG(dag_id, schedule=None, start_date=START, catchup=False, params={"target_time": ""}):
        DateTimeSensorAsync(task_id="wait", target_time="{{ params.target_time }}", **how)
