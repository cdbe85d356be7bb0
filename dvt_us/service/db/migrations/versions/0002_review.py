"""Reader review: users, sessions, studies under review, versioned reads, signatures and the audit trail.

``review_audit`` and ``review_signatures`` are append-only: triggers refuse UPDATE and DELETE on both
backends, and TRUNCATE on PostgreSQL. A signed version of a read (``review_reads.signed_at`` set) is
locked the same way.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 11:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHA = sa.String(64)
NAME = sa.String(64)
ROLES = ("reader", "adjudicator", "admin")
SLOTS = ("read_1", "read_2", "adjudication")
STATES = ("awaiting_read_1", "awaiting_read_2", "discordant", "in_adjudication", "final")
APPEND_ONLY = ("review_audit", "review_signatures")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=False, length=32)


def _check(column: str, values: Sequence[str], name: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=name)


def _append_only(table: str, dialect: str) -> list[str]:
    message = f"{table} is append-only"
    if dialect == "postgresql":
        return [
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$",
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END",
    ]


def _signed_reads_locked(dialect: str) -> list[str]:
    message = "a signed read version is locked: amend it to make a new version"
    if dialect == "postgresql":
        return [
            "CREATE FUNCTION review_reads_signed_locked() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN IF OLD.signed_at IS NOT NULL THEN RAISE EXCEPTION '{message}'; END IF; "
            "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER review_reads_locked BEFORE UPDATE OR DELETE ON review_reads "
            "FOR EACH ROW EXECUTE FUNCTION review_reads_signed_locked()",
        ]
    return [
        "CREATE TRIGGER review_reads_no_update_signed BEFORE UPDATE ON review_reads WHEN OLD.signed_at IS NOT NULL "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
        "CREATE TRIGGER review_reads_no_delete_signed BEFORE DELETE ON review_reads WHEN OLD.signed_at IS NOT NULL "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
    ]


def upgrade() -> None:
    """Create the review tables, the append-only triggers and the lock on signed read versions."""
    op.create_table(
        "review_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", NAME, nullable=False),
        sa.Column("printed_name", sa.String(200), nullable=False),
        sa.Column("role", _enum(ROLES, "review_role"), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("password_changed_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_review_users"),
        sa.UniqueConstraint("username", name="uq_review_users_username"),
        _check("role", ROLES, "ck_review_users_review_role"),
    )
    op.create_table(
        "review_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_sha256", SHA, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", SHA, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("last_seen_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_review_sessions"),
        sa.UniqueConstraint("token_sha256", name="uq_review_sessions_token_sha256"),
        sa.ForeignKeyConstraint(["user_id"], ["review_users.id"], name="fk_review_sessions_user_id_review_users"),
    )
    op.create_index("ix_review_sessions_user_id", "review_sessions", ["user_id"])
    op.create_table(
        "review_studies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("trial", NAME, nullable=False),
        sa.Column("site", NAME, nullable=False),
        sa.Column("subject", NAME, nullable=False),
        sa.Column("visit", NAME, nullable=False),
        sa.Column("state", _enum(STATES, "review_state"), nullable=False),
        sa.Column("final_slot", _enum(SLOTS, "review_final_slot"), nullable=True),
        sa.Column("final_folder", sa.Text(), nullable=True),
        sa.Column("final_content_sha256", SHA, nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_review_studies"),
        sa.UniqueConstraint("report_id", name="uq_review_studies_report_id"),
        sa.UniqueConstraint("folder", name="uq_review_studies_folder"),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name="fk_review_studies_report_id_reports"),
        _check("state", STATES, "ck_review_studies_review_state"),
        _check("final_slot", SLOTS, "ck_review_studies_review_final_slot"),
    )
    op.create_index("ix_review_studies_state", "review_studies", ["state"])
    op.create_index("ix_review_studies_trial_site_subject_visit", "review_studies",
                    ["trial", "site", "subject", "visit"])
    op.create_table(
        "review_reads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("slot", _enum(SLOTS, "review_read_slot"), nullable=False),
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("content_sha256", SHA, nullable=False),
        sa.Column("change_reason", sa.Text(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("signed_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_review_reads"),
        sa.UniqueConstraint("study_id", "slot", "version", name="uq_review_reads_study_id_slot_version"),
        sa.ForeignKeyConstraint(["study_id"], ["review_studies.id"], name="fk_review_reads_study_id_review_studies"),
        sa.ForeignKeyConstraint(["reader_id"], ["review_users.id"], name="fk_review_reads_reader_id_review_users"),
        _check("slot", SLOTS, "ck_review_reads_review_read_slot"),
    )
    op.create_index("ix_review_reads_study_id", "review_reads", ["study_id"])
    op.create_index("ix_review_reads_reader_id", "review_reads", ["reader_id"])
    op.create_table(
        "review_signatures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("read_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("username", NAME, nullable=False),
        sa.Column("printed_name", sa.String(200), nullable=False),
        sa.Column("meaning", sa.String(200), nullable=False),
        sa.Column("signed_at", _utc(), nullable=False),
        sa.Column("content_sha256", SHA, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_review_signatures"),
        sa.UniqueConstraint("read_id", name="uq_review_signatures_read_id"),
        sa.ForeignKeyConstraint(["read_id"], ["review_reads.id"], name="fk_review_signatures_read_id_review_reads"),
        sa.ForeignKeyConstraint(["user_id"], ["review_users.id"], name="fk_review_signatures_user_id_review_users"),
    )
    op.create_table(
        "review_audit",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("action", NAME, nullable=False),
        sa.Column("object", sa.String(200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", SHA, nullable=False),
        sa.Column("hash", SHA, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_review_audit"),
        sa.UniqueConstraint("hash", name="uq_review_audit_hash"),
    )
    dialect = op.get_bind().dialect.name
    for statement in [*(s for table in APPEND_ONLY for s in _append_only(table, dialect)),
                      *_signed_reads_locked(dialect)]:
        op.execute(statement)


def downgrade() -> None:
    """Drop everything ``upgrade`` created."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER review_reads_locked ON review_reads")
        op.execute("DROP FUNCTION review_reads_signed_locked()")
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_change ON {table}")
            op.execute(f"DROP FUNCTION {table}_append_only()")
    for table in ("review_audit", "review_signatures", "review_reads", "review_studies", "review_sessions",
                  "review_users"):
        op.drop_table(table)
