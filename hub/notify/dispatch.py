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

A batch costs a fixed number of statements, not a number per message (issue 12 asks 1,000 webhooks/s of two
workers on two cores, and a lookup pays for every round trip its notice causes): one claim, then the
deliveries, then one transaction recording how each ended, with every delivered row in one UPDATE (one commit,
so one WAL flush, for the whole batch). Inbox rows need no work of their own: delivering one *is* that status
change, and their account is looked up by the same UPDATE. Webhooks (:class:`BatchChannel`) read their
endpoints once per batch and are POSTed side by side, up to ``concurrency`` at once. Other channels (e-mail)
deliver each message in a transaction of its own, as their digests need, and are recorded with the batch.
A worker killed between a delivery and that record has delivered at least once: the lease runs out, the
message is sent again under the same ``message_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol, cast, runtime_checkable

from sqlalchemy import Table, and_, bindparam, or_, select, text, update
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

# After a batch smaller than ``batch_size`` the outbox is drained: wait this long before claiming again, so a
# trickle of notices (one per lookup) is delivered in batches, not one claim and one commit each (the lag
# target is p99 < 1 s; a batch of 3 cost a near-idle worker over 1 ms of CPU per notice).
LINGER_SECONDS: Final = 0.2
# An idle worker polls less and less often, from its interval up to this (or the interval, if longer).
IDLE_CAP_SECONDS: Final = 1.0


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


@runtime_checkable
class BatchChannel(Protocol):
    """A channel whose delivery needs no database work per message (webhooks): what it needs from the
    database is read once for the whole batch (:meth:`prepare`, in a read-only session closed before the
    network), and each message is then only sent (:meth:`send`), several at once."""

    async def prepare(self, session: AsyncSession, messages: Sequence[Message]) -> Any:
        """What :meth:`send` needs for these messages (a channel-specific value)."""
        ...

    async def send(self, message: Message, prepared: Any) -> str | None:
        """Deliver ``message`` with what :meth:`prepare` read; raise as :meth:`Channel.deliver` does."""
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


def _bulk_inbox(channel: Channel | None, message: Message) -> bool:
    """A resident's notice to the plain inbox, whose delivery the recording UPDATE does by itself. A subclass
    that overrides ``deliver`` (as tests do, to watch or fail deliveries) is called per message like any
    channel, and so is a staff account's notice (rare; its account must still be active)."""
    return (
        isinstance(channel, InboxChannel)
        and type(channel).deliver is InboxChannel.deliver
        and not (message.subject_commitment is None and message.account_id is not None)
    )


@dataclass(frozen=True)
class Outcome:
    """How one delivery ended, to be recorded with the rest of its batch."""

    message: Message
    status: str
    account_id: str | None = None
    resolve_account: bool = False  # the inbox: the recording UPDATE looks the account up itself
    settled: bool = False  # already recorded delivered (by its own transaction, or with a digest)
    until: datetime | None = None  # deferred: due again then
    error: str | None = None


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


# The claim and the record are Core statements on the table: the ORM's bulk-UPDATE machinery, which they do
# not need (no objects are loaded or synchronised), was a fifth of a near-idle worker's time.
_OUTBOX: Final = cast(Table, OutboxRow.__table__)


