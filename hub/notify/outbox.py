"""Writing the outbox: which events are announced, to whom, through which channels.

:func:`announce` runs inside :meth:`hub.uow.Trail.record`, after the audit append and in the same session, so
an outbox row commits exactly when its event does: nothing is announced that did not commit, and nothing that
committed goes unannounced. The INSERT is executed at once (not left for the next flush) so that a failure is
raised inside ``Trail``'s guard and fails the whole change closed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent
from audit.events import utcnow
from hub.notify.models import CREATED, OutboxRow

INBOX: Final = "inbox"
# Events about a resident's records or consents: the resident (the event's subject) hears of each. Exports,
# consent requests not yet tied to a resident and the auditor's own actions have no subject to notify.
NOTIFIED_KINDS: Final = frozenset(
    {
        "lookup",
        "preview",
        "issuance",
        "verification",
        "revocation",
        "consent_approve",
        "consent_deny",
        "consent_pause",
        "consent_resume",
        "consent_revoke",
        "consent_link_opened",
        "mandate_grant",
        "mandate_revoke",
    }
)
# The channels every resident gets today. E-mail joins when accounts have an address (issue 12, part two).
CHANNELS: Final = (INBOX,)


def new_message_id() -> str:
    """A fresh stable message id (a seam for the fault-injection test, which makes it collide)."""
    return str(uuid.uuid4())


def params_of(event: AuditEvent) -> dict[str, Any]:
    """What a notice's text needs, and nothing more: who acted, on which document, and how it ended.

    No field values, no purpose text typed by a requester: the inbox shows the kind of access; the details
    stay on the history page, behind the resident's sign-in.
    """
    return {
        "actor_kind": event.actor_kind,
        "actor_org": event.actor_org,
        "document_type": event.document_type,
        "outcome": event.outcome,
        "purpose_code": event.purpose_code,
        "occurred_at": event.occurred_at.isoformat(),
    }


def rows_for(event: AuditEvent, now: datetime | None = None) -> list[dict[str, Any]]:
    """The outbox rows ``event`` calls for (none for an event without a subject or of a quiet kind)."""
    if event.subject_commitment is None or event.kind not in NOTIFIED_KINDS:
        return []
    now = now or utcnow()
    # An entry hidden from the resident until a date (an investigation's deferral) is announced from then on.
    start = event.visible_from if event.visible_from is not None and event.visible_from > now else now
    return [
        {
            "message_id": new_message_id(),
            "event_id": event.event_id,
            "kind": event.kind,
            "subject_commitment": event.subject_commitment,
            "account_id": None,
            "channel": channel,
            "params": params_of(event),
            "created_at": now,
            "not_before": start,
            "status": CREATED,
            "attempts": 0,
            "next_attempt_at": start,
        }
        for channel in CHANNELS
    ]


async def announce(session: AsyncSession, event: AuditEvent) -> int:
    """Write the event's outbox rows into the caller's transaction; how many were written."""
    rows = rows_for(event)
    if rows:
        await session.execute(insert(OutboxRow), rows)
    return len(rows)
