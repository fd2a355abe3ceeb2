"""SD-JWT VC issue/s and verify/s: ``python -m loadtests.bench_credentials`` (issue 14, part 3).

Two in-process loops, one process, no network:

1. **crypto**: ``CredentialService.sign`` (the issuance a resident gets: a resident registration abstract with
   its address history, each field a disclosure, decoys, ES256) and ``CredentialService.check`` (everything a
   verifier checks offline: issuer signature, disclosures, key binding, expiry, status entry) on a
   presentation of two fields; the holder's presentation (``hub.credentials.holder.present``) is timed too.
2. **api** (``--api``): ``POST /v1/me/credentials`` and ``POST /v1/credentials/verify`` through the ASGI app
   on a throwaway SQLite hub with the sandbox agencies (as the tests prepare it): the lookup, the audit
   events, the replay cache and the status list token included.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from audit.events import utcnow
from document_specs.loader import load_catalog
from hub.credentials import holder
from hub.credentials.service import CredentialService

AUDIENCE = "https://verifier.example"
FIELDS: dict[str, Any] = {
    "name": "김민준",
    "name_hanja": "金敏俊",
    "name_en": "KIM MINJUN",
    "resident_number_masked": "900101-1******",
    "birth_date": "1990-01-01",
    "sex": "M",
    "address": "서울특별시 종로구 세종대로 209",
    "postal_code": "03171",
    "moved_in_on": "2020-03-02",
    "address_history": [
        {
            "seq": i,
            "address": f"부산광역시 해운대구 {i}",
            "moved_in_on": "2010-01-01",
            "moved_out_on": None,
            "reason": "전입",
        }
        for i in range(1, 5)
    ],
}


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s ({seconds * 1000 / count:.2f} ms each, n={count})"


def crypto(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-credentials-") as tmp:
        service = CredentialService(
            load_catalog(),
            None,
            None,
            public_url="http://bench.test",
            key_dir=Path(tmp),
            create_keys=True,  # type: ignore[arg-type]
        )
        key = holder.keygen()
        cnf = holder.public_jwk(key)
        now = utcnow().replace(microsecond=0)
        args = (
            FIELDS,
            cnf,
            4242,
            now,
            now + timedelta(days=90),
            "urn:gongyu:vct:resident_registration_abstract",
        )
        service.sign(*args)  # warm up (key load)
        start = time.perf_counter()
        credentials = [service.sign(*args) for _ in range(n)]
        print(f"issue (sign):   {rate(n, time.perf_counter() - start)}")
        nonces = [secrets.token_urlsafe(12) for _ in range(n)]
        start = time.perf_counter()
        presentations = [
            holder.present(c, ["name", "address"], AUDIENCE, nonce, key)
            for c, nonce in zip(credentials, nonces, strict=True)
        ]
        print(f"present:        {rate(n, time.perf_counter() - start)}")
        start = time.perf_counter()
        for presentation, nonce in zip(presentations, nonces, strict=True):
            service.check(presentation, AUDIENCE, nonce)
        print(f"verify (check): {rate(n, time.perf_counter() - start)}")


async def api(n: int) -> None:
    import httpx
    from asgi_lifespan import LifespanManager

    from hub.app import create_app
    from hub.settings import Settings
    from hub.state import build_state
    from tests.conftest import BACKGROUND_OFF, _prepare, account_bearer, bearer

    with tempfile.TemporaryDirectory(prefix="bench-credentials-api-") as tmp:
        settings = Settings(var_dir=Path(tmp), environment="test", log_json=True, **BACKGROUND_OFF)
        await asyncio.to_thread(_prepare, settings)
        state = build_state(settings)
        app = create_app(settings, state=state)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
                headers = account_bearer(state, "resident0")
                verifier = bearer(state, "test-bank")
                key = holder.keygen()
                body = {
                    "document_type": "resident_registration_abstract",
                    "view": "with_address_history",
                    "holder_jwk": holder.public_jwk(key),
                }
                credentials = []
                start = time.perf_counter()
                for _ in range(n):
                    response = await client.post("/v1/me/credentials", headers=headers, json=body)
                    response.raise_for_status()
                    credentials.append(response.json()["credential"])
                print(f"api issue:      {rate(n, time.perf_counter() - start)}")
                nonces = [secrets.token_urlsafe(12) for _ in range(n)]
                presentations = [
                    holder.present(c, ["name", "address"], AUDIENCE, nonce, key)
                    for c, nonce in zip(credentials, nonces, strict=True)
                ]
                start = time.perf_counter()
                for presentation, nonce in zip(presentations, nonces, strict=True):
                    response = await client.post(
                        "/v1/credentials/verify",
                        json={"presentation": presentation, "audience": AUDIENCE, "nonce": nonce},
                        headers=verifier,  # a client's budget (600/min), not an anonymous address's (30/min)
                    )
                    response.raise_for_status()
                print(f"api verify:     {rate(n, time.perf_counter() - start)}")
        await state.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, help="credentials per loop")
    parser.add_argument("--api", action="store_true", help="also through the API on a throwaway SQLite hub")
    options = parser.parse_args()
    crypto(options.n)
    if options.api:
        asyncio.run(api(max(1, options.n // 5)))


if __name__ == "__main__":
    main()
