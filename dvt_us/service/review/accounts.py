"""User accounts: add, change password, disable; authenticate a login and verify a password for a signature.

Passwords are hashed with argon2id (:mod:`~dvt_us.service.review.passwords`); a successful login under
changed hash parameters rehashes the password. ``actor=None`` means the operator at the service host's
command line (``dvt-us users ...``), which needs no account: that is how the first admin is made.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dvt_us.service.review import audit
from dvt_us.service.review.enum import Action, Role
from dvt_us.service.review.errors import AuthenticationError, NotFoundError, ReviewConflictError
from dvt_us.service.review.models import NAME_LENGTH, SessionRow, UserRow
from dvt_us.service.review.permissions import authorise
from dvt_us.service.review.records import User
from dvt_us.service.review.store import ReviewStore, aware

COMMAND_LINE_ACTOR = "command-line"
"""The audit actor of account changes made at the host's command line (``actor=None``)."""


def _actor_name(actor: User | None) -> str:
    if actor is None:
        return COMMAND_LINE_ACTOR
    authorise(actor, Action.ADMIN_USERS)
    return actor.username


def _check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > NAME_LENGTH or not name.isprintable() or name != username:
        raise ValueError(f"username {username!r}: 1-{NAME_LENGTH} printable characters, no surrounding spaces")
    return name


def _user_row(session: Session, username: str) -> UserRow:
    row = session.scalar(select(UserRow).where(UserRow.username == username))
    if row is None:
        raise NotFoundError(f"no user {username!r}")
    return row


def add_user(store: ReviewStore, actor: User | None, username: str, printed_name: str, role: Role | str, *,
             password: str, now: datetime) -> User:
    """Create an account; ReviewConflictError when the username is taken.

    Parameters
    ----------
    actor
        An admin, or ``None`` for the host's command line.
    printed_name
        The full name that signatures print (21 CFR 11.50), e.g. ``Dr Ada Lovelace``.
    role
        ``reader``, ``adjudicator`` or ``admin``.
    """
    at = aware(now)
    actor_name = _actor_name(actor)
    name, role = _check_username(username), Role.parse(role) if isinstance(role, str) else role
    if not printed_name.strip():
        raise ValueError("printed_name is empty: signatures print it")
    password_hash = store.passwords.hash(password)
    try:
        with store.write() as session:
            row = UserRow(username=name, printed_name=printed_name.strip(), role=role, password_hash=password_hash,
                          disabled=False, created_at=at, password_changed_at=at)
            session.add(row)
            session.flush()
            audit.append(session, actor_name, "user.add", f"user:{name}",
                         {"role": role.value, "printed_name": row.printed_name}, now=at)
            return User.from_row(row)
    except IntegrityError:
        raise ReviewConflictError(f"username {name!r} is taken") from None


def set_password(store: ReviewStore, actor: User | None, username: str, password: str, now: datetime) -> None:
    """Set a user's password (an admin or the command line); the user's open sessions are revoked."""
    at = aware(now)
    actor_name = _actor_name(actor)
    password_hash = store.passwords.hash(password)
    with store.write() as session:
        row = _user_row(session, username)
        row.password_hash, row.password_changed_at = password_hash, at
        _revoke_sessions(session, row.id, at)
        audit.append(session, actor_name, "user.password", f"user:{username}", {}, now=at)


def set_disabled(store: ReviewStore, actor: User | None, username: str, disabled: bool, now: datetime) -> User:
    """Disable (or enable again) an account; disabling revokes its open sessions. Accounts are never deleted."""
    at = aware(now)
    actor_name = _actor_name(actor)
    with store.write() as session:
        row = _user_row(session, username)
        row.disabled = disabled
        if disabled:
            _revoke_sessions(session, row.id, at)
        audit.append(session, actor_name, "user.disable" if disabled else "user.enable", f"user:{username}", {}, now=at)
        return User.from_row(row)


def _revoke_sessions(session: Session, user_id: int, at: datetime) -> None:
    session.execute(update(SessionRow).where(SessionRow.user_id == user_id, SessionRow.revoked_at.is_(None))
                    .values(revoked_at=at))


def users(store: ReviewStore, actor: User | None) -> list[User]:
    """Every account, by username (an admin, or the command line)."""
    _actor_name(actor)
    with store.read() as session:
        return [User.from_row(row) for row in session.scalars(select(UserRow).order_by(UserRow.username))]


def get_user(store: ReviewStore, user_id: int) -> User:
    """The account with this id (for the web layer's session lookup); NotFoundError otherwise."""
    with store.read() as session:
        row = session.get(UserRow, user_id)
        if row is None:
            raise NotFoundError(f"no user with id {user_id}")
        return User.from_row(row)


def authenticate(store: ReviewStore, username: str, password: str, now: datetime) -> User:
    """The user whose password this is; AuthenticationError (one message for every cause) otherwise.

    Unknown users cost the same argon2 time as known ones. A success under changed hash parameters stores
    a new hash. Success and failure are both appended to the audit trail.
    """
    at = aware(now)
    with store.read() as session:
        row = session.scalar(select(UserRow).where(UserRow.username == username))
        stored = None if row is None else row.password_hash
    ok = store.passwords.verify(stored, password) and row is not None and not row.disabled
    rehash = store.passwords.hash(password) if ok and stored and store.passwords.needs_rehash(stored) else None
    with store.write() as session:
        if not ok:
            cause = "unknown user" if row is None else "disabled" if row.disabled else "wrong password"
            audit.append(session, username[:NAME_LENGTH] or "?", "auth.login_failed",
                         f"user:{username[:NAME_LENGTH]}", {"cause": cause}, now=at)
        else:
            current = _user_row(session, username)
            if rehash is not None and current.password_hash == stored:
                current.password_hash = rehash
            audit.append(session, username, "auth.login", f"user:{username}", {"rehashed": rehash is not None}, now=at)
            user = User.from_row(current)
    if not ok:
        raise AuthenticationError("unknown user, wrong password or disabled account")
    return user


def verify_password(store: ReviewStore, user: User, password: str) -> bool:
    """Whether ``password`` is the user's current password (a signature re-enters it); not audited here."""
    with store.read() as session:
        row = session.get(UserRow, user.id)
        return row is not None and not row.disabled and store.passwords.verify(row.password_hash, password)
