"""DAGs the end-to-end tests trigger under a real scheduler and triggerer (not examples)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_sov.operators.sov import SovCreateSubmissionOperator, SovUpdateOperator
from airflow_provider_sov.sensors.broker import SubmissionValidationSensor
from airflow_provider_sov.sensors.sov import SovUpdateSensor
from airflow_provider_sov.triggers.sov import SovHistoryTrigger

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

E2E_HISTORY = Asset(
    name="e2e_sov_history",
    watchers=[
        AssetWatcher(
            name="e2e_sov_history_watcher",
            trigger=SovHistoryTrigger(
                record_types=["API"],
                client_ref_prefix="e2e-event",
                poll_interval=1,
                # From the beginning of the feed: were its position lost on a restart, the
                # first update would come back as a second run.
                start="20000101000000",
            ),
        )
    ],
)

with DAG(dag_id="e2e_event_driven", schedule=[E2E_HISTORY], start_date=START, catchup=False) as event_dag:

    @task
    def updates_behind_this_run(triggering_asset_events=None) -> list[list]:
        assert triggering_asset_events is not None
        return [
            [e.extra["payload"][k] for k in ("sovid", "revision", "client_ref")]
            for events in triggering_asset_events.values()
            for e in events
        ]

    updates_behind_this_run()


with DAG(dag_id="e2e_update_restart", schedule=None, start_date=START, catchup=False) as update_restart_dag:
    # The whole update in one deferrable task; the test kills the triggerer while it waits.
    SovUpdateOperator(
        task_id="update",
        sov_id="{{ dag_run.conf['sov_id'] }}",
        update_type="SCRUB",
        output_formats=["json", "xlsx"],
        destination="{{ dag_run.conf['destination'] }}",
        client_ref="{{ run_id }}",  # the test counts the updates of this run by it
        deferrable=True,
        poll_interval=1,
    )

with DAG(dag_id="e2e_download_kill", schedule=None, start_date=START, catchup=False) as download_kill_dag:
    # The test kills the task's process mid-download; Airflow's retry must finish the same update.
    SovUpdateOperator(
        task_id="update",
        sov_id="{{ dag_run.conf['sov_id'] }}",
        update_type="SCRUB",
        output_formats=["json", "xlsx", "csv"],
        destination="{{ dag_run.conf['destination'] }}",
        client_ref="{{ run_id }}",
        deferrable=True,
        poll_interval=1,
        retries=1,
        retry_delay=pendulum.duration(seconds=1),
    )


with DAG(dag_id="e2e_submission_kill", schedule=None, start_date=START, catchup=False) as submission_kill_dag:
    # A new SOV waited on by the worker (poke); the test kills the task's process mid-wait, and
    # Airflow's retry must wait on the same submission, not create another.
    SovCreateSubmissionOperator(
        task_id="update",
        locations="{{ dag_run.conf['locations'] }}",
        output_formats=["json"],
        destination="{{ dag_run.conf['destination'] }}",
        client_ref="{{ run_id }}",  # the test counts the submissions of this run by it
        deferrable=False,
        poll_interval=1,
        retries=1,
        retry_delay=pendulum.duration(seconds=1),
    )


#: A wait started and ended in the triggerer, polling every second.
IN_TRIGGERER = {"start_from_trigger": True, "end_from_trigger": True, "poke_interval": 1}

with DAG(
    dag_id="e2e_triggerer_waits",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"sud_id": "", "failing": "", "mapped": []},
) as triggerer_waits_dag:
    # The same job waited on three ways: started and ended by the triggerer (no worker at all),
    # deferred from a worker as before (the XComs must match), and mapped over several jobs; and a
    # job that fails, waited on in the triggerer.
    in_triggerer = SovUpdateSensor(
        task_id="in_triggerer", sud_id="{{ params.sud_id }}", timeout=600, **IN_TRIGGERER
    )
    SovUpdateSensor(task_id="on_worker", sud_id="{{ params.sud_id }}", deferrable=True, poke_interval=1)
    SovUpdateSensor(task_id="fails", sud_id="{{ params.failing }}", **IN_TRIGGERER)

    @task
    def downstream(result: dict) -> list[str]:
        # What a downstream task sees of the result: the same dict the worker-ended wait gives.
        return [type(result).__name__, result["job_id"]]

    downstream(in_triggerer.output)

    @task
    def mapped_ids(params=None) -> list[str]:
        return list(params["mapped"])

    SovUpdateSensor.partial(task_id="mapped", **IN_TRIGGERER).expand(sud_id=mapped_ids())


with DAG(
    dag_id="e2e_triggerer_restart", schedule=None, start_date=START, catchup=False, params={"sud_id": ""}
) as triggerer_restart_dag:
    # The test kills the triggerer while this wait runs in it; the next triggerer must finish it.
    SovUpdateSensor(task_id="wait", sud_id="{{ params.sud_id }}", timeout=900, **IN_TRIGGERER)


with DAG(
    dag_id="e2e_validation_fails", schedule=None, start_date=START, catchup=False, params={"submission_id": 1}
) as validation_fails_dag:
    # A submission whose validation finds errors, waited on entirely in the triggerer.
    SubmissionValidationSensor(
        task_id="validated", submission_id="{{ params.submission_id }}", timeout=300, **IN_TRIGGERER
    )
