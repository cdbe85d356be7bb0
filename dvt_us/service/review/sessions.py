"""Server-side login sessions: a random token (only its sha256 is stored), expiry, idle timeout, CSRF, logout.

The web layer puts the token in an HttpOnly cookie, puts :attr:`ActiveSession.csrf_token` in every form (or
a header) and calls :func:`check_csrf` on every unsafe method (POST, PUT, PATCH, DELETE).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from dvt_us.service.review import audit
from dvt_us.service.review.accounts import authenticate
from dvt_us.service.review.errors import AuthenticationError, CsrfError
from dvt_us.service.review.models import SessionRow, UserRow
from dvt_us.service.review.records import User
from dvt_us.service.review.store import ReviewStore, aware

TOKEN_BYTES = 32


def token_sha256(token: str) -> str:
    """What the database stores of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ActiveSession:
    """A valid session: its user, its CSRF token and when it ends at the latest."""

    session_id: int
    user: User
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class NewSession:
    """What a login returns: the token (shown once; only its sha256 is kept) and the session."""

    token: str
    session: ActiveSession


def open_session(store: ReviewStore, user: User, now: datetime) -> NewSession:
    """A new session for an authenticated user (see :func:`login`)."""
    at = aware(now)
    token, csrf = secrets.token_urlsafe(TOKEN_BYTES), secrets.token_hex(TOKEN_BYTES)
    expires_at = at + timedelta(seconds=store.config.session_max_age_s)
    with store.write() as session:
        row = SessionRow(token_sha256=token_sha256(token), user_id=user.id, csrf_token=csrf, created_at=at,
                         last_seen_at=at, expires_at=expires_at)
        session.add(row)
        session.flush()
        audit.append(session, user.username, "session.open", f"session:{row.id}",
                     {"expires_at": expires_at.isoformat()}, now=at)
        return NewSession(token, ActiveSession(row.id, user, csrf, expires_at))


def login(store: ReviewStore, username: str, password: str, now: datetime) -> NewSession:
    """Authenticate and open a session; AuthenticationError on any failure."""
    return open_session(store, authenticate(store, username, password, now), now)


def resolve_session(store: ReviewStore, token: str, now: datetime) -> ActiveSession:
    """The session of a request's token, its idle clock reset; AuthenticationError when it is not valid.

    Not valid: unknown, revoked (logout, password change, account disabled), past ``session_max_age_s`` since
    login, idle for more than ``session_idle_s``, or of a disabled user.
    """
    at = aware(now)
    idle = timedelta(seconds=store.config.session_idle_s)
    with store.write() as session:
        found = session.execute(select(SessionRow, UserRow).join(UserRow, UserRow.id == SessionRow.user_id)
                                .where(SessionRow.token_sha256 == token_sha256(token))).first()
        if found is None:
            raise AuthenticationError("unknown session: log in")
        row, user_row = found
        if row.revoked_at is not None:
            raise AuthenticationError("the session was ended: log in again")
        if at >= row.expires_at:
            raise AuthenticationError("the session expired: log in again")
        if at - row.last_seen_at > idle:
            raise AuthenticationError(f"the session was idle for more than {idle.total_seconds():g} s: log in again")
        if user_row.disabled:
            raise AuthenticationError("the account is disabled")
        row.last_seen_at = max(row.last_seen_at, at)
        return ActiveSession(row.id, User.from_row(user_row), row.csrf_token, row.expires_at)


def check_csrf(active: ActiveSession, submitted: str | None) -> None:
    """Raise CsrfError unless ``submitted`` is the session's CSRF token (constant-time comparison)."""
    if not submitted or not hmac.compare_digest(submitted.encode(), active.csrf_token.encode()):
        raise CsrfError("missing or wrong CSRF token: reload the page and try again")


def logout(store: ReviewStore, token: str, now: datetime) -> None:
    """Revoke the session of ``token`` (nothing happens for an unknown or ended one)."""
    at = aware(now)
    with store.write() as session:
        found = session.execute(select(SessionRow, UserRow.username).join(UserRow, UserRow.id == SessionRow.user_id)
                                .where(SessionRow.token_sha256 == token_sha256(token))).first()
        if found is None or found[0].revoked_at is not None:
            return
        row, username = found
        row.revoked_at = at
        audit.append(session, username, "session.logout", f"session:{row.id}", {}, now=at)
