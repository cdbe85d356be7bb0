"""What every route of the workspace works with: the review store, the clip data, templates, clock, hooks.

:class:`Workspace` is built once by :func:`~dvt_us.service.workspace.app.create_workspace_app` and kept in
``app.state.workspace``; routes get it through the :data:`WorkspaceDep` dependency.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import jinja2
from fastapi import Depends, Request

from dvt_us.service.review.store import ReviewStore
from dvt_us.service.workspace.login_throttle import LoginThrottle
from dvt_us.service.workspace.visits import WorkspaceData

FinalHook = Callable[[int], object]
"""Called with a study id once a signature has made that study final and its final outputs are due; what it
returns (e.g. the Future of a queued job) is ignored."""


@dataclass(frozen=True)
class Workspace:
    """The workspace's collaborators."""

    store: ReviewStore
    data: WorkspaceData
    templates: jinja2.Environment
    clock: Callable[[], datetime]
    """Timezone-aware now; every review call gets it."""
    on_final: FinalHook | None
    secure_cookies: bool
    """Set the ``Secure`` flag on the cookies (the service is behind HTTPS)."""
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    """Failed logins per username (counted in the audit trail)."""


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def workspace(request: Request) -> Workspace:
    """The :class:`Workspace` of the app serving ``request``."""
    found: Workspace = request.app.state.workspace
    return found


def base_url(request: Request) -> str:
    """The path the app is mounted at (``""`` when it is the root app): every URL we write starts with it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


WorkspaceDep = Annotated[Workspace, Depends(workspace)]
