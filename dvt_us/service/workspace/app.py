"""The reader workspace's web app: login, worklist, review, adjudication, audit, agreement, clip media.

:func:`create_workspace_app` builds a FastAPI app that the service mounts (at ``/workspace``) beside its
bearer-token API. Pages (HTML; without a session they redirect to ``/login``, a refusal is an error page)::

    GET  /login, POST /login, POST /logout              the session (:mod:`.auth`)
    GET  /worklist                                      studies, filters, counts (:mod:`.review_pages`)
    POST /studies/{id}/read                             take read 1 or 2 (or reopen one's own)
    GET  /studies/{id}/review                           one's own read: clips, findings, sign-off
    POST /studies/{id}/adjudication                     take the adjudication of a discordant study
    GET  /studies/{id}/adjudication                     both reads side by side, the adjudicator's form
    GET  /audit, /audit/export.csv, /agreement, /users  (:mod:`.admin_pages`)
    POST /users, /users/{username}/disabled
    GET  /reports/{report_id}/viewer                    the standalone clip viewer

JSON and media (``application/problem+json`` on refusal: 401 without a session, 403, 404, 409, 422)::

    GET  /api/reads/{id}; POST /api/reads/{id}/edits, …/sign, …/amend   (:mod:`.review_api`)
    POST /api/audit/verify
    GET  /reports/{report_id}/clips/{sop}.json          the clip's facts and media URLs (ClipOut)
    GET  /reports/{report_id}/clips/{sop}/frames/{i}.jpg   frame i (0-based), tissue regions only
    GET  /reports/{report_id}/clips/{sop}/overlay/{i}.jpg  the same with the mask overlay
    GET  /reports/{report_id}/clips/{sop}/doppler.jpg      the first frame with its colour flow
    GET  /static/…                                      CSS and JavaScript (no session needed)

Every other route needs a session (cookie) and, for unsafe methods, its CSRF token; each calls the review
domain, which authorises the user's role and keeps readers blinded. Frames of a stored instance never change:
they are sent ``immutable``; overlays and the Doppler frame depend on the masks and are revalidated by ETag.
Responses carry a Content-Security-Policy that allows nothing from outside the app.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from dvt_us.service.review.enum import Action
from dvt_us.service.review.permissions import authorise
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.workspace import admin_pages, auth, review_api, review_pages
from dvt_us.service.workspace.auth import SessionDep
from dvt_us.service.workspace.context import FinalHook, Workspace, base_url, utc_now
from dvt_us.service.workspace.errors import PROBLEMS
from dvt_us.service.workspace.media import ClipFiles, FrameMedia, MediaLimits
from dvt_us.service.workspace.rendering import answer_error, render_page
from dvt_us.service.workspace.viewer import STATIC_DIR, VIEWER_PAGE_TEMPLATE, environment, viewer_context
from dvt_us.service.workspace.visits import ClipOut, WorkspaceData, WorkspaceSources

IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                           "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'self'")
"""Nothing but the app itself: no CDN, no inline script, no external image."""

ReportId = Annotated[int, PathParam(ge=1)]
SopUid = Annotated[str, PathParam(pattern=r"^[0-9]+(\.[0-9]+)*$", max_length=64)]
FrameIndex = Annotated[int, PathParam(ge=0)]


def _jpeg(request: Request, body: Callable[[], bytes], etag_parts: tuple[object, ...], cache_control: str) -> Response:
    etag = '"' + hashlib.sha256(repr(etag_parts).encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body(), media_type="image/jpeg", headers=headers)


def create_workspace_app(sources: WorkspaceSources, store: ReviewStore, *, on_final: FinalHook | None = None,
                         limits: MediaLimits | None = None, secure_cookies: bool = False,
                         clock: Callable[[], datetime] = utc_now) -> FastAPI:
    """The workspace app over the service's stored instances, visit folders and review store.

    Parameters
    ----------
    sources
        The data folder and the resolvers of SOPInstanceUID → stored file and report id → visit folder.
    store
        The review domain on the service database: accounts, sessions, reads, audit trail.
    on_final
        Called with the study id after a signature has made a study final with its final outputs due; the
        service writes the final outputs (``write_final_outputs``) and sends them to the PACS destinations.
        It runs in the request (the signature is committed before); an exception is a 500.
    limits
        Memory bounds and JPEG settings of the media cache (:class:`MediaLimits`; defaults: 128 MiB of JPEGs).
    secure_cookies
        Send the session cookie with ``Secure`` (behind HTTPS).
    clock
        Timezone-aware now (the tests' clock).

    Returns
    -------
    fastapi.FastAPI
        ``app.state.media`` is its :class:`FrameMedia` (cache statistics), ``app.state.data`` its
        :class:`WorkspaceData`, ``app.state.workspace`` its :class:`~.context.Workspace`.
    """
    data = WorkspaceData(sources, FrameMedia(limits))
    templates = environment()
    app = FastAPI(title="dvt-us reader workspace", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.media, app.state.data = data.media, data
    app.state.workspace = Workspace(store, data, templates, clock, on_final, secure_cookies)
    for exc_type in (*PROBLEMS, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, answer_error)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.url.path.startswith(f"{base_url(request)}/api/"):
            response.headers.setdefault("Cache-Control", "no-store")  # reads and the chain's state
        return response

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in (auth.router, review_pages.router, review_api.router, admin_pages.router):
        app.include_router(router)

    @app.get("/reports/{report_id}/viewer", response_class=HTMLResponse)
    def viewer_page(request: Request, active: SessionDep, report_id: ReportId) -> HTMLResponse:
        """The standalone clip viewer of one visit report."""
        authorise(active.user, Action.WORKLIST_VIEW)
        context = viewer_context(data, report_id, base_url(request))
        return render_page(request, app.state.workspace, VIEWER_PAGE_TEMPLATE, active, viewer=context)

    @app.get("/reports/{report_id}/clips/{sop}.json")
    def clip_json(request: Request, active: SessionDep, report_id: ReportId, sop: SopUid,
                  response: Response) -> ClipOut:
        """One clip's frames, times, spacing, area curve, key frames and media URLs."""
        authorise(active.user, Action.WORKLIST_VIEW)
        response.headers["Cache-Control"] = REVALIDATE
        return data.clip_info(report_id, sop, base_url(request))

    @app.get("/reports/{report_id}/clips/{sop}/frames/{index}.jpg", response_class=Response)
    def frame(request: Request, active: SessionDep, report_id: ReportId, sop: SopUid, index: FrameIndex) -> Response:
        """Frame ``index`` of the clip, tissue regions only (everything else black), B-mode grey."""
        authorise(active.user, Action.WORKLIST_VIEW)
        files = data.files(report_id, sop)
        return _jpeg(request, lambda: data.media.frame_jpeg(files, index, overlay=False), (sop, index), IMMUTABLE)

    @app.get("/reports/{report_id}/clips/{sop}/overlay/{index}.jpg", response_class=Response)
    def overlay(request: Request, active: SessionDep, report_id: ReportId, sop: SopUid,
                index: FrameIndex) -> Response:
        """Frame ``index`` with the visit's mask labels filled and outlined (lumen, thrombus, artery)."""
        authorise(active.user, Action.WORKLIST_VIEW)
        files = data.files(report_id, sop)
        return _jpeg(request, lambda: data.media.frame_jpeg(files, index, overlay=True),
                     (sop, index, str(files.masks), files.masks_stamp), REVALIDATE)

    @app.get("/reports/{report_id}/clips/{sop}/doppler.jpg", response_class=Response)
    def doppler(request: Request, active: SessionDep, report_id: ReportId, sop: SopUid) -> Response:
        """The first frame with its colour flow drawn (red towards the probe, blue away) and label outlines."""
        authorise(active.user, Action.WORKLIST_VIEW)
        files: ClipFiles = data.files(report_id, sop)
        return _jpeg(request, lambda: data.media.doppler_jpeg(files, overlay=True),
                     ("doppler", sop, str(files.masks), files.masks_stamp), REVALIDATE)

    return app
