"""The dispute pages over HTTP, on SQLite and PostgreSQL: the history entry's form, its refusals as pages,
the CSRF check, My disputes, and the officer's queue holding only their organisation's disputes."""

from __future__ import annotations

import hashlib
import hmac
import re

import httpx
import pytest

from hub.state import HubState
from hub.web.session import SESSION_COOKIE
from tests.conftest import Backend, account_bearer
from tests.disputes.support import bank_entry, privacy_officer
from tests.helpers.pages import browsers  # noqa: F401  (fixture)

pytestmark = pytest.mark.anyio


def _as(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """Sign the client in with the account's token as its page session; the CSRF token of that session."""
    token = headers["Authorization"].split(" ", 1)[1]
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token, domain="hub.test")
    return token


def _csrf(state: HubState, token: str) -> str:
    return hmac.new(state.keys.data_key, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()


async def test_a_resident_disputes_from_the_form_and_the_bank_officer_alone_sees_it(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient],  # noqa: F811
    api: httpx.AsyncClient,
    hub_state: HubState,
    backend: Backend,
) -> None:
    page, officer_page = browsers
    leaf = await bank_entry(api, hub_state, backend)
    theirs = await bank_entry(api, hub_state, backend, resident=1)
    token = _as(page, account_bearer(hub_state, "resident0"))

    history = await page.get("/me/history", params={"lang": "en"})
    assert f'href="/me/history/{leaf}/dispute"' in history.text
    form = await page.get(f"/me/history/{leaf}/dispute", params={"lang": "en"})
    assert form.status_code == 200 and "Test Bank" in form.text and f"#{leaf}" in form.text
    assert (await page.get(f"/me/history/{2**64}/dispute")).status_code == 422  # no index overflows the query
    assert (await page.get(f"/me/history/{2**40}/dispute")).status_code == 404
    not_mine = await page.get(f"/me/history/{theirs}/dispute", params={"lang": "en"})
    assert not_mine.status_code == 404 and "Not an entry of your records" in not_mine.text

    forged = await page.post(f"/me/history/{leaf}/dispute", data={"csrf": "x", "reason": "who?"})
    assert forged.status_code == 403
    empty = await page.post(
        f"/me/history/{leaf}/dispute", data={"csrf": _csrf(hub_state, token), "reason": " "}
    )
    assert empty.status_code == 422 and 'id="dispute-reason"' in empty.text  # the form again, with the error
    sent = await page.post(
        f"/me/history/{leaf}/dispute", data={"csrf": _csrf(hub_state, token), "reason": "I am not a customer"}
    )
    assert sent.status_code == 303 and sent.headers["location"].startswith("/me/disputes#dispute-")
    dispute_id = sent.headers["location"].split("#dispute-")[1]
    mine = await page.get("/me/disputes", params={"lang": "en"})
    assert f'id="dispute-{dispute_id}"' in mine.text and "Waiting for the organisation" in mine.text
    again = await page.get(f"/me/history/{leaf}/dispute", params={"lang": "en"})
    assert again.status_code == 409 and 'href="/me/disputes"' in again.text

    _as(officer_page, await privacy_officer(hub_state, "privacy-office", "Test Office"))
    other_queue = await officer_page.get("/disputes")
    assert other_queue.status_code == 200 and dispute_id not in other_queue.text
    officer_token = _as(officer_page, await privacy_officer(hub_state, "privacy-bank", "Test Bank"))
    queue = await officer_page.get("/disputes", params={"lang": "en"})
    assert f'id="dispute-{dispute_id}"' in queue.text
    assert re.search(rf'action="/disputes/{dispute_id}/answer"', queue.text)
    answered = await officer_page.post(
        f"/disputes/{dispute_id}/answer",
        data={
            "csrf": _csrf(hub_state, officer_token),
            "action": "justified",
            "answer": "Customer due diligence at account opening.",
            "basis": "KR-FTRA-5-2",
        },
    )
    assert answered.status_code == 303
    shown = await page.get("/me/disputes", params={"lang": "en"})
    assert "Customer due diligence" in shown.text and "KR-FTRA-5-2" in shown.text
    steps = await page.get("/me/history", params={"lang": "en"})  # each step is in my history, named
    assert "Dispute of an access" in steps.text and "Dispute answered: justified" in steps.text

    # A resident is not an officer: the queue is a 403 page, the answer form refused.
    assert (await page.get("/disputes")).status_code == 403
