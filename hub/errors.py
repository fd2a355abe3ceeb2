"""RFC 9457 problem details for every error the hub returns.

Every refusal has a stable ``type`` (``/problems/<slug>``) so clients can branch on it, and a ``detail`` in
the
caller's language. Handlers never echo request input back: a malformed body could carry a resident number.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub import i18n

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("gongyu.errors")


class Problem(Exception):
    """A refusal with an HTTP status and a stable problem type slug."""

    def __init__(
        self,
        status: int,
        slug: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        **params: object,
    ) -> None:
        super().__init__(slug)
        self.status = status
        self.slug = slug
        self.params = params
        self.headers = headers
        self.extra = extra or {}


def problem_response(
    request: Request,
    status: int,
    slug: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    **params: object,
) -> JSONResponse:
    lang = i18n.negotiate(request.headers.get("accept-language"))
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": i18n.message(lang, f"{slug}.title"),
        "status": status,
        "detail": i18n.message(lang, f"{slug}.detail", **params),
        "instance": f"urn:gongyu:request:{getattr(request.state, 'request_id', '-')}",
    }
    body.update(extra or {})
    response_headers = {"Content-Language": lang, "Vary": "Accept-Language"}
    response_headers.update(headers or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=response_headers)


def _describe_validation(exc: RequestValidationError) -> str:
    # Only locations and error kinds: never the offending input value.
    parts = []
    for error in exc.errors()[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{location or 'body'} ({error.get('type', 'invalid')})")
    return "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.slug, headers=exc.headers, extra=exc.extra, **exc.params
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(request, 422, "validation-error", errors=_describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized"}.get(exc.status_code)
        if slug is None:
            slug = "validation-error" if exc.status_code < 500 else "internal-error"
            if slug == "validation-error":
                return problem_response(request, exc.status_code, slug, errors="-")
        return problem_response(request, exc.status_code, slug)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The type name only: exception messages may carry data we must not log.
        log.error(
            "unhandled error",
            extra={
                "error_type": type(exc).__name__,
                "request_id": getattr(request.state, "request_id", None),
            },
        )
        return problem_response(request, 500, "internal-error")
