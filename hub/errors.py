"""RFC 9457 problem details for every error the hub returns.

Every refusal has a stable ``type`` (``/problems/<slug>``) so clients can branch on it, and a ``detail`` in
the
caller's language. Handlers never echo request input back: a malformed body could carry a resident number.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import i18n
from hub.resident_number import contains_resident_number

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


def problem_answer(request: Request, problem: Problem) -> JSONResponse:
    """The problem+json a raised ``Problem`` is answered with (the app's handler, and the hot paths)."""
    return problem_response(
        request, problem.status, problem.slug, headers=problem.headers, extra=problem.extra, **problem.params
    )


def describe_validation(errors: Sequence[Any]) -> str:
    """Only locations and error kinds, never the offending input value (it may be a resident number)."""
    parts = []
    for error in errors[:5]:
        kind = str(error.get("type", "invalid"))
        path = [str(p) for p in error.get("loc", ()) if p != "body"]
        if kind == "extra_forbidden" and path:
            path[-1] = "(unknown key)"  # the key itself is client input: it could be a resident number
        path = ["(hidden)" if contains_resident_number(p) else p for p in path]
        parts.append(f"{'.'.join(path) or 'body'} ({kind})")
    return "; ".join(parts)


# A JSON ``\u0000`` escape that is not itself escaped (an even run of backslashes, or none, before it).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _has_nul(body: bytes, content_type: str) -> bool:
    if b"\x00" in body:
        return True
    if content_type == "application/x-www-form-urlencoded":
        return b"%00" in body
    return b"\\u0000" in body and _JSON_NUL.search(body) is not None


class RejectNulMiddleware:
    """Refuse U+0000 in the path, query string, or a JSON or form body with a 422 ``validation-error``.

    No input to the hub has a use for it, and PostgreSQL text cannot store it: unrefused it reached the
    database (or the audit log) and came back as a 500 or an ``audit-unavailable`` 503. Bodies that a handler
    parses and audits itself (``self_validating`` paths) are left to that handler's own validation, so the
    malformed attempt is still audited.
    """

    def __init__(self, app: ASGIApp, self_validating: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.self_validating = self_validating

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        location = None
        if "\x00" in scope["path"]:
            location = "path"
        elif b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
            location = "query"
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1").split(";")[0].strip().lower()
        checked = content_type in ("application/x-www-form-urlencoded", "multipart/form-data") or (
            content_type.startswith("application/") and content_type.endswith(("/json", "+json"))
        )
        if location is None and checked and scope["path"] not in self.self_validating:
            chunks = []
            while True:
                message = await receive()
                if message["type"] != "http.request":  # the client went away: let the app see it
                    await self.app(scope, _replay([message], receive), send)
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            if _has_nul(body, content_type):
                location = "body"
            receive = _replay([{"type": "http.request", "body": body, "more_body": False}], receive)
        if location is None:
            await self.app(scope, receive, send)
            return
        response = problem_response(
            Request(scope), 422, "validation-error", errors=f"{location} (string_nul)"
        )
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()

    return replayed


def install(app: FastAPI, *, self_validating: frozenset[str] = frozenset()) -> None:
    # Added before the request-context middleware (which wraps it), so refusals carry the request id.
    app.add_middleware(RejectNulMiddleware, self_validating=self_validating)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_answer(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(request, 422, "validation-error", errors=describe_validation(exc.errors()))

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
