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

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent
from audit.events import utcnow
from hub.auth.models import AccountRow
from hub.notify import webhooks
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
EMAIL: Final = "email"
# The channels every resident gets; a resident whose account has an e-mail address gets EMAIL as well.
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


def rows_for(
    event: AuditEvent, now: datetime | None = None, channels: tuple[str, ...] = CHANNELS
) -> list[dict[str, Any]]:
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
        for channel in channels
    ]


async def resident_channels(session: AsyncSession, subject_commitment: str) -> tuple[str, ...]:
    """The channels a resident is reached through: the inbox always, e-mail when their account has an address.

    One indexed read in the event's transaction: deciding here, not at delivery, keeps "one row per enabled
    channel" true of the outbox itself (an operator sees what is owed), and the address is read again at
    delivery, so a later change of address is honoured.
    """
    found = await session.execute(
        select(AccountRow.account_id)
        .where(
            AccountRow.subject_commitment == subject_commitment,
            AccountRow.role == "resident",
            AccountRow.email.is_not(None),
        )
        .limit(1)
    )
    return (*CHANNELS, EMAIL) if found.first() is not None else CHANNELS


async def announce(session: AsyncSession, event: AuditEvent) -> int:
    """Write the event's outbox rows into the caller's transaction; how many were written.

    The resident's rows (inbox, e-mail) and, for a consent change, the webhook row of the client holding
    the consent, if it registered an endpoint.
    """
    if event.subject_commitment is None or event.kind not in NOTIFIED_KINDS:
        return 0
    rows = rows_for(event, channels=await resident_channels(session, event.subject_commitment))
    hook = await webhooks.params_for(session, event)
    if hook is not None and rows:
        rows.append({**rows[0], "message_id": new_message_id(), "channel": webhooks.WEBHOOK, "params": hook})
    if rows:
        await session.execute(insert(OutboxRow), rows)
    return len(rows)
