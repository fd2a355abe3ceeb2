"""``Idempotency-Key`` for filing an application (IETF draft-ietf-httpapi-idempotency-key-header).

A phone on a bad network retries ``POST /v1/me/applications``; without a key each retry is a new case (and a
new round of pre-fill lookups on the resident's records). With one:

- the same account, key and body gives the first request's response again (status and body), and no second
  case, for 24 hours (``KEY_TTL``); after that the key is forgotten (``gongyu applications purge`` drops it);
- the same key with another body is refused, 422 ``idempotency-key-reused`` (a client bug: the key names one
  request);
- a duplicate arriving while the first is still at work is refused, 409 ``idempotency-key-in-flight``
  (retry later, and get the replay).

The first request *claims* the key in a transaction of its own, committed before any work, so a duplicate
running beside it (another connection, another worker) finds the claim; the response is written to the claim
in the transaction that makes the case, so a key is never "done" without its case nor a case made without
its response. A request that fails releases its claim (the client may retry the same key). A claim left by a
process that died mid-request is taken over after ``STALE_CLAIM``; even then the case id is derived from the
key (``ApplicationService.submit``'s submission key), so two takeovers racing still make one case.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Table, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit.events import utcnow
from consent.records import aware
from hub.applications.models import IdempotencyKeyRow
from hub.errors import Problem
from hub.uow import transaction

HEADER: Final = "Idempotency-Key"
KEY_TTL: Final = timedelta(hours=24)
STALE_CLAIM: Final = timedelta(minutes=5)
MAX_KEY_LENGTH: Final = 255


def parse_key(value: str) -> str:
    """The key of an ``Idempotency-Key`` header: an RFC 8941 sf-string (``"..."``), or the bare text some
    clients send; 1-255 visible ASCII characters. Else 422 ``validation-error`` (the key is not echoed)."""
    key = value.strip()
    if len(key) >= 2 and key.startswith('"') and key.endswith('"'):
        key = key[1:-1]
    if not 1 <= len(key) <= MAX_KEY_LENGTH or any(not 0x20 <= ord(c) <= 0x7E or c in '"\\' for c in key):
        raise Problem(
            422, "validation-error", errors=f"{HEADER} (1-{MAX_KEY_LENGTH} visible ASCII characters)"
        )
    return key


def fingerprint(body: Mapping[str, Any], secret: bytes) -> str:
    """HMAC-SHA256 of the body as parsed, in canonical JSON: the same request however its JSON was spaced.

    Keyed (the hub's pepper, under a label of its own) because a body may hold a resident number: a plain
    hash of a guessable body next to a stored row would let the number be found by trying them all.
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hmac.new(secret, b"gongyu-idempotency-key|" + canonical.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Claim:
    """This request holds the key: do the work, then :func:`finish` in the work's transaction."""

    account_id: str
    key: str
    fingerprint: str
    created_at: datetime

    @property
    def submission_key(self) -> str:
        """The submission key the case is made under: the same claimed key always makes the same case id,
        a key reused after it expired another one."""
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:40]
        return f"idempotency:{digest}:{self.created_at.isoformat(timespec='microseconds')}"


@dataclass(frozen=True)
class Replay:
    """The key's first request finished: give its response again."""

    status_code: int
    body: dict[str, Any]


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    account_id: str,
    key: str,
    print_: str,
    now: datetime | None = None,
) -> Claim | Replay:
    """Claim ``key`` for this request (committed at once), or find the finished first request's response.

    Raises 422 ``idempotency-key-reused`` for another body, 409 ``idempotency-key-in-flight`` while the first
    is still at work.
    """
    for _ in range(3):  # an insert that lost a race reads the winner's row on the next turn
        moment = now or utcnow()
        try:
            async with transaction(sessions) as session:
                row = await session.get(
                    IdempotencyKeyRow, (account_id, key), with_for_update=True, populate_existing=True
                )
                if row is not None and aware(row.expires_at) <= moment:
                    await session.delete(row)  # forgotten: the key starts afresh
                    await session.flush()
                    row = None
                if row is None:
                    session.add(
                        IdempotencyKeyRow(
                            account_id=account_id,
                            idempotency_key=key,
                            fingerprint=print_,
                            status_code=None,
                            response=None,
                            created_at=moment,
                            expires_at=moment + KEY_TTL,
                        )
                    )
                    await session.flush()
                    return Claim(account_id, key, print_, moment)
                if row.fingerprint != print_:
                    raise Problem(422, "idempotency-key-reused")
                if row.status_code is not None:
                    return Replay(row.status_code, dict(row.response or {}))
                if aware(row.created_at) + STALE_CLAIM > moment:
                    raise Problem(409, "idempotency-key-in-flight", headers={"Retry-After": "2"})
                # A claim its request never finished nor released (the process died): take it over.
                return Claim(account_id, key, print_, aware(row.created_at))
        except IntegrityError:
            continue
    raise Problem(409, "idempotency-key-in-flight", headers={"Retry-After": "2"})


async def finish(session: AsyncSession, held: Claim, status_code: int, body: Mapping[str, Any]) -> None:
    """Keep the response on the claim, in the caller's transaction (the one that made the case)."""
    table = cast(Table, IdempotencyKeyRow.__table__)  # Core: nothing to synchronise
    await session.execute(
        update(table)
        .where(table.c.account_id == held.account_id, table.c.idempotency_key == held.key)
        .values(status_code=status_code, response=dict(body))
    )


async def release(sessions: async_sessionmaker[AsyncSession], held: Claim) -> None:
    """The request failed: drop its unfinished claim so that the client may try the key again."""
    async with transaction(sessions) as session:
        await session.execute(
            delete(IdempotencyKeyRow)
            .where(
                IdempotencyKeyRow.account_id == held.account_id,
                IdempotencyKeyRow.idempotency_key == held.key,
                IdempotencyKeyRow.status_code.is_(None),
            )
            .execution_options(synchronize_session=False)
        )


async def forget_expired(session: AsyncSession, now: datetime) -> int:
    """Drop keys past their 24 hours (the purge's housekeeping); how many."""
    gone = await session.execute(
        delete(IdempotencyKeyRow)
        .where(IdempotencyKeyRow.expires_at <= now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(gone, "rowcount", 0) or 0)
