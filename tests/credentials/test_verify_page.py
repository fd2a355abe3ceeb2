"""The verifier page ``/credentials/verify``: six languages, the disclosed fields titled, failures named."""

from __future__ import annotations

import secrets

import httpx
import pytest

from hub import i18n
from hub.credentials import holder
from hub.state import HubState
from tests.credentials.test_credentials import AUDIENCE, issue

pytestmark = pytest.mark.anyio


async def test_the_page_speaks_each_language(api: httpx.AsyncClient) -> None:
    for lang in i18n.SUPPORTED:
        response = await api.get(f"/credentials/verify?lang={lang}")
        assert response.status_code == 200
        assert f'<html lang="{lang}">' in response.text
        assert i18n.gettext(lang, "credentials", "credentials.title") in response.text
        assert 'for="presentation"' in response.text and 'for="nonce"' in response.text


async def test_a_pasted_presentation_shows_only_the_disclosed_fields_by_their_titles(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    key = holder.keygen()
    credential = (await issue(api, hub_state, key))["credential"]
    nonce = secrets.token_urlsafe(12)
    presentation = holder.present(credential, ["name", "address"], AUDIENCE, nonce, key)
    form = {"presentation": presentation, "audience": AUDIENCE, "nonce": nonce}
    shown = await api.post("/credentials/verify?lang=ko", data=form)
    assert shown.status_code == 200, shown.text
    assert 'data-status="valid"' in shown.text
    assert "성명" in shown.text and "주소" in shown.text
    assert "주소 변동 사항" not in shown.text  # the address history stayed in the wallet
    again = await api.post("/credentials/verify?lang=en", data=form)
    assert again.status_code == 409
    assert 'data-problem="credential-replayed"' in again.text
    assert i18n.message("en", "credential-replayed.title") in again.text
    assert presentation not in again.text  # a refused presentation is not echoed back
