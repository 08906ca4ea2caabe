"""
Warehouse rows to a new SOV: read a portfolio's locations from Postgres, create an SOV from them,
wait for it, and load its JSON output back into the warehouse.

1. ``export_rows`` writes the portfolio's rows of ``source_table`` to a locations CSV under
   ``<destination>/<run_id>/``, one row per building: ``sheet_name`` ``SOV`` and
   ``sheet_row_number`` 2, 3, ... name each row, as in a spreadsheet; the other columns are SOV
   Fixer attributes (``COLUMNS``).
2. ``new_sov`` (``SovCreateSubmissionOperator``) creates the submission, adds the CSV, starts it
   and waits in the triggerer; it downloads the new SOV's JSON output. A retry resumes the same
   submission; it never creates a second.
3. ``load`` writes the output's buildings to ``target_table``, replacing the rows of the same
   run date (the logical date, or for a manual run the day it was asked for) and portfolio, so a
   rerun never doubles them.

Needs the ``sovfixer_default`` connection and a Postgres connection (``conn_id``, default
``warehouse_default``; ``apache-airflow-providers-postgres``). The source table has a
``portfolio`` column, a ``location_id`` to order by, and the columns in ``COLUMNS``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_sov.operators.sov import SovCreateSubmissionOperator
from airflow_provider_sov.retries import retry_policy_args

#: The warehouse columns sent as SOV Fixer attributes (rename them in the query if yours differ).
COLUMNS = [
    "bldg_name",
    "street_address",
    "city",
    "state",
    "postal_code",
    "country",
    "occupancy",
    "construction",
    "year_built",
    "limits__building_limit",
]

with DAG(
    dag_id="sov_new_from_warehouse",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["sov", "example", "warehouse"],
    params={
        "portfolio": Param("harbor", type="string", description="Whose locations become the new SOV."),
        "insured_name": Param("Harbor Storage", type="string", description="Names the output files."),
        "destination": Param("out/new_sov", type="string", description="Folder or object-storage URL."),
        "conn_id": Param("warehouse_default", type="string", description="The Postgres connection."),
        "source_table": Param("warehouse_locations", type="string", description="Where the rows are."),
        "target_table": Param("sov_new_buildings", type="string", description="Where the SOV goes."),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), **retry_policy_args()},
    doc_md=__doc__,
) as dag:

    @task
    def export_rows(params: dict | None = None, run_id: str | None = None) -> str:
        """Write the portfolio's rows as a locations CSV; return its path or URI."""
        import csv
        import io

        from warehouse_load import read_rows, write_text

        assert params is not None and run_id is not None
        rows = read_rows(
            conn_id=params["conn_id"],
            table=params["source_table"],
            columns=COLUMNS,
            where={"portfolio": params["portfolio"]},
            order_by="location_id",
        )
        if not rows:
            raise ValueError(f"{params['source_table']} has no rows for portfolio {params['portfolio']!r}.")
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["sheet_name", "sheet_row_number", *COLUMNS])
        for number, row in enumerate(rows, start=2):  # row 1 of a sheet is its header
            writer.writerow(["SOV", number, *("" if v is None else v for v in row)])
        uri = f"{params['destination']}/{run_id.replace(':', '_')}/locations.csv"
        write_text(uri, text.getvalue())
        return uri

    new_sov = SovCreateSubmissionOperator(
        task_id="new_sov",
        locations=export_rows(),
        client_ref="{{ dag.dag_id }}/{{ params.portfolio }}/{{ run_id }}",
        extra_data={"insured_name": "{{ params.insured_name }}"},
        output_formats=["json"],
        destination="{{ params.destination }}/{{ run_id | replace(':', '_') }}",
        overwrite=True,
        deferrable=True,
        poll_interval=5,
    )

    @task
    def load(result: dict, params: dict | None = None, dag_run=None) -> dict:
        """Load the new SOV's buildings (its JSON output) into the target table."""
        import csv
        import json
        import tempfile

        from airflow.sdk import ObjectStoragePath
        from warehouse_load import load_csv

        assert params is not None and dag_run is not None
        day = (
            (dag_run.logical_date or dag_run.run_after).date().isoformat()
        )  # manual runs have no logical date
        (output,) = [f for f in result["files"] if f["filename"].lower().endswith(".json")]
        uri = output["uri"]
        source = ObjectStoragePath(uri) if "://" in uri else None
        with source.open("rb") if source else open(uri, "rb") as handle:
            buildings = json.load(handle)["buildings"]
        columns = list(dict.fromkeys(k for b in buildings for k in b))
        with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", encoding="utf-8") as rows:
            writer = csv.DictWriter(rows, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(buildings)
            rows.flush()
            loaded = load_csv(
                rows.name,
                conn_id=params["conn_id"],
                table=params["target_table"],
                logical_date=day,
                key={"portfolio": params["portfolio"]},
            )
        return {"table": params["target_table"], "rows": loaded, "submission_id": result["job_id"]}

    load(new_sov.output)
