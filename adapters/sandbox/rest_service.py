"""A tiny JSON query service, the way the sandbox REST agencies (NTS, NHIS) expose their records.

Each route takes ``POST {path}`` with a JSON object naming the subject in a body member (never in the URL:
a request carrying a query string is refused), runs a lookup against the agency's own database in a worker
thread, and answers 200 with JSON, or 404 when the agency has no such subject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.sandbox.common import engine_for

Lookup = Callable[[Engine, str], dict[str, Any] | None]


def _json(data: object, status: int = 200) -> Response:
    body = orjson.dumps(data, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))
    return Response(body, status, media_type="application/json")


def create_json_app(
    agency: str, database_url: str, subject_member: str, routes: Mapping[str, Lookup]
) -> Starlette:
    def endpoint(lookup: Lookup) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            if request.url.query:
                return _json({"error": "query_string_not_allowed"}, 400)
            if not request.headers.get("content-type", "").startswith("application/json"):
                return _json({"error": "unsupported_media_type"}, 415)
            body = await request.body()
            try:
                data = orjson.loads(body) if len(body) <= 16 * 1024 else None
            except orjson.JSONDecodeError:
                data = None
            number = data.get(subject_member) if isinstance(data, dict) else None
            if not isinstance(number, str):
                return _json({"error": "bad_request"}, 400)
            number = number.replace("-", "").strip()
            if len(number) != 13 or not number.isdigit():
                return _json({"error": "bad_request"}, 400)
            answer = await run_in_threadpool(lookup, engine_for(database_url), number)
            if answer is None:
                return _json({"error": "not_found"}, 404)
            return _json(answer)

        return handle

    async def health(_: Request) -> Response:
        return _json({"status": "ok", "agency": agency})

    return Starlette(
        routes=[Route(path, endpoint(lookup), methods=["POST"]) for path, lookup in routes.items()]
        + [Route("/health", health)]
    )
