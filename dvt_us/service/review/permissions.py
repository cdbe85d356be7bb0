"""Who may do what: one table from actions to roles, and one :func:`authorise` that every review function calls."""

from __future__ import annotations

from types import MappingProxyType

from dvt_us.service.review.enum import Action, Role
from dvt_us.service.review.errors import PermissionDeniedError
from dvt_us.service.review.records import User

_R, _A, _ADMIN = Role.READER, Role.ADJUDICATOR, Role.ADMIN

PERMISSIONS: MappingProxyType[Action, frozenset[Role]] = MappingProxyType({
    Action.WORKLIST_VIEW: frozenset({_R, _A, _ADMIN}),
    Action.READ_CREATE: frozenset({_R}),
    Action.READ_VIEW_OWN: frozenset({_R, _A}),
    Action.READ_VIEW_ALL: frozenset({_A}),
    Action.READ_EDIT: frozenset({_R, _A}),
    Action.ASSIGN_CLIP: frozenset({_R, _A}),
    Action.ADJUDICATE: frozenset({_A}),
    Action.SIGN: frozenset({_R, _A}),
    Action.FINAL_WRITE: frozenset({_A, _ADMIN}),
    Action.ADMIN_USERS: frozenset({_ADMIN}),
    Action.AUDIT_VIEW: frozenset({_ADMIN}),
    Action.AUDIT_VERIFY: frozenset({_ADMIN}),
    Action.AUDIT_EXPORT: frozenset({_ADMIN}),
    Action.AGREEMENT_VIEW: frozenset({_A, _ADMIN}),
})
"""The roles allowed each action. Readers alone create reads 1 and 2 (an adjudicator, who sees every read,
cannot be a blinded reader); admins manage accounts and the audit trail but see no read."""


def allowed(user: User, action: Action) -> bool:
    """Whether the user's role allows ``action`` (a disabled user may do nothing)."""
    return not user.disabled and user.role in PERMISSIONS[action]


def authorise(user: User, action: Action, *, owner_id: int | None = None) -> None:
    """Raise :class:`PermissionDeniedError` unless ``user`` may do ``action`` (on an object of ``owner_id``).

    ``owner_id``: the user the object belongs to (a read's reader); only that user passes.
    """
    if user.disabled:
        raise PermissionDeniedError(f"user {user.username!r} is disabled")
    roles = PERMISSIONS[action]
    if user.role not in roles:
        listed = ", ".join(sorted(r.value for r in roles))
        raise PermissionDeniedError(f"user {user.username!r} ({user.role.value}) may not {action.value}; "
                                    f"allowed roles: {listed}")
    if owner_id is not None and owner_id != user.id:
        raise PermissionDeniedError(f"user {user.username!r} may not {action.value} another user's read")
