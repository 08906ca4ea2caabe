"""
Find an SOV's updates by the ``client_ref`` they were initiated with: what did a run make?

Every update task of this package can carry a ``client_ref`` (``sov_warehouse_refresh`` gives
``<dag_id>/<run_id>``). This DAG reads SOV Fixer's activity list and reports the updates with
that reference, with their status (``P`` pending ... ``C`` complete, ``F`` failed), when they were
posted, and the files each made. Needs the ``sovfixer_default`` connection.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_sov.retries import retry_policy_args

with DAG(
    dag_id="sov_find_updates",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["sov", "example"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), **retry_policy_args()},
    params={
        "client_ref": Param("sov_warehouse_refresh/", type="string", description="The reference to find."),
        "sov_id": Param("", type="string", description="Only this SOV's updates (empty: every SOV)."),
    },
    doc_md=__doc__,
) as dag:

    @task
    def updates_by_client_ref(params: dict | None = None) -> list[dict]:
        from airflow_provider_sov.hooks.sov import SovHook

        assert params is not None
        found = SovHook().find_updates(params["client_ref"], sov_id=params["sov_id"] or None)
        return [
            {
                "sov_id": u.get("sovid"),
                "sud_id": u.get("sudid"),
                "status": u.get("status"),
                "posted_time": u.get("posted_time"),
                "files": [o.get("scrubbed_filename") for o in u.get("outputs") or []],
            }
            for u in found
        ]

    updates_by_client_ref()
