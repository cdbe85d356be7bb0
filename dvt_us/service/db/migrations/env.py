"""Alembic environment for the dvt-us service database.

``Database.upgrade()`` hands over its connection in ``config.attributes["connection"]``; the ``alembic``
command line may instead give ``sqlalchemy.url`` (``-x`` is not used). Offline mode (``--sql``) writes SQL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from dvt_us.service.db.engine import make_engine
from dvt_us.service.db.models import Base
from dvt_us.service.review import models as _review_models  # noqa: F401 (registers the review tables)

TARGET_METADATA = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=TARGET_METADATA, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Write the migration SQL for ``sqlalchemy.url`` without connecting."""
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=TARGET_METADATA,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate through the shared connection, or through a new engine for ``sqlalchemy.url``."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no connection in config.attributes and no sqlalchemy.url: nothing to migrate")
    engine = make_engine(url)
    try:
        with engine.begin() as new_connection:
            _configure(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
