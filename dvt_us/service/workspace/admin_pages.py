"""The pages of admins and adjudicators: the audit trail (verify, entries, exports), agreement, and user accounts.

Each calls the review domain with the session's user; the domain refuses a role that may not (403).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from dvt_us.service.review import accounts, agreement, audit
from dvt_us.service.review.enum import Action, Role
from dvt_us.service.review.permissions import authorise
from dvt_us.service.workspace.auth import SessionDep
from dvt_us.service.workspace.context import WorkspaceDep, base_url
from dvt_us.service.workspace.errors import BadInputError
from dvt_us.service.workspace.rendering import render_page

router = APIRouter()
AUDIT_PAGE_SIZE = 200
COMPARISON_LABELS = {agreement.Comparison.MODEL_VS_FINAL: "model vs final read",
                     agreement.Comparison.READER_1_VS_READER_2: "reader 1 vs reader 2"}


class ChainOut(BaseModel):
    """The result of verifying the audit chain."""

    intact: bool
    entries: int
    first_broken_seq: int | None
    problem: str | None
    verified_at: datetime


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, ws: WorkspaceDep, active: SessionDep,
               after_seq: Annotated[int, Query(ge=0)] = 0) -> HTMLResponse:
    """Entries of the audit trail (oldest first, a page at a time), the chain check and the exports."""
    entries = audit.audit_entries(ws.store, active.user, ws.clock(), after_seq=after_seq, limit=AUDIT_PAGE_SIZE)
    more = len(entries) == AUDIT_PAGE_SIZE
    return render_page(request, ws, "audit.html.j2", active, entries=entries, after_seq=after_seq,
                       next_seq=entries[-1].seq if entries and more else None)


@router.post("/api/audit/verify")
def verify_chain(ws: WorkspaceDep, active: SessionDep) -> ChainOut:
    """Walk the whole chain; the first broken entry, if any (the check is itself audited)."""
    now = ws.clock()
    result = audit.verify_chain(ws.store, active.user, now)
    return ChainOut(intact=result.intact, entries=result.entries, problem=result.problem, verified_at=now,
                    first_broken_seq=None if result.first_broken is None else result.first_broken.seq)


def _download(body: str, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                                          "Cache-Control": "no-store"})


@router.get("/audit/export.csv", response_class=Response)
def export_csv(ws: WorkspaceDep, active: SessionDep) -> Response:
    """The whole trail as CSV, safe to open in a spreadsheet; ``dvt-us audit verify-csv`` re-checks it offline."""
    out = io.StringIO()
    audit.export_csv(ws.store, active.user, out, ws.clock())
    return _download(out.getvalue(), "text/csv; charset=utf-8", "dvt-us-audit-trail.csv")


@router.get("/audit/export.jsonl", response_class=Response)
def export_jsonl(ws: WorkspaceDep, active: SessionDep) -> Response:
    """The whole trail as JSON Lines: the stored values of each entry, one object a line (for programs)."""
    out = io.StringIO()
    audit.export_jsonl(ws.store, active.user, out, ws.clock())
    return _download(out.getvalue(), "application/x-ndjson", "dvt-us-audit-trail.jsonl")


@router.get("/agreement", response_class=HTMLResponse)
def agreement_page(request: Request, ws: WorkspaceDep, active: SessionDep,
                   comparison: agreement.Comparison = agreement.Comparison.MODEL_VS_FINAL) -> HTMLResponse:
    """Cohen's kappa per segment and field, pooled over segments, with the confusion matrices."""
    report = agreement.agreement(ws.store, active.user, comparison, ws.clock())
    return render_page(request, ws, "agreement.html.j2", active, report=report, comparisons=COMPARISON_LABELS)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, ws: WorkspaceDep, active: SessionDep) -> HTMLResponse:
    """Every account, and the forms to add one and to disable or enable one."""
    authorise(active.user, Action.ADMIN_USERS)
    return render_page(request, ws, "users.html.j2", active, users=accounts.users(ws.store, active.user),
                       roles=list(Role), min_password_length=ws.store.config.min_password_length)


@router.post("/users")
def add_user(request: Request, ws: WorkspaceDep, active: SessionDep, *, username: Annotated[str, Form(max_length=64)],
             printed_name: Annotated[str, Form(max_length=200)], role: Annotated[Role, Form()],
             password: Annotated[str, Form(max_length=1000)]) -> RedirectResponse:
    """Create an account (the password is hashed by the domain)."""
    authorise(active.user, Action.ADMIN_USERS)
    try:
        accounts.add_user(ws.store, active.user, username, printed_name, role, password=password, now=ws.clock())
    except ValueError as exc:  # the domain's username and password rules
        raise BadInputError(str(exc)) from None
    return RedirectResponse(f"{base_url(request)}/users", status_code=303)


@router.post("/users/{username}/disabled")
def set_disabled(request: Request, ws: WorkspaceDep, active: SessionDep, username: str,
                 disabled: Annotated[bool, Form()]) -> RedirectResponse:
    """Disable an account (its sessions end) or enable it again; accounts are never deleted."""
    authorise(active.user, Action.ADMIN_USERS)
    accounts.set_disabled(ws.store, active.user, username, disabled, ws.clock())
    return RedirectResponse(f"{base_url(request)}/users", status_code=303)
