"""
Parse a new SOV workbook, then export it as an Excel workbook too.

The example workbook ships in ``data/``. The parse uploads it (streamed), waits in the triggerer,
and downloads its JSON output to ``<destination>/parsed/``; the export then asks for the XLSX
output of the new SOV (wired through XCom) into ``<destination>/exported/``. A retried
parse task reattaches to the SOV it created instead of uploading the workbook again.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_sov.operators.sov import SovGetOrCreateOutputOperator, SovParseOperator
from airflow_provider_sov.retries import retry_policy_args

WORKBOOK = str(Path(__file__).parent / "data" / "harbor_storage_sov.xlsx")

with DAG(
    dag_id="sov_parse_new",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["sov", "example"],
    params={
        "workbook": Param(WORKBOOK, type="string", description="The SOV workbook to parse."),
        "insured_name": Param("Harbor Storage", type="string", description="Names the output files."),
        "destination": Param("out", type="string", description="Folder or object-storage URL."),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), **retry_policy_args()},
    doc_md=__doc__,
) as dag:
    parse = SovParseOperator(
        task_id="parse",
        file="{{ params.workbook }}",
        extra_data={"insured_name": "{{ params.insured_name }}"},
        output_formats=["json"],
        destination="{{ params.destination }}/parsed",
        overwrite=True,
        deferrable=True,
        poll_interval=2,  # the emulator's jobs take seconds; keep the default 15 s for the API
    )
    SovGetOrCreateOutputOperator(
        task_id="export_xlsx",
        id=parse.output,  # the parse's result: its job_id is the new SOV
        output_format="xlsx",
        destination="{{ params.destination }}/exported",
        overwrite=True,
        deferrable=True,
        poll_interval=2,  # the emulator's jobs take seconds; keep the default 15 s for the API
    )
