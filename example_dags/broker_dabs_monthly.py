"""
An agency's monthly DABS submission from its warehouse, to publication behind a person's approval.

1. ``export_files`` writes Files B and C (and File A, when ``file_a_table`` is set) for the month
   with Postgres ``COPY`` to CSV files under ``<destination>/<run_id>/``. The month is ``period``
   (``MM/YYYY``), by default the one before the run's logical date; periods 1 and 2 (October and
   November) go together, in November's run (October's is skipped).
2. ``submit`` (``DabsSubmissionOperator``) uploads them as a new submission and waits in the
   triggerer for its validations; when they find errors it keeps every error and warning report in
   ``<destination>/<run_id>/reports`` and fails, naming the counts and the files. A retry never
   uploads twice. Your own File A goes to the submission as a correction once B and C validated.
3. ``d1`` and ``d2`` (``DFileGenerateOperator``) generate the D1 and D2 files for the submission's
   period (their dates are the submission's own) and download them; ``cross_file``
   (``SubmissionValidationSensor``) waits for the cross-file validation; ``e`` and ``f`` generate E
   and F.
4. ``approve`` asks a person to approve (Airflow 3.1+: the standard provider's
   ``ApprovalOperator``, answered in the UI's Required Actions). ``publish``
   (``SubmissionPublishOperator``) publishes and certifies the submission only if they approved:
   its ``confirm`` is the answer. On Airflow 3.0, which has no human-in-the-loop tasks, the yes is
   the run's ``publish`` param instead: trigger the run again with ``publish`` set once the
   submission has been reviewed (the retry of ``submit`` reattaches to the same submission).

Needs the ``data_act_broker_default`` connection (``writer`` and ``submitter`` on the agency) and a
Postgres connection (``conn_id``; ``apache-airflow-providers-postgres``) whose tables hold a
``reporting_period`` (``MM/YYYY``) and an ``agency_identifier`` column besides the files' columns.
"""

from __future__ import annotations

import pendulum
from airflow.exceptions import AirflowException
from airflow.sdk import DAG, Param, task

from airflow_provider_sov.operators.broker import (
    DabsSubmissionOperator,
    DFileGenerateOperator,
    SubmissionPublishOperator,
)
from airflow_provider_sov.retries import retry_policy_args
from airflow_provider_sov.sensors.broker import SubmissionValidationSensor

try:  # Airflow 3.1+: a person answers in the UI (Browse > Required Actions)
    from airflow.providers.standard.operators.hitl import ApprovalOperator
except (ImportError, AirflowException):  # 3.0: no human-in-the-loop; the run's publish param is the yes
    ApprovalOperator = None

#: Each file's CSV headers and the warehouse columns they come from (rename to match your tables).
FILE_B = {
    "AgencyIdentifier": "agency_identifier",
    "MainAccountCode": "main_account_code",
    "ProgramActivityCode": "program_activity_code",
    "ObjectClass": "object_class",
    "ObligationsIncurredByProgramObjectClass_CPE": "obligations_incurred_cpe",
}
FILE_C = {
    "AgencyIdentifier": "agency_identifier",
    "MainAccountCode": "main_account_code",
    "PIID": "piid",
    "ObjectClass": "object_class",
    "TransactionObligatedAmount": "transaction_obligated_amount",
}
FILE_A = {
    "AllocationTransferAgencyIdentifier": "allocation_transfer_agency_identifier",
    "AgencyIdentifier": "agency_identifier",
    "MainAccountCode": "main_account_code",
    "BudgetAuthorityAppropriatedAmount_CPE": "budget_authority_appropriated_cpe",
}

