"""
Load a CSV file into a Postgres table with ``COPY``, idempotently per logical date; and write a
table's rows to a CSV.

Shared by the warehouse example DAGs (``sov_warehouse_refresh``, ``broker_d1_warehouse``,
``sov_new_from_warehouse``, ``broker_dabs_monthly``, ``broker_fabs_twice_monthly``). Uses the Postgres provider's hook
(``apache-airflow-providers-postgres``), imported only when a task runs.

The file is streamed from wherever it was written (a local path or an object-storage URI such as
``s3://aws_default@bucket/key``) into a temporary staging table, then, in one transaction, the
rows of the same logical date (and key) are deleted from the target table and the staged rows
inserted. A rerun of the same date replaces its rows; a failure leaves the table as it was.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

_NAME = re.compile(r"[^a-z0-9_]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def column_name(header: str) -> str:
    """A CSV header as a safe Postgres column name: ``"Total Insured Value"`` -> ``total_insured_value``."""
    name = _NAME.sub("_", header.strip().lower()).strip("_") or "column"
    return f"c_{name}" if name[0].isdigit() else name


def load_csv(
    uri: str,
    *,
    conn_id: str,
    table: str,
    logical_date: str,
    key: dict[str, Any],
) -> int:
    """
    Replace the rows of ``logical_date`` and ``key`` in ``table`` with the rows of the CSV at ``uri``.

    :param uri: The file: local path or object-storage URI (as in a task's ``files``).
    :param conn_id: A Postgres connection.
    :param table: Target table, created (all CSV columns as text) if missing.
    :param logical_date: The run's date (``{{ ds }}``): the unit a rerun replaces.
    :param key: Further columns naming the data (e.g. ``{"sov_id": ...}``), stored on every row.
    :return: The number of rows loaded.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk import ObjectStoragePath

    for name in (table, *key):
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a plain table or column name (letters, digits, _; schema.table)."
            )
    source = ObjectStoragePath(uri) if "://" in uri else None
    with source.open("rb") if source else open(uri, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        header = next(csv.reader(text))
        columns = [column_name(h) for h in header]
        if len(set(columns)) != len(columns):
            raise ValueError(f"{uri}: two CSV columns share a name once made safe for Postgres: {header}")
        text.seek(0)
        keys = ", ".join(f'"{k}"' for k in key)
        data = ", ".join(f'"{c}"' for c in columns)
        where = " AND ".join(["logical_date = %s", *(f'"{k}" = %s' for k in key)])
        conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
        try:
            with conn, conn.cursor() as cursor:  # one transaction: commit on success, roll back on error
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} (logical_date date NOT NULL, "
                    + ", ".join([*(f'"{k}" text NOT NULL' for k in key), *(f'"{c}" text' for c in columns)])
                    + ")"
                )
                cursor.execute(
                    f"CREATE TEMP TABLE staging ({', '.join(f'{chr(34)}{c}{chr(34)} text' for c in columns)}) ON COMMIT DROP"
                )
                _copy_in(cursor, "COPY staging FROM STDIN WITH (FORMAT csv, HEADER true)", text)
                cursor.execute(f"DELETE FROM {table} WHERE {where}", [logical_date, *key.values()])
                cursor.execute(
                    f"INSERT INTO {table} (logical_date, {keys}, {data}) "
                    f"SELECT %s, {', '.join('%s' for _ in key)}, {data} FROM staging",
                    [logical_date, *key.values()],
                )
                return int(cursor.rowcount)
        finally:
            conn.close()


