"""
Nightly warehouse refresh: correct an SOV, then load its CSV output into a Postgres table.

One task applies the corrections CSV as an SOV update (waiting in the triggerer) and downloads the
update's CSV output to ``<destination>/<sov_id>/<ds>/``; the next loads that file into ``table``
with ``COPY`` (``warehouse_load.py``), replacing the rows of the same logical date and SOV, so a
rerun or a retry of a day never doubles its rows. Needs the ``sovfixer_default`` connection and a
Postgres connection (``conn_id``, default ``warehouse_default``; ``apache-airflow-providers-postgres``).
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_sov.operators.sov import SovUpdateOperator
from airflow_provider_sov.retries import retry_policy_args

CORRECTIONS = str(Path(__file__).parent / "data" / "corrections.csv")

with DAG(
    dag_id="sov_warehouse_refresh",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["sov", "example", "warehouse"],
    params={
        "sov_id": Param("s-no-ping-hggcsk", type="string", description="The SOV to correct and load."),
        "corrections": Param(CORRECTIONS, type="string", description="Corrections CSV: path or glob."),
        "destination": Param("out/warehouse", type="string", description="Folder or object-storage URL."),
        "conn_id": Param("warehouse_default", type="string", description="The Postgres connection."),
        "table": Param("sov_buildings", type="string", description="The table to load."),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), **retry_policy_args()},
    doc_md=__doc__,
) as dag:
    update = SovUpdateOperator(
        task_id="update",
        sov_id="{{ params.sov_id }}",
        locations="{{ params.corrections }}",
        output_formats=["csv"],
        extensions=["csv"],
        destination="{{ params.destination }}/{{ params.sov_id }}/{{ ds }}",
        overwrite=True,
        client_ref="{{ dag.dag_id }}/{{ run_id }}",
        deferrable=True,
        poll_interval=5,
    )

    @task
    def load(result: dict, params: dict | None = None, ds: str | None = None) -> dict:
        """COPY the update's CSV output into the table, replacing this date's rows for the SOV."""
        from warehouse_load import load_csv

        assert params is not None and ds is not None
        (csv_file,) = [f for f in result["files"] if f["filename"].lower().endswith(".csv")]
        rows = load_csv(
            csv_file["uri"],
            conn_id=params["conn_id"],
            table=params["table"],
            logical_date=ds,
            key={"sov_id": result["sov_id"]},
        )
        return {"table": params["table"], "rows": rows, "file": csv_file["uri"], "sud_id": result["job_id"]}

    load(update.output)
