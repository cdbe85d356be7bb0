"""Accounts, roles and sessions on both backends, with real argon2 hashes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dvt_us.service.config import PasswordHashConfig
from dvt_us.service.review.accounts import add_user, authenticate, set_disabled, set_password, users, verify_password
from dvt_us.service.review.enum import Action, Role
from dvt_us.service.review.errors import AuthenticationError, CsrfError, PermissionDeniedError, ReviewConflictError
from dvt_us.service.review.models import AuditRow, SessionRow, UserRow
from dvt_us.service.review.permissions import PERMISSIONS, authorise
from dvt_us.service.review.sessions import check_csrf, login, logout, resolve_session, token_sha256
from dvt_us.service.review.store import ReviewStore
from tests.service.review.conftest import PASSWORD, T0, Team, at, review_config


def _actions(store: ReviewStore) -> list[str]:
    with store.read() as session:
        return list(session.scalars(select(AuditRow.action).order_by(AuditRow.seq)))


def test_passwords_are_argon2id_and_logins_are_audited(store: ReviewStore, team: Team) -> None:
    with store.read() as session:
        stored = session.scalar(select(UserRow.password_hash).where(UserRow.username == "ann"))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored
    assert authenticate(store, "ann", PASSWORD, at(1)) == team.ann
    for name, password in (("ann", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(AuthenticationError, match="unknown user, wrong password or disabled account"):
            authenticate(store, name, password, at(2))
    assert _actions(store)[-3:] == ["auth.login", "auth.login_failed", "auth.login_failed"]
    assert verify_password(store, team.ann, PASSWORD) and not verify_password(store, team.ann, "nope nope nope")


def test_a_login_under_new_parameters_rehashes(store: ReviewStore, team: Team) -> None:
    stronger = ReviewStore(store.database, review_config(
        password_hash=PasswordHashConfig(time_cost=2, memory_kib=16384, parallelism=1)))
    authenticate(stronger, "bob", PASSWORD, at(1))
    with store.read() as session:
        stored = session.scalar(select(UserRow.password_hash).where(UserRow.username == "bob"))
    assert stored is not None and "m=16384,t=2,p=1" in stored
    assert authenticate(store, "bob", PASSWORD, at(2)) == team.bob  # the new hash verifies under any parameters


def test_accounts_are_managed_by_admins_only(store: ReviewStore, team: Team) -> None:
    with pytest.raises(PermissionDeniedError, match=r"'ada' \(adjudicator\) may not admin.users; allowed roles: admin"):
        add_user(store, team.ada, "eve", "Eve", "admin", password=PASSWORD, now=at(1))
    with pytest.raises(ReviewConflictError, match="taken"):
        add_user(store, team.root, "ann", "Another Ann", "reader", password=PASSWORD, now=at(1))
    with pytest.raises(ValueError, match="unknown role 'boss'; valid: reader, adjudicator, admin"):
        add_user(store, team.root, "eve", "Eve", "boss", password=PASSWORD, now=at(1))
    with pytest.raises(ValueError, match="at least 12 characters"):
        add_user(store, team.root, "eve", "Eve", "reader", password="short", now=at(1))
    assert [u.username for u in users(store, team.root)] == ["ada", "ann", "bob", "cy", "root"]
    disabled = set_disabled(store, team.root, "cy", True, at(2))
    with pytest.raises(AuthenticationError):
        authenticate(store, "cy", PASSWORD, at(3))
    with pytest.raises(PermissionDeniedError, match="disabled"):
        authorise(disabled, Action.WORKLIST_VIEW)


def test_every_action_names_its_roles(team: Team) -> None:
    assert set(PERMISSIONS) == set(Action)
    assert PERMISSIONS[Action.READ_CREATE] == {Role.READER}
    assert Role.ADMIN not in PERMISSIONS[Action.READ_VIEW_ALL]  # admins manage, they do not see reads
    authorise(team.ann, Action.READ_EDIT, owner_id=team.ann.id)
    with pytest.raises(PermissionDeniedError, match="another user's read"):
        authorise(team.ann, Action.READ_EDIT, owner_id=team.bob.id)


def test_sessions_store_only_a_hash_and_end(store: ReviewStore, team: Team) -> None:
    new = login(store, "ann", PASSWORD, at(0))
    with store.read() as session:
        row = session.scalar(select(SessionRow))
    assert row is not None and row.token_sha256 == token_sha256(new.token) and new.token not in row.token_sha256
    active = resolve_session(store, new.token, at(600))
    assert active.user == team.ann and active.csrf_token == new.session.csrf_token
    check_csrf(active, new.session.csrf_token)
    token = new.session.csrf_token
    for bad in (None, "", token[:-1] + ("1" if token.endswith("0") else "0")):  # the last character changed
        with pytest.raises(CsrfError):
            check_csrf(active, bad)
    idle = store.config.session_idle_s
    with pytest.raises(AuthenticationError, match="idle"):
        resolve_session(store, new.token, at(600 + idle + 1))
    kept = login(store, "ann", PASSWORD, at(0))
    for step in range(1, 18):  # active every 30 min, still ends 8 h after login
        resolve_session(store, kept.token, at(step * idle * 0.9))
    with pytest.raises(AuthenticationError, match="expired"):
        resolve_session(store, kept.token, at(store.config.session_max_age_s))
    out = login(store, "ann", PASSWORD, at(0))
    logout(store, out.token, at(5))
    with pytest.raises(AuthenticationError, match="ended"):
        resolve_session(store, out.token, at(6))
    with pytest.raises(AuthenticationError, match="unknown session"):
        resolve_session(store, "forged", at(6))


def test_a_password_change_ends_the_users_sessions(store: ReviewStore, team: Team) -> None:
    new = login(store, "bob", PASSWORD, T0)
    set_password(store, None, "bob", "a brand new passphrase", at(1))
    with pytest.raises(AuthenticationError, match="ended"):
        resolve_session(store, new.token, at(2))
    assert authenticate(store, "bob", "a brand new passphrase", at(3)).username == "bob"
