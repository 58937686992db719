"""The error answers the OpenAPI document declares, and the 422s FastAPI would add.

FastAPI documents a 422 for every operation with parameters; this API answers bad
parameters with 400 instead, so the generated document says 400 and never 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from sluice.downstream.query.models import ErrorBody

_ERROR = {"model": ErrorBody}


def error_responses(token_required: bool, not_found: str = "") -> dict[int | str, Any]:
    """The documented error statuses of an operation; ``not_found`` describes its 404."""
    responses: dict[int | str, Any] = {
        400: {**_ERROR, "description": "A parameter is invalid: `detail` says which and why."},
        503: {**_ERROR, "description": "The roll-up store is unavailable; retry later."},
    }
    if token_required:
        responses[401] = {**_ERROR, "description": "Missing, unknown or expired bearer token."}
        responses[403] = {**_ERROR, "description": "The token lacks the `query` scope."}
    if not_found:
        responses[404] = {**_ERROR, "description": not_found}
    return responses


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the document without the 422 answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            for path in document.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = document.get("components", {}).get("schemas", {})
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
