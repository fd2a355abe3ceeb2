"""The caller's language: API errors by Accept-Language, pages by the user's choice, then Accept-Language."""

from __future__ import annotations

import httpx
import pytest

from hub import i18n

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
async def test_api_errors_answer_in_the_callers_language(api: httpx.AsyncClient, lang: str) -> None:
    response = await api.post("/v1/lookups", json={}, headers={"Accept-Language": f"{lang};q=0.9, de;q=0.5"})
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "/problems/unauthorized", "the type is stable whatever the language"
    assert body["detail"] == i18n.message(lang, "unauthorized.detail")


async def test_pages_follow_the_choice_then_accept_language(api: httpx.AsyncClient) -> None:
    thai = await api.get("/login", headers={"Accept-Language": "th-TH,th;q=0.9"})
    assert '<html lang="th">' in thai.text and i18n.gettext("th", "pages", "sign_in") in thai.text

    chosen = await api.get("/login", params={"lang": "vi"}, headers={"Accept-Language": "th"})
    assert '<html lang="vi">' in chosen.text
    assert api.cookies.get("gy_lang") == "vi", "the choice is remembered"
    later = await api.get("/login", headers={"Accept-Language": "th"})
    assert '<html lang="vi">' in later.text, "the remembered choice beats Accept-Language"
    for code, name in i18n.NATIVE_NAMES.items():
        assert f'lang="{code}"' in later.text and name in later.text, "every page offers all six languages"


async def test_an_unknown_language_choice_falls_back_to_accept_language(api: httpx.AsyncClient) -> None:
    page = await api.get("/login", params={"lang": "xx"}, headers={"Accept-Language": "ja"})
    assert '<html lang="ja">' in page.text and "gy_lang" not in api.cookies
