"""
Monthly D1 load: generate a submission's D1 file for the month, then load it into Postgres.

One task generates the D1 file for the month of the logical date (waiting in the triggerer) and
downloads it to ``<destination>/submission-<submission_id>/<ds>/``; the next loads it into ``table``
with ``COPY`` (``warehouse_load.py``), replacing the rows of the same logical date and submission.
Needs the ``data_act_broker_default`` connection and a Postgres connection (``conn_id``, default
``warehouse_default``; ``apache-airflow-providers-postgres``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_sov.operators.broker import DFileGenerateOperator
from airflow_provider_sov.retries import retry_policy_args

with DAG(
    dag_id="broker_d1_warehouse",
    schedule="@monthly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["data-act-broker", "example", "warehouse"],
    params={
        "submission_id": Param(1001, type="integer", minimum=1, description="The Broker submission."),
        "destination": Param("out/warehouse", type="string", description="Folder or object-storage URL."),
        "conn_id": Param("warehouse_default", type="string", description="The Postgres connection."),
        "table": Param("d1_awards", type="string", description="The table to load."),
    },
    # Generation can be refused until the submission's validations finish: try again later.
    default_args={"retries": 6, "retry_delay": pendulum.duration(minutes=10), **retry_policy_args()},
    doc_md=__doc__,
) as dag:
    d1 = DFileGenerateOperator(
        task_id="generate_d1",
        file_type="D1",
        submission_id="{{ params.submission_id }}",
        # The month of the logical date, in the Broker's MM/DD/YYYY.
        start="{{ logical_date.start_of('month').strftime('%m/%d/%Y') }}",
        end="{{ logical_date.end_of('month').strftime('%m/%d/%Y') }}",
        destination="{{ params.destination }}/submission-{{ params.submission_id }}/{{ ds }}",
        overwrite=True,
        deferrable=True,
        poll_interval=10,
    )

    @task
    def load(result: dict, params: dict | None = None, ds: str | None = None) -> dict:
        """COPY the D1 file into the table, replacing this date's rows for the submission."""
        from warehouse_load import load_csv

        assert params is not None and ds is not None
        (d1_file,) = result["files"]
        rows = load_csv(
            d1_file["uri"],
            conn_id=params["conn_id"],
            table=params["table"],
            logical_date=ds,
            key={"submission_id": str(params["submission_id"])},
        )
        return {"table": params["table"], "rows": rows, "file": d1_file["uri"]}

    load(d1.output)
