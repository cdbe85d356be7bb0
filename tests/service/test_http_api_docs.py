"""The offline Swagger UI and mounted sub-applications, over real HTTP on loopback (uvicorn, httpx, SQLite).

The app mounts a stand-in for the reader workspace at ``/workspace``, with its own (here: no) authentication;
every API route of the same app must still refuse a request without the bearer token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from playwright.sync_api import Route, sync_playwright

from dvt_us.service.config import ServiceConfig
from dvt_us.service.db import Database
from dvt_us.service.http_api import PROBLEM_JSON, create_app
from dvt_us.service.http_api.docs import DOCS_ASSETS, DOCS_SCHEMA_URL, SWAGGER_UI_DIR, DocsAsset, as_openapi_30
from dvt_us.service.http_server import HttpServer

TOKEN = "docs-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHROMIUM = Path("/usr/bin/chromium")
EXAMPLE_ID = {"{job_id}": "1", "{report_id}": "1", "{study_uid}": "1.2.3"}


def _workspace() -> FastAPI:
    """A stand-in for the reader workspace."""
    workspace = FastAPI()

    @workspace.get("/hello")
    def hello() -> dict[str, str]:
        return {"from": "workspace"}

    return workspace


def _app(db: Database, data_dir: Path) -> FastAPI:
    return create_app(db, ServiceConfig(data_dir=data_dir), token=TOKEN, mounts={"/workspace": _workspace()})


ROUTES = sorted(r.path for r in _app(Database("sqlite://"), Path()).routes if isinstance(r, APIRoute))


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("http-docs")
    db = Database(f"sqlite:///{root / 'dvt-us.db'}")
    db.upgrade()
    try:
        with HttpServer(_app(db, root), "127.0.0.1", 0) as server:
            yield f"http://127.0.0.1:{server.port}"
    finally:
        db.close()


def _url(route: str) -> str:
    for name, value in EXAMPLE_ID.items():
        route = route.replace(name, value)
    return route


# --- offline docs ----------------------------------------------------------------------------------------

def test_docs_reference_only_local_urls(base_url: str) -> None:
    page = httpx.get(f"{base_url}/docs", headers=AUTH, timeout=30).text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: *'([^']+)'""", page)
    referenced = {u for pair in urls for u in pair if u}
    assert referenced == {DOCS_SCHEMA_URL, *(a.url for a in DOCS_ASSETS)}
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert '"validatorUrl": null' in page, "Swagger UI would send the schema to validator.swagger.io"


@pytest.mark.parametrize("asset", DOCS_ASSETS, ids=lambda a: a.name)
def test_docs_assets_are_served_from_the_pinned_package(base_url: str, asset: DocsAsset) -> None:
    response = httpx.get(base_url + asset.url, headers=AUTH, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == asset.media_type
    assert response.content == (SWAGGER_UI_DIR / asset.name).read_bytes()
    assert httpx.get(base_url + asset.url, timeout=30).status_code == 401


def test_swagger_ui_renders_offline_in_a_browser(base_url: str) -> None:
    """Headless chromium, every request to anywhere but this server aborted, renders the API's operations."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: `make system-test` installs Debian's chromium")
    elsewhere: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(base_url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(extra_http_headers=AUTH)
            context.route("**/*", only_local)
            page = context.new_page()
            page.goto(f"{base_url}/docs")
            page.wait_for_selector(".opblock-summary-path[data-path='/health']")
            shown = {page.locator(".opblock-summary-path").nth(i).get_attribute("data-path")
                     for i in range(page.locator(".opblock-summary-path").count())}
            title = page.locator(".info .title").inner_text()
        finally:
            browser.close()
    assert shown == set(ROUTES) - {"/openapi.json", "/docs", DOCS_SCHEMA_URL, *(a.url for a in DOCS_ASSETS)}
    assert title.startswith("dvt-us") and elsewhere == []


def test_the_docs_schema_is_the_api_schema_in_openapi_30_terms(base_url: str) -> None:
    spec = httpx.get(f"{base_url}/openapi.json", headers=AUTH, timeout=30).json()
    shown = httpx.get(base_url + DOCS_SCHEMA_URL, headers=AUTH, timeout=30).json()
    assert spec["openapi"].startswith("3.1") and shown["openapi"] == "3.0.3"
    assert shown == as_openapi_30(spec) and set(shown["paths"]) == set(spec["paths"])
    error = shown["components"]["schemas"]["JobOut"]["properties"]["error"]
    assert error == {"type": "string", "nullable": True, "title": "Error"}
    assert '{"type": "null"}' not in json.dumps(shown)


def test_as_openapi_30_rewrites_nullable_options() -> None:
    ref = {"$ref": "#/components/schemas/X"}
    assert as_openapi_30({"anyOf": [ref, {"type": "null"}], "title": "T"}) == {**ref, "title": "T", "nullable": True}
    assert as_openapi_30({"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]}) == {
        "anyOf": [{"type": "integer"}, {"type": "string"}], "nullable": True}
    assert as_openapi_30([{"anyOf": [{"type": "integer"}]}]) == [{"anyOf": [{"type": "integer"}]}]


@pytest.mark.parametrize("name", ["index.html", "swagger-initializer.js", "swagger-ui.js", "..%2findex.html"])
def test_other_docs_files_are_not_served(base_url: str, name: str) -> None:
    assert httpx.get(f"{base_url}/docs/{name}", headers=AUTH, timeout=30).status_code == 404


# --- mounted sub-applications ----------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, AUTH], ids=["none", "wrong", "right"])
def test_a_mounted_app_is_reachable_without_the_token(base_url: str, headers: dict[str, str]) -> None:
    response = httpx.get(f"{base_url}/workspace/hello", headers=headers, timeout=30)
    assert response.status_code == 200 and response.json() == {"from": "workspace"}
    missing = httpx.get(f"{base_url}/workspace/nothing-here", headers=headers, timeout=30)
    assert missing.status_code == 404 and "www-authenticate" not in missing.headers, "the sub-app's own answer"


@pytest.mark.parametrize("route", ROUTES)
def test_every_api_route_still_needs_the_token(base_url: str, route: str) -> None:
    response = httpx.get(base_url + _url(route), timeout=30)
    assert response.status_code == 401 and response.headers["content-type"] == PROBLEM_JSON
    assert httpx.get(base_url + _url(route), headers=AUTH, timeout=30).status_code in (200, 404)


def test_the_mount_is_not_an_api_route() -> None:
    assert "/health" in ROUTES and not any(r.startswith("/workspace") for r in ROUTES)


@pytest.mark.parametrize("prefix", ["/studies", "/docs", "/reports/x", "workspace", "/workspace/", "/", "/a b"])
def test_a_bad_or_shadowing_mount_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(prefix))):
        create_app(Database("sqlite://"), ServiceConfig(), token="x", mounts={prefix: _workspace()})
