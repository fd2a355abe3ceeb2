"""Resident accounts and account tokens for the consent-path benchmark: ``python -m loadtests.consent_seed``.

Run by ``loadtests.bench_wrk`` with the bench's environment (``GONGYU_DATABASE_URL``, ``GONGYU_VAR_DIR``):
reads resident numbers on stdin, creates one resident account per number (all with one password hash: Argon2
per account would make set-up, not the lookup, the slow part) and prints one JSON line per account with an
account token, minted with the hub's own token key, that the runner uses to approve that resident's consent
request over HTTP. The consents themselves go through the real API so they are exactly what a bank gets.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime

from audit import SubjectCommitter
from hub import resident_number
from hub.auth.accounts import NumberSealer
from hub.auth.models import AccountRow
from hub.auth.passwords import hash_secret
from hub.auth.tokens import TokenService
from hub.cli.common import open_sessions
from hub.keys import load_keyring
from hub.settings import Settings

TOKEN_TTL_S = 3600  # set-up only; the lookups use the bank's own short-lived token


async def seed(numbers: list[str]) -> list[dict[str, str]]:
    settings = Settings()
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    committer, sealer = SubjectCommitter(keys.pepper), NumberSealer(keys.data_key)
    tokens = TokenService(
        keys.token_key, issuer=settings.public_url, audience=settings.token_audience, ttl_seconds=TOKEN_TTL_S
    )
    password_hash = hash_secret(uuid.uuid4().hex)  # nobody signs in with it
    engine, sessions = open_sessions(settings)
    out: list[dict[str, str]] = []
    try:
        async with sessions() as session, session.begin():
            for i, number in enumerate(numbers):
                normalized = resident_number.normalize(number)
                row = AccountRow(
                    account_id=str(uuid.uuid4()),
                    username=f"bench-resident-{i}",
                    password_hash=password_hash,
                    role="resident",
                    display_name=f"Bench resident {i}",
                    subject_commitment=committer.commit(normalized),
                    resident_number_enc=sealer.seal(normalized),
                    active=True,
                    created_at=datetime.now(UTC),
                )
                session.add(row)
                token = tokens.issue_account(
                    row.account_id, "resident", row.display_name, None, row.subject_commitment
                )
                out.append({"account_id": row.account_id, "token": token})
    finally:
        await engine.dispose()
    return out


def main() -> int:
    numbers = [line.strip() for line in sys.stdin if line.strip()]
    for account in asyncio.run(seed(numbers)):
        print(json.dumps(account))
    return 0


if __name__ == "__main__":
    sys.exit(main())
