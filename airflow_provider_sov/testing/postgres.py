"""
A PostgreSQL server for tests, from the ``pgserver`` wheel (PostgreSQL's own binaries): nothing to
install on the machine, the same on any Linux. It listens on a Unix socket in its data folder.

Used as the distributed stack's metadata DB, and as the warehouse the warehouse example DAGs load
(the ``warehouse_default`` Postgres connection, database ``warehouse``).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

#: The Postgres connection the warehouse example DAGs load tables through.
WAREHOUSE_CONN_ID = "warehouse_default"


class PostgresFailed(RuntimeError):
    """The server could not start; the message says where and why."""


class PostgresServer:
    """``with PostgresServer(folder, "airflow", "warehouse") as pg:`` starts it with those databases."""

    def __init__(self, pgdata: Path, *databases: str) -> None:
        self.pgdata = pgdata
        self.databases = databases
        self._server: Any = None

    def start(self) -> PostgresServer:
        import pgserver

        logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every command it runs
        try:
            self._server = pgserver.get_server(self.pgdata, cleanup_mode=None)
            for db in self.databases:
                self._server.psql(f"CREATE DATABASE {db};")
        except Exception as e:
            raise PostgresFailed(f"Postgres (pgserver) did not start in {self.pgdata}: {e}") from e
        return self

    def stop(self) -> None:
        """Stop the server (its handle alone would leave it running: it is started to outlive us)."""
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._pg_ctl("stop")
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None

    def restart(self) -> None:
        """Restart the server (``pg_ctl restart -m fast``): every open connection is cut."""
        assert self._server is not None, "start() first"
        self._pg_ctl("restart")

    def _pg_ctl(self, action: str) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

        pg_ctl(
            ["-w", "-m", "fast", "-l", str(self.pgdata / "log"), action],
            pgdata=self.pgdata,
            user=self._server.system_user,
            timeout=60,
        )

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dsn(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` (psycopg2, over the Unix socket)."""
        return f"postgresql+psycopg2://postgres@/{database}?host={self.pgdata}"

    def connection_env(self, conn_id: str = WAREHOUSE_CONN_ID, database: str = "warehouse") -> dict[str, str]:
        """``AIRFLOW_CONN_<ID>``: a ``postgres`` connection to ``database`` over the Unix socket."""
        socket_dir = str(self.pgdata).replace("/", "%2F")
        return {f"AIRFLOW_CONN_{conn_id.upper()}": f"postgres://postgres@{socket_dir}/{database}"}

    def sql(self, database: str, statement: str, *params: object) -> list[tuple[Any, ...]]:
        """Rows of ``statement`` (``?`` placeholders, as for SQLite) on ``database``."""
        import psycopg2

        with contextlib.closing(
            psycopg2.connect(host=str(self.pgdata), user="postgres", dbname=database)
        ) as db:
            db.autocommit = True
            with db.cursor() as cursor:
                cursor.execute(statement.replace("?", "%s"), params)
                return cursor.fetchall() if cursor.description else []
