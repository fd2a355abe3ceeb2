"""Filing for someone else on the web: the agent chooses the principal among the mandates they hold, types the
form and adds the seal in one submit; the case names the principal and carries the seal, and any refusal
(no mandate, a seal that is not a picture, a pixel bomb, no seal, a form closed to proxies) writes nothing."""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from hub.applications.models import ApplicationRow
from hub.applications.seal import clean_seal
from hub.auth.accounts import create_account
from hub.state import HubState
from hub.uow import transaction
from hub.web.proxy_filing import MAX_BODY_BYTES, PATH
from tests.applications.support import PERSONAL, TYPED, principal, proxy_mandate
from tests.conftest import Backend, audit_rows
from tests.helpers.pages import CSRF, open_browsers, sign_in

pytestmark = pytest.mark.anyio

FORM = "basic_pension"  # a proxy may apply, with a seal
AGENT, PRINCIPAL = "resident2", "resident0"
SUBMISSION = re.compile(r'name="submission" value="([^"]+)"')


def _png(width: int = 80, height: int = 80) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def _pixel_bomb() -> bytes:
    """A valid PNG header declaring 30,000 x 30,000 pixels (900 megapixels) in a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def _answers() -> dict[str, str]:
    return {f"f.{k}": str(v) for k, v in {**TYPED[FORM], **PERSONAL}.items()}


async def _open(browser: httpx.AsyncClient, form: str = FORM) -> httpx.Response:
    return await browser.get(f"/me/applications/new/{form}/proxy", params={"lang": "en"})


async def _post(
    browser: httpx.AsyncClient,
    page: httpx.Response,
    mandate: str,
    seal: bytes | None,
    *,
    answers: dict[str, str] | None = None,
    form: str = FORM,
) -> httpx.Response:
    token = CSRF.search(page.text)
    submission = SUBMISSION.search(page.text)
    assert token and submission
    data = {
        "csrf": token.group(1),
        "form_type": form,
        "mandate": mandate,
        "submission": submission.group(1),
        **(answers if answers is not None else _answers()),
    }
    files = {"seal": ("seal.png", seal, "image/png")} if seal is not None else None
    return await browser.post(PATH, params={"lang": "en"}, data=data, files=files)


@asynccontextmanager
async def _agent_on_the_page(
    hub_state: HubState, backend: Backend
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.Response, str]]:
    """The agent, holding a fresh mandate from the principal, signed in with the proxy form open."""
    mandate = await proxy_mandate(hub_state, AGENT, PRINCIPAL, FORM)
    async with open_browsers(hub_state, backend, 1) as (phone,):
        assert (await sign_in(phone, AGENT, f"{AGENT}-pw")).status_code == 303
        yield phone, await _open(phone), mandate


async def _cases(hub_state: HubState) -> list[ApplicationRow]:
    async with hub_state.sessions() as session:
        return list((await session.execute(select(ApplicationRow))).scalars())


async def test_an_agent_files_for_the_principal_with_a_seal_in_one_submit(
    hub_state: HubState, backend: Backend
) -> None:
    mandate = await proxy_mandate(hub_state, AGENT, PRINCIPAL, FORM)
    grantor = await principal(hub_state, PRINCIPAL)
    agent = await principal(hub_state, AGENT)
    async with transaction(hub_state.sessions) as session:  # the agent's own draft of the form
        await hub_state.applications.save_draft(session, agent, FORM, {"phone": "010-9999-0000"})
    seal = _png()
    async with open_browsers(hub_state, backend, 1) as (phone,):
        assert (await sign_in(phone, AGENT, f"{AGENT}-pw")).status_code == 303
        own_form = await phone.get(f"/me/applications/new/{FORM}?step=form&lang=en")
        assert f'href="/me/applications/new/{FORM}/proxy" id="proxy-link"' in own_form.text
        page = await _open(phone)
        assert page.status_code == 200
        assert f'name="mandate" value="{mandate}"' in page.text
        assert f"{grantor.display_name} (mandate {mandate[:8]}, until " in page.text
        assert 'enctype="multipart/form-data"' in page.text and 'name="seal"' in page.text
        before = len(audit_rows(backend))

        filed = await _post(phone, page, mandate, seal)
        assert filed.status_code == 303, filed.text
        case_id = filed.headers["location"].rsplit("/", 1)[1]
        shown = await phone.get(filed.headers["location"], params={"lang": "en"})
        assert f'id="case-proxy" data-mandate="{mandate}"' in shown.text
        assert '<img class="seal"' in shown.text

        # The same page submitted again (a second click): the first case, with its one seal.
        again = await _post(phone, page, mandate, seal)
        assert again.status_code == 303 and again.headers["location"].endswith(case_id)

    case = next(c for c in await _cases(hub_state) if c.application_id == case_id)
    assert (case.applicant_account_id, case.mandate_id) == (agent.account_id, mandate)
    assert case.principal_commitment == grantor.subject_commitment
    async with hub_state.sessions() as session:
        files = await hub_state.files.files_of(session, case_id)
    assert [(f.kind, f.sha256) for f in files] == [("seal", hashlib.sha256(clean_seal(seal).png).hexdigest())]
    events = audit_rows(backend)[before:]
    assert [e["kind"] for e in events] == ["case_received", "application_file_store"]
    assert events[0]["basis"] == f"mandate:{mandate}"
    assert f"sha256:{files[0].sha256}" in events[1]["fields"]
    async with hub_state.sessions() as session:  # the agent's own draft of the form is still theirs
        draft = await hub_state.applications.draft(session, agent, FORM)
    assert draft is not None and draft.answers.get("phone") == "010-9999-0000"


@pytest.mark.parametrize(
    ("seal", "error"),
    [
        (b"%PDF-1.7\n%%EOF\n", "This file is not a PNG or JPEG picture"),
        (_pixel_bomb(), "The picture has more pixels than the cap"),
        (None, "Add a picture of the seal."),
    ],
    ids=["not-a-picture", "pixel-bomb", "no-seal"],
)
async def test_a_refused_seal_files_nothing_and_says_why(
    hub_state: HubState, backend: Backend, seal: bytes | None, error: str
) -> None:
    async with _agent_on_the_page(hub_state, backend) as (phone, page, mandate):
        before, cases = len(audit_rows(backend)), len(await _cases(hub_state))
        refused = await _post(phone, page, mandate, seal)
    assert refused.status_code == 422
    assert error in refused.text and 'id="seal-error"' in refused.text
    assert 'value="농협은행"' in refused.text  # what was typed is kept
    assert len(await _cases(hub_state)) == cases
    assert len(audit_rows(backend)) == before


async def test_without_a_mandate_the_page_explains_and_a_forged_choice_is_refused(
    hub_state: HubState, backend: Backend
) -> None:
    someone_elses = await proxy_mandate(hub_state, "resident1", PRINCIPAL, FORM)  # held by another agent
    newcomer = f"newcomer-{secrets.token_hex(4)}"  # holds no mandate yet, whatever ran before
    async with transaction(hub_state.sessions) as session:
        await create_account(
            session,
            username=newcomer,
            password=f"{newcomer}-pw",
            role="resident",
            display_name="새 주민",
            subject_commitment=secrets.token_hex(32),
        )
    async with open_browsers(hub_state, backend, 1) as (phone,):
        assert (await sign_in(phone, newcomer, f"{newcomer}-pw")).status_code == 303
        page = await _open(phone)
        assert page.status_code == 200 and 'id="proxy-no-mandate"' in page.text
        assert 'name="mandate"' not in page.text
        # A page of a holder of some other mandate, posted with the other agent's mandate id.
        await proxy_mandate(hub_state, newcomer, "resident1", FORM)
        page = await _open(phone)
        before, cases = len(audit_rows(backend)), len(await _cases(hub_state))
        refused = await _post(phone, page, someone_elses, _png())
    assert refused.status_code == 403
    assert "Choose one of the mandates you hold" in refused.text
    assert len(await _cases(hub_state)) == cases and len(audit_rows(backend)) == before


async def test_a_form_closed_to_proxies_offers_no_proxy_filing(hub_state: HubState, backend: Backend) -> None:
    closed = "childbirth_support"
    assert not hub_state.forms[closed].proxy_allowed
    async with open_browsers(hub_state, backend, 1) as (phone,):
        assert (await sign_in(phone, AGENT, f"{AGENT}-pw")).status_code == 303
        own = await phone.get(f"/me/applications/new/{closed}?step=form&lang=en")
        assert 'id="proxy-link"' not in own.text
        page = await _open(phone, closed)
        assert page.status_code == 404 and "cannot be filed by a proxy" in page.text


async def test_nul_in_a_field_or_a_body_over_the_cap_is_refused_before_anything_is_written(
    hub_state: HubState, backend: Backend
) -> None:
    async with _agent_on_the_page(hub_state, backend) as (phone, page, mandate):
        before, cases = len(audit_rows(backend)), len(await _cases(hub_state))
        nul = await _post(phone, page, mandate, _png(), answers={**_answers(), "f.bank_name": "농협\x00"})
        assert nul.status_code == 422 and nul.json()["type"] == "/problems/validation-error"
        big = await _post(phone, page, mandate, b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_BODY_BYTES)
        assert big.status_code == 413
    assert len(await _cases(hub_state)) == cases and len(audit_rows(backend)) == before
