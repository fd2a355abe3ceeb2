"""A few hot requests answered in plain ASGI, below FastAPI's routing (issue 17).

FastAPI's machinery around a route (routing, dependency solving, the response model's second validation and
encoder, the router's exception and exit-stack layers) costs a few hundred microseconds of CPU a request:
more than a lookup's own Python, and a tenth of a public inclusion proof's latency budget. ``HotPaths`` sits
inside every project middleware (request id and access log, body cap, the NUL check of path and query,
security headers) and hands a request whose method and path it knows to that path's handler. A handler calls
the same function its FastAPI route calls, with the same checks, and answers; or returns ``None`` for a
request it does not take whole (an unusual query string, say), which then goes to the router unchanged, so
validation errors are always FastAPI's own. A ``Problem`` becomes the same problem+json the app's handler
gives. The routes stay the published contract (OpenAPI) and the fallback.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Final

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.errors import Problem, problem_answer
from hub.state import HubState

Handler = Callable[[Request, HubState], Awaitable[Response | None]]

_PLAIN_INT: Final = re.compile(r"(?:0|[1-9][0-9]{0,17})")


class HotPaths:
    """Answers ``(method, path)`` pairs in ``handlers`` directly; every other request passes through."""

    def __init__(self, app: ASGIApp, handlers: Mapping[tuple[str, str], Handler]) -> None:
        self.app = app
        self.handlers = dict(handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.handlers.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await handler(request, scope["app"].state.hub)
        except Problem as problem:
            response = problem_answer(request, problem)
        if response is None:  # not one this path takes whole: the router validates and answers
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)


def plain_int(text: str) -> int | None:
    """``text`` as a non-negative integer written plainly (no sign, no leading zero, at most 18 digits)."""
    return int(text) if _PLAIN_INT.fullmatch(text) else None


def single_keys(query: QueryParams, allowed: Collection[str]) -> set[str] | None:
    """The query's keys when each appears once and all are ``allowed``; otherwise None."""
    keys = [key for key, _ in query.multi_items()]
    return set(keys) if len(keys) == len(set(keys)) and set(keys) <= set(allowed) else None


def plain_ints(
    query: QueryParams, required: Collection[str], optional: Collection[str] = ()
) -> dict[str, int] | None:
    """The query's values when it has exactly the ``required`` keys and some of the ``optional`` ones, each
    once, as plain non-negative integers (:func:`plain_int`); otherwise None (the route's validation
    decides)."""
    keys = single_keys(query, {*required, *optional})
    if keys is None or not set(required) <= keys:
        return None
    values = {key: plain_int(query[key]) for key in keys}
    return None if None in values.values() else {key: v for key, v in values.items() if v is not None}
