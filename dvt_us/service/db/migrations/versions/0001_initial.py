"""Initial schema: instances, studies, jobs, reports and the append-only events log.

Revision ID: 0001
Revises:
Create Date: 2026-12-01 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UID = sa.String(64)
JOB_STATES = ("queued", "running", "done", "failed")

_SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
]
_POSTGRESQL_APPEND_ONLY = [
    "CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'events are append-only'; END $$",
    "CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events "
    "FOR EACH ROW EXECUTE FUNCTION events_append_only()",
    "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
    "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()",
]


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table, and the triggers that keep ``events`` append-only."""
    op.create_table(
        "studies",
        sa.Column("study_instance_uid", UID, nullable=False),
        sa.Column("first_received_at", _utc(), nullable=False),
        sa.Column("last_received_at", _utc(), nullable=False),
        sa.Column("instance_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("study_instance_uid", name="pk_studies"),
    )
    op.create_index("ix_studies_last_received_at", "studies", ["last_received_at"])
    op.create_table(
        "instances",
        sa.Column("sop_instance_uid", UID, nullable=False),
        sa.Column("study_instance_uid", UID, nullable=False),
        sa.Column("series_instance_uid", UID, nullable=False),
        sa.Column("sop_class_uid", UID, nullable=False),
        sa.Column("transfer_syntax_uid", UID, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("calling_ae_title", sa.String(16), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("sop_instance_uid", name="pk_instances"),
        sa.ForeignKeyConstraint(["study_instance_uid"], ["studies.study_instance_uid"],
                                name="fk_instances_study_instance_uid_studies"),
    )
    op.create_index("ix_instances_study_instance_uid", "instances", ["study_instance_uid"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("study_instance_uid", UID, nullable=False),
        sa.Column("models_key", sa.String(200), nullable=False),
        sa.Column("state", sa.Enum(*JOB_STATES, name="job_state", native_enum=False, create_constraint=False,
                                   length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("heartbeat_at", _utc(), nullable=True),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result_dir", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(["study_instance_uid"], ["studies.study_instance_uid"],
                                name="fk_jobs_study_instance_uid_studies"),
        sa.UniqueConstraint("study_instance_uid", "models_key", name="uq_jobs_study_instance_uid_models_key"),
        sa.CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name="ck_jobs_job_state"),
    )
    op.create_index("ix_jobs_state_created_at", "jobs", ["state", "created_at"])
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("visit", sa.String(64), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_reports_job_id_jobs"),
    )
    op.create_index("ix_reports_job_id", "reports", ["job_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("study_instance_uid", UID, nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_study_instance_uid", "events", ["study_instance_uid"])
    dialect = op.get_bind().dialect.name
    for statement in _POSTGRESQL_APPEND_ONLY if dialect == "postgresql" else _SQLITE_APPEND_ONLY:
        op.execute(statement)


def downgrade() -> None:
    """Drop everything ``upgrade`` created."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER events_no_truncate ON events")
        op.execute("DROP TRIGGER events_no_change ON events")
        op.execute("DROP FUNCTION events_append_only()")
    for table in ("events", "reports", "jobs", "instances", "studies"):
        op.drop_table(table)
