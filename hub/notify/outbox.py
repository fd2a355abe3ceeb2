"""Writing the outbox: which events are announced, to whom, through which channels.

:func:`announce` runs inside :meth:`hub.uow.Trail.record`, after the audit append and in the same session, so
an outbox row commits exactly when its event does: nothing is announced that did not commit, and nothing that
committed goes unannounced. The INSERT is executed at once (not left for the next flush) so that a failure is
raised inside ``Trail``'s guard and fails the whole change closed.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import (
    ColumnElement,
    Insert,
    Table,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent
from audit.events import utcnow
from consent import repository as consent_repository
from hub.auth.models import AccountRow
from hub.notify import preferences, webhooks
from hub.notify.models import CREATED, OutboxRow, PreferenceRow

INBOX: Final = "inbox"
# Events about a resident's records or consents: the resident (the event's subject) hears of each. Exports
# and the auditor's own actions have no subject to notify; a consent request has none when it is made (a
# bank's names nobody, a counter's is bound when its link is opened): the resident hears of it when they first
# open it signed in (``consent_request_received``, ``hub.consents.ConsentApp.announce_request``).
NOTIFIED_KINDS: Final = frozenset(
    {
        "lookup",
        "preview",
        "issuance",
        "verification",
        "revocation",
        "consent_request",
        "consent_approve",
        "consent_deny",
        "consent_pause",
        "consent_resume",
        "consent_revoke",
        "consent_link_opened",
        "consent_request_received",
        "consent_expiring",
        "consent_expired",
        "consent_exhausted",
        "mandate_grant",
        "mandate_revoke",
        # civil applications (hub/applications): each pre-fill read and every step of the resident's case
        "application_prefill",
        "case_received",
        "case_assigned",
        "case_in_review",
        "case_supplementation_requested",
        "case_supplemented",
        "case_extended",
        "case_approved",
        "case_rejected",
        "case_withdrawn",
        "notice_preferences",
        # disputes of an access (hub/applications/disputes.py): filed, escalated, answered
        "dispute_filed",
        "dispute_escalated",
        "dispute_justified",
        "dispute_error_acknowledged",
        # credentials the resident holds (hub/credentials): one asked for, one revoked
        "credential_issuance",
        "credential_revocation",
    }
)
# Written by the sweep (``hub.notify.sweep``): their notice names who holds the consent.
SWEPT_KINDS: Final = frozenset({"consent_expiring", "consent_expired", "consent_exhausted"})
# A request reaching its resident: the notice names who asks (the request's organisation, ``basis`` names it).
REQUEST_RECEIVED: Final = "consent_request_received"
EMAIL: Final = "email"
# The channels every resident gets; a resident whose account has an e-mail address gets EMAIL as well,
# unless they turned e-mail off for the event's group (``hub.notify.preferences``).
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
        # How the access was allowed, without its identifiers: "consent" (a lookup under my consent),
        # "mandate" (my agent acted for me), "statute", "self". The notice's text depends on it.
        "via": (event.basis or "").partition(":")[0] or None,
    }


def rows_for(
    event: AuditEvent,
    now: datetime | None = None,
    channels: tuple[str, ...] = CHANNELS,
    *,
    recipient: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The outbox rows ``event`` calls for (none for an event without a subject or of a quiet kind).

    ``recipient`` is the subject commitment of someone other than the event's subject who hears of it (the
    agent a mandate was granted to); ``extra`` adds to what the text needs.
    """
    recipient = recipient or event.subject_commitment
    if recipient is None or event.kind not in NOTIFIED_KINDS:
        return []
    now = now or utcnow()
    # An entry hidden from the resident until a date (an investigation's deferral) is announced from then on.
    start = event.visible_from if event.visible_from is not None and event.visible_from > now else now
    return [
        {
            "message_id": new_message_id(),
            "event_id": event.event_id,
            "kind": event.kind,
            "subject_commitment": recipient,
            "account_id": None,
            "channel": channel,
            "params": {**params_of(event), **(extra or {})},
            "created_at": now,
            "not_before": start,
            "status": CREATED,
            "attempts": 0,
            "next_attempt_at": start,
        }
        for channel in channels
    ]


# -- one statement writes a resident's notices and decides their channels ---------------------------------

# Kinds whose notices need nothing but the event: no second recipient (a mandate's agent), no client's
# webhook (consent changes), no recipient read from another table (the sweep's, a request's). The lookup is
# one; for these, :func:`resident_notices` is all there is to write, and it can ride with the event's INSERT.
_NEEDS_READS: Final = frozenset({"mandate_grant", REQUEST_RECEIVED, *SWEPT_KINDS, *webhooks.EVENT_TYPES})
_NOTICE_COLUMNS: Final = (
    "message_id", "event_id", "kind", "subject_commitment", "channel", "params", "created_at", "not_before",
    "status", "attempts", "next_attempt_at",
)  # fmt: skip


