"""The consent moments no request causes: expiring within three days, expired, used up.

A lookup, an approval or a revocation is announced by the request that makes it (``Trail.record``). A consent
that runs out of time does so at 03:12 with nobody asking; one that is used up does so in a bank's lookup.
This sweep finds them (through the consent package's own queries) and records each moment as one audit
event, which ``Trail.record`` announces like any other: the resident's inbox and e-mail and, through
``webhooks.EVENT_TYPES``, the bank's webhook (``consent.expired``, ``consent.exhausted``), so it stops its
own processes.

*Exhausted* is announced here, not in the lookup that spends the last use: the lookup is the hot path (its
throughput budget allows one indexed read for notifications, already taken), while the bank that spent the
last use learns nothing new from being told at once; the resident and the bank hear within one sweep
interval.

*Once each.* A moment is recorded in the consent's lifecycle log (``consent_events``: ``expiring``,
``expired``, ``exhausted``) in the same transaction as its audit event and outbox rows, and the queries skip
consents that have it; two sweeps racing (two workers) cannot both record it either, because the audit
event's id is derived from the consent and the moment (UUIDv5) and the audit log's event ids are unique: the
second transaction fails whole and is dropped. A consent gets one terminal notice: used up or expired,
whichever comes first.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import AuditEvent
from audit.events import utcnow
from consent import ConsentService
from consent.records import ConsentView
from hub.errors import Problem
from hub.uow import Trail, transaction

log = logging.getLogger("gongyu.notify")

HORIZON: Final = timedelta(days=3)
# Consents that expired longer ago than this are not looked at any more (the query stays bounded; a worker
# that was down for a month has a bigger problem than a late notice).
LOOKBACK: Final = timedelta(days=30)
KINDS: Final = {
    "expiring": "consent_expiring",
    "expired": "consent_expired",
    "exhausted": "consent_exhausted",
}
_NAMESPACE: Final = uuid.UUID("6f1c2a52-6a43-4c1b-9c8e-2f0b7a6d9e11")


def event_id_for(consent_id: str, transition: str) -> str:
    """The one event id a consent's moment can ever have: a second record of it collides in the audit log."""
    return str(uuid.uuid5(_NAMESPACE, f"{consent_id}:{transition}"))


def event_for(transition: str, consent: ConsentView, now: datetime) -> AuditEvent:
    documents = consent.documents
    return AuditEvent(
        kind=KINDS[transition],
        actor_kind="system",
        actor_id="notify-sweep",
        outcome="ok",
        subject_commitment=consent.subject_commitment,
        document_type=documents[0]["document_type"] if documents else None,
        purpose_code=consent.purpose_code,
        reason=f"consent:{consent.consent_id}",
        occurred_at=now,
        event_id=event_id_for(consent.consent_id, transition),
    )


async def sweep(
    sessions: async_sessionmaker[AsyncSession],
    trail: Trail,
    *,
    clock: Callable[[], datetime] = utcnow,
    horizon: timedelta = HORIZON,
    lookback: timedelta = LOOKBACK,
    limit: int = 200,
) -> int:
    """Record every due consent moment, each in a transaction of its own; how many were recorded.

    Safe to run as often and in as many workers as wanted: what is recorded is never due again.
    """
    rules = ConsentService(clock=clock)
    async with sessions() as session:
        due = await rules.due_transitions(session, horizon, clock() - lookback, limit)
    recorded = 0
    for transition, consent in due:
        try:
            async with transaction(sessions) as session:
                await rules.mark(session, consent.consent_id, transition)
                await trail.record(session, event_for(transition, consent, clock()))
        except Problem:
            # Recorded meanwhile by another sweep (the same event id), or the database failed: rolled back
            # whole, and found due again next time if it is still unrecorded.
            log.info("notify: consent moment %s of %s not recorded now", transition, consent.consent_id)
            continue
        recorded += 1
    return recorded
