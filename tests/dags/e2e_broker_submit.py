"""
Submitting to the emulated Broker under ``airflow dags test``: a FABS file with an error (its task
fails, its reports kept), and a new DABS submission then a correction of its File C only.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_sov.operators.broker import DabsSubmissionOperator, FabsSubmissionOperator

IN = "{{ dag_run.conf['inputs'] }}"
OUT = "{{ dag_run.conf['destination'] }}"
waits = {"deferrable": True, "poll_interval": 1}

with DAG(dag_id="e2e_broker_submit", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    FabsSubmissionOperator(
        task_id="fabs_errors",
        fabs=f"{IN}/fabs_errors.csv",
        agency_code="2000",
        reports_destination=f"{OUT}/fabs_reports",
        **waits,
    )
    new = DabsSubmissionOperator(
        task_id="dabs_new",
        program_activity=f"{IN}/file_b.csv",
        award_financial=f"{IN}/file_c.csv",
        cgac_code="097",
        reporting_period_start_date="04/2026",
        reporting_period_end_date="04/2026",
        **waits,
    )
    DabsSubmissionOperator(
        task_id="dabs_correction",
        existing_submission_id=new.output,
        award_financial=f"{IN}/file_c_corrected.csv",
        **waits,
    )

with DAG(dag_id="e2e_upload_kill", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    # Killed (kill -9) while the Broker holds its upload's answer: Airflow's retry must find the
    # submission that upload made, by the mark in its files' names, and upload nothing more.
    DabsSubmissionOperator(
        task_id="submit",
        program_activity=f"{IN}/file_b.csv",
        award_financial=f"{IN}/file_c.csv",
        cgac_code="097",
        reporting_period_start_date="05/2026",
        reporting_period_end_date="05/2026",
        retries=1,
        retry_delay=pendulum.duration(seconds=1),
        deferrable=False,
        poll_interval=1,
    )