def plain(event: AuditEvent) -> bool:
    """Whether :func:`resident_notices` writes all the notices ``event`` calls for."""
    return (
        event.subject_commitment is not None
        and event.kind in NOTIFIED_KINDS
        and event.kind not in _NEEDS_READS
        and event.kind not in STAFF_KINDS
    )


def _notices_statement(group: str | None, only_if: ColumnElement[bool] | None = None) -> Insert:
    """INSERT ... SELECT of the inbox row and, when the recipient's account takes e-mail for ``group``, the
    e-mail row: the channels are decided by the database inside the write itself.

    The inbox always; e-mail when the recipient has a resident account with an address and did not turn
    e-mail off for the kind's group (a kind of no group, a change of these very settings, is always mailed:
    ``preferences.Preferences.email_for``). Deciding at write time, not at delivery, keeps "one row per
    enabled channel" true of the outbox itself (an operator sees what is owed); the address is read again at
    delivery, so a later change of address is honoured; quiet hours and the digest apply at delivery.
    """
    table = cast(Table, OutboxRow.__table__)
    account, chosen = AccountRow.__table__, PreferenceRow.__table__

    def row(message_param: str, channel: str) -> Any:
        values = {
            name: bindparam("nt_" + name, type_=table.c[name].type)
            for name in _NOTICE_COLUMNS
            if name not in {"message_id", "channel"}
        }
        values["message_id"] = bindparam(message_param, type_=table.c.message_id.type)
        values["channel"] = literal(channel, type_=table.c.channel.type)
        return select(*(values[name] for name in _NOTICE_COLUMNS))

    takes_email = exists(
        select(account.c.account_id)
        .select_from(account.outerjoin(chosen, chosen.c.account_id == account.c.account_id))
        .where(
            account.c.subject_commitment
            == bindparam("nt_subject_commitment", type_=table.c.subject_commitment.type),
            account.c.role == "resident",
            account.c.email.is_not(None),
            func.coalesce(chosen.c["email_" + group], true()) if group is not None else true(),
        )
    )
    inbox, email = row("nt_inbox_id", INBOX), row("nt_email_id", EMAIL).where(takes_email)
    if only_if is not None:  # a write of the same statement that the notices go with (a consent use)
        inbox, email = inbox.where(only_if), email.where(only_if)
    return insert(table).from_select(list(_NOTICE_COLUMNS), union_all(inbox, email))


_NOTICES: Final = {group: _notices_statement(group) for group in (*preferences.GROUPS, None)}


@functools.cache
def _notices_if(group: str | None, only_if: ColumnElement[bool]) -> Insert:
    return _notices_statement(group, only_if)


def resident_notices(
    event: AuditEvent,
    now: datetime | None = None,
    *,
    recipient: str | None = None,
    extra: dict[str, Any] | None = None,
    only_if: ColumnElement[bool] | None = None,
) -> tuple[Insert, dict[str, Any]]:
    """The statement writing a resident's notices of ``event`` (its subject's, or ``recipient``'s), and its
    parameters: one row per channel the resident takes, without reading the account first. For a
    :func:`plain` event the caller sends it with the event's INSERT (``AuditLog.append_with``); ``only_if``
    (a module-level condition, such as ``consent.repository.GUARDED_USE.counted``) writes them only when it
    holds in the same statement.
    """
    (row,) = rows_for(event, now, recipient=recipient, extra=extra)
    params = {"nt_" + name: row[name] for name in _NOTICE_COLUMNS if name not in {"message_id", "channel"}}
    params["nt_inbox_id"] = row["message_id"]
    params["nt_email_id"] = new_message_id()
    group = preferences.GROUP_OF.get(event.kind)
    return (_NOTICES[group] if only_if is None else _notices_if(group, only_if)), params


async def _write_notices(session: AsyncSession, notices: tuple[Insert, dict[str, Any]]) -> int:
    written = (await session.execute(*notices)).rowcount  # type: ignore[attr-defined]
    return int(written)


async def _agent_notices(session: AsyncSession, event: AuditEvent) -> int:
    """A mandate granted: the agent hears that they may now act for someone (a second recipient)."""
    mandate_id = (event.basis or "").removeprefix("mandate:")
    agent = await consent_repository.mandate_agent(session, mandate_id) if mandate_id else None
    if agent is None:
        return 0
    commitment = (
        await session.execute(select(AccountRow.subject_commitment).where(AccountRow.account_id == agent))
    ).scalar_one_or_none()
    if commitment is None or commitment == event.subject_commitment:
        return 0
    notices = resident_notices(event, recipient=commitment, extra={"role": "agent"})
    return await _write_notices(session, notices)


