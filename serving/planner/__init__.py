"""The planner page: an ASGI app the service mounts at `/`, next to the API.

It serves static files only: the page (`assets/planner.html`, `.css`, `.js`), which asks the
API for every number it shows, and a tracker-free API docs page at `/docs` (Swagger UI from
BentoML's own bundled copy; BentoML's index page embeds Google Tag Manager, so `/` is ours).
Every response carries a Content-Security-Policy that lets the page reach only this origin,
so a confidential plan never leaves the machine, even if a future asset tried.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

ASSETS = Path(__file__).parent / "assets"
ASSETS_PATH = "/static/planner"     # under /static, which the bearer-token guard leaves open (the page holds no data)
DOCS_ASSETS_PATH = "/static/docs"

# Only this origin, no inline script; Swagger UI sets inline styles and data: images, the page does neither.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
DOCS_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _swagger_assets() -> Path:
    """The Swagger UI files BentoML ships (its index page's, without the page)."""
    from bentoml._internal import server
    return Path(server.__file__).parent / "static_content"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("engagement-impact")
    except PackageNotFoundError:      # a Bento built from the source tree
        return "source"


def _page(name: str, policy: str):
    async def page(_request) -> FileResponse:
        return FileResponse(ASSETS / name, media_type="text/html", headers={
            "Content-Security-Policy": policy, "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache"})
    return page


API_DESCRIPTION = ("Scenario forecasts, attribution and rollout optimisation of AI features in Meta's apps. "
                   "The planner page is at `/`; every endpoint takes and returns JSON (POST).")


def planner_app(openapi: Callable[[], dict]) -> Starlette:
    """`/` the planner, `/docs` the API docs over `/docs.json` (the service's OpenAPI document from
    `openapi()`, with BentoML's default description, which embeds badge images from outside, and its
    contact replaced by ours),
    and their static files."""
    @cache
    def document() -> dict:                   # the same for the life of the process: built on first request
        spec = openapi()
        info = {key: value for key, value in spec.get("info", {}).items() if key != "contact"}
        spec["info"] = info | {"description": API_DESCRIPTION, "version": _version()}
        return spec

    async def docs_json(_request) -> JSONResponse:
        return JSONResponse(document())

    return Starlette(routes=[
        Route("/", _page("planner.html", PAGE_POLICY)),
        Route("/docs", _page("docs.html", DOCS_POLICY)),
        Route("/docs.json", docs_json),
        Mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="planner-assets"),
        Mount(DOCS_ASSETS_PATH, StaticFiles(directory=_swagger_assets()), name="docs-assets"),
    ])
