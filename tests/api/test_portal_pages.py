"""The resident portal driven like a browser would: consents (pause, resume, revoke, receipts) and history."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from audit.checkpoint import verify_checkpoint
from audit.merkle import leaf_hash, verify_inclusion
from hub.state import HubState
from hub.web import portal
from tests.conftest import Backend, account_bearer, bearer, lookup_body
from tests.helpers.pages import CSRF, open_browsers, sign_in

pytestmark = pytest.mark.anyio
ENTRY = re.compile(r'<li class="card entry"(.*?)>', re.S)
ATTR = re.compile(r'data-([a-z-]+)="([^"]*)"')


@pytest.fixture
async def clients(hub_state: HubState, backend: Backend) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    async with open_browsers(hub_state, backend, 2) as pair:
        yield pair


async def _consent_for(bank: httpx.AsyncClient, state: HubState, username: str, purpose: str) -> str:
    created = await bank.post(
        "/v1/consent-requests",
        headers=bearer(state),
        json={
            "documents": [{"document_type": "resident_registration_abstract", "view": "basic"}],
            "purpose": {"code": "loan-screening", "text": purpose},
            "mode": "standing",
            "max_uses": 5,
            "redirect_uri": "https://bank.test/callback",
        },
    )
    assert created.status_code == 201, created.text
    approved = await bank.post(
        f"/v1/me/consent-requests/{created.json()['request_id']}/approve",
        headers=account_bearer(state, username),
        json={},
    )
    assert approved.status_code == 200, approved.text
    return str(approved.json()["consent"]["consent_id"])


def _consent_lookup(consent_id: str) -> dict[str, object]:
    return {
        "document_type": "resident_registration_abstract",
        "view": "basic",
        "purpose": "loan-screening",
        "basis": {"consent_id": consent_id},
    }


def _entries(page: str) -> list[dict[str, str]]:
    return [{k: html.unescape(v) for k, v in ATTR.findall(m.group(1))} for m in ENTRY.finditer(page)]


async def test_portal_pages_require_a_signed_in_resident(clients) -> None:  # type: ignore[no-untyped-def]
    browser, _ = clients
    nobody = f"{'0' * 8}-0000-0000-0000-{'0' * 12}"
    paths = ["/me", "/me/consents", "/me/history", f"/me/consents/{nobody}/receipts/x"]
    for path in paths:
        response = await browser.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path
    assert (await sign_in(browser, "official", "official-pw", "/me")).status_code == 303
    refused = await browser.get("/me/history")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login?next=")
    anonymous_post = await browser.post(f"/me/consents/{nobody}/revoke", data={"csrf": "x"})
    assert anonymous_post.status_code == 303


async def test_consents_page_lists_own_consents_and_the_forms_pause_resume_and_revoke(  # type: ignore[no-untyped-def]
    clients, hub_state: HubState, backend: Backend
) -> None:
    browser, bank = clients
    mine = await _consent_for(bank, hub_state, "resident0", "내 대출 심사")
    theirs = await _consent_for(bank, hub_state, "resident1", "남의 대출 심사")
    assert (await sign_in(browser, "resident0", "resident0-pw", "/me")).status_code == 303
    home = await browser.get("/me")
    assert home.status_code == 200
    assert 'href="/me/consents"' in home.text and 'href="/me/history"' in home.text

    page = await browser.get("/me/consents")
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    assert mine in page.text and "내 대출 심사" in page.text and "Test Bank" in page.text
    assert theirs not in page.text and "남의 대출 심사" not in page.text
    for resident in backend.residents[:2]:
        number = resident["resident_number"]
        assert number not in page.text and number.replace("-", "") not in page.text
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]

    forged = await browser.post(f"/me/consents/{mine}/revoke", data={"csrf": "forged"})
    assert forged.status_code == 403
    missing = await browser.post(f"/me/consents/{mine}/revoke")
    assert missing.status_code == 422
    other = await browser.post(f"/me/consents/{theirs}/revoke", data={"csrf": csrf})
    assert other.status_code == 404, "someone else's consent is not mine to revoke"

    paused = await browser.post(f"/me/consents/{mine}/pause", data={"csrf": csrf})
    assert paused.status_code == 303 and paused.headers["location"] == "/me/consents?done=pause"
    refused = await bank.post("/v1/lookups", headers=bearer(hub_state), json=_consent_lookup(mine))
    assert refused.status_code != 200
    resumed = await browser.post(f"/me/consents/{mine}/resume", data={"csrf": csrf})
    assert resumed.status_code == 303
    used = await bank.post("/v1/lookups", headers=bearer(hub_state), json=_consent_lookup(mine))
    assert used.status_code == 200, used.text

    revoked = await browser.post(f"/me/consents/{mine}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303 and revoked.headers["location"] == "/me/consents?done=revoke"
    again = await browser.post(f"/me/consents/{mine}/revoke", data={"csrf": csrf})
    assert again.status_code == 409 and "<h1>" in again.text
    after = await bank.post("/v1/lookups", headers=bearer(hub_state), json=_consent_lookup(mine))
    assert after.status_code == 403 and after.json()["type"] == "/problems/consent-revoked", after.text
    theirs_still = await bank.post("/v1/lookups", headers=bearer(hub_state), json=_consent_lookup(theirs))
    assert theirs_still.status_code == 200

    listed = await browser.get("/me/consents?done=revoke")
    assert 'role="status"' in listed.text
    assert re.search(rf'data-consent-id="{mine}" data-state="revoked"', listed.text)
    assert f'action="/me/consents/{mine}/revoke"' not in listed.text
    links = re.findall(rf'href="(/me/consents/{mine}/receipts/[^"]+)"', listed.text)
    assert len(links) == 2, "the approval and the revocation receipt"
    api_receipts = await bank.get(
        f"/v1/me/consents/{mine}/receipts", headers=account_bearer(hub_state, "resident0")
    )
    expected = {r["jws"] for r in api_receipts.json()["receipts"]}
    for link in links:
        download = await browser.get(link)
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("application/jose")
        assert download.headers["content-disposition"].startswith("attachment;")
        assert download.text in expected and download.text.count(".") == 2
    stranger = await browser.get(f"/me/consents/{theirs}/receipts/{links[0].rsplit('/', 1)[1]}")
    assert stranger.status_code == 404


async def test_history_page_shows_own_entries_with_proofs_that_verify(  # type: ignore[no-untyped-def]
    clients, hub_state: HubState, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser, bank = clients
    mine, theirs = backend.residents[0]["resident_number"], backend.residents[1]["resident_number"]
    for number in (mine, mine, theirs):
        ok = await bank.post("/v1/lookups", headers=bearer(hub_state), json=lookup_body(number))
        assert ok.status_code == 200, ok.text
    denied_body = {**lookup_body(mine), "view": "with_address_history"}
    denied = await bank.post("/v1/lookups", headers=bearer(hub_state), json=denied_body)
    assert denied.status_code == 403
    await hub_state.integrator.integrate_once()

    assert (await sign_in(browser, "resident0", "resident0-pw", "/me/history")).status_code == 303
    page = await browser.get("/me/history")
    assert page.status_code == 200 and '<script src="/static/verify.js"' in page.text
    assert "<script>" not in page.text
    assert mine not in page.text and mine.replace("-", "") not in page.text
    entries = _entries(page.text)
    api_log = await bank.get(
        "/v1/me/access-log", params={"limit": 20}, headers=account_bearer(hub_state, "resident0")
    )
    assert [e["event-id"] for e in entries] == [e["event_id"] for e in api_log.json()["entries"]]
    theirs_log = await bank.get(
        "/v1/me/access-log", params={"limit": 100}, headers=account_bearer(hub_state, "resident1")
    )
    assert not {e["event_id"] for e in theirs_log.json()["entries"]} & {e["event-id"] for e in entries}
    assert any(e["outcome"] == "denied" for e in entries) and "Test Bank" in page.text

    # What the browser verifies: the same data the reference implementations accept.
    note = html.unescape(re.search(r'<pre id="checkpoint">(.*?)</pre>', page.text, re.S).group(1))  # type: ignore[union-attr]
    key = html.unescape(re.search(r'data-verifier-key="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    checkpoint = verify_checkpoint(note, key)
    proven = [e for e in entries if "tree-size" in e]
    assert len(proven) >= 3
    for entry in proven:
        leaf = base64.b64decode(entry["leaf"])
        assert base64.b64encode(leaf_hash(leaf)).decode() == entry["leaf-hash"]
        assert int(entry["tree-size"]) == checkpoint.size
        proof = [base64.b64decode(h) for h in entry["proof"].split()]
        index = int(entry["leaf-index"])
        verify_inclusion(leaf_hash(leaf), index, checkpoint.size, proof, checkpoint.root_hash)

    # Filters, and an entry not integrated yet is marked pending.
    only_denied = _entries((await browser.get("/me/history", params={"outcome": "denied"})).text)
    assert only_denied and all(e["outcome"] == "denied" for e in only_denied)
    long_ago = {"from": "2001-01-01", "to": "2001-01-31"}
    assert _entries((await browser.get("/me/history", params=long_ago)).text) == []
    edges = await browser.get("/me/history", params={"from": "0001-01-01", "to": "9999-12-31"})
    assert edges.status_code == 200, "the calendar's first and last days are no 500"
    late = await bank.post("/v1/lookups", headers=bearer(hub_state), json=lookup_body(mine))
    assert late.status_code == 200
    fresh = (await browser.get("/me/history")).text
    first = _entries(fresh)[0]
    assert "tree-size" not in first and 'data-result="pending"' in fresh

    # Cursor paging keeps the filters and never repeats an entry.
    monkeypatch.setattr(portal, "PAGE_SIZE", 2)
    seen: list[str] = []
    url: str | None = "/me/history?outcome=ok"
    while url:
        body = (await browser.get(url)).text
        seen += [e["event-id"] for e in _entries(body)]
        found = re.search(r'<a href="([^"]+)" rel="next">', body)
        url = html.unescape(found.group(1)) if found else None
        assert url is None or "outcome=ok" in url
    assert len(seen) == len(set(seen)) >= 3


async def test_mandates_are_listed_and_the_principal_revokes_through_the_form(  # type: ignore[no-untyped-def]
    clients, hub_state: HubState
) -> None:
    browser, api = clients
    granted = await api.post(
        "/v1/me/mandates",
        headers=account_bearer(hub_state, "resident0"),
        json={
            "agent_username": "resident1",
            "document_types": ["resident_registration_abstract"],
            "expires_at": "2099-01-01T00:00:00Z",
        },
    )
    assert granted.status_code == 201, granted.text
    mandate_id = granted.json()["mandate_id"]

    assert (await sign_in(browser, "resident1", "resident1-pw", "/me")).status_code == 303
    as_agent = await browser.get("/me/consents")
    assert f'data-mandate-id="{mandate_id}" data-state="active"' in as_agent.text
    assert f'action="/me/mandates/{mandate_id}/revoke"' not in as_agent.text, "only the principal revokes"
    csrf = CSRF.search(as_agent.text).group(1)  # type: ignore[union-attr]
    refused = await browser.post(f"/me/mandates/{mandate_id}/revoke", data={"csrf": csrf})
    assert refused.status_code == 404

    browser.cookies.clear()
    assert (await sign_in(browser, "resident0", "resident0-pw", "/me")).status_code == 303
    page = await browser.get("/me/consents")
    assert f'action="/me/mandates/{mandate_id}/revoke"' in page.text
    forged = await browser.post(f"/me/mandates/{mandate_id}/revoke", data={"csrf": csrf})
    assert forged.status_code == 403, "a token from another session is refused"
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    revoked = await browser.post(f"/me/mandates/{mandate_id}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303 and revoked.headers["location"] == "/me/consents?done=mandate_revoke"
    listed = await api.get("/v1/me/mandates", headers=account_bearer(hub_state, "resident0"))
    assert next(m for m in listed.json()["mandates"] if m["mandate_id"] == mandate_id)["state"] == "revoked"
