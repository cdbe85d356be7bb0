"""The API's errors, the bearer-token check, and the one mapping from an exception to problem+json.

Every error, ours or the framework's, becomes an RFC 9457 ``application/problem+json`` answer in
:func:`problem`; :data:`PROBLEMS` says which status and ``type`` slug each exception type gets.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dvt_us.service.db import UnknownStudyError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class NotFoundError(LookupError):
    """No job or report with this id, or the report has no such file."""


class UnauthorizedError(Exception):
    """No bearer token, or not the right one (``invalid``: a token was sent)."""

    def __init__(self, detail: str, *, invalid: bool) -> None:
        super().__init__(detail)
        self.invalid = invalid


class BadRequestError(ValueError):
    """The request body cannot be read as what its Content-Type says (a broken multipart body, no parts)."""


class UnsupportedMediaTypeError(ValueError):
    """The request's Content-Type is not one the route takes."""


class NotAcceptableError(ValueError):
    """The request's Accept header allows none of the media types the route answers with."""


class PayloadTooLargeError(ValueError):
    """The request body is larger than the route accepts."""


class LowDiskError(Exception):
    """The data folder has less free space than the watermark; the client should come back later."""

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ProblemKind:
    """How one exception type is answered: status, a ``type`` slug, and a fixed detail where str(exc) may leak."""

    status: HTTPStatus
    slug: str
    public_detail: str | None = None


PROBLEMS: dict[type[Exception], ProblemKind] = {
    UnauthorizedError: ProblemKind(HTTPStatus.UNAUTHORIZED, "unauthorized"),
    NotFoundError: ProblemKind(HTTPStatus.NOT_FOUND, "not-found"),
    UnknownStudyError: ProblemKind(HTTPStatus.NOT_FOUND, "not-found"),
    RequestValidationError: ProblemKind(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid-request"),
    BadRequestError: ProblemKind(HTTPStatus.BAD_REQUEST, "bad-request"),
    UnsupportedMediaTypeError: ProblemKind(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
    NotAcceptableError: ProblemKind(HTTPStatus.NOT_ACCEPTABLE, "not-acceptable"),
    PayloadTooLargeError: ProblemKind(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload-too-large"),
    LowDiskError: ProblemKind(HTTPStatus.SERVICE_UNAVAILABLE, "low-disk"),
    OperationalError: ProblemKind(HTTPStatus.SERVICE_UNAVAILABLE, "database-unavailable",
                                  "the database did not answer; see the service log"),
}
"""Our exception types (and the framework's validation error) → their answers; anything else is a 500."""
INTERNAL = ProblemKind(HTTPStatus.INTERNAL_SERVER_ERROR, "internal-error", "an unexpected error; see the service log")


class Problem(BaseModel):
    """An RFC 9457 problem detail (``application/problem+json``)."""

    type: str
    """``urn:dvt-us:problem:<slug>``, or ``about:blank`` for a plain HTTP status (unknown route, bad method)."""
    title: str
    status: int
    detail: str
    instance: str
    """The request path."""
    errors: list[dict[str, Any]] | None = None
    """422 only: each invalid parameter, as ``{"loc": [...], "msg": ...}``."""


def token_refusal(header: str | None, expected: bytes) -> UnauthorizedError | None:
    """Why ``header`` (the Authorization header) does not authorise a request, or None when it does."""
    scheme, _, sent = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        return UnauthorizedError("send Authorization: Bearer <token>", invalid=False)
    if not hmac.compare_digest(sent.strip().encode(), expected):
        return UnauthorizedError("the bearer token is not valid", invalid=True)
    return None


def _headers(exc: Exception) -> dict[str, str]:
    if isinstance(exc, UnauthorizedError):
        return {"WWW-Authenticate": 'Bearer realm="dvt-us"' + (', error="invalid_token"' if exc.invalid else "")}
    if isinstance(exc, LowDiskError):
        return {"Retry-After": str(exc.retry_after_s)}
    return {}


def problem(request: Request, exc: Exception, token: bytes) -> JSONResponse:
    """The one mapping from an exception to its problem+json answer."""
    errors = None
    if isinstance(exc, StarletteHTTPException):
        refusal = token_refusal(request.headers.get("authorization"), token)
        if refusal is not None:  # no route matched (404/405): an unauthorised caller learns nothing of the routes
            exc = refusal
        else:
            status = HTTPStatus(exc.status_code)
            body = Problem(type="about:blank", title=status.phrase, status=status, detail=str(exc.detail),
                           instance=request.url.path)
            return JSONResponse(body.model_dump(exclude_none=True), status, exc.headers, media_type=PROBLEM_JSON)
    kind = next((PROBLEMS[t] for t in type(exc).__mro__ if t in PROBLEMS), INTERNAL)
    if kind.public_detail is not None and kind is not INTERNAL:  # Starlette re-raises a 500 for the server to log
        log.error("%s %s: %s", request.method, request.url.path, kind.public_detail, exc_info=exc)
    if isinstance(exc, RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    else:
        detail = kind.public_detail or str(exc)
    body = Problem(type=f"urn:dvt-us:problem:{kind.slug}", title=kind.status.phrase, status=kind.status,
                   detail=detail, instance=request.url.path, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), kind.status, _headers(exc), media_type=PROBLEM_JSON)
