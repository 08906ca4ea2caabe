"""
Run whenever an SOV update completes, and export the JSON of the revision it made.

No schedule: the DAG runs on the asset ``sov_fixer_history``, which an ``AssetWatcher`` feeds from
SOV Fixer's history feed (``SovHistoryTrigger``, polled in the triggerer). Each completed update
with data ready becomes one asset event, so the DAG runs once per new revision, and a triggerer
restart does not replay the feed. A history record names its SOV (``sovid``) and the revision the
update made (``revision``): that is what is exported, into ``<destination>/<sovid>/r<revision>``.
Needs the ``sovfixer_default`` connection.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, Param, task

from airflow_provider_sov.hooks.sov import UPDATE_TYPES
from airflow_provider_sov.operators.sov import SovGetOrCreateOutputOperator
from airflow_provider_sov.retries import retry_policy_args
from airflow_provider_sov.triggers.sov import SovHistoryTrigger

SOV_FIXER_HISTORY = Asset(
    name="sov_fixer_history",
    watchers=[
        AssetWatcher(
            name="sov_fixer_history_watcher",
            trigger=SovHistoryTrigger(
                record_types=list(UPDATE_TYPES), only_data_ready=True, poll_interval=30
            ),
        )
    ],
)

with DAG(
    dag_id="sov_event_driven",
    schedule=[SOV_FIXER_HISTORY],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # An export lost with its worker (or failed by the scheduler's own races) runs again.
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), **retry_policy_args()},
    tags=["sov", "example"],
    params={"destination": Param("out/events", type="string", description="Folder or object-storage URL.")},
    doc_md=__doc__,
) as dag:

    @task
    def completed_updates(triggering_asset_events=None, params=None) -> list[dict[str, object]]:
        """The revisions behind this run (usually one), each exported into its own folder."""
        assert triggering_asset_events is not None and params is not None
        records = [e.extra["payload"] for events in triggering_asset_events.values() for e in events]
        return [
            {
                "id": r["sovid"],
                "revision": r["revision"],
                "destination": f"{params['destination']}/{r['sovid']}/r{r['revision']}",
            }
            for r in records
        ]

    SovGetOrCreateOutputOperator.partial(
        task_id="export_json", output_format="json", overwrite=True, deferrable=True, poll_interval=5
    ).expand_kwargs(completed_updates())
