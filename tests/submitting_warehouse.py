"""
The warehouse the examples read, in a Postgres database of the tests' own server: for the Broker
submitting examples (``broker_dabs_monthly``, ``broker_fabs_twice_monthly``), Files B and C of
agency 097 for every month of FY2026 and FY2027 and FABS awards of sub-tier 2000; for
``sov_new_from_warehouse``, the locations of portfolio ``harbor``.
"""

from __future__ import annotations

from typing import Any

MONTHS = [f"{m:02d}/{y}" for y in (2025, 2026, 2027) for m in range(1, 13)]
FABS_ROWS = [
    ("02", "FAIN-0001", "0", "2000", "20261101", "1500.00", ""),
    ("03", "FAIN-0002", "0", "2000", "20261102", "250.00", ""),
    ("04", "FAIN-0003", "1", "2000", "20261103", "75.25", ""),
]


MIAMI = ("Miami", "FL", "33131", "USA")
#: ``warehouse_locations``: three buildings of portfolio ``harbor`` (one without a limit), one of another.
LOCATIONS = [
    (1, "harbor", "Harbor North", "100 Pier Rd", *MIAMI, "Warehouse", "Masonry", 1987, 3400000),
    (2, "other", "Elsewhere", "1 Main St", "Boise", "ID", "83702", "USA", "Office", "Frame", 2001, 100),
    (3, "harbor", "Harbor South", "120 Pier Rd", *MIAMI, "Warehouse", "Masonry", 1991, None),
    (4, "harbor", "Harbor Office", "9 Bay St", *MIAMI, "Office", "Steel", 2006, 1900000),
]


def seed_locations(warehouse: Any, database: str = "warehouse") -> None:
    """Create ``warehouse_locations`` with :data:`LOCATIONS`, unless an earlier test did."""
    warehouse.sql(
        database,
        "CREATE TABLE IF NOT EXISTS warehouse_locations (location_id int PRIMARY KEY, portfolio text, "
        "bldg_name text, street_address text, city text, state text, postal_code text, country text, "
        "occupancy text, construction text, year_built int, limits__building_limit bigint)",
    )
    for row in LOCATIONS:
        marks = ", ".join("?" * len(row))
        warehouse.sql(
            database, f"INSERT INTO warehouse_locations VALUES ({marks}) ON CONFLICT DO NOTHING", *row
        )


def seed(warehouse: Any, database: str = "warehouse") -> None:
    """Create the examples' tables (again) and their rows."""
    sql = warehouse.sql
    for table in ("dabs_program_activity", "dabs_award_financial", "fabs_awards"):
        sql(database, f"DROP TABLE IF EXISTS {table}")
    sql(
        database,
        "CREATE TABLE dabs_program_activity (reporting_period text, agency_identifier text, "
        "main_account_code text, program_activity_code text, object_class text, obligations_incurred_cpe numeric)",
    )
    sql(
        database,
        "CREATE TABLE dabs_award_financial (reporting_period text, agency_identifier text, main_account_code "
        "text, piid text, object_class text, transaction_obligated_amount numeric)",
    )
    sql(
        database,
        "CREATE TABLE fabs_awards (assistance_type text, fain text, award_modification_number text, "
        "awarding_sub_tier_agency_code text, action_date text, federal_action_obligation numeric, "
        "correction_delete_indicator text, submitted boolean NOT NULL DEFAULT FALSE)",
    )
    for month in MONTHS:
        for n in range(2):
            sql(
                database,
                "INSERT INTO dabs_program_activity VALUES (?, '097', '0100', ?, '25.2', ?)",
                month,
                f"000{n}",
                1000 + n,
            )
            sql(
                database,
                "INSERT INTO dabs_award_financial VALUES (?, '097', '0100', ?, '25.2', ?)",
                month,
                f"W91-{month[:2]}{month[3:]}-{n}",
                500 + n,
            )
    for row in FABS_ROWS:
        sql(database, "INSERT INTO fabs_awards VALUES (?, ?, ?, ?, ?, ?, ?, FALSE)", *row)
