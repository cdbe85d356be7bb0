"""The words of reader review: roles, read slots, study states and the actions that permissions name."""

from __future__ import annotations

from enum import StrEnum

from dvt_us.service.db.enum import parse_enum


class Role(StrEnum):
    """What a user account may do (see :data:`~dvt_us.service.review.permissions.PERMISSIONS`)."""

    READER = "reader"
    ADJUDICATOR = "adjudicator"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: str) -> Role:
        """The role named by ``value``; a ValueError listing the valid roles otherwise."""
        return parse_enum(cls, value, "role")


class ReadSlot(StrEnum):
    """Which read of a study: the two independent reads and the adjudication."""

    READ_1 = "read_1"
    READ_2 = "read_2"
    ADJUDICATION = "adjudication"


class ReviewState(StrEnum):
    """Where a study stands in review; a function of its signed reads (``workflow_rules.study_state``).

    ``awaiting_read_1``: no read signed yet; ``awaiting_read_2``: one read signed and a double read is required;
    ``discordant``: both reads signed and they disagree under the rules; ``in_adjudication``: an adjudicator has
    started the adjudication read; ``final``: the consensus (single read, concordant double read) or the
    signed adjudication is the study's final read.
    """

    AWAITING_READ_1 = "awaiting_read_1"
    AWAITING_READ_2 = "awaiting_read_2"
    DISCORDANT = "discordant"
    IN_ADJUDICATION = "in_adjudication"
    FINAL = "final"

    @classmethod
    def parse(cls, value: str) -> ReviewState:
        """The state named by ``value`` (e.g. a worklist filter); a ValueError listing the valid states otherwise."""
        return parse_enum(cls, value.replace(" ", "_"), "review state")


class Action(StrEnum):
    """Everything a user may be authorised to do.

    :data:`~dvt_us.service.review.permissions.PERMISSIONS` maps each action to the roles that may do it.
    """

    WORKLIST_VIEW = "worklist.view"
    READ_CREATE = "read.create"
    READ_VIEW_OWN = "read.view_own"
    READ_VIEW_ALL = "read.view_all"
    READ_EDIT = "read.edit"
    ASSIGN_CLIP = "assign_clip"
    ADJUDICATE = "adjudicate"
    SIGN = "sign"
    FINAL_WRITE = "final.write"
    ADMIN_USERS = "admin.users"
    AUDIT_VIEW = "audit.view"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_EXPORT = "audit.export"
    AGREEMENT_VIEW = "agreement.view"
