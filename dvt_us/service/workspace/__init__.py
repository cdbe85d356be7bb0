"""The reader workspace's web UI (issue 8): reading, adjudication, sign-off and audit pages, clip viewer.

Login, worklist, review and adjudication pages, sign-off, the audit trail and agreement pages over the review
domain (:mod:`dvt_us.service.review`), and the clip viewer with its media.

:func:`create_workspace_app` is mounted by the service at ``/workspace``, outside the bearer-token API.
"""

from dvt_us.service.workspace.app import create_workspace_app
from dvt_us.service.workspace.media import FrameMedia, MediaLimits
from dvt_us.service.workspace.viewer import CLIP_VIEWER_TEMPLATE, TEMPLATES_DIR, ViewerContext, viewer_context
from dvt_us.service.workspace.visits import ClipOut, WorkspaceData, WorkspaceSources

__all__ = [
    "CLIP_VIEWER_TEMPLATE",
    "TEMPLATES_DIR",
    "ClipOut",
    "FrameMedia",
    "MediaLimits",
    "ViewerContext",
    "WorkspaceData",
    "WorkspaceSources",
    "create_workspace_app",
    "viewer_context",
]
