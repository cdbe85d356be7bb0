"""The reader workspace's web UI: clip viewer, clip media and the pages' static files (issue 8).

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
