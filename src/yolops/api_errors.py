"""The error envelope of every HTTP API yolops serves (prediction, labeling).

Every failure is a JSON body ``{"error": {"code", "message"}}`` with a 4xx status
for what the client sent and 5xx only for the server itself; no traceback ever
reaches a client.

    app = FastAPI(...)
    install_error_handlers(app)
    raise ApiError(403, "forbidden", "this needs the admin role")
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from yolops.errors import DatabaseError, Overloaded

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """The body of every error answer (documented in the OpenAPI schema)."""

    error: ErrorDetail


class ApiError(Exception):
    """An answer other than success: raised in a route, sent as the envelope."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def error_body(code: str, message: str) -> bytes:
    """The envelope as bytes, for answers written below the app (the HTTP layer)."""
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class HeadLimit:
    """ASGI middleware answering 431 ``headers_too_large`` (the envelope) to a request
    whose request line and headers pass ``max_bytes``. The HTTP server refuses a head
    over its limit only while the head is incomplete (h11's rule); one that arrives in
    one piece reaches the app, and is refused here by the same limit."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            size += sum(len(k) + len(v) + 4 for k, v in scope.get("headers", ()))
            if size > self.max_bytes:
                message = (
                    f"the request line and headers are {size} bytes; the limit is {self.max_bytes}"
                )
                # Closed after the answer, like the HTTP layer's own refusals: a client
                # reading to the end must not wait for the keep-alive timeout.
                response = error_response(
                    431, "headers_too_large", message, {"Connection": "close"}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def reject_unknown_query(request: Request) -> None:
    """A dependency (app- or router-wide) answering 422 ``unknown_parameter`` to a query
    parameter the route does not declare: a misspelt option (``?confidence=0.9`` for
    ``conf``) must not be ignored in silence."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    declared = _query_names(dependant)
    unknown = sorted({k for k in request.query_params if k not in declared})
    if unknown:
        accepted = ", ".join(sorted(declared)) or "none"
        raise ApiError(
            422,
            "unknown_parameter",
            f"unknown query parameter(s) {', '.join(repr(k) for k in unknown)}; "
            f"{request.url.path} accepts: {accepted}",
        )


def _query_names(dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def install_error_handlers(app: FastAPI) -> None:
    """Answer every failure of ``app`` with the envelope: our :class:`ApiError`, request
    validation (422), unknown routes and methods, a full queue (503), an unreachable
    database (503) and, last, anything unexpected (500, logged with its traceback)."""

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
            "the workspace database cannot be reached; retry later",
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
