"""Local accounts for the web apps (the embedded default; production signs residents in with OIDC).

Argon2 is deliberately slow (tens of milliseconds of CPU), so hashing and verifying run in a worker thread
(``asyncio.to_thread``): on the event loop, a burst of wrong passwords would stall every other request of the
worker. How often a name may be tried is ``hub.ratelimit``'s concern.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import uuid
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth.models import AccountRow
from hub.auth.passwords import hash_secret, verify_secret
from hub.i18n import SUPPORTED

# A privacy officer answers, for their organisation (``org``), residents' disputes of its accesses
# (hub/applications/disputes.py); nothing else.
ROLES = ("official", "auditor", "resident", "privacy_officer")
# A plain check, not RFC 5322: one @, no spaces or angle brackets (nothing that could smuggle a second header
# or recipient into a mail); whether the address works is for the mail server to say.
EMAIL = re.compile(r"[^@\s<>,;]{1,64}@[^@\s<>,;]{1,189}\.[^@\s<>,;]{1,63}")


class NumberSealer:
    """AES-256-GCM for the few resident numbers the hub must keep (a resident's own account)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, normalized: str) -> str:
        nonce = secrets.token_bytes(12)
        return base64.b64encode(
            nonce + self._aead.encrypt(nonce, normalized.encode(), b"resident-number")
        ).decode()

    def open(self, sealed: str) -> str:
        raw = base64.b64decode(sealed)
        return self._aead.decrypt(raw[:12], raw[12:], b"resident-number").decode()


async def create_account(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str,
    org: str | None = None,
    subject_commitment: str | None = None,
    resident_number_sealed: str | None = None,
    email: str | None = None,
    language: str | None = None,
) -> AccountRow:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if email is not None and not EMAIL.fullmatch(email):
        raise ValueError(f"not an e-mail address: {email!r}")
    if language is not None and language not in SUPPORTED:
        raise ValueError(f"language must be one of {', '.join(SUPPORTED)}")
    row = AccountRow(
        account_id=str(uuid.uuid4()),
        username=username,
        password_hash=await asyncio.to_thread(hash_secret, password),
        role=role,
        display_name=display_name,
        org=org,
        subject_commitment=subject_commitment,
        resident_number_enc=resident_number_sealed,
        email=email,
        language=language,
        active=True,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    return row


async def authenticate_account(session: AsyncSession, username: str, password: str) -> AccountRow | None:
    row = (
        await session.execute(select(AccountRow).where(AccountRow.username == username))
    ).scalar_one_or_none()
    # An unknown name is verified against a dummy hash, so the answer takes as long as for a known one.
    ok = await asyncio.to_thread(verify_secret, row.password_hash if row else None, password)
    return row if row is not None and ok and row.active else None
