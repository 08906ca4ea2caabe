"""
The three SOV Fixer tasks that make a job, each with one retry: the end-to-end tests answer each
one's first creating call with a gateway's 504 after the service made the job, so only the retry's
lookup by ``client_ref`` keeps each run at one job. Run under ``airflow dags test``.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG

from airflow_provider_sov.operators.sov import (
    SovCreateSubmissionOperator,
    SovParseOperator,
    SovUpdateOperator,
)

DATA = Path(__file__).resolve().parents[1] / "data"
OUT = "{{ dag_run.conf['destination'] }}"
once_more = {
    "retries": 1,
    "retry_delay": pendulum.duration(seconds=1),
    "deferrable": True,
    "poll_interval": 1,
}

with DAG(dag_id="e2e_lost_answer", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    SovParseOperator(
        task_id="parse", file=str(DATA / "harbor_storage_sov.xlsx"), destination=f"{OUT}/parse", **once_more
    )
    SovUpdateOperator(
        task_id="update",
        sov_id="s-no-ping-hggcsk",  # the emulator's SOV whose buildings corrections.csv names
        locations=str(DATA / "corrections.csv"),
        destination=f"{OUT}/update",
        **once_more,
    )
    SovCreateSubmissionOperator(
        task_id="new_sov",
        locations=str(DATA / "new_sov_rows.csv"),
        extra_data={"insured_name": "Harbor Storage"},
        destination=f"{OUT}/new_sov",
        **once_more,
    )
