"""The reading pages: the worklist, a reader's review page, the adjudication page, and starting a read.

Every page calls the review domain with the session's user, so the domain's authorisation and blinding hold:
a reader's review page is built from :func:`~dvt_us.service.review.reads.own_read` only, and the adjudication
page from :func:`~dvt_us.service.review.adjudication.adjudication_view`, which only an adjudicator may call.
A page shows a study's state as the domain says the user may see it (:mod:`~dvt_us.service.review.reader_view`):
a reader's pages never show, in text, attributes or class names, whether the other read disagrees.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dvt_us.service.review import adjudication, reads, signing, studies, worklist
from dvt_us.service.review.enum import Action, ReadSlot, ReviewState, Role
from dvt_us.service.review.errors import NotFoundError
from dvt_us.service.review.permissions import allowed, authorise
from dvt_us.service.review.reader_view import ReaderState, parse_shown_state, shown_state, shown_states
from dvt_us.service.review.records import Read, ReviewStudy, User
from dvt_us.service.workspace.auth import SessionDep
from dvt_us.service.workspace.context import Workspace, WorkspaceDep, base_url
from dvt_us.service.workspace.errors import BadInputError
from dvt_us.service.workspace.errors import NotFoundError as MediaNotFoundError
from dvt_us.service.workspace.read_forms import (
    SEGMENT_CHOICES,
    SIDE_CHOICES,
    clip_discordances,
    clip_forms,
    compared_segments,
    segment_forms,
)
from dvt_us.service.workspace.rendering import render_page
from dvt_us.service.workspace.viewer import ViewerContext, viewer_context

router = APIRouter()
StudyId = Annotated[int, PathParam(ge=1)]
FilterText = Annotated[str | None, Query(max_length=64)]
ADJUDICATED_STATES = (ReviewState.DISCORDANT, ReviewState.IN_ADJUDICATION, ReviewState.FINAL)
REVIEW_SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("N / P", "next / previous segment"), ("S", "save the findings"),
)
"""The review page's own shortcuts, beside the clip viewer's."""


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


@router.get("/", include_in_schema=False)
def home(request: Request) -> RedirectResponse:
    """The worklist."""
    return RedirectResponse(f"{base_url(request)}/worklist", status_code=303)


@router.get("/worklist", response_class=HTMLResponse)
def worklist_page(request: Request, ws: WorkspaceDep, active: SessionDep, *, trial: FilterText = None,
                  site: FilterText = None, subject: FilterText = None, visit: FilterText = None,
                  state: FilterText = None) -> HTMLResponse:
    """Studies by trial, site, subject, visit and state, with the count of each state and what the user may do."""
    user = active.user
    try:
        chosen = None if _blank(state) is None else parse_shown_state(user, str(state))
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    wanted = worklist.WorklistFilter(_blank(trial), _blank(site), _blank(subject), _blank(visit), chosen)
    board = worklist.worklist(ws.store, user, ws.clock(), wanted)
    filters = {k: v or "" for k, v in (("trial", wanted.trial), ("site", wanted.site), ("subject", wanted.subject),
                                       ("visit", wanted.visit))}
    return render_page(request, ws, "worklist.html.j2", active, board=board, filters=filters,
                       state=wanted.state, states=shown_states(user), adjudicated_states=ADJUDICATED_STATES,
                       double_read=ws.store.rules.double_read,
                       may_read=allowed(user, Action.READ_CREATE), free_state=ReaderState.AWAITING_READ,
                       may_adjudicate=allowed(user, Action.READ_VIEW_ALL))


@router.post("/studies/{study_id}/read")
def start_read(request: Request, ws: WorkspaceDep, active: SessionDep, study_id: StudyId) -> RedirectResponse:
    """Take read 1 or read 2 of the study (or go back to one's own), then open its review page."""
    reads.start_read(ws.store, active.user, study_id, ws.clock())
    return RedirectResponse(f"{base_url(request)}/studies/{study_id}/review", status_code=303)


def _viewer(request: Request, ws: Workspace, study: ReviewStudy) -> ViewerContext | None:
    if study.report_id is None:
        return None
    try:
        return viewer_context(ws.data, study.report_id, base_url(request))
    except MediaNotFoundError:
        return None


def _history(ws: Workspace, user: User, read: Read) -> list[tuple[Read, dict[str, str] | None]]:
    versions = reads.read_versions(ws.store, user, read.study_id, read.slot, ws.clock())
    signed = signing.signatures(ws.store, [v.id for v in versions])
    return [(v, signed[v.id].manifest() if v.id in signed else None) for v in versions]


@router.get("/studies/{study_id}/review", response_class=HTMLResponse)
def review_page(request: Request, ws: WorkspaceDep, active: SessionDep, study_id: StudyId) -> Response:
    """The user's own read of the study: clips, leg diagram, findings form, sign-off and amendment."""
    user = active.user
    authorise(user, Action.READ_VIEW_OWN)  # own_read finds nothing for an admin before it would refuse
    study = studies.get_study(ws.store, user, study_id, ws.clock())
    if user.role is Role.ADJUDICATOR:
        return RedirectResponse(f"{base_url(request)}/studies/{study_id}/adjudication", status_code=303)
    read = reads.own_read(ws.store, user, study_id, ws.clock())
    if read is None:
        raise NotFoundError(f"you hold no read of study {study_id}: start one from the worklist")
    may_amend = read.signed and reads.read_changeable(study.state, study.final_slot, read.slot, signed=True,
                                                      double_read=ws.store.rules.double_read)
    return render_page(request, ws, "review.html.j2", active, study=study, read=read, viewer=_viewer(request, ws,
                                                                                                  study),
                       state=shown_state(user, study.state, read.signed), may_amend=may_amend,
                       segments=segment_forms(read.content), clips=clip_forms(read.content),
                       side_choices=SIDE_CHOICES, segment_choices=SEGMENT_CHOICES, meaning=signing.MEANINGS[read.slot],
                       history=_history(ws, user, read), review_shortcuts=REVIEW_SHORTCUTS)


@router.post("/studies/{study_id}/adjudication")
def start_adjudication(request: Request, ws: WorkspaceDep, active: SessionDep,
                       study_id: StudyId) -> RedirectResponse:
    """Take the adjudication of a discordant study (or of a final concordant one, to correct it); open its page."""
    adjudication.start_adjudication(ws.store, active.user, study_id, ws.clock())
    return RedirectResponse(f"{base_url(request)}/studies/{study_id}/adjudication", status_code=303)


@router.get("/studies/{study_id}/adjudication", response_class=HTMLResponse)
def adjudication_page(request: Request, ws: WorkspaceDep, active: SessionDep, study_id: StudyId) -> HTMLResponse:
    """Both signed reads side by side, the discordant fields marked, and the adjudicator's form."""
    user = active.user
    study = studies.get_study(ws.store, user, study_id, ws.clock())
    view = adjudication.adjudication_view(ws.store, user, study_id, ws.clock())
    mine = view.adjudication if view.adjudication is not None and view.adjudication.reader_id == user.id else None
    signed = signing.signatures(ws.store, [view.read_1.id, view.read_2.id] + (
        [] if view.adjudication is None else [view.adjudication.id]))
    compared = compared_segments(view.read_1.content, view.read_2.content, view.discordances,
                                 None if view.adjudication is None else view.adjudication.content)
    return render_page(request, ws, "adjudication.html.j2", active, study=study, view=view, mine=mine,
                       double_read=ws.store.rules.double_read,
                       signatures={k: v.manifest() for k, v in signed.items()}, segments=compared,
                       clip_discordances=clip_discordances(view.discordances),
                       clips=[] if mine is None else clip_forms(mine.content), side_choices=SIDE_CHOICES,
                       segment_choices=SEGMENT_CHOICES, meaning=signing.MEANINGS[ReadSlot.ADJUDICATION],
                       viewer=_viewer(request, ws, study), review_shortcuts=REVIEW_SHORTCUTS,
                       history=[] if mine is None else _history(ws, user, mine))
