"""
A submission's D files the way the Broker orders them: wait for its validations, generate D1 and D2
for the submission's own reporting period, wait for the cross-file validation, then E and F.

No dates to type and no retry loop against the Broker's "Must wait for completion of prerequisite
validation job": ``SubmissionValidationSensor`` waits in the triggerer until the A, B and C
validations have finished (failing, with the Broker's error and warning counts, if they found
errors), and again for the cross-file one before E and F. D1 and D2 take the period from the
submission's metadata. A published or certified submission is refused (regenerating its D files
would set it back to "updated", to be certified again) unless the param ``allow_republish`` is
true. Files land under ``<destination>/submission-<submission_id>/``. Needs the
``data_act_broker_default`` connection.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_sov.operators.broker import DFileGenerateOperator
from airflow_provider_sov.retries import retry_policy_args
from airflow_provider_sov.sensors.broker import SubmissionValidationSensor

with DAG(
    dag_id="broker_submission_lifecycle",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["data-act-broker", "example"],
    # A retry reattaches to the generation or the wait its first try began, never a second one.
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), **retry_policy_args()},
    params={
        "submission_id": Param(1001, type="integer", minimum=1, description="The Broker submission."),
        "destination": Param("out", type="string", description="Folder or object-storage URL."),
        "allow_republish": Param(
            False, type="boolean", description="Regenerate a published submission's D files."
        ),
    },
    doc_md=__doc__,
) as dag:
    submission = "{{ params.submission_id }}"
    # No worker slot while waiting: the scheduler starts these in the triggerer, which ends them.
    in_triggerer = {"start_from_trigger": True, "end_from_trigger": True, "poke_interval": 10}
    uploads_validated = SubmissionValidationSensor(
        task_id="uploads_validated", submission_id=submission, **in_triggerer
    )
    common = {
        "submission_id": submission,
        "destination": "{{ params.destination }}/submission-{{ params.submission_id }}",
        "overwrite": True,
        "deferrable": True,
        "poll_interval": 10,  # the most often the Broker asks to be polled
    }
    d_files = [
        DFileGenerateOperator(
            task_id=f"generate_{kind.lower()}",
            file_type=kind,
            allow_republish="{{ params.allow_republish }}",
            **common,
        )
        for kind in ("D1", "D2")
    ]
    cross_validated = SubmissionValidationSensor(
        task_id="cross_file_validated", submission_id=submission, file_types=["cross"], **in_triggerer
    )
    award_files = [
        DFileGenerateOperator(task_id=f"generate_{kind.lower()}", file_type=kind, **common)
        for kind in ("E", "F")
    ]
    uploads_validated >> d_files >> cross_validated >> award_files
