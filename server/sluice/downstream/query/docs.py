"""The query API's documentation pages, served from the package: nothing loads from outside.

``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) take their scripts, styles and favicon from
``/docs-assets/``, the files vendored in ``static/`` (versions and licenses in its README),
instead of FastAPI's default CDN and Google Fonts, so they render on an air-gapped network.
Like ``/openapi.json``, the pages need no token: the document holds no tenant's data.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
SWAGGER_UI_PATH = "/docs"
REDOC_PATH = "/redoc"
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
"""Swagger UI would otherwise fetch a validity badge from validator.swagger.io."""


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` and ReDoc at ``/redoc`` for ``app``'s OpenAPI document.

    Build ``app`` with ``docs_url=None, redoc_url=None`` so that FastAPI's CDN pages are not
    installed as well.
    """
    app.mount(ASSETS_PATH, StaticFiles(packages=[(__package__, "static")]), name="docs-assets")
    title = app.title

    @app.get(SWAGGER_UI_PATH, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger_ui/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger_ui/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/swagger_ui/favicon-32x32.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get(REDOC_PATH, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/swagger_ui/favicon-32x32.png",
            with_google_fonts=False,
        )


def _root_path(request: Request) -> str:
    """The prefix a reverse proxy mounts the API under (ASGI ``root_path``), as FastAPI's own
    docs pages use it."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")
