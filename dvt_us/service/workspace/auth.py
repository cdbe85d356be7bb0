"""Login, logout and the session check of every request: an HttpOnly cookie, CSRF on every unsafe method.

The session token of :func:`~dvt_us.service.review.sessions.login` goes in the ``dvtus_session`` cookie
(HttpOnly, SameSite=Strict, ``Secure`` when configured, path = the mount path). Every route but the static
files and the login page depends on :data:`SessionDep`: it resolves the session (AuthenticationError, which
pages answer with a redirect to the login page and API calls with 401) and, for POST, PUT, PATCH and DELETE,
checks the CSRF token of the session, sent as the ``X-CSRF-Token`` header (JavaScript) or the
``csrf_token`` form field (forms). The login form itself carries a token bound to a short-lived cookie
(double submit), so that no other site can log a browser in. Failed logins of a username are throttled
(:mod:`~dvt_us.service.workspace.login_throttle`, counted in the audit trail, shared by every process).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dvt_us.service.review import sessions
from dvt_us.service.review.errors import AuthenticationError, CsrfError
from dvt_us.service.review.sessions import ActiveSession
from dvt_us.service.workspace.context import Workspace, WorkspaceDep, base_url
from dvt_us.service.workspace.rendering import render_page

SESSION_COOKIE = "dvtus_session"
LOGIN_COOKIE = "dvtus_login"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_COOKIE_MAX_AGE_S = 3600
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

router = APIRouter()
LOGGER = logging.getLogger(__name__)


def _session(request: Request, ws: WorkspaceDep) -> ActiveSession:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthenticationError("not logged in: log in first")
    active = sessions.resolve_session(ws.store, token, ws.clock())
    request.state.active_session = active  # for the error pages' header
    return active


async def checked_session(request: Request, active: Annotated[ActiveSession, Depends(_session)]) -> ActiveSession:
    """The request's valid session; its CSRF token checked when the method is unsafe."""
    if request.method not in SAFE_METHODS:
        submitted = request.headers.get(CSRF_HEADER)
        if submitted is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
            field = (await request.form()).get(CSRF_FIELD)
            submitted = field if isinstance(field, str) else None
        sessions.check_csrf(active, submitted)
    return active


SessionDep = Annotated[ActiveSession, Depends(checked_session)]


def _cookie(response: Response, request: Request, ws: Workspace, cookie: tuple[str, str], max_age: int) -> None:
    response.set_cookie(*cookie, max_age=max_age, path=base_url(request) or "/", secure=ws.secure_cookies,
                        httponly=True, samesite="strict")


def _safe_next(request: Request, wanted: str | None) -> str:
    """``wanted`` when it is a path of this app (never another site), else the worklist."""
    base = base_url(request)
    if wanted and wanted.startswith(base + "/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return f"{base}/worklist"


def _login_page(request: Request, ws: Workspace, *, next_url: str, error: str | None, status: int) -> HTMLResponse:
    token = secrets.token_hex(16)
    page = render_page(request, ws, "login.html.j2", None, next_url=next_url, login_token=token, error=error,
                       status_code=status)
    _cookie(page, request, ws, (LOGIN_COOKIE, token), LOGIN_COOKIE_MAX_AGE_S)
    return page


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ws: WorkspaceDep,
               next_url: Annotated[str | None, Query(alias="next", max_length=2000)] = None) -> HTMLResponse:
    """The login form (username, password); ``next``: where to go after it."""
    return _login_page(request, ws, next_url=_safe_next(request, next_url), error=None, status=200)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, ws: WorkspaceDep, *, username: Annotated[str, Form(max_length=200)],
          password: Annotated[str, Form(max_length=1000)], login_token: Annotated[str, Form(max_length=64)],
          next_url: Annotated[str | None, Form(alias="next", max_length=2000)] = None) -> Response:
    """Check the password, open a session and go on to ``next`` (the worklist by default)."""
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), login_token.encode()):
        raise CsrfError("the login form expired or came from elsewhere: reload the login page")
    target = _safe_next(request, next_url)
    now = ws.clock()
    wait_s = ws.login_throttle.retry_after_s(ws.store, username, now)
    if wait_s is not None:
        LOGGER.warning("login of %r refused for %d s: too many failed logins", username, wait_s)
        page = _login_page(request, ws, next_url=target, status=429,
                           error=f"too many failed logins: try again in {(wait_s + 59) // 60} min")
        page.headers["Retry-After"] = str(wait_s)
        return page
    try:
        opened = sessions.login(ws.store, username, password, now)
    except AuthenticationError as exc:  # audited as auth.login_failed: the throttle counts it from there
        return _login_page(request, ws, next_url=target, error=str(exc), status=401)
    response = RedirectResponse(target, status_code=303)
    _cookie(response, request, ws, (SESSION_COOKIE, opened.token), int(ws.store.config.session_max_age_s))
    response.delete_cookie(LOGIN_COOKIE, path=base_url(request) or "/")
    return response


@router.post("/logout")
def logout(request: Request, ws: WorkspaceDep, active: SessionDep) -> RedirectResponse:
    """End the session and go back to the login page."""
    sessions.logout(ws.store, request.cookies.get(SESSION_COOKIE, ""), ws.clock())
    response = RedirectResponse(f"{base_url(request)}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=base_url(request) or "/", secure=ws.secure_cookies, httponly=True,
                           samesite="strict")
    return response
