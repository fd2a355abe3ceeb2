"""The front page (``/``) for a signed-in resident shows their newest unread notices with each one's code;
signed out, or signed in as someone else, it shows none of them."""

from __future__ import annotations

import httpx
import pytest

from hub.state import HubState
from tests.api.test_notice_page import sent_notice
from tests.conftest import Backend, account_bearer

pytestmark = pytest.mark.anyio


def session_cookie(state: HubState, username: str) -> str:
    return account_bearer(state, username)["Authorization"].removeprefix("Bearer ")


async def test_a_signed_in_resident_sees_unread_notices_on_the_front_page(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    code = await sent_notice(hub_state, backend)  # for resident2
    signed_out = await api.get("/", params={"lang": "en"})
    assert (
        signed_out.status_code == 200
        and "data-notice=" not in signed_out.text
        and code not in signed_out.text
    )

    api.cookies.set("gy_session", session_cookie(hub_state, "resident2"))
    mine = await api.get("/", params={"lang": "en"})
    assert mine.status_code == 200 and code in mine.text and 'href="/me"' in mine.text
    assert mine.text.count("data-notice=") <= 3

    api.cookies.set("gy_session", session_cookie(hub_state, "resident0"))
    theirs = await api.get("/", params={"lang": "en"})
    assert theirs.status_code == 200 and code not in theirs.text
