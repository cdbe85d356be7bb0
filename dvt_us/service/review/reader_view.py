"""What a blinded reader may know of a study's state: the review state as a reader (role ``reader``) sees it.

The true :class:`~dvt_us.service.review.enum.ReviewState` would tell reader 1 how read 2 compares with
theirs: ``discordant`` or ``in_adjudication`` after their signature means the other reader disagreed. A
reader is therefore shown a :class:`ReaderState`, a function of what they know already (whether they hold a
read of the study, whether its newest version is signed) and of whether the study is final:

==================  ===================================================================================
``awaiting_read``   they hold no read of it and may take one (the worklist lists a study that is not
                    theirs only while a read is free)
``in_progress``     their read's newest version is not signed
``read_submitted``  their read is signed and the study is not final: awaiting read 2, discordant and in
                    adjudication all look the same
``final``           the study is final
==================  ===================================================================================

``awaiting read 2`` would reveal nothing to reader 1, but one state for "my read is signed" is simpler and
hides also whether the other read is signed yet. The worklist's counts and its state filter for a reader are
over these states only, so they cannot differ between a study awaiting read 2 and a discordant one; a
reader's signed read is locked whatever the hidden state (:mod:`.reads`), so a refusal tells nothing either.

What remains: the reader who signs second sees at once whether the study became final (the reads agreed) or
not. Both reads are signed and locked by then, so that knowledge cannot bias either of them. Adjudicators and
admins see the true state.
"""

from __future__ import annotations

from enum import StrEnum

from dvt_us.service.db.enum import parse_enum
from dvt_us.service.review.enum import ReviewState, Role
from dvt_us.service.review.records import User


class ReaderState(StrEnum):
    """A study's state as a blinded reader sees it (see the module's table)."""

    AWAITING_READ = "awaiting_read"
    IN_PROGRESS = "in_progress"
    READ_SUBMITTED = "read_submitted"
    FINAL = "final"

    @classmethod
    def parse(cls, value: str) -> ReaderState:
        """The state named by ``value`` (e.g. a worklist filter); a ValueError listing the valid states otherwise."""
        return parse_enum(cls, value.replace(" ", "_"), "review state")


ShownState = ReviewState | ReaderState
"""What a user is shown of a study's state: the true state, or a reader's."""


def blinded(user: User) -> bool:
    """Whether the user sees :class:`ReaderState` rather than the true state (a reader)."""
    return user.role is Role.READER


def reader_state(state: ReviewState, own_read_signed: bool | None) -> ReaderState:
    """The reader's state of a study in ``state``; ``own_read_signed`` is None when they hold no read of it."""
    if state is ReviewState.FINAL:
        return ReaderState.FINAL
    if own_read_signed is None:
        return ReaderState.AWAITING_READ
    return ReaderState.READ_SUBMITTED if own_read_signed else ReaderState.IN_PROGRESS


def shown_state(user: User, state: ReviewState, own_read_signed: bool | None) -> ShownState:
    """What ``user`` is shown of a study in ``state`` (``own_read_signed`` as for :func:`reader_state`)."""
    return reader_state(state, own_read_signed) if blinded(user) else state


def shown_states(user: User) -> tuple[ShownState, ...]:
    """Every state ``user`` may be shown, in workflow order (the worklist's counts and filter choices)."""
    return tuple(ReaderState) if blinded(user) else tuple(ReviewState)


def parse_shown_state(user: User, value: str) -> ShownState:
    """The state named by ``value`` in ``user``'s vocabulary; a ValueError listing that vocabulary otherwise.

    ``final`` is in both; any other true state (``discordant``) is unknown to a reader.
    """
    return ReaderState.parse(value) if blinded(user) else ReviewState.parse(value)
