"""DAGs the end-to-end tests trigger under a real scheduler and triggerer (not examples)."""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG

from airflow_provider_sov.operators.sov import SovUpdateOperator
from airflow_provider_sov.sensors.sov import SovUpdateSensor

CSV = str(Path(__file__).parent / "data" / "corrections.csv")
START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(dag_id="e2e_retry", schedule=None, start_date=START, catchup=False) as retry_dag:
    # Fails once at start (fault injected by the test); Airflow's retry must resume, not re-create.
    SovUpdateOperator(
        task_id="update",
        sov_id="s-no-ping-k2m4qa",
        update_type="SCRUB",
        destination="{{ dag_run.conf['destination'] }}",
        deferrable=True,
        poll_interval=1,
        retries=1,
        retry_delay=pendulum.duration(seconds=1),
    )

with DAG(dag_id="e2e_restart", schedule=None, start_date=START, catchup=False) as restart_dag:
    # A long wait in the triggerer, during which the test kills and restarts the triggerer.
    SovUpdateSensor(
        task_id="wait",
        sud_id="{{ dag_run.conf['sud_id'] }}",
        deferrable=True,
        poke_interval=1,
        timeout=600,
    )
