"""What reader review refuses, as exception types the web layer maps to HTTP answers in one place.

Suggested mapping: :class:`AuthenticationError` 401, :class:`PermissionDeniedError` and :class:`CsrfError` 403,
:class:`NotFoundError` 404, :class:`ReviewConflictError` 409, :class:`InvalidReadError` 422.
"""

from __future__ import annotations


class ReviewError(Exception):
    """Base of every refusal of the review domain."""


class AuthenticationError(ReviewError):
    """Unknown user, wrong password, disabled account, or an expired, idle or revoked session."""


class CsrfError(ReviewError):
    """The request's CSRF token does not match its session's."""


class PermissionDeniedError(ReviewError):
    """The user's role does not allow the action, or the object is not theirs (blinding)."""


class NotFoundError(ReviewError, LookupError):
    """No such user, study, read or version."""


class ReviewConflictError(ReviewError):
    """The action does not fit the study's state.

    For example: a read slot taken, a signed version edited, adjudication of a concordant study.
    """


class InvalidReadError(ReviewError, ValueError):
    """A reader's value is not valid for its field, or an override or a change lacks its reason."""
