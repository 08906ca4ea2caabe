"""DAGs the distributed tests trigger on the Celery stack (not examples)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, task

from airflow_provider_sov.operators.sov import SovUpdateOperator
from airflow_provider_sov.testing.lag import LoopLagProbeOperator

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


with DAG(
    dag_id="dist_faults",
    schedule=None,
    start_date=START,
    catchup=False,
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=45)},
):
    # The fault tests break a part of the stack while these wait: deferred waits in the triggerers
    # and one waiting on its worker. A try number above 1 in a test's row is a retry it cost.

    @task
    def plan(dag_run=None) -> list[dict[str, str]]:
        assert dag_run is not None
        conf = dag_run.conf
        return [{"sov_id": s, "destination": f"{conf['destination']}/{s}"} for s in conf["deferred"]]

    SovUpdateOperator.partial(
        task_id="deferred",
        update_type="SCRUB",
        output_formats=["json"],
        deferrable=True,
        poll_interval=2,
        outage_tolerance=60,  # the API-down case stops the API for 40 s
    ).expand_kwargs(plan())
    SovUpdateOperator(
        task_id="waiting_on_worker",
        sov_id="{{ dag_run.conf['on_worker'] }}",
        update_type="SCRUB",
        output_formats=["json"],
        destination="{{ dag_run.conf['destination'] }}/{{ dag_run.conf['on_worker'] }}",
        deferrable=False,
        poll_interval=2,
        outage_tolerance=60,
    )


with DAG(dag_id="dist_lag_probe", schedule=None, start_date=START, catchup=False):
    # A probe ticks in its triggerer's loop, beside the load's waits, until the load test creates
    # the stop file; its XCom is how late that loop ran. The test runs one per triggerer.
    LoopLagProbeOperator(task_id="probe", stop_file="{{ dag_run.conf['stop_file'] }}")
