"""``POST /v1/webhooks``: a client system registers the endpoint that hears of changes to its consents.

The client registers for itself (its own token names it), so no operator is needed to rotate a leaked
secret: registering again replaces the endpoint and its secret. The secret is in this answer only; the hub
keeps it sealed (``hub.notify.webhooks``) to sign each delivery.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from hub.deps import ClientDep, SessionDep, StateDep
from hub.errors import Problem
from hub.notify import ssrf, webhooks

router = APIRouter(tags=["webhooks"])


class WebhookIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000, examples=["https://bank.example/gongyu/webhooks"])


@router.post("/v1/webhooks", status_code=201)
async def register_webhook(body: WebhookIn, client: ClientDep, state: StateDep, db: SessionDep) -> Any:
    """Register (or replace) the caller's endpoint; the signing secret is shown once, here.

    A URL leading into the hub's own network (loopback, private, link-local, ...: ``hub.notify.ssrf``) is
    refused with ``webhook-url-refused`` and a stable ``reason``.
    """
    settings = state.settings
    try:
        row, secret = await webhooks.register(
            db,
            state.keys.data_key,
            client.client_id,
            body.url,
            production=settings.is_production,
            allow_private=settings.webhook_allow_private,
        )
    except ssrf.Refused as exc:
        extra = {"reason": exc.reason} | ({"address_kind": exc.address_kind} if exc.address_kind else {})
        raise Problem(422, "webhook-url-refused", extra=extra, reason=exc.reason) from None
    return {
        "webhook_id": row.webhook_id,
        "url": row.url,
        "secret": secret,
        "events": sorted(webhooks.EVENT_TYPES.values()),
    }
