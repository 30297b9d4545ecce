"""HTTP errors: every failure is a JSON body ``{"error": {"code", "message"}}``
with a 4xx status for what the client sent and 5xx only for the server itself.
No traceback ever reaches a client."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from yolops.serve.batching import Overloaded
from yolops.serve.database import DatabaseError

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, e: ApiError) -> JSONResponse:
        return error_response(e.status, e.code, e.message, e.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", describe_validation(e.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return error_response(e.status_code, code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Overloaded)
    async def _overloaded(_: Request, e: Overloaded) -> JSONResponse:
        return error_response(503, "overloaded", str(e), {"Retry-After": "1"})

    @app.exception_handler(DatabaseError)
    async def _database(_: Request, e: DatabaseError) -> JSONResponse:
        log.error("%s", e)
        return error_response(
            503,
            "database_unavailable",
            "the API key database cannot be reached; retry later",
            {"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, e: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error; it has been logged")


def describe_validation(errors) -> str:
    """Pydantic's errors as one line: ``query.conf: Input should be less than or equal to 1``."""
    parts = []
    for err in list(errors)[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
