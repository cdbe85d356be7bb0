"""Engines for the two supported backends, and the schema migrations that Alembic runs on them.

SQLite (embedded default) is opened in WAL mode with foreign keys on and a busy timeout; SQLAlchemy, not the
``sqlite3`` module, emits ``BEGIN``: ``BEGIN IMMEDIATE`` for transactions that may write (one writer at a time,
taken up front, so that no read lock ever has to be upgraded) and a deferred ``BEGIN`` for read-only ones (WAL
readers never wait). PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL, Connection
from sqlalchemy.pool import StaticPool

from dvt_us.service.db.models import Base

BACKENDS = ("sqlite", "postgresql+psycopg")
"""The drivers the service supports (``postgresql://`` is read as ``postgresql+psycopg://``)."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for the write lock before ``database is locked``."""

READ_ONLY = "dvt_us_read_only"
"""Execution option: the transaction only reads (SQLite: deferred ``BEGIN`` instead of ``BEGIN IMMEDIATE``)."""

REBUILT_AT_START = "dvt_us_rebuilt_at_start"
"""Execution option: the transaction writes only rows that start-up rebuilds from the files they describe
(:func:`dvt_us.service.recovery.reconcile_instances`), so on SQLite its commit does not wait for the disk
(``synchronous = NORMAL``: in WAL mode such a commit survives a crash of the process; a power cut, which also
stops the service and so leads to a start-up, can undo the last ones). Every other writing transaction
commits durably, and with it everything committed before it. PostgreSQL ignores the option: its server can
crash and come back while the service keeps running, and no start-up would record the lost rows again."""

_MIGRATION_LOCK_ID = 0x64767475
"""PostgreSQL advisory lock held while migrating, so that concurrent upgrades run one after the other."""


def parse_url(url: str | URL) -> URL:
    """The SQLAlchemy URL, with ``postgresql`` meaning psycopg 3; a ValueError for an unsupported backend."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in BACKENDS:
        raise ValueError(f"database URL {parsed.render_as_string(hide_password=True)!r}: unsupported driver "
                         f"{parsed.drivername!r}; valid: {', '.join(BACKENDS)}")
    return parsed


def make_engine(url: str | URL) -> Engine:
    """An engine for ``url``, configured for concurrent use by threads and processes.

    Parameters
    ----------
    url
        ``sqlite:///ABSOLUTE/PATH.db`` (``sqlite://`` for a private in-memory database) or
        ``postgresql+psycopg://USER@HOST:PORT/DB``.

    Returns
    -------
    Engine
        Safe to share between threads; create one per process (after ``fork``, call ``dispose()``).
    """
    parsed = parse_url(url)
    if parsed.drivername != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    in_memory = parsed.database in (None, "", ":memory:")
    engine = create_engine(
        parsed,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **({"poolclass": StaticPool} if in_memory else {}),
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


_SYNCHRONOUS = "dvt_us_synchronous"
"""Key, in a pooled SQLite connection's ``info``, of the ``PRAGMA synchronous`` level it is at."""


def _sqlite_on_connect(dbapi_connection: Any, record: Any) -> None:
    dbapi_connection.isolation_level = None  # sqlite3 must not emit BEGIN itself; _sqlite_on_begin does
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")  # a committed job survives a power cut
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
    record.info[_SYNCHRONOUS] = "FULL"


def _sqlite_on_begin(connection: Connection) -> None:
    options = connection.get_execution_options()
    if options.get(READ_ONLY, False):
        connection.exec_driver_sql("BEGIN")
        return
    # The level can only change between transactions, and it stays with the connection: set it each time.
    level = "NORMAL" if options.get(REBUILT_AT_START, False) else "FULL"
    info = connection.connection.info
    if info.get(_SYNCHRONOUS) != level:
        connection.exec_driver_sql(f"PRAGMA synchronous = {level}")
        info[_SYNCHRONOUS] = level
    connection.exec_driver_sql("BEGIN IMMEDIATE")



@contextmanager
def _script_location() -> Iterator[Path]:
    with resources.as_file(resources.files("dvt_us.service.db") / "migrations") as path:
        yield path


def alembic_config(script_location: Path) -> Config:
    """An Alembic configuration built in code (no ``alembic.ini``), pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(script_location).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run ``alembic upgrade`` on ``engine`` in one transaction; concurrent callers run one after the other."""
    with _script_location() as location, engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
        config = alembic_config(location)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, ``None`` before the first upgrade."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_diffs(engine: Engine) -> list[Any]:
    """Alembic's differences between the database schema and the models; empty when they agree."""
    from dvt_us.service.review import models as _review_models  # noqa: F401, PLC0415 (registers the review tables)

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))
