"""Registering API clients and checking their credentials (OAuth2 client_secret_basic).

Argon2 runs in a worker thread (``asyncio.to_thread``) so a burst of token requests never blocks the event
loop; see ``hub.auth.accounts``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth.models import ClientRow
from hub.auth.passwords import hash_secret, verify_secret

STATUTE_CODE = re.compile(r"^[A-Z]{2}-[A-Z0-9-]+$")


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str
    name: str
    kind: str
    org: str
    statutes: list[str]


async def create_client(
    session: AsyncSession,
    *,
    name: str,
    kind: str,
    org: str | None = None,
    statutes: list[str] | None = None,
    redirect_uris: list[str] | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> NewClient:
    if kind not in {"bank", "agency"}:
        raise ValueError("kind must be 'bank' or 'agency'")
    statutes = sorted(set(statutes or []))
    bad = [s for s in statutes if not STATUTE_CODE.match(s)]
    if bad:
        raise ValueError(f"malformed statute code(s): {', '.join(bad)}")
    client_id = client_id or f"{kind}-{secrets.token_hex(8)}"
    client_secret = client_secret or secrets.token_urlsafe(32)
    session.add(
        ClientRow(
            client_id=client_id,
            name=name,
            kind=kind,
            org=org or name,
            secret_hash=await asyncio.to_thread(hash_secret, client_secret),
            statutes=statutes,
            redirect_uris=redirect_uris or [],
            active=True,
            created_at=datetime.now(UTC),
        )
    )
    await session.flush()
    return NewClient(client_id, client_secret, name, kind, org or name, statutes)


async def authenticate_client(session: AsyncSession, client_id: str, secret: str) -> ClientRow | None:
    row = (
        await session.execute(select(ClientRow).where(ClientRow.client_id == client_id))
    ).scalar_one_or_none()
    ok = await asyncio.to_thread(verify_secret, row.secret_hash if row else None, secret)
    if row is None or not ok or not row.active:
        return None
    return row
