"""
Refresh many SOVs in parallel: one mapped task per SOV ID, each a whole update in one task.

Each mapped task runs a SCRUB update (a scrubber re-output, no corrections file), waits in the
triggerer, and downloads the JSON output to ``<destination>/<sov_id>/``. A retried task resumes
on its own update instead of creating another.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_sov.operators.sov import SovUpdateOperator
from airflow_provider_sov.retries import retry_policy_args

with DAG(
    dag_id="sov_update_mapped",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["sov", "example"],
    params={
        "sov_ids": Param(
            ["s-no-ping-hggcsk", "s-no-ping-k2m4qa", "s-no-ping-p7x9zt"],
            type="array",
            description="SOVs to refresh.",
        ),
        "destination": Param("out", type="string", description="Folder or object-storage URL."),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), **retry_policy_args()},
    doc_md=__doc__,
) as dag:

    @task
    def plan(params: dict | None = None) -> list[dict[str, str]]:
        """One update per SOV ID from the run's params, each with its own destination folder."""
        assert params is not None
        return [{"sov_id": s, "destination": f"{params['destination']}/{s}"} for s in params["sov_ids"]]

    SovUpdateOperator.partial(
        task_id="refresh",
        update_type="SCRUB",
        output_formats=["json"],
        extensions=["json"],
        overwrite=True,
        deferrable=True,
        poll_interval=2,  # the emulator's jobs take seconds; keep the default 15 s for the API
    ).expand_kwargs(plan())
