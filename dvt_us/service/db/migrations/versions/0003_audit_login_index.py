"""An index on the audit trail's ``(object, action, at)``: the login throttle counts failed logins from it.

Each login attempt counts the ``auth.login_failed`` entries of one ``user:NAME`` object in the last minutes
(:mod:`~dvt_us.service.workspace.login_throttle`); the index keeps that to those few entries, however long
the trail grows. An index changes no entry, so the append-only triggers are not involved.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_review_audit_object_action_at"


def upgrade() -> None:
    """Create the index (both backends)."""
    op.create_index(INDEX, "review_audit", ["object", "action", "at"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index(INDEX, table_name="review_audit")