def _due(now: datetime) -> Any:
    """Waiting and due, or sending under a lease that ran out (its worker died or hung)."""
    c = _OUTBOX.c
    return or_(
        and_(c.status.in_(WAITING), c.next_attempt_at <= now),
        and_(c.status == SENDING, c.claimed_until < now),
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
        claim = (
            update(_OUTBOX)
            .values(
                status=SENDING,
                claimed_until=now + self.lease,
                claimed_by=self.worker_id,
                attempts=_OUTBOX.c.attempts + 1,
            )
            .returning(
                _OUTBOX.c.seq,
                _OUTBOX.c.message_id,
                _OUTBOX.c.event_id,
                _OUTBOX.c.kind,
                _OUTBOX.c.channel,
                _OUTBOX.c.subject_commitment,
                _OUTBOX.c.params,
                _OUTBOX.c.attempts,
                _OUTBOX.c.created_at,
                _OUTBOX.c.account_id,
            )
            .execution_options(synchronize_session=False)
        )
        candidates = select(_OUTBOX.c.seq).where(_due(now)).order_by(_OUTBOX.c.next_attempt_at)
        candidates = candidates.limit(self.batch_size)
        async with transaction(self.sessions) as session:
            if session.get_bind().dialect.name == "postgresql":
                # One statement: lock the batch in a materialised CTE (evaluated once), then update exactly
                # those rows. A ``WHERE seq IN (... LIMIT ... SKIP LOCKED)`` subquery instead may be rescanned
                # inside the UPDATE, skip the rows this very statement already updated and hand over the next
                # ones: one claim took every due row, not a batch.
                chosen = (
                    candidates.with_for_update(skip_locked=True).cte("chosen").prefix_with("MATERIALIZED")
                )
                claimed = await session.execute(claim.where(_OUTBOX.c.seq == chosen.c.seq))
            else:
                # A read first: an idle poll takes no write lock (SQLite has one writer for the whole file).
                probe = await session.execute(select(_OUTBOX.c.seq).where(_due(now)).limit(1))
                if probe.first() is None:
                    return []
                claimed = await session.execute(
                    claim.where(_OUTBOX.c.seq.in_(candidates.scalar_subquery()), _due(now))
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
        """Deliver one claimed message and record how it went; the status it ends in."""
        outcome = await self._attempt(message)
        await self._record([outcome])
        return outcome.status

    def _ended(self, message: Message, exc: Exception) -> Outcome:
        """The outcome a channel's exception means: deferred, settled, dead, or to be retried later."""
        if isinstance(exc, Settled):
            return Outcome(message, DELIVERED, settled=True)
        if isinstance(exc, Deferred):
            return Outcome(message, CREATED, until=exc.until)
        permanent = isinstance(exc, PermanentFailure)
        if not permanent:  # any other failure is worth another try, until the attempts run out
            log.warning("notify: delivery of %s failed: %r", message.message_id, exc)
        dead = permanent or message.attempts >= self.retry.max_attempts
        error = str(exc) if permanent else repr(exc)
        return Outcome(message, PERMANENT_FAILURE if dead else TEMPORARY_FAILURE, error=error[:500])

    async def _attempt(self, message: Message) -> Outcome:
        """Deliver one message; its outcome, recorded by :meth:`_record` unless ``settled``.

        The inbox needs nothing here. Any other channel runs in a transaction of its own (for its reads and
        writes), which also records the delivery: e-mail (slow anyway) and channels tests wrap.
        """
        channel = self.channels.get(message.channel)
        if _bulk_inbox(channel, message):
            if message.subject_commitment is None:
                return self._ended(message, PermanentFailure("no recipient"))
            return Outcome(message, DELIVERED, resolve_account=True)
        try:
            if channel is None:
                raise PermanentFailure(f"no channel {message.channel!r}")
            async with transaction(self.sessions) as session:
                account_id = await channel.deliver(session, message)
                # Recorded in the channel's own transaction, as it wrote: a digest's gathering must see this
                # message delivered the moment its mail went out, or a later notice could gather it again.
                done = Outcome(message, DELIVERED, account_id=account_id)
                if not await self._mark_delivered(session, [done], self.clock()):
                    log.warning("notify: lost the lease of %s", message.message_id)
            return Outcome(message, DELIVERED, settled=True)
        except Exception as exc:
            return self._ended(message, exc)

    async def _send_all(
        self, channel: BatchChannel, messages: list[Message], slots: asyncio.Semaphore
    ) -> list[Outcome]:
        """A batch channel's messages: what they need read once, then sent side by side (no order among them:
        a retry reorders them anyway, and each carries its time)."""
        try:
            async with self.sessions() as session:  # read only; closed (rolled back) before the network
                prepared = await channel.prepare(session, messages)
        except Exception as exc:
            return [self._ended(message, exc) for message in messages]

        async def one(message: Message) -> Outcome:
            async with slots:
                try:
                    return Outcome(message, DELIVERED, account_id=await channel.send(message, prepared))
                except Exception as exc:
                    return self._ended(message, exc)

        return list(await asyncio.gather(*(one(message) for message in messages)))

    async def _record(self, outcomes: Sequence[Outcome]) -> None:
        """Write how a batch went, in one transaction: all delivered rows in one statement, then the rest.

        Every UPDATE is guarded by ``claimed_by``: a worker whose lease ran out (and whose messages another
        worker took over) changes nothing.
        """
        delivered = [o for o in outcomes if o.status == DELIVERED and not o.settled]
        others = [o for o in outcomes if o.status != DELIVERED]
        if not delivered and not others:
            return
        now = self.clock()
        table = _OUTBOX
        async with transaction(self.sessions) as session:
            if delivered:
                done = await self._mark_delivered(session, delivered, now)
                if done < len(delivered):
                    # Our lease ran out and another worker took the message over: it finishes it, not us.
                    log.warning("notify: lost the lease of %d message(s)", len(delivered) - done)
            deferred = [o for o in others if o.status == CREATED]
            if deferred:  # back to ``created``; the claim's attempt is given back (nothing was tried)
                await session.execute(
                    update(table)
                    .where(table.c.seq == bindparam("b_seq"), table.c.claimed_by == self.worker_id)
                    .values(
                        status=CREATED,
                        next_attempt_at=bindparam("b_until"),
                        claimed_until=None,
                        attempts=table.c.attempts - 1,
                    ),
                    [{"b_seq": o.message.seq, "b_until": o.until} for o in deferred],
                )
            failed = [o for o in others if o.status != CREATED]
            if failed:
                await session.execute(
                    update(table)
                    .where(table.c.seq == bindparam("b_seq"), table.c.claimed_by == self.worker_id)
                    .values(
                        status=bindparam("b_status"),
                        next_attempt_at=bindparam("b_next"),
                        claimed_until=None,
                        last_error=bindparam("b_error"),
                    ),
                    [
                        {
                            "b_seq": o.message.seq,
                            "b_status": o.status,
                            "b_next": now
                            + timedelta(
                                seconds=0
                                if o.status == PERMANENT_FAILURE
                                else self.retry.delay(o.message.attempts)
                            ),
                            "b_error": o.error,
                        }
                        for o in failed
                    ],
                )

    async def _mark_delivered(self, session: AsyncSession, delivered: list[Outcome], now: datetime) -> int:
        """Set every delivered row of a batch to ``delivered``; how many rows this worker still held.

        The inbox's account is looked up by the UPDATE itself (the resident's account at delivery, as
        ``InboxChannel.deliver`` reads it); the verification code's hash is the one per-row value computed
        here. On PostgreSQL one statement for the batch (arrays unnested); SQLite, in process, row by row.
        """
        hashes = [codes.code_hash(o.message.code) for o in delivered]
        if session.get_bind().dialect.name == "postgresql":
            found = await session.execute(
                text(
                    "UPDATE outbox AS o SET status = :delivered, delivered_at = :now, claimed_until = NULL,"
                    " last_error = NULL, code_hash = v.code_hash,"
                    " account_id = CASE WHEN v.resolve THEN (SELECT a.account_id FROM accounts AS a"
                    "   WHERE a.subject_commitment = o.subject_commitment AND a.role = 'resident' LIMIT 1)"
                    "   ELSE v.account_id END"
                    " FROM unnest(CAST(:seqs AS bigint[]), CAST(:hashes AS text[]),"
                    "   CAST(:accounts AS text[]), CAST(:resolve AS boolean[]))"
                    "   AS v(seq, code_hash, account_id, resolve)"
                    " WHERE o.seq = v.seq AND o.claimed_by = :worker"
                    " RETURNING o.seq"
                ),
                {
                    "delivered": DELIVERED,
                    "now": now,
                    "seqs": [o.message.seq for o in delivered],
                    "hashes": hashes,
                    "accounts": [o.account_id for o in delivered],
                    "resolve": [o.resolve_account for o in delivered],
                    "worker": self.worker_id,
                },
            )
            return len(found.all())
        account = (
            select(AccountRow.account_id)
            .where(
                AccountRow.subject_commitment == _OUTBOX.c.subject_commitment, AccountRow.role == "resident"
            )
            .limit(1)
            .scalar_subquery()
        )
        done = 0
        for outcome, digest in zip(delivered, hashes, strict=True):
            result = await session.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.seq == outcome.message.seq, _OUTBOX.c.claimed_by == self.worker_id)
                .values(
                    status=DELIVERED,
                    delivered_at=now,
                    account_id=account if outcome.resolve_account else outcome.account_id,
                    code_hash=digest,
                    claimed_until=None,
                    last_error=None,
                )
                .execution_options(synchronize_session=False)
            )
            done += result.rowcount  # type: ignore[attr-defined]
        return done

    async def run_once(self) -> int:
        """Claim one batch, deliver it and record it; how many messages were claimed.

        The inbox's rows are delivered by the record itself. A batch channel's messages (webhooks) go out up
        to ``concurrency`` at once. Messages of other channels are delivered one by one, or on PostgreSQL up
        to ``concurrency`` at once with one recipient's messages in order (a digest gathers a resident's
        e-mails: two of them at once would race for the same rows); SQLite has one writer.
        """
        batch = await self.claim()
        if not batch:
            return 0
        slots = asyncio.Semaphore(max(1, self.concurrency))
        outcomes: list[Outcome] = []
        bulk: dict[str, tuple[BatchChannel, list[Message]]] = {}
        queues: dict[tuple[str, str], list[Message]] = {}
        for message in batch:  # claim() returns them in seq order
            channel = self.channels.get(message.channel)
            if _bulk_inbox(channel, message):
                outcomes.append(await self._attempt(message))
            elif isinstance(channel, BatchChannel):
                bulk.setdefault(message.channel, (channel, []))[1].append(message)
            else:
                recipient = (
                    message.subject_commitment
                    or message.account_id
                    or str(message.params.get("client_id", ""))
                )
                queues.setdefault((message.channel, recipient), []).append(message)
        side_by_side = self.concurrency > 1 and _postgres(self.sessions)

        async def in_order(messages: list[Message]) -> list[Outcome]:
            ended = []
            for message in messages:
                if side_by_side:
                    async with slots:
                        ended.append(await self._attempt(message))
                else:
                    ended.append(await self._attempt(message))
            return ended

        jobs: list[Awaitable[list[Outcome]]] = [
            self._send_all(channel, messages, slots) for channel, messages in bulk.values()
        ]
        if side_by_side:
            jobs += [in_order(messages) for messages in queues.values()]
            for ended in await asyncio.gather(*jobs):
                outcomes += ended
        else:
            for ended in await asyncio.gather(*jobs):
                outcomes += ended
            for messages in queues.values():
                outcomes += await in_order(messages)
        await self._record(outcomes)
        return len(batch)

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set: batch after batch while there is work, else a pause of ``interval``
        or longer (see :meth:`_deliver_until`).

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
        """Adaptive polling: a full batch is followed at once by the next claim; a partial one (the outbox
        is drained) by a short linger, so the notices that trickle in meanwhile go out as one batch rather
        than one claim and one commit each; an empty poll by a pause that doubles, from ``interval`` up to
        :data:`IDLE_CAP_SECONDS`, so an idle worker costs next to nothing and still answers within a second.
        """
        idle = interval
        while not stop.is_set():
            try:
                claimed = await self.run_once()
            except Exception:
                log.exception("notify: dispatch failed")
                claimed = 0
            if claimed >= self.batch_size:
                idle = interval
                continue
            if claimed:
                idle, pause = interval, LINGER_SECONDS
            else:
                pause, idle = idle, min(max(interval, IDLE_CAP_SECONDS), idle * 2)
            try:
                await asyncio.wait_for(stop.wait(), timeout=pause)
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

    channels[WEBHOOK] = WebhookChannel(
        code_key, policy=Policy.from_settings(settings), max_connections=settings.notify_concurrency
    )
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