def read_rows(
    *, conn_id: str, table: str, columns: list[str], where: dict[str, Any], order_by: str
) -> list[tuple[Any, ...]]:
    """Return ``columns`` of the rows of ``table`` matching ``where`` (equality), ordered by ``order_by``."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    for name in (table, *columns, *where, order_by):
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a plain table or column name (letters, digits, _; schema.table)."
            )
    selected = ", ".join(f'"{c}"' for c in columns)
    conditions = " AND ".join(f'"{k}" = %s' for k in where) or "TRUE"
    conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                f'SELECT {selected} FROM {table} WHERE {conditions} ORDER BY "{order_by}"',
                list(where.values()),
            )
            return list(cursor.fetchall())
    finally:
        conn.close()


def export_csv(*, conn_id: str, table: str, columns: dict[str, str], where: dict[str, Any], uri: str) -> int:
    """
    Write the rows of ``table`` matching ``where`` (equality; a list: any of its values) to a CSV at
    ``uri`` with ``COPY ... TO STDOUT``, streamed through a temporary file (a local path appears
    whole, by rename; an object once written): ``columns`` maps each CSV header to its column.
    Return the number of rows.
    """
    import os
    import tempfile

    from airflow.providers.postgres.hooks.postgres import PostgresHook

    for name in (table, *columns.values(), *where):
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a plain table or column name (letters, digits, _; schema.table)."
            )
    for header in columns:
        if '"' in header:
            raise ValueError(f"CSV header {header!r} may not contain a double quote.")
    selected = ", ".join(f'"{column}" AS "{header}"' for header, column in columns.items())
    conditions, params = [], []
    for name, value in where.items():
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        conditions.append(f'"{name}" IN ({", ".join(["%s"] * len(values))})')
        params += values
    query = f"SELECT {selected} FROM {table} WHERE {' AND '.join(conditions) or 'TRUE'}"
    conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    with tempfile.NamedTemporaryFile("w+b", suffix=".csv", delete=False) as spool:
        try:
            with conn.cursor() as cursor:
                literal = _literal_query(cursor, query, params)
                _copy_out(cursor, f"COPY ({literal}) TO STDOUT WITH (FORMAT csv, HEADER true)", spool)
        finally:
            conn.close()
    try:
        with open(spool.name, encoding="utf-8", newline="") as written:
            rows = max(0, sum(1 for _ in csv.reader(written)) - 1)  # a quoted newline stays in its row
        if "://" in uri:
            from airflow.sdk import ObjectStoragePath

            with open(spool.name, "rb") as source, ObjectStoragePath(uri).open("wb") as target:
                while chunk := source.read(1 << 20):
                    target.write(chunk)
        else:
            os.makedirs(os.path.dirname(uri) or ".", exist_ok=True)
            os.replace(spool.name, uri)
    finally:
        if os.path.exists(spool.name):
            os.unlink(spool.name)
    return rows


def write_text(uri: str, text: str) -> None:
    """
    Write ``text`` to ``uri`` (a local path or an object-storage URI) so that no reader sees half of
    it: locally to a temporary name beside it, then renamed; an object appears whole once written.
    """
    import os

    from airflow.sdk import ObjectStoragePath

    if "://" in uri:
        ObjectStoragePath(uri).write_text(text)
        return
    os.makedirs(os.path.dirname(uri) or ".", exist_ok=True)
    with open(f"{uri}.part", "w", encoding="utf-8", newline="") as out:
        out.write(text)
    os.replace(f"{uri}.part", uri)


def _copy_in(cursor: Any, statement: str, text: io.TextIOBase) -> None:
    """Stream ``text`` into ``COPY ... FROM STDIN`` (psycopg 3 or psycopg2, whichever the hook uses)."""
    if hasattr(cursor, "copy_expert"):  # psycopg2
        cursor.copy_expert(statement, text)
        return
    with cursor.copy(statement) as copy:  # psycopg 3
        while chunk := text.read(1 << 16):
            copy.write(chunk)


def _literal_query(cursor: Any, query: str, params: list[Any]) -> str:
    """``query`` with its ``%s`` parameters quoted in by the driver (``COPY`` takes no parameters)."""
    if hasattr(cursor, "mogrify"):  # psycopg2
        text = cursor.mogrify(query, params)
        return text.decode() if isinstance(text, bytes) else str(text)
    from psycopg import sql  # psycopg 3

    return sql.SQL(query.replace("%s", "{}")).format(*map(sql.Literal, params)).as_string(cursor.connection)


def _copy_out(cursor: Any, statement: str, out: Any) -> None:
    """Stream ``COPY ... TO STDOUT`` into the binary file ``out`` (psycopg2 or psycopg 3)."""
    if hasattr(cursor, "copy_expert"):  # psycopg2
        cursor.copy_expert(statement, out)
        return
    with cursor.copy(statement) as copy:  # psycopg 3
        for data in copy:
            out.write(bytes(data))
