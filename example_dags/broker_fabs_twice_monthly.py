"""
An agency's FABS file from its grants warehouse, twice a month, to publication behind a person's approval.

1. ``export_fabs`` writes the awards not yet submitted (``submitted`` false) of the sub-tier agency
   to a CSV with Postgres ``COPY``, under ``<destination>/<run_id>/``.
2. ``submit`` (``FabsSubmissionOperator``) uploads it as a new FABS submission and waits in the
   triggerer for its validation. When it finds errors, every error and warning report is kept in
   ``<destination>/<run_id>/reports`` and the task fails, naming the counts and the files: fix the
   rows, and run again. A retry never uploads twice.
3. ``approve`` asks a person to approve (Airflow 3.1+: the standard provider's ``ApprovalOperator``,
   answered in the UI's Required Actions); ``publish`` (``SubmissionPublishOperator``) publishes
   the submission to USAspending only if they approved. On Airflow 3.0, which has no
   human-in-the-loop tasks, the run's ``publish`` param is the yes.
4. ``mark_submitted`` marks the awards of the published file submitted, so the next run sends only
   new ones.

Needs the ``data_act_broker_default`` connection (``editfabs`` and ``fabs`` on the agency) and a
Postgres connection (``conn_id``) whose table holds ``awarding_sub_tier_agency_code`` and a boolean
``submitted`` besides the file's columns.
"""

from __future__ import annotations

import pendulum
from airflow.exceptions import AirflowException
from airflow.sdk import DAG, Param, task

from airflow_provider_sov.operators.broker import FabsSubmissionOperator, SubmissionPublishOperator
from airflow_provider_sov.retries import retry_policy_args

try:  # Airflow 3.1+: a person answers in the UI (Browse > Required Actions)
    from airflow.providers.standard.operators.hitl import ApprovalOperator
except (ImportError, AirflowException):  # 3.0: no human-in-the-loop; the run's publish param is the yes
    ApprovalOperator = None

#: The FABS file's CSV headers and the warehouse columns they come from (rename to match your table).
FABS = {
    "AssistanceType": "assistance_type",
    "FAIN": "fain",
    "AwardModificationAmendmentNumber": "award_modification_number",
    "AwardingSubTierAgencyCode": "awarding_sub_tier_agency_code",
    "ActionDate": "action_date",
    "FederalActionObligation": "federal_action_obligation",
    "CorrectionDeleteIndicator": "correction_delete_indicator",
}

with DAG(
    dag_id="broker_fabs_twice_monthly",
    schedule="0 7 1,16 * *",  # the 1st and the 16th
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["broker", "example", "warehouse"],
    params={
        "agency_code": Param("2000", type="string", pattern=r"^\w{4}$", description="The sub-tier agency."),
        "conn_id": Param("warehouse_default", type="string", description="The Postgres connection."),
        "table": Param("fabs_awards", type="string", description="Where the awards are."),
        "destination": Param("out/fabs", type="string", description="Folder or object-storage URL."),
        "publish": Param(False, type="boolean", description="Airflow 3.0 only: publish."),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), **retry_policy_args()},
    doc_md=__doc__,
) as dag:

    @task
    def export_fabs(params: dict | None = None, run_id: str | None = None) -> str:
        """Write the sub-tier agency's awards not yet submitted with COPY; return the file's path."""
        from warehouse_load import export_csv

        assert params is not None and run_id is not None
        uri = f"{params['destination']}/{run_id.replace(':', '_')}/fabs.csv"
        where = {"awarding_sub_tier_agency_code": params["agency_code"], "submitted": False}
        rows = export_csv(
            conn_id=params["conn_id"], table=params["table"], columns=FABS, where=where, uri=uri
        )
        if rows == 0:
            raise ValueError(f"{params['table']} has no new awards for {params['agency_code']}.")
        return uri

    exported = export_fabs()
    submit = FabsSubmissionOperator(
        task_id="submit",
        fabs=exported,
        agency_code="{{ params.agency_code }}",
        reports_destination="{{ params.destination }}/{{ run_id | replace(':', '_') }}/reports",
        deferrable=True,
    )

    if ApprovalOperator is not None:
        approve = ApprovalOperator(
            task_id="approve",
            subject="Publish FABS submission {{ ti.xcom_pull(task_ids='submit')['submission_id'] }}?",
            body="{{ ti.xcom_pull(task_ids='submit')['number_of_warnings'] }} warning(s); reports in "
            "{{ params.destination }}/{{ run_id | replace(':', '_') }}/reports.",
        )
        confirm = "{{ 'Approve' in ti.xcom_pull(task_ids='approve')['chosen_options'] }}"
    else:
        approve = None
        confirm = "{{ params.publish }}"

    publish = SubmissionPublishOperator(
        task_id="publish", submission_id=submit.output, confirm=confirm, deferrable=True
    )

    @task
    def mark_submitted(published: dict, fabs_file: str, params: dict | None = None) -> int:
        """Mark the awards in the published file as submitted (rows added since are left for next time)."""
        import csv
        import io

        from airflow.providers.postgres.hooks.postgres import PostgresHook
        from airflow.sdk import ObjectStoragePath

        assert params is not None
        table = params["table"]
        if not table.replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"{table!r} is not a plain table name.")
        source = ObjectStoragePath(fabs_file) if "://" in fabs_file else None
        with source.open("rb") if source else open(fabs_file, "rb") as handle:
            rows = list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8", newline="")))
        keys = [(row["FAIN"], row["AwardModificationAmendmentNumber"]) for row in rows]
        conn = PostgresHook(postgres_conn_id=params["conn_id"]).get_conn()
        try:
            with conn.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {table} SET submitted = TRUE WHERE fain = %s AND award_modification_number = %s",
                    keys,
                )
            conn.commit()
        finally:
            conn.close()
        return len(keys)

    if approve is not None:
        submit >> approve >> publish
    mark_submitted(publish.output, exported)
