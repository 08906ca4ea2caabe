"""
Nightly SOV refresh: apply a corrections CSV to an SOV and land the regenerated outputs.

Step by step, so each part is visible: initiate an update, upload the corrections (checked
locally first), start it, wait in the triggerer (no worker slot held), then download every output
under ``<destination>/<sov_id>/<date>/``. Each task takes the one before's result as its ID
(``sud_id=initiate.output``), and each carries a link to the SOV's page. ``destination`` is a DAG param: a local folder (default
``out``) or an object-storage URL such as ``s3://bucket/sov`` once the fsspec backend (s3fs, gcsfs)
is installed. Needs the ``sovfixer_default`` connection.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_sov.operators.sov import (
    SovAddLocationsOperator,
    SovDownloadOutputsOperator,
    SovInitiateUpdateOperator,
    SovStartUpdateOperator,
)
from airflow_provider_sov.retries import retry_policy_args
from airflow_provider_sov.sensors.sov import SovUpdateSensor

CORRECTIONS = str(Path(__file__).parent / "data" / "corrections.csv")

with DAG(
    dag_id="sov_update_refresh",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["sov", "example"],
    params={
        "sov_id": Param("s-no-ping-hggcsk", type="string", description="The SOV to correct."),
        "corrections": Param(CORRECTIONS, type="string", description="Corrections CSV: path or glob."),
        "destination": Param("out", type="string", description="Folder or object-storage URL."),
        "insured_name": Param("Acme Corp", type="string", description="Names the output files."),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), **retry_policy_args()},
    doc_md=__doc__,
) as dag:
    initiate = SovInitiateUpdateOperator(
        task_id="initiate_update", sov_id="{{ params.sov_id }}", client_ref="{{ dag.dag_id }}/{{ run_id }}"
    )
    add_locations = SovAddLocationsOperator(
        task_id="add_locations", sud_id=initiate.output, locations="{{ params.corrections }}"
    )
    start = SovStartUpdateOperator(
        task_id="start_update",
        sud_id=initiate.output,
        extra_data={"insured_name": "{{ params.insured_name }}"},
        output_formats=["json", "xlsx", "csv"],
    )
    wait = SovUpdateSensor(
        task_id="wait_for_update",
        sud_id=initiate.output,
        deferrable=True,
        poke_interval=2,  # the emulator's jobs take seconds; keep the default 15 s for the API
    )
    download = SovDownloadOutputsOperator(
        task_id="download_outputs",
        outputs=wait.output,
        destination="{{ params.destination }}/{{ params.sov_id }}/{{ ds }}",
        overwrite=True,
    )
    add_locations >> start >> wait
