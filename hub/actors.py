"""Who is acting, in the two vocabularies the hub speaks: the consent package's ``Actor`` and the audit log's
actor kind. The one place where a caller becomes an actor, so that a resident issuing their own e-document
is logged as a resident, wherever in the hub it happens.
"""

from __future__ import annotations

from typing import TypedDict

from audit.events import ActorKind
from consent import Actor
from hub.auth.tokens import AccountPrincipal, ClientPrincipal

_AUDIT_KINDS: dict[str, ActorKind] = {
    "client": "client",
    "official": "official",
    "resident": "resident",
    "auditor": "auditor",
    "public": "public",
}


def audit_kind(actor: Actor | None) -> ActorKind:
    """The audit log's actor kind for an actor; no actor is the public (an anonymous verifier)."""
    if actor is None:
        return "public"
    return _AUDIT_KINDS.get(actor.kind, "system")


class EventActor(TypedDict):
    """An audit event's actor columns (``AuditEvent(..., **event_actor(actor))``)."""

    actor_kind: ActorKind
    actor_id: str
    actor_org: str | None


def event_actor(actor: Actor) -> EventActor:
    """Who an audit event is by, as the log records an actor: its kind, id and organisation as given."""
    return EventActor(actor_kind=audit_kind(actor), actor_id=actor.id, actor_org=actor.org)


def client_actor(client: ClientPrincipal) -> Actor:
    return Actor(
        kind="client", id=client.client_id, org=client.org, client_kind=client.kind, statutes=client.statutes
    )


def account_actor(account: AccountPrincipal) -> Actor:
    """A signed-in person: a resident (acting for themselves), an official at a counter, an auditor."""
    return Actor(kind=account.role, id=account.account_id, org=account.org or "")
