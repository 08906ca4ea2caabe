"""
Export one output format for many SOVs into a destination, one mapped task per SOV.

Outputs SOV Fixer already has come back at once (no waiting); the rest are generated and waited
for in the triggerer. Files land under ``<destination>/<sov_id>/``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_sov.operators.sov import SovGetOrCreateOutputOperator
from airflow_provider_sov.retries import retry_policy_args

with DAG(
    dag_id="sov_output_export",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["sov", "example"],
    params={
        "sov_ids": Param(
            ["s-no-ping-hggcsk", "s-no-ping-k2m4qa", "s-no-ping-p7x9zt"],
            type="array",
            description="SOVs to export.",
        ),
        "output_format": Param("xlsx", type="string", description="e.g. json, xlsx, csv (any case)."),
        "destination": Param("out", type="string", description="Folder or object-storage URL."),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), **retry_policy_args()},
    doc_md=__doc__,
) as dag:

    @task
    def plan(params: dict | None = None) -> list[dict[str, str]]:
        """One export per SOV ID from the run's params, each into its own folder."""
        assert params is not None
        return [{"id": s, "destination": f"{params['destination']}/{s}"} for s in params["sov_ids"]]

    SovGetOrCreateOutputOperator.partial(
        task_id="export",
        output_format="{{ params.output_format }}",
        validate_format=True,
        overwrite=True,
        deferrable=True,
        poll_interval=2,  # the emulator's jobs take seconds; keep the default 15 s for the API
    ).expand_kwargs(plan())
