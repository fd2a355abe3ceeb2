"""A webhook receiver for ``loadtests.bench_notify``: counts what the hub's workers POST, on 127.0.0.1 only.

Plain ASGI under uvicorn (no framework: it must cost the box as little as possible). Every POST is answered
204 and its ``webhook-id`` remembered; ``GET /stats`` answers how many deliveries arrived and how many
distinct message ids they carried (more deliveries than ids means duplicates). It does not verify signatures:
the tests do that with the ``standardwebhooks`` library; here only the rate matters.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Receive, Scope, Send

_received = 0
_ids: set[bytes] = set()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    global _received
    if scope["type"] != "http":
        return
    while True:  # drain the body
        message: Any = await receive()
        if not message.get("more_body"):
            break
    if scope["method"] == "POST":
        _received += 1
        _ids.update(v for k, v in scope["headers"] if k == b"webhook-id")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    body = json.dumps({"received": _received, "distinct": len(_ids)}).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})
