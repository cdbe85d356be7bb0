"""Revision 0002 on both backends: it builds the review tables of the models, and downgrades cleanly."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from dvt_us.service.db import Database
from dvt_us.service.db.engine import _script_location, alembic_config
from dvt_us.service.review import models

REVIEW_TABLES = {"review_users", "review_sessions", "review_studies", "review_reads", "review_signatures",
                 "review_audit"}


def test_the_migration_matches_the_review_models(database: Database) -> None:
    assert {t for t in models.Base.metadata.tables if t.startswith("review_")} == REVIEW_TABLES
    assert database.schema_diffs() == []
    assert set(inspect(database.engine).get_table_names()) >= REVIEW_TABLES


def test_downgrade_to_0001_and_up_again(database: Database) -> None:
    with _script_location() as location, database.engine.begin() as connection:
        config = alembic_config(location)
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert not REVIEW_TABLES & set(inspect(database.engine).get_table_names())
    database.upgrade()
    assert database.schema_diffs() == []
