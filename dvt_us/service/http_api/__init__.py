"""The HTTP API: health, studies, jobs, reports (and their files), the event log, Prometheus metrics and STOW-RS.

:func:`create_app` (:mod:`.routes`) builds a FastAPI application over a
:class:`~dvt_us.service.db.Database`. Every route, the OpenAPI schema and the offline Swagger UI included,
needs ``Authorization: Bearer <token>``; sub-applications mounted with ``mounts=`` do their own
authentication. Every error, ours or the framework's, becomes an RFC 9457 ``application/problem+json``
answer in one place (:func:`.problems.problem`). Report files are served only from the folder recorded
for the report, by names fixed in :mod:`.report_files`. STOW-RS (:mod:`.stow`) takes instances exactly as
the DICOM node does. The read handlers are thin: they read the database and shape the answer.

Modules: :mod:`.problems` (errors, token check, problem+json), :mod:`.schemas` (response models),
:mod:`.report_files`, :mod:`.metrics`, :mod:`.docs` (Swagger UI from the ``swagger-ui-bundle`` package),
:mod:`.multipart_related` and :mod:`.stow` with :mod:`.stow_status` (STOW-RS), :mod:`.routes` (the app).
"""

from dvt_us.service.http_api.problems import PROBLEM_JSON
from dvt_us.service.http_api.routes import create_app
from dvt_us.service.http_api.schemas import ComponentStatus
from dvt_us.service.http_api.stow import DEFAULT_MAX_STOW_BYTES, Intake

__all__ = ["DEFAULT_MAX_STOW_BYTES", "PROBLEM_JSON", "ComponentStatus", "Intake", "create_app"]
