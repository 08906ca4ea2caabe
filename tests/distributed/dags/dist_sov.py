"""DAGs the distributed tests trigger on the Celery stack (not examples)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, task

from airflow_provider_sov.operators.sov import SovUpdateOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
#: The files an update wrote, as an asset event (its extra lists them, with their URIs).
UPDATE_FILES = Asset(name="dist_update_files")


def digests(files: list[dict]) -> dict[str, str]:
    """Read each file back through its URI (object storage or local) and hash it."""
    import hashlib

    from airflow.sdk import ObjectStoragePath

    return {f["uri"]: hashlib.sha256(ObjectStoragePath(f["uri"]).read_bytes()).hexdigest() for f in files}


with DAG(dag_id="dist_read_back", schedule=None, start_date=START, catchup=False):
    # The update runs on worker-1; the task that reads its files runs on worker-2, which shares no disk.
    update = SovUpdateOperator(
        task_id="update",
        queue="worker-1",
        sov_id="{{ dag_run.conf['sov_id'] }}",
        update_type="SCRUB",
        output_formats=["json", "csv"],
        destination="{{ dag_run.conf['destination'] }}",
        client_ref="{{ run_id }}",
        outlets=[UPDATE_FILES],
        deferrable=True,
        poll_interval=1,
    )

    @task(queue="worker-2")
    def read_back(result: dict) -> dict[str, str]:
        return digests(result["files"])

    read_back(update.output)


with DAG(dag_id="dist_read_events", schedule=[UPDATE_FILES], start_date=START, catchup=False):

    @task(queue="worker-2")
    def read_events(triggering_asset_events=None) -> dict[str, str]:
        assert triggering_asset_events is not None
        files = [f for events in triggering_asset_events.values() for e in events for f in e.extra["files"]]
        return digests(files)

    read_events()


with DAG(dag_id="dist_download_kill", schedule=None, start_date=START, catchup=False):
    # The test kills the worker running this task mid-download; Airflow's retry must finish it.
    SovUpdateOperator(
        task_id="update",
        sov_id="{{ dag_run.conf['sov_id'] }}",
        update_type="SCRUB",
        output_formats=["json"],
        destination="{{ dag_run.conf['destination'] }}",
        client_ref="{{ run_id }}",
        deferrable=True,
        poll_interval=1,
        retries=1,
        retry_delay=pendulum.duration(seconds=1),
    )
