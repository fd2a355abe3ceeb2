"""The consent pages driven like a browser would (cookies, forms, redirects): bank flow and counter flow."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from hub.state import HubState
from tests.conftest import Backend, bearer
from tests.helpers.pages import CSRF, browsers, sign_in

pytestmark = pytest.mark.anyio
__all__ = ["browsers"]  # the fixture, re-exported for pytest


async def test_bank_flow_through_the_pages(browsers, hub_state: HubState, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    bank, phone = browsers
    created = await bank.post(
        "/v1/consent-requests",
        headers=bearer(hub_state),
        json={
            "documents": [{"document_type": "resident_registration_abstract", "view": "basic"}],
            "purpose": {"code": "loan-screening", "text": "전세자금대출 심사"},
            "redirect_uri": "https://bank.test/callback",
            "state": "s-42",
        },
    )
    path = urlparse(created.json()["approve_url"]).path
    first = await phone.get(path)
    assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
    signed = await sign_in(phone, "resident0", "resident0-pw", path)
    assert signed.status_code == 303 and signed.headers["location"] == path
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie

    page = await phone.get(path)
    assert page.status_code == 200, page.text
    assert backend.residents[0]["name_ko"] in page.text, "the preview shows the actual values"
    assert "Test Bank" in page.text and "전세자금대출 심사" in page.text
    assert "<script>" not in page.text
    forged = await phone.post(path, data={"decision": "approve", "csrf": "nope"})
    assert forged.status_code == 403
    decided = await phone.post(path, data={"decision": "approve", "csrf": CSRF.search(page.text).group(1)})  # type: ignore[union-attr]
    assert decided.status_code == 303
    target = urlparse(decided.headers["location"])
    query = parse_qs(target.query)
    assert target.netloc == "bank.test" and query["state"] == ["s-42"]
    lookup = await bank.post(
        "/v1/lookups",
        headers=bearer(hub_state),
        json={
            "document_type": "resident_registration_abstract",
            "view": "basic",
            "purpose": "loan-screening",
            "basis": {"consent_id": query["consent_id"][0]},
        },
    )
    assert lookup.status_code == 200 and lookup.json()["fields"]["name"] == backend.residents[0]["name_ko"]


async def test_counter_flow_qr_link_is_single_use_and_the_official_sees_the_document(
    browsers,
    backend: Backend,  # type: ignore[no-untyped-def]
) -> None:
    desk, phone = browsers
    assert (await sign_in(desk, "official", "official-pw", "/counter")).status_code == 303
    form = await desk.get("/counter")
    assert form.status_code == 200
    opened = await desk.post(
        "/counter",
        data={
            "csrf": CSRF.search(form.text).group(1),  # type: ignore[union-attr]
            "documents": ["resident_registration_copy:basic"],
            "purpose_code": "moving-in",
            "purpose_text": "전입신고 확인",
        },
    )
    assert opened.status_code == 303
    session_url = opened.headers["location"]
    counter = await desk.get(session_url)
    assert 'src="data:image/png;base64,' in counter.text and 'data-status="pending"' in counter.text
    request_id = urlparse(session_url).path.rsplit("/", 1)[1]
    token = parse_qs(urlparse(session_url).query)["t"][0]

    link = f"/consent/{request_id}?t={token}"
    assert (await phone.get(link)).status_code == 303
    reused = await phone.get(link)
    assert reused.status_code == 410 and "<h1>" in reused.text, "a clear page, not an error trace"
    await sign_in(phone, "resident1", "resident1-pw", f"/consent/{request_id}")
    page = await phone.get(f"/consent/{request_id}")
    assert page.status_code == 200 and backend.residents[1]["name_ko"] in page.text
    done = await phone.post(
        f"/consent/{request_id}", data={"decision": "approve", "csrf": CSRF.search(page.text).group(1)}
    )  # type: ignore[union-attr]
    assert done.status_code == 200 and "receipt" in done.text.lower()

    status = await desk.get(f"/counter/sessions/{request_id}/status")
    assert status.json() == {"status": "approved"}
    shown = await desk.get(f"/counter/sessions/{request_id}")
    assert backend.residents[1]["name_ko"] in shown.text, "the minimized document appears at the counter"
    again = await desk.get(f"/counter/sessions/{request_id}")
    assert backend.residents[1]["name_ko"] not in again.text, "a one-time consent is used once"
    assert (await phone.get(f"/counter/sessions/{request_id}/status")).status_code == 403, "officials only"


async def test_sign_in_never_redirects_off_site(browsers) -> None:  # type: ignore[no-untyped-def]
    _, phone = browsers
    response = await sign_in(phone, "resident0", "resident0-pw", "//evil.test/x")
    assert response.headers["location"] == "/"
    wrong = await sign_in(phone, "resident0", "nope")
    assert wrong.status_code == 401


async def test_sign_out_ends_the_session(browsers) -> None:  # type: ignore[no-untyped-def]
    _, phone = browsers
    await sign_in(phone, "resident0", "resident0-pw", "/me")
    me = await phone.get("/me")
    assert me.status_code == 200
    token = CSRF.search(me.text)  # the layout's sign-out form carries the session's CSRF token
    assert token
    out = await phone.post("/logout", data={"csrf": token.group(1)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (await phone.get("/me")).status_code == 303
