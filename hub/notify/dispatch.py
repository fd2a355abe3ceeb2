"""Delivering the outbox: claim a batch under a lease, deliver each message, record how it went.

A claim is one UPDATE that moves due rows to ``sending`` with a lease (``claimed_until``) and commits at once,
so the lock lasts one statement, not the delivery. On PostgreSQL the rows are chosen with ``FOR UPDATE SKIP
LOCKED``: several workers take disjoint batches without waiting for each other. SQLite has one writer at a
time, which serialises claims by itself. A worker killed mid-batch leaves its rows in ``sending``; when their
lease runs out they are due again and another worker takes them over. Delivery is therefore at least once;
the stable ``message_id`` lets a receiver drop a duplicate.

A failed delivery is retried with exponential back-off and jitter (so messages that failed together do not
retry together); after ``max_attempts`` the message is a dead letter (``permanent-failure``), kept with its
last error for operators.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit.events import utcnow
from hub.auth.models import AccountRow
from hub.notify import codes
from hub.notify.models import (
    CREATED,
    DELIVERED,
    PERMANENT_FAILURE,
    SENDING,
    TEMPORARY_FAILURE,
    WAITING,
    OutboxRow,
)
from hub.notify.outbox import INBOX
from hub.settings import Settings
from hub.uow import transaction

log = logging.getLogger("gongyu.notify")


class PermanentFailure(Exception):
    """The channel can never deliver this message (no such recipient, no such channel): no retry."""


class Deferred(Exception):
    """Not now, by the recipient's choice (quiet hours, a digest): back to ``created`` until ``until``.

    Not a failure and not an attempt: the row is ``created`` again, as it truly is, due at ``until``.
    """

    def __init__(self, until: datetime) -> None:
        super().__init__(until.isoformat())
        self.until = until


class Settled(Exception):
    """Already delivered together with another message (one digest e-mail carries several): nothing to do."""


@dataclass(frozen=True)
class Message:
    """A claimed message, as a channel sees it (with its verification code, derived, never stored)."""

    seq: int
    message_id: str
    event_id: str
    kind: str
    channel: str
    subject_commitment: str | None
    params: Mapping[str, Any]
    attempts: int
    code: str
    created_at: datetime | None = None
    worker: str = ""  # the worker holding the claim (a digest takes this resident's other rows under it)
    account_id: str | None = None  # a staff account's notice is addressed by it (no subject commitment)


class Channel(Protocol):
    """One way of reaching a recipient. Raise to fail: :class:`PermanentFailure` for good, else to retry."""

    async def deliver(self, session: AsyncSession, message: Message) -> str | None:
        """Deliver ``message``; the account it reached, if the channel knows it."""
        ...


class InboxChannel:
    """Delivery to the inbox is the status change itself: the row becomes visible to its resident.

    The account is resolved here, at delivery, and recorded: the inbox is keyed by the subject commitment
    (so a resident who opens an account later still finds earlier notices, like the history page), while
    channels that need an address (e-mail) will need the account.
    """

    async def deliver(self, session: AsyncSession, message: Message) -> str | None:
        if message.subject_commitment is None and message.account_id is not None:
            # A staff account's notice (``outbox.announce_staff``): visible in their inbox while they are.
            staff = await session.execute(
                select(AccountRow.account_id).where(
                    AccountRow.account_id == message.account_id, AccountRow.active.is_(True)
                )
            )
            if staff.scalar_one_or_none() is None:
                raise PermanentFailure("no such staff account")
            return message.account_id
        if message.subject_commitment is None:
            raise PermanentFailure("no recipient")
        found = await session.execute(
            select(AccountRow.account_id)
            .where(AccountRow.subject_commitment == message.subject_commitment, AccountRow.role == "resident")
            .limit(1)
        )
        return found.scalar_one_or_none()


@dataclass
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 2.0
    cap_seconds: float = 3600.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempts: int) -> float:
        """Exponential back-off with "equal jitter": half the step fixed, half drawn at random."""
        step = min(self.cap_seconds, self.base_seconds * 2.0 ** max(0, attempts - 1))
        return float(step / 2 + self.rng.uniform(0, step / 2))


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return moment


def _due(now: datetime) -> Any:
    """Waiting and due, or sending under a lease that ran out (its worker died or hung)."""
    return or_(
        and_(OutboxRow.status.in_(WAITING), OutboxRow.next_attempt_at <= now),
        and_(OutboxRow.status == SENDING, OutboxRow.claimed_until < now),
    )


class Dispatcher:
    """Claims and delivers batches of outbox rows; one per worker process (or per in-process loop)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        code_key: bytes,
        *,
        channels: Mapping[str, Channel] | None = None,
        batch_size: int = 100,
        lease_seconds: float = 60.0,
        retry: RetryPolicy | None = None,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        sweeper: Callable[[], Awaitable[int]] | None = None,
        sweep_seconds: float = 60.0,
        concurrency: int = 1,
    ) -> None:
        self.sessions = sessions
        self.code_key = code_key
        self.channels: Mapping[str, Channel] = channels if channels is not None else {INBOX: InboxChannel()}
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.retry = retry or RetryPolicy()
        self.worker_id = worker_id or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.clock = clock
        # The consent moments no request causes (hub/notify/sweep.py), looked for every ``sweep_seconds``.
        self.sweeper = sweeper
        self.sweep_seconds = sweep_seconds
        # Deliveries of one batch in flight at once (PostgreSQL only): see ``run_once``.
        self.concurrency = concurrency

    async def claim(self) -> list[Message]:
        """Take up to ``batch_size`` due messages under a lease, committed before any delivery starts."""
        now = self.clock()
        async with transaction(self.sessions) as session:
            # A read first: an idle poll takes no write lock (SQLite has one writer for the whole file).
            candidates = select(OutboxRow.seq).where(_due(now)).order_by(OutboxRow.next_attempt_at)
            candidates = candidates.limit(self.batch_size)
            chosen: Any
            if session.get_bind().dialect.name == "postgresql":
                # Lock the batch first, then update exactly those rows. Inside the UPDATE, PostgreSQL may
                # rescan a ``LIMIT ... SKIP LOCKED`` subquery, which then skips the rows this very statement
                # already updated and hands over the next ones: one claim took every due row, not a batch.
                locked = await session.execute(candidates.with_for_update(skip_locked=True))
                chosen = list(locked.scalars())
                if not chosen:
                    return []
            else:
                probe = await session.execute(select(OutboxRow.seq).where(_due(now)).limit(1))
                if probe.first() is None:
                    return []
                chosen = candidates.scalar_subquery()
            claimed = await session.execute(
                update(OutboxRow)
                .where(OutboxRow.seq.in_(chosen), _due(now))
                .values(
                    status=SENDING,
                    claimed_until=now + self.lease,
                    claimed_by=self.worker_id,
                    attempts=OutboxRow.attempts + 1,
                )
                .returning(
                    OutboxRow.seq,
                    OutboxRow.message_id,
                    OutboxRow.event_id,
                    OutboxRow.kind,
                    OutboxRow.channel,
                    OutboxRow.subject_commitment,
                    OutboxRow.params,
                    OutboxRow.attempts,
                    OutboxRow.created_at,
                    OutboxRow.account_id,
                )
                .execution_options(synchronize_session=False)
            )
            rows = claimed.all()
        return [
            Message(
                seq=r.seq,
                message_id=r.message_id,
                event_id=r.event_id,
                kind=r.kind,
                channel=r.channel,
                subject_commitment=r.subject_commitment,
                params=r.params or {},
                attempts=r.attempts,
                code=codes.notice_code(self.code_key, r.message_id),
                created_at=_aware(r.created_at),
                worker=self.worker_id,
                account_id=r.account_id,
            )
            for r in sorted(rows, key=lambda r: r.seq)
        ]

    async def deliver(self, message: Message) -> str:
        """Deliver one claimed message in a transaction of its own; the status it ends in."""
        channel = self.channels.get(message.channel)
        try:
            async with transaction(self.sessions) as session:
                if channel is None:
                    raise PermanentFailure(f"no channel {message.channel!r}")
                account_id = await channel.deliver(session, message)
                done = await session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.seq == message.seq, OutboxRow.claimed_by == self.worker_id)
                    .values(
                        status=DELIVERED,
                        delivered_at=self.clock(),
                        account_id=account_id,
                        code_hash=codes.code_hash(message.code),
                        claimed_until=None,
                        last_error=None,
                    )
                    .execution_options(synchronize_session=False)
                )
                if done.rowcount == 0:  # type: ignore[attr-defined]
                    # Our lease ran out and another worker took the message over: it finishes it, not us.
                    log.warning("notify: lost the lease of %s", message.message_id)
            return DELIVERED
        except Settled:
            return DELIVERED
        except Deferred as deferred:
            return await self._defer(message, deferred.until)
        except PermanentFailure as exc:
            return await self._failed(message, str(exc), permanent=True)
        except Exception as exc:  # any other failure is worth another try, until the attempts run out
            log.warning("notify: delivery of %s failed: %r", message.message_id, exc)
            return await self._failed(message, repr(exc), permanent=False)

    async def _defer(self, message: Message, until: datetime) -> str:
        """Back to ``created``, due at ``until``; the claim's attempt is given back (nothing was tried)."""
        async with transaction(self.sessions) as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.seq == message.seq, OutboxRow.claimed_by == self.worker_id)
                .values(
                    status=CREATED,
                    next_attempt_at=until,
                    claimed_until=None,
                    attempts=OutboxRow.attempts - 1,
                )
                .execution_options(synchronize_session=False)
            )
        return CREATED

    async def _failed(self, message: Message, error: str, *, permanent: bool) -> str:
        dead = permanent or message.attempts >= self.retry.max_attempts
        status = PERMANENT_FAILURE if dead else TEMPORARY_FAILURE
        next_at = self.clock() + timedelta(seconds=0 if dead else self.retry.delay(message.attempts))
        async with transaction(self.sessions) as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.seq == message.seq, OutboxRow.claimed_by == self.worker_id)
                .values(status=status, next_attempt_at=next_at, claimed_until=None, last_error=error[:500])
                .execution_options(synchronize_session=False)
            )
        return status

    async def run_once(self) -> int:
        """Claim one batch and deliver it; how many messages were claimed.

        One at a time, a delivery waits for its database round trips and its receiver before the next one
        starts (issue 12 asks 1,000 webhooks/s of two workers). On PostgreSQL up to ``concurrency``
        deliveries run at once, each in its own transaction as before; messages to one recipient (a
        resident, or a client's endpoint) stay in order, one after the other, so a receiver and a digest
        see them as before. SQLite has one writer, so there they go one by one.
        """
        batch = await self.claim()
        if self.concurrency <= 1 or len(batch) <= 1 or not _postgres(self.sessions):
            for message in batch:
                await self.deliver(message)
            return len(batch)
        queues: dict[tuple[str, str], list[Message]] = {}
        for message in batch:  # claim() returns them in seq order
            recipient = message.subject_commitment or str(message.params.get("client_id", ""))
            queues.setdefault((message.channel, recipient), []).append(message)
        slots = asyncio.Semaphore(self.concurrency)

        async def in_order(messages: list[Message]) -> None:
            async with slots:
                for message in messages:
                    await self.deliver(message)

        await asyncio.gather(*(in_order(messages) for messages in queues.values()))
        return len(batch)

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set: batch after batch while there is work, else a pause of ``interval``.

        A failing database does not end the loop (the next poll tries again); a claim lost that way expires.
        The consent sweep runs beside it, in a task of its own, so recording a backlog of consent moments
        never holds deliveries up.
        """
        sweeping = asyncio.create_task(self._sweep(stop)) if self.sweeper is not None else None
        try:
            await self._deliver_until(interval, stop)
        finally:
            if sweeping is not None:
                if not stop.is_set():  # cancelled, not stopped: the sweep goes too
                    sweeping.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeping

    async def _sweep(self, stop: asyncio.Event) -> None:
        """The consent sweep every ``sweep_seconds`` until ``stop`` (a failure waits for the next round)."""
        assert self.sweeper is not None
        while not stop.is_set():
            try:
                await self.sweeper()
            except Exception:
                log.exception("notify: consent sweep failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.sweep_seconds)
            except TimeoutError:
                pass

    async def _deliver_until(self, interval: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                claimed = await self.run_once()
            except Exception:
                log.exception("notify: dispatch failed")
                claimed = 0
            if claimed:
                continue
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass


def _postgres(sessions: async_sessionmaker[AsyncSession]) -> bool:
    bind = sessions.kw.get("bind")
    return bind is not None and bind.dialect.name == "postgresql"


def from_settings(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], code_key: bytes, **overrides: Any
) -> Dispatcher:
    """The dispatcher a hub process or ``gongyu worker`` runs, configured by ``GONGYU_NOTIFY_*``.

    E-mail is a channel only where ``GONGYU_SMTP_URL`` is set; without it an e-mail row ends at once as a
    dead letter (``no channel 'email'``), visible to an operator in the outbox rather than silently dropped.
    Webhooks need no setting: a row exists only for a client that registered an endpoint.
    """
    channels: dict[str, Channel] = {INBOX: InboxChannel()}
    if settings.smtp_url:
        from document_specs.loader import load_catalog
        from hub.notify.mail import EmailChannel
        from hub.notify.outbox import EMAIL

        catalog = load_catalog()

        def title(lang: str, document_type: str | None) -> str:
            spec = catalog.get(document_type or "")
            return spec.titles.get(lang, spec.type) if spec is not None else document_type or ""

        channels[EMAIL] = EmailChannel(
            settings.smtp_url,
            sender=settings.mail_from,
            public_url=settings.public_url,
            document_title=title,
            timeout=settings.smtp_timeout_seconds,
            code_key=code_key,
            lease_seconds=settings.notify_lease_seconds,
        )
    from hub.notify.ssrf import Policy
    from hub.notify.webhooks import WEBHOOK, WebhookChannel

    channels[WEBHOOK] = WebhookChannel(code_key, policy=Policy.from_settings(settings))
    from audit import AuditLog
    from hub.notify.sweep import sweep
    from hub.uow import Trail

    trail = Trail(AuditLog(sessions))

    async def sweeper() -> int:
        return await sweep(sessions, trail)

    options: dict[str, Any] = {
        "sweeper": sweeper,
        "channels": channels,
        "batch_size": settings.notify_batch_size,
        "concurrency": settings.notify_concurrency,
        "lease_seconds": settings.notify_lease_seconds,
        "retry": RetryPolicy(
            max_attempts=settings.notify_max_attempts, base_seconds=settings.notify_backoff_seconds
        ),
    }
    return Dispatcher(sessions, code_key, **{**options, **overrides})
