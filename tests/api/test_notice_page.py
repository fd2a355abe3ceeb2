"""The public notice check page (``/notices/verify``, issue 12 item 4): the mailed link's code or a typed one
is answered in the visitor's language, genuine (when, channel, kind family) or not from the hub (with what to
do); never for whom or what the notice said; rate-limited with the API's own per-address budget; the code
never reaches the log.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import select

from audit import AuditEvent
from hub import i18n
from hub.notify import codes, outbox
from hub.notify.dispatch import Dispatcher
from hub.notify.models import OutboxRow
from hub.state import HubState
from hub.uow import transaction
from hub.web.notice_page import kind_family
from tests.conftest import Backend

pytestmark = pytest.mark.anyio


def t(lang: str, key: str) -> str:
    """A page string as the page writes it (HTML-escaped, as Jinja does)."""
    return str(escape(i18n.gettext(lang, "notices", key)))


async def sent_notice(state: HubState, backend: Backend, *, org: str = "Notice Page Bank") -> str:
    """A lookup notice for resident 2, delivered to the inbox; its code."""
    subject = state.committer.commit(backend.residents[2]["resident_number"].replace("-", ""))
    event = AuditEvent(
        kind="lookup",
        actor_kind="client",
        actor_id="notice-page-test",
        actor_org=org,
        outcome="ok",
        subject_commitment=subject,
        document_type="resident_registration_abstract",
    )
    async with transaction(state.sessions) as session:
        await outbox.announce(session, event)
    worker = Dispatcher(state.sessions, state.keys.data_key)
    while await worker.run_once():
        pass
    async with state.sessions() as session:
        found = await session.execute(
            select(OutboxRow.message_id).where(
                OutboxRow.event_id == event.event_id, OutboxRow.channel == "inbox"
            )
        )
        return codes.notice_code(state.keys.data_key, found.scalar_one())


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
async def test_the_form_is_served_in_each_language(api: httpx.AsyncClient, lang: str) -> None:
    page = await api.get("/notices/verify", params={"lang": lang})
    assert page.status_code == 200 and f'<html lang="{lang}">' in page.text
    assert t(lang, "notices.title") in page.text and t(lang, "notices.intro") in page.text
    assert 'action="/notices/verify' in page.text and 'name="code"' in page.text
    assert "Content-Security-Policy" in page.headers


async def test_the_mailed_link_answers_genuine_with_when_how_and_what_kind_only(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    code = await sent_notice(hub_state, backend)
    for lang in i18n.SUPPORTED:
        page = await api.get("/notices/verify", params={"code": code, "lang": lang})
        assert page.status_code == 200, page.text
        assert 'data-verdict="genuine"' in page.text
        assert t(lang, "notices.genuine.word") in page.text
        assert t(lang, "notices.channel.inbox") in page.text
        assert t(lang, "notices.kind.access") in page.text
        # Nothing personal: not who looked, not at what, not whose records.
        assert "Notice Page Bank" not in page.text
        assert "resident_registration_abstract" not in page.text
        assert backend.residents[2]["name_ko"] not in page.text


async def test_a_typed_code_is_read_as_a_person_types_it(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    code = await sent_notice(hub_state, backend)
    typed = code.lower().replace("-", " ").replace("0", "o")
    page = await api.post("/notices/verify", params={"lang": "ko"}, data={"code": typed})
    assert page.status_code == 200 and 'data-verdict="genuine"' in page.text
    assert t("ko", "notices.genuine.headline") in page.text


async def test_an_unknown_code_warns_that_the_message_is_not_from_the_hub(api: httpx.AsyncClient) -> None:
    page = await api.post("/notices/verify", params={"lang": "en"}, data={"code": "0000-0000-0000"})
    assert page.status_code == 200 and 'data-verdict="unknown"' in page.text
    assert t("en", "notices.unknown.headline") in page.text and t("en", "notices.unknown.todo") in page.text
    assert 'data-verdict="genuine"' not in page.text


@pytest.mark.parametrize("text", ["hello", "x" * 65, "7K3D-QX9M", " "])
async def test_text_that_cannot_be_a_code_is_a_clear_422_on_the_page(
    api: httpx.AsyncClient, text: str
) -> None:
    page = await api.post("/notices/verify", params={"lang": "en"}, data={"code": text})
    assert page.status_code == 422 and t("en", "notices.bad_code") in page.text
    assert "data-verdict" not in page.text


def test_event_kinds_are_shown_by_family() -> None:
    assert kind_family("lookup") == "access" and kind_family("preview") == "access"
    assert kind_family("consent_revoke") == "consent" and kind_family("consent_link_opened") == "consent"
    assert kind_family("mandate_grant") == "mandate" and kind_family("revocation") == "document"
    assert kind_family("application_approved") == "application" and kind_family("digest") == "other"


async def test_the_page_and_the_api_share_one_per_address_budget(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    code = await sent_notice(hub_state, backend)
    caplog.set_level(logging.DEBUG)
    answers: list[Any] = []
    for i in range(40):  # the budget is 30 a minute per address, page and API together
        if i % 2:
            answers.append(await api.post("/v1/notices/verify", json={"code": code}))
        else:
            answers.append(await api.get("/notices/verify", params={"code": code, "lang": "en"}))
    statuses = [a.status_code for a in answers]
    assert statuses[:30] == [200] * 30 and set(statuses[30:]) == {429}
    throttled = answers[30]  # a page (even index): the hub's own page, with the wait
    assert throttled.headers["content-type"].startswith("text/html") and "Retry-After" in throttled.headers
    # The code came in the query string thirty times: no log record carries it.
    canonical = code.replace("-", "")
    hub_records = [
        r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    ]  # not the client's
    assert any(r.name == "gongyu.access" for r in hub_records)
    for record in hub_records:
        text = f"{record.getMessage()} {record.__dict__}"
        assert code not in text and canonical not in text
