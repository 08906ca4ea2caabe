"""
Generate a submission's D1, D2, E and F files for a reporting period and land them in a folder.

D1 and D2 come first; E and F follow (the Broker builds them from the submission's awards). Every
wait runs in the triggerer. The Broker refuses to generate before the submission's validations
have finished (``SovPrerequisiteError``): the retries below try again every ten minutes. Note that
regenerating D files on a published submission sets it back to "updated" (re-certify it).

Files land under ``<destination>/submission-<submission_id>/``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_sov.operators.broker import DFileGenerateOperator
from airflow_provider_sov.retries import retry_policy_args

with DAG(
    dag_id="broker_d_files",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["data-act-broker", "example"],
    params={
        "submission_id": Param(1001, type="integer", minimum=1, description="The Broker submission."),
        "start": Param("10/01/2025", type="string", description="First day of the period, MM/DD/YYYY."),
        "end": Param("12/31/2025", type="string", description="Last day of the period, MM/DD/YYYY."),
        "destination": Param("out", type="string", description="Folder or object-storage URL."),
    },
    # Generation can be refused until the submission's validations finish: try again later.
    default_args={"retries": 6, "retry_delay": pendulum.duration(minutes=10), **retry_policy_args()},
    doc_md=__doc__,
) as dag:
    folder = "{{ params.destination }}/submission-{{ params.submission_id }}"
    common = {
        "submission_id": "{{ params.submission_id }}",
        "destination": folder,
        "overwrite": True,
        "deferrable": True,
        "poll_interval": 10,  # the most often the Broker asks to be polled
    }
    d_files = [
        DFileGenerateOperator(
            task_id=f"generate_{file_type.lower()}",
            file_type=file_type,
            start="{{ params.start }}",
            end="{{ params.end }}",
            **common,
        )
        for file_type in ("D1", "D2")
    ]
    award_files = [
        DFileGenerateOperator(task_id=f"generate_{file_type.lower()}", file_type=file_type, **common)
        for file_type in ("E", "F")
    ]
    for d_file in d_files:
        d_file >> award_files
