"""Database engines: the embedded SQLite file by default, PostgreSQL by URL.

Users write URLs the way they know them (``postgresql://user@host:5432/db``,
``sqlite:///path/to/file.db``); which driver serves them is our business (psycopg 3).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL = "sqlite:///pilkada.db"
DATABASE_URL_ENV = "PILKADA_DATABASE_URL"
#: Milliseconds after which PostgreSQL cancels a statement (one heavy query cannot hold the API).
STATEMENT_TIMEOUT_MS = 30_000


def database_url(explicit: str | None = None) -> str:
    """The URL in force: ``--database-url``, else ``PILKADA_DATABASE_URL``, else ``./pilkada.db``."""
    return explicit or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def driver_url(url: str) -> str:
    """Map a user's URL onto the driver we ship: ``postgresql://`` -> ``postgresql+psycopg://``."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str | None = None, *, echo: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url`` set up for durable, concurrent use.

    SQLite: WAL journal (readers never block the writer), ``synchronous=FULL`` so that an
    acknowledged write survives a power cut, foreign keys on, and a busy timeout so that
    several server processes can share the file. PostgreSQL: synchronous commit and a
    statement timeout.
    """
    url = driver_url(database_url(url))
    if make_url(url).get_backend_name() == "sqlite":
        _ensure_sqlite_folder(url)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    parsed = make_url(url)
    user_options = parsed.query.get("options", "")
    options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c synchronous_commit=on {user_options}".strip()
    url = parsed.difference_update_query(["options"]).render_as_string(hide_password=False)
    return create_engine(
        url, echo=echo, pool_pre_ping=True, connect_args={"options": options}, **kwargs
    )


def _ensure_sqlite_folder(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Connection) -> None:
    # Take the write lock at BEGIN so that two writers queue instead of deadlocking on upgrade.
    # Readers (``engine.execution_options(read_only=True)``, as the API uses) must not take it:
    # a long import would otherwise block every query, and concurrent queries each other.
    if connection.get_execution_options().get("read_only"):
        connection.exec_driver_sql("BEGIN")
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE")


#: SQLite checks the deadline every this many virtual-machine instructions (a few microseconds).
PROGRESS_STEPS = 1000


@contextmanager
def statement_deadline(connection: Connection, seconds: float) -> Iterator[None]:
    """On SQLite, interrupt any statement of ``connection`` still running ``seconds`` from now.

    SQLite has no statement timeout; a progress handler that returns non-zero makes the running
    statement fail with "interrupted" (:class:`sqlite3.OperationalError`), which the API reports as
    a timeout. PostgreSQL needs nothing here: its ``statement_timeout`` is set per connection
    (:data:`STATEMENT_TIMEOUT_MS`).
    """
    if not is_sqlite(connection):
        yield
        return
    import time

    raw = connection.connection.dbapi_connection
    deadline = time.monotonic() + seconds
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)  # type: ignore[union-attr]
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)  # type: ignore[union-attr]


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    with engine.begin() as connection:
        yield connection


def init_database(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration (Alembic)."""
    from pilkada_graph.migrations import upgrade

    upgrade(engine)
