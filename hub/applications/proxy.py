"""Proxy applications: an agent files for a principal under a mandate, and seals the case with their seal.

A mandate (``/v1/me/mandates``, the consent package's) names a principal, an agent, the document types it
covers and when it ends. An application filed under one records the mandate and the principal (their subject
commitment, and their name to show "filed by X's agent under mandate M"); the seal image that a proxy
application carries is then taken only from an agent who holds a live mandate *from that principal* covering
the form's records: a mandate from someone else, however broad, does not let an agent seal this principal's
case. The rule is the consents' own for an agent (``ConsentService.mandate_for``: live, and every document
type in its scope), read through the consent package's query of its table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import utcnow
from consent import repository as consent_repository
from consent.records import aware
from hub.auth.models import AccountRow


@dataclass(frozen=True)
class HeldMandate:
    mandate_id: str
    principal_account_id: str
    principal_commitment: str
    expires_at: datetime | None = None


async def held_mandates(
    session: AsyncSession, agent_account_id: str, documents: Iterable[str]
) -> list[HeldMandate]:
    """Every live mandate (not revoked, not expired) the account holds as agent that covers ``documents``:
    whom it may file a form for (the "file for" choice of the form pages), newest first."""
    now = utcnow()
    wanted = set(documents)
    return [
        HeldMandate(row.mandate_id, row.principal_account_id, row.principal_commitment, aware(row.expires_at))
        for row in await consent_repository.mandates_of(session, agent_account_id)
        if row.agent_account_id == agent_account_id  # held, not granted
        and row.revoked_at is None
        and aware(row.expires_at) > now
        and wanted <= set(row.document_types)
    ]


async def held_mandate(
    session: AsyncSession,
    agent_account_id: str,
    documents: Iterable[str],
    *,
    mandate_id: str | None = None,
    principal_commitment: str | None = None,
) -> HeldMandate | None:
    """A live mandate (not revoked, not expired) the account holds as agent, covering ``documents``; with
    ``mandate_id`` that one only, with ``principal_commitment`` only one from that principal."""
    for held in await held_mandates(session, agent_account_id, documents):
        if mandate_id is not None and held.mandate_id != mandate_id:
            continue
        if principal_commitment is not None and held.principal_commitment != principal_commitment:
            continue
        return held
    return None


async def principal_name(session: AsyncSession, account_id: str) -> str | None:
    """The principal's name as their account shows it (what the case says the agent filed for)."""
    row = await session.get(AccountRow, account_id)
    return row.display_name[:200] if row is not None else None
