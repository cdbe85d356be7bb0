"""Rendering the workspace's pages: the common context of every page, and errors as pages or problem+json.

Every page gets ``base_url`` and ``static_url`` (the mount path), ``user`` and ``csrf_token`` of the session
(None on the login page) and ``nav``: the links of the header that the user's role allows. Pages are never
cached (``no-store``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dvt_us.service.review.enum import Action
from dvt_us.service.review.errors import AuthenticationError
from dvt_us.service.review.permissions import allowed
from dvt_us.service.review.sessions import ActiveSession
from dvt_us.service.workspace.context import Workspace, base_url
from dvt_us.service.workspace.errors import problem, problem_of

NAV: tuple[tuple[str, str, Action], ...] = (
    ("Worklist", "/worklist", Action.WORKLIST_VIEW),
    ("Agreement", "/agreement", Action.AGREEMENT_VIEW),
    ("Audit trail", "/audit", Action.AUDIT_VIEW),
    ("Users", "/users", Action.ADMIN_USERS),
)
"""(label, path, the action that shows it) of the header links."""
JSON_PREFIXES = ("/api/", "/reports/", "/static/")
"""Paths (under the mount) answered with problem+json rather than an HTML page (but the viewer page)."""
PAGE_SUFFIXES = ("/viewer",)
NO_STORE = {"Cache-Control": "no-store"}


def render_page(request: Request, ws: Workspace, template: str, active: ActiveSession | None, *,
                status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` with the common context and ``context``."""
    base = base_url(request)
    nav = [] if active is None else [(label, base + path, request.url.path == base + path)
                                     for label, path, action in NAV if allowed(active.user, action)]
    html = ws.templates.get_template(template).render(
        base_url=base, static_url=f"{base}/static", user=None if active is None else active.user,
        csrf_token=None if active is None else active.csrf_token, nav=nav, **context)
    return HTMLResponse(html, status_code, headers=NO_STORE)


def _wants_page(request: Request) -> bool:
    path = request.url.path[len(base_url(request)):]
    if path.startswith(JSON_PREFIXES) and not path.endswith(PAGE_SUFFIXES):
        return False
    return "json" not in request.headers.get("accept", "")


def answer_error(request: Request, exc: Exception) -> Response:
    """The one answer to a refused or failed request: problem+json for API and media, else a page.

    A page that needs a login redirects to the login page (303, back here afterwards).
    """
    if not _wants_page(request):
        return problem(request, exc)
    base = base_url(request)
    if isinstance(exc, AuthenticationError):
        back = request.url.path if request.method == "GET" else f"{base}/worklist"
        return RedirectResponse(f"{base}/login?next={quote(back)}", status_code=303, headers=NO_STORE)
    status, body = problem_of(request, exc)
    ws: Workspace = request.app.state.workspace
    active = getattr(request.state, "active_session", None)
    return render_page(request, ws, "error.html.j2", active, status_code=status.value, title=status.phrase,
                       detail=body["detail"], status=status.value)
