"""The workspace's errors and their one mapping to HTTP statuses and ``application/problem+json`` (RFC 9457).

The shape is the one of the service API's problems (``type``, ``title``, ``status``, ``detail``, ``instance``).
The review domain's refusals are mapped here too (:data:`PROBLEMS`); pages show the same status and detail
as an HTML error page (:mod:`.rendering`).
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dvt_us.ingest import IngestError
from dvt_us.service.review import errors as review

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class NotFoundError(LookupError):
    """No such report, clip, frame or media in the workspace."""


class NotShowableError(ValueError):
    """The clip exists but cannot be shown: no tissue region, masks that do not fit it."""


class BadInputError(ValueError):
    """A form or query value the workspace cannot use (an unknown state, a password that is too short)."""


PROBLEMS: dict[type[Exception], tuple[HTTPStatus, str]] = {
    NotFoundError: (HTTPStatus.NOT_FOUND, "not-found"),
    NotShowableError: (HTTPStatus.CONFLICT, "not-showable"),
    IngestError: (HTTPStatus.CONFLICT, "not-showable"),
    RequestValidationError: (HTTPStatus.UNPROCESSABLE_ENTITY, "invalid-request"),
    BadInputError: (HTTPStatus.UNPROCESSABLE_ENTITY, "invalid-request"),
    review.AuthenticationError: (HTTPStatus.UNAUTHORIZED, "not-authenticated"),
    review.CsrfError: (HTTPStatus.FORBIDDEN, "csrf-token"),
    review.PermissionDeniedError: (HTTPStatus.FORBIDDEN, "forbidden"),
    review.NotFoundError: (HTTPStatus.NOT_FOUND, "not-found"),
    review.ReviewConflictError: (HTTPStatus.CONFLICT, "review-conflict"),
    review.InvalidReadError: (HTTPStatus.UNPROCESSABLE_ENTITY, "invalid-read"),
}
"""Our exception types and the review domain's → status and ``type`` slug; anything else is a 500 with a fixed
detail."""


def problem_of(request: Request, exc: Exception) -> tuple[HTTPStatus, dict[str, object]]:
    """The status and problem document of a request that raised ``exc`` (logged when it is unexpected)."""
    if isinstance(exc, StarletteHTTPException):  # the framework's refusals (unknown route, wrong method)
        status = HTTPStatus(exc.status_code)
        return status, {"type": "about:blank", "title": status.phrase, "status": status.value,
                        "detail": str(exc.detail), "instance": request.url.path}
    status, slug = next((PROBLEMS[t] for t in type(exc).__mro__ if t in PROBLEMS),
                        (HTTPStatus.INTERNAL_SERVER_ERROR, "internal-error"))
    if isinstance(exc, RequestValidationError):
        detail = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in exc.errors())
    elif isinstance(exc, IngestError):
        detail = f"the stored instance cannot be read ({exc.code.value})"
        log.warning("%s %s: %s", request.method, request.url.path, exc)
    elif status is HTTPStatus.INTERNAL_SERVER_ERROR:
        detail = "an unexpected error; see the service log"
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    else:
        detail = str(exc)
    return status, {"type": f"urn:dvt-us:problem:{slug}", "title": status.phrase, "status": status.value,
                    "detail": detail, "instance": request.url.path}


def problem(request: Request, exc: Exception) -> JSONResponse:
    """The problem+json answer to a request that raised ``exc``."""
    status, body = problem_of(request, exc)
    headers = exc.headers if isinstance(exc, StarletteHTTPException) else None
    return JSONResponse(body, status, headers, media_type=PROBLEM_JSON)