async def announce(session: AsyncSession, event: AuditEvent) -> int:
    """Write the event's outbox rows into the caller's transaction; how many were written.

    The resident's rows (inbox, e-mail), the agent's for a mandate granted to them and, for a consent
    change, the webhook row of the client holding the consent, if it registered an endpoint.
    """
    staff = await announce_staff(session, event) if event.kind in STAFF_KINDS else 0
    if event.subject_commitment is None or event.kind not in NOTIFIED_KINDS:
        return staff
    extra: dict[str, Any] = {}
    if event.kind in SWEPT_KINDS:
        held = await consent_repository.recipient_of(session, (event.reason or "").removeprefix("consent:"))
        extra = {"recipient_org": held[1]} if held is not None else {}
    elif event.kind == REQUEST_RECEIVED:
        request_id = (event.basis or "").removeprefix("request:")
        asking = await consent_repository.request_recipient(session, request_id)
        extra = {"recipient_org": asking} if asking else {}
    written = await _write_notices(session, resident_notices(event, extra=extra))
    if event.kind == "mandate_grant":
        written += await _agent_notices(session, event)
    hook = await webhooks.params_for(session, event)
    if hook is not None:
        (row,) = rows_for(event)
        await session.execute(insert(OutboxRow), [{**row, "channel": webhooks.WEBHOOK, "params": hook}])
        written += 1
    return written + staff


# -- notices to staff accounts ------------------------------------------------------------------------------

# Kinds that (also) reach staff accounts: the assigned official before a case's deadline, the privacy officers
# of the organisation whose access is disputed, the auditors when a dispute is escalated. Who exactly is up to
# the package that records the kind (:func:`route_to_staff`): notify knows channels, not cases or disputes.
STAFF_KINDS: Final = frozenset(
    {"case_due_soon", "case_due_today", "case_overdue", "dispute_filed", "dispute_escalated"}
)
STAFF_ROLES: Final = frozenset({"official", "privacy_officer", "auditor"})
# (session, event) -> (the staff account ids to notify, what their notice's text needs beyond the event's)
StaffRoute = Callable[[AsyncSession, AuditEvent], Awaitable[tuple[Sequence[str], dict[str, Any]]]]
_staff_routes: dict[str, StaffRoute] = {}


def route_to_staff(kind: str, route: StaffRoute) -> None:
    """Say who among the staff hears of ``kind`` (called once, by the module that records the kind)."""
    if kind not in STAFF_KINDS:
        raise ValueError(f"{kind} is not a staff notice kind")
    _staff_routes[kind] = route


def staff_routed() -> frozenset[str]:
    """The staff kinds that have a route (a test holds this equal to ``STAFF_KINDS``)."""
    return frozenset(_staff_routes)


def staff_rows_for(
    event: AuditEvent, account_id: str, channels: tuple[str, ...], extra: dict[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """The rows of one staff account's notice: addressed by ``account_id``, with no subject commitment (so
    no resident's inbox query can ever match them, nor a staff inbox a resident's)."""
    return [
        {
            "message_id": new_message_id(),
            "event_id": event.event_id,
            "kind": event.kind,
            "subject_commitment": None,
            "account_id": account_id,
            "channel": channel,
            "params": {**params_of(event), **extra, "audience": "staff"},
            "created_at": now,
            "not_before": now,
            "status": CREATED,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for channel in channels
    ]


async def announce_staff(session: AsyncSession, event: AuditEvent) -> int:
    """Write the staff accounts' rows for ``event`` (inbox, and e-mail where the account has an address).

    Called from :func:`announce` for ``STAFF_KINDS`` only, so the residents' path is not touched. One read
    of the accounts (active, staff roles only: a route naming a resident or a deactivated account reaches
    nobody); staff have no notice preferences, an alert about their work is always mailed when they can be.
    """
    route = _staff_routes.get(event.kind)
    if route is None:
        return 0
    account_ids, extra = await route(session, event)
    if not account_ids:
        return 0
    found = await session.execute(
        select(AccountRow.account_id, AccountRow.email).where(
            AccountRow.account_id.in_(sorted(set(account_ids))),
            AccountRow.role.in_(STAFF_ROLES),
            AccountRow.active.is_(True),
        )
    )
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for account_id, address in sorted(found.all()):
        channels = (*CHANNELS, EMAIL) if address else CHANNELS
        rows += staff_rows_for(event, str(account_id), channels, extra, now)
    if rows:
        await session.execute(insert(OutboxRow), rows)
    return len(rows)
