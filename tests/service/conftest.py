"""Service test fixtures: a migrated ``Database`` on each backend, SQLite (a file) and PostgreSQL.

PostgreSQL is required: each test gets a fresh, uniquely named database on the server named by
``DVT_US_TEST_POSTGRES`` (a libpq conninfo or URL, default ``postgresql://postgres@127.0.0.1:5432/postgres``),
dropped afterwards. An unreachable server fails the PostgreSQL tests; ``DVT_US_SKIP_POSTGRES=1`` skips them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from dvt_us.service import receive_spool
from dvt_us.service.db import Database

POSTGRES_ADMIN = os.environ.get("DVT_US_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]


def _postgres_database(name: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    params = {key: str(value) for key, value in conninfo_to_dict(POSTGRES_ADMIN).items() if value is not None}
    return URL.create("postgresql+psycopg", username=params.get("user"), password=params.get("password"),
                      host=params.get("host"), port=int(params["port"]) if "port" in params else None,
                      database=name).render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dvt-us.db'}"
        return
    if os.environ.get("DVT_US_SKIP_POSTGRES") == "1":
        pytest.skip("DVT_US_SKIP_POSTGRES=1")
    import psycopg
    from psycopg import sql

    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        unreachable = str(exc)
    else:
        unreachable = ""
    if unreachable:
        pytest.fail(f"PostgreSQL is required for the service tests but {POSTGRES_ADMIN!r} is unreachable: "
                    f"{unreachable}\nStart it, point DVT_US_TEST_POSTGRES at one, or set DVT_US_SKIP_POSTGRES=1 to "
                    "skip these tests.", pytrace=False)
    name = f"dvtus_test_{uuid.uuid4().hex[:16]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _postgres_database(name)
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=10) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated database (``max_attempts=3``) on each backend."""
    db = Database(database_url, max_attempts=3)
    db.upgrade()
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def writeback_starts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """``(offset, count)`` of every write-back the receive spool starts from now on (it still starts them)."""
    started: list[tuple[int, int]] = []
    real = receive_spool.start_writeback

    def recorded(fd: int, offset: int, count: int) -> bool:
        started.append((offset, count))
        return real(fd, offset, count)

    monkeypatch.setattr(receive_spool, "start_writeback", recorded)
    return started
