"""The resident's in-browser check (static/verify.js) requires the witnesses' quorum, in Debian Chromium.

The live hub is configured with two witnesses that cannot be reached, so its checkpoint carries the log's
signature alone and the page must refuse it, naming both witnesses. The test then plays the witnesses: it
cosigns the page's checkpoint (cosignature/v1, the keys the hub was configured with) and puts the lines into
the page; one line names only the other witness, both lines verify.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint import parse_note
from audit.witness.protocol import cosign, cosigner_vkey
from tests.browser import support
from tests.conftest import Backend, lookup_body
from tests.servers import running_hub

pytestmark = pytest.mark.slow
NAMES = ("witness1.test", "witness2.test")
KEYS = {name: Ed25519PrivateKey.generate() for name in NAMES}


@pytest.fixture
def live_server(sqlite_backend: Backend, tmp_path: Path) -> Iterator[str]:
    # Port 9 (discard) on loopback: nothing listens, so every submission fails at once.
    witnesses = [{"url": "http://127.0.0.1:9", "vkey": cosigner_vkey(n, KEYS[n].public_key())} for n in NAMES]
    env = {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir), "GONGYU_WITNESSES": json.dumps(witnesses)}
    with running_hub(tmp_path / "server.log", env) as base:
        yield base


def test_history_check_names_the_missing_witness_and_passes_with_the_quorum(
    live_server: str, sqlite_backend: Backend
) -> None:
    from playwright.sync_api import expect, sync_playwright

    token = httpx.post(
        f"{live_server}/v1/auth/token",
        auth=("test-bank", "test-bank-secret"),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    number = sqlite_backend.residents[1]["resident_number"]
    looked = httpx.post(
        f"{live_server}/v1/lookups", headers={"Authorization": f"Bearer {token}"}, json=lookup_body(number)
    )
    assert looked.status_code == 200, looked.text
    time.sleep(1.5)  # the integrator checkpoints at least every second
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=support.chromium(), args=support.CHROMIUM_FLAGS)
        try:
            page = browser.new_context(locale="en-US").new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            support.sign_in(page, live_server, "resident1", "resident1-pw", "/me/history")
            for _ in range(20):
                if page.locator("#history .verify-result[data-result=pending]").count() == 0:
                    break
                time.sleep(0.5)
                page.reload()
            status = page.locator("#verify-status")
            page.click("#verify-button")
            expect(status).to_have_attribute("data-result", "failed", timeout=15_000)
            expect(status).to_contain_text("witness1.test, witness2.test")

            note = page.locator("#checkpoint").text_content() or ""
            body, _ = parse_note(note)
            lines = {n: cosign(body, n, KEYS[n], int(time.time())).line() for n in NAMES}
            page.evaluate(
                "(text) => { document.getElementById('checkpoint').textContent = text; }",
                note + lines[NAMES[0]],
            )
            page.click("#verify-button")
            expect(status).to_have_attribute("data-result", "failed", timeout=15_000)
            expect(status).to_contain_text("witness2.test")
            assert "witness1.test" not in (status.text_content() or "")

            # A line by the right key whose time was changed afterwards does not count: witness2 still named.
            signed_at_1 = cosign(body, NAMES[1], KEYS[NAMES[1]], 1).line()
            signed_at_2 = cosign(body, NAMES[1], KEYS[NAMES[1]], 2).line()
            prefix = len("\u2014 witness2.test ") + 16  # base64 of key ID (4 bytes) and time (8 bytes)
            forged = signed_at_2[:prefix] + signed_at_1[prefix:]
            page.evaluate(
                "(text) => { document.getElementById('checkpoint').textContent = text; }",
                note + lines[NAMES[0]] + forged,
            )
            page.click("#verify-button")
            expect(status).to_have_attribute("data-result", "failed", timeout=15_000)
            expect(status).to_contain_text("witness2.test")

            page.evaluate(
                "(text) => { document.getElementById('checkpoint').textContent = text; }",
                note + lines[NAMES[0]] + lines[NAMES[1]],
            )
            page.click("#verify-button")
            expect(status).to_have_attribute("data-result", "verified", timeout=15_000)
            assert not errors, errors
        finally:
            browser.close()
