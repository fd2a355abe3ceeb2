"""Structured request logging with a request id.

One JSON line per request: method, route path, status, duration, request id, client. Bodies and query strings
are never logged, and the path is scrubbed of anything shaped like a resident number in case a caller puts
one where it does not belong.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.resident_number import contains_resident_number, scrub

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
access_log = logging.getLogger("gongyu.access")


class JsonFormatter(logging.Formatter):
    _RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in self._RESERVED and not key.startswith("_"):
                payload[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[0] is not None:
            payload["error_type"] = record.exc_info[0].__name__
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure(level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger("gongyu")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def new_request_id() -> str:
    """A fresh request id that is itself free of resident-number shapes.

    A uuid4's hex form can, by chance (a few per cent of them), hold a run of 13 digits; the request id goes
    into every audit event of the request, so such a draw is simply redrawn.
    """
    while True:
        candidate = uuid.uuid4().hex
        if not contains_resident_number(candidate):
            return candidate


def accepted_request_id(incoming: str) -> str:
    """The caller's ``X-Request-ID`` when it is a safe token, otherwise a generated one.

    Safe means 8-64 characters of ``[A-Za-z0-9._-]`` *and* nothing shaped like a resident number: the id is
    written into the audit log (append-only, no way to remove it later) and echoed in the response header and
    problem ``instance``. A caller that sends something else gets our id back, so it can still correlate.
    """
    if _REQUEST_ID.match(incoming) and not contains_resident_number(incoming):
        return incoming
    return new_request_id()


class RequestContextMiddleware:
    """Assigns the request id (or accepts a safe X-Request-ID) and writes the access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        request_id = accepted_request_id(incoming)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if access_log.isEnabledFor(logging.INFO):  # the line's fields (a scrubbed path) cost per request
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": scrub(scope.get("path", "")),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "client_id": scope["state"].get("client_id"),
                    },
                )