with DAG(
    dag_id="broker_dabs_monthly",
    schedule="0 6 5 * *",  # the 5th of each month, for the month before
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["broker", "example", "warehouse"],
    params={
        "cgac_code": Param("097", type="string", pattern=r"^\d{3}$", description="The agency's CGAC code."),
        "period": Param("", type="string", description="MM/YYYY; empty: the month before the run."),
        "conn_id": Param("warehouse_default", type="string", description="The Postgres connection."),
        "file_b_table": Param("dabs_program_activity", type="string", description="File B's rows."),
        "file_c_table": Param("dabs_award_financial", type="string", description="File C's rows."),
        "file_a_table": Param("", type="string", description="File A's rows; empty: the Broker's own A."),
        "destination": Param("out/dabs", type="string", description="Folder or object-storage URL."),
        "publish": Param(False, type="boolean", description="Airflow 3.0 only: publish and certify."),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), **retry_policy_args()},
    doc_md=__doc__,
) as dag:

    @task
    def export_files(params: dict | None = None, run_id: str | None = None, logical_date=None) -> dict:
        """Write the month's Files B and C (and A) with COPY; return their paths and the month."""
        try:
            from airflow.sdk.exceptions import AirflowSkipException
        except ImportError:  # Airflow 3.0 and 3.1
            from airflow.exceptions import AirflowSkipException
        from warehouse_load import export_csv

        assert params is not None and run_id is not None
        month = params["period"] or pendulum.instance(logical_date or pendulum.now("UTC")).subtract(
            months=1
        ).format("MM/YYYY")
        if month.startswith("10/"):
            raise AirflowSkipException(f"Period 1 ({month}) is submitted with period 2, next month.")
        # November is period 2, submitted with period 1: October and November together.
        months = [f"10/{month[3:]}", month] if month.startswith("11/") else [month]
        folder = f"{params['destination']}/{run_id.replace(':', '_')}"
        where = {"reporting_period": months, "agency_identifier": params["cgac_code"]}
        files: dict = {"start": months[0], "end": months[-1], "appropriations": None}
        tables = {"program_activity": ("file_b_table", FILE_B), "award_financial": ("file_c_table", FILE_C)}
        if params["file_a_table"]:
            tables["appropriations"] = ("file_a_table", FILE_A)
        for field, (table, columns) in tables.items():
            uri = f"{folder}/{field}.csv"
            rows = export_csv(
                conn_id=params["conn_id"], table=params[table], columns=columns, where=where, uri=uri
            )
            if rows == 0 and field != "appropriations":
                raise ValueError(
                    f"{params[table]} has no rows for {params['cgac_code']} in {', '.join(months)}."
                )
            files[field] = uri
        return files

    files = export_files()
    run_folder = "{{ params.destination }}/{{ run_id | replace(':', '_') }}"

    submit = DabsSubmissionOperator(
        task_id="submit",
        program_activity=files["program_activity"],
        award_financial=files["award_financial"],
        appropriations=files["appropriations"],
        cgac_code="{{ params.cgac_code }}",
        reporting_period_start_date=files["start"],
        reporting_period_end_date=files["end"],
        reports_destination=f"{run_folder}/reports",
        deferrable=True,
    )
    submission_id = submit.output  # its result names the submission

    # D1 and D2 once A, B and C validated; E and F once the cross-file validation has too.
    generated = {
        file_type: DFileGenerateOperator(
            task_id=file_type.lower(),
            submission_id=submission_id,
            file_type=file_type,
            destination=run_folder,
            overwrite=True,
            deferrable=True,
        )
        for file_type in ("D1", "D2", "E", "F")
    }
    d_files, e_f = [generated["D1"], generated["D2"]], [generated["E"], generated["F"]]
    cross_file = SubmissionValidationSensor(
        task_id="cross_file", submission_id=submission_id, file_types=["cross"], deferrable=True
    )

    if ApprovalOperator is not None:
        approve = ApprovalOperator(
            task_id="approve",
            subject="Publish and certify DABS submission {{ ti.xcom_pull(task_ids='submit')['submission_id'] }}?",
            body="Its files, reports and D/E/F files are in {{ params.destination }}/{{ run_id | replace(':', '_') }}.",
        )
        confirm = "{{ 'Approve' in ti.xcom_pull(task_ids='approve')['chosen_options'] }}"
    else:
        approve = None
        confirm = "{{ params.publish }}"

    publish = SubmissionPublishOperator(
        task_id="publish",
        submission_id=submission_id,
        action="publish_and_certify",
        confirm=confirm,
        deferrable=True,
    )

    submit >> d_files >> cross_file >> e_f
    if approve is not None:
        e_f >> approve >> publish
    else:
        e_f >> publish
