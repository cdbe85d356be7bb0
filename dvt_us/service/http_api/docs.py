"""``/docs``: Swagger UI served from the pinned ``swagger-ui-bundle`` package, so it works without the internet.

The page, its three assets and the schema it shows are ordinary API routes (behind the bearer token like
every other); the asset names are fixed here, so no part of a request reaches the file system.

``swagger-ui-bundle`` 1.1.0 ships Swagger UI 4.15.5, which refuses OpenAPI 3.1 (what FastAPI writes): the
page therefore loads :data:`DOCS_SCHEMA_URL`, the same schema labelled 3.0.3 with its nullable types
written the 3.0 way (:func:`as_openapi_30`). ``/openapi.json`` itself stays 3.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

DOCS_URL = "/docs"
OPENAPI_URL = "/openapi.json"
DOCS_SCHEMA_URL = f"{DOCS_URL}/openapi-3.0.json"
"""The schema the Swagger UI page loads (:func:`as_openapi_30` of ``/openapi.json``)."""
_NULL = {"type": "null"}
SWAGGER_UI_DIR = Path(swagger_ui_bundle.swagger_ui_path)
"""The Swagger UI distribution shipped in the ``swagger-ui-bundle`` wheel."""


@dataclass(frozen=True)
class DocsAsset:
    """A file of the Swagger UI distribution served under ``/docs/``."""

    name: str
    media_type: str

    @property
    def url(self) -> str:
        """Where the page loads it from."""
        return f"{DOCS_URL}/{self.name}"


SWAGGER_JS = DocsAsset("swagger-ui-bundle.js", "text/javascript; charset=utf-8")
SWAGGER_CSS = DocsAsset("swagger-ui.css", "text/css; charset=utf-8")
SWAGGER_FAVICON = DocsAsset("favicon-32x32.png", "image/png")
DOCS_ASSETS = (SWAGGER_JS, SWAGGER_CSS, SWAGGER_FAVICON)


def as_openapi_30(node: Any) -> Any:
    """A copy of (part of) an OpenAPI 3.1 schema that Swagger UI 4 renders.

    The top level is labelled ``openapi: 3.0.3``; ``anyOf`` lists with ``{"type": "null"}`` become the
    other option(s) with ``nullable: true``. Other 3.1 keywords are left as they are (Swagger UI ignores them).
    """
    if isinstance(node, list):
        return [as_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: as_openapi_30(value) for key, value in node.items()}
    options = converted.get("anyOf")
    if isinstance(options, list) and _NULL in options:
        rest = [option for option in options if option != _NULL]
        del converted["anyOf"]
        converted.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        converted["nullable"] = True
    if isinstance(converted.get("openapi"), str):
        converted["openapi"] = "3.0.3"
    return converted


def add_docs_routes(app: FastAPI, title: str) -> None:
    """``GET /docs`` (the Swagger UI page), ``GET /docs/<asset>`` for each of :data:`DOCS_ASSETS`, and the schema.

    Raises FileNotFoundError at start-up when the installed package lacks an asset (a broken install).
    """
    for asset in DOCS_ASSETS:
        path = SWAGGER_UI_DIR / asset.name
        if not path.is_file():
            raise FileNotFoundError(f"Swagger UI asset {path} is missing; reinstall swagger-ui-bundle")
        _add_asset_route(app, asset, path)

    @app.get(DOCS_SCHEMA_URL, include_in_schema=False)
    def docs_schema() -> JSONResponse:
        return JSONResponse(as_openapi_30(app.openapi()))

    @app.get(DOCS_URL, include_in_schema=False)
    def docs() -> HTMLResponse:
        # validatorUrl null: Swagger UI would otherwise send the schema to validator.swagger.io.
        return get_swagger_ui_html(openapi_url=DOCS_SCHEMA_URL, title=title, swagger_js_url=SWAGGER_JS.url,
                                   swagger_css_url=SWAGGER_CSS.url, swagger_favicon_url=SWAGGER_FAVICON.url,
                                   swagger_ui_parameters={"validatorUrl": None})


def _add_asset_route(app: FastAPI, asset: DocsAsset, path: Path) -> None:
    def serve() -> FileResponse:
        return FileResponse(path, media_type=asset.media_type)

    app.add_api_route(asset.url, serve, methods=["GET"], include_in_schema=False, name=f"docs_{asset.name}")
