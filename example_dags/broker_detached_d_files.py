"""
Generate detached D1 and D2 files (no submission) for one agency and a date range.

The agency is named by its CGAC code. Identical requests share the Broker's cache, so a file
generated earlier comes back at once, without waiting. One mapped task per file type; files land
under ``<destination>/agency-<cgac_code>/``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_sov.operators.broker import DFileGenerateOperator
from airflow_provider_sov.retries import retry_policy_args

with DAG(
    dag_id="broker_detached_d_files",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["data-act-broker", "example"],
    params={
        "cgac_code": Param("097", type="string", pattern="^[0-9]{3}$", description="The agency's CGAC code."),
        "start": Param("10/01/2025", type="string", description="First day, MM/DD/YYYY."),
        "end": Param("12/31/2025", type="string", description="Last day, MM/DD/YYYY."),
        "agency_type": Param("awarding", enum=["awarding", "funding"]),
        "destination": Param("out", type="string", description="Folder or object-storage URL."),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5), **retry_policy_args()},
    doc_md=__doc__,
) as dag:
    DFileGenerateOperator.partial(
        task_id="generate",
        cgac_code="{{ params.cgac_code }}",
        start="{{ params.start }}",
        end="{{ params.end }}",
        agency_type="{{ params.agency_type }}",
        destination="{{ params.destination }}/agency-{{ params.cgac_code }}",
        overwrite=True,
        deferrable=True,
        poll_interval=10,
    ).expand(file_type=["D1", "D2"])
