"""Revisions 0002 and 0003 on both backends: they build the review tables of the models, and downgrade cleanly."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from dvt_us.service.db import Database
from dvt_us.service.db.engine import _script_location, alembic_config
from dvt_us.service.review import models

LOGIN_INDEX = "ix_review_audit_object_action_at"
REVIEW_TABLES = {"review_users", "review_sessions", "review_studies", "review_reads", "review_signatures",
                 "review_audit"}


def test_the_migration_matches_the_review_models(database: Database) -> None:
    assert {t for t in models.Base.metadata.tables if t.startswith("review_")} == REVIEW_TABLES
    assert database.schema_diffs() == []
    assert set(inspect(database.engine).get_table_names()) >= REVIEW_TABLES


def _downgrade(database: Database, revision: str) -> None:
    with _script_location() as location, database.engine.begin() as connection:
        config = alembic_config(location)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_downgrade_to_0001_and_up_again(database: Database) -> None:
    _downgrade(database, "0001")
    assert not REVIEW_TABLES & set(inspect(database.engine).get_table_names())
    database.upgrade()
    assert database.schema_diffs() == []


def test_0003_adds_the_index_the_login_throttle_counts_with(database: Database) -> None:
    def audit_indexes() -> dict[str, list[str | None]]:
        return {str(ix["name"]): ix["column_names"] for ix in inspect(database.engine).get_indexes("review_audit")}

    assert audit_indexes()[LOGIN_INDEX] == ["object", "action", "at"]
    _downgrade(database, "0002")
    assert LOGIN_INDEX not in audit_indexes()
    database.upgrade()
    assert LOGIN_INDEX in audit_indexes() and database.schema_diffs() == []
