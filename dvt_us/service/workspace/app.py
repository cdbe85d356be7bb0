"""The reader workspace's web app: the clip viewer page, clip media and JSON, and its static files.

:func:`create_workspace_app` builds a FastAPI app that the service mounts (at ``/workspace``) beside its
bearer-token API. Routes (``{report_id}`` as the service API numbers reports, ``{sop}`` a SOPInstanceUID of
that report)::

    GET /reports/{report_id}/viewer                    the clip viewer page (HTML)
    GET /reports/{report_id}/clips/{sop}.json          the clip's facts and media URLs (ClipOut)
    GET /reports/{report_id}/clips/{sop}/frames/{i}.jpg   frame i (0-based), tissue regions only
    GET /reports/{report_id}/clips/{sop}/overlay/{i}.jpg  the same with the mask overlay
    GET /reports/{report_id}/clips/{sop}/doppler.jpg      the first frame with its colour flow
    GET /static/…                                      CSS and JavaScript (no authorisation)

Every other route depends on ``current_user`` (a FastAPI dependency: the domain's session check; it raises
``HTTPException`` to refuse). Frames of a stored instance never change: they are sent ``immutable``; overlays
and the Doppler frame depend on the masks and are revalidated by ETag. Pages carry a Content-Security-Policy
that allows nothing from outside the app.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from dvt_us.service.workspace.errors import PROBLEMS, problem
from dvt_us.service.workspace.media import ClipFiles, FrameMedia, MediaLimits
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


def _base_url(request: Request) -> str:
    """The path the app is mounted at (``""`` when it is the root app): every URL we write starts with it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _jpeg(request: Request, body: Callable[[], bytes], etag_parts: tuple[object, ...], cache_control: str) -> Response:
    etag = '"' + hashlib.sha256(repr(etag_parts).encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body(), media_type="image/jpeg", headers=headers)


def create_workspace_app(sources: WorkspaceSources, current_user: Callable[..., Any], *,
                         limits: MediaLimits | None = None) -> FastAPI:
    """The workspace app over the service's stored instances and visit folders.

    Parameters
    ----------
    sources
        The data folder and the resolvers of SOPInstanceUID → stored file and report id → visit folder.
    current_user
        A FastAPI dependency run for every route but the static files; it raises ``HTTPException`` (401, 403)
        to refuse the request. The domain's session check replaces the one the tests pass.
    limits
        Memory bounds and JPEG settings of the media cache (:class:`MediaLimits`; defaults: 128 MiB of JPEGs).

    Returns
    -------
    fastapi.FastAPI
        ``app.state.media`` is its :class:`FrameMedia` (cache statistics), ``app.state.data`` its
        :class:`WorkspaceData`.
    """
    data = WorkspaceData(sources, FrameMedia(limits))
    templates = environment()
    app = FastAPI(title="dvt-us reader workspace", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.media, app.state.data = data.media, data
    for exc_type in (*PROBLEMS, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, problem)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    user = [Depends(current_user)]

    @app.get("/reports/{report_id}/viewer", dependencies=user, response_class=HTMLResponse)
    def viewer_page(request: Request, report_id: ReportId) -> HTMLResponse:
        """The standalone clip viewer of one visit report."""
        context = viewer_context(data, report_id, _base_url(request))
        html = templates.get_template(VIEWER_PAGE_TEMPLATE).render(viewer=context)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/reports/{report_id}/clips/{sop}.json", dependencies=user)
    def clip_json(request: Request, report_id: ReportId, sop: SopUid, response: Response) -> ClipOut:
        """One clip's frames, times, spacing, area curve, key frames and media URLs."""
        response.headers["Cache-Control"] = REVALIDATE
        return data.clip_info(report_id, sop, _base_url(request))

    @app.get("/reports/{report_id}/clips/{sop}/frames/{index}.jpg", dependencies=user, response_class=Response)
    def frame(request: Request, report_id: ReportId, sop: SopUid, index: FrameIndex) -> Response:
        """Frame ``index`` of the clip, tissue regions only (everything else black), B-mode grey."""
        files = data.files(report_id, sop)
        return _jpeg(request, lambda: data.media.frame_jpeg(files, index, overlay=False), (sop, index), IMMUTABLE)

    @app.get("/reports/{report_id}/clips/{sop}/overlay/{index}.jpg", dependencies=user, response_class=Response)
    def overlay(request: Request, report_id: ReportId, sop: SopUid, index: FrameIndex) -> Response:
        """Frame ``index`` with the visit's mask labels filled and outlined (lumen, thrombus, artery)."""
        files = data.files(report_id, sop)
        return _jpeg(request, lambda: data.media.frame_jpeg(files, index, overlay=True),
                     (sop, index, str(files.masks), files.masks_stamp), REVALIDATE)

    @app.get("/reports/{report_id}/clips/{sop}/doppler.jpg", dependencies=user, response_class=Response)
    def doppler(request: Request, report_id: ReportId, sop: SopUid) -> Response:
        """The first frame with its colour flow drawn (red towards the probe, blue away) and label outlines."""
        files: ClipFiles = data.files(report_id, sop)
        return _jpeg(request, lambda: data.media.doppler_jpeg(files, overlay=True),
                     ("doppler", sop, str(files.masks), files.masks_stamp), REVALIDATE)

    return app
