"""The counter's hand-off page: pictures of the phone's QR codes in, the application (or a plain refusal) out,
in six languages."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
import pytest

from audit.events import utcnow
from hub.applications import handoff
from hub.state import HubState
from tests.conftest import Backend, audit_rows
from tests.helpers.pages import CSRF, open_browsers, sign_in

pytestmark = pytest.mark.anyio
COUNTER = handoff.counter_id_for("Test Office")  # the seeded official's office


def _application() -> dict[str, object]:
    return {
        "application_id": str(uuid.uuid4()),
        "case_number": "2026-WEL-000123",
        "form_type": "basic_pension",
        "submitted_at": "2026-12-01T04:00:00Z",
        "answers": {"bank_name": "농협은행", "phone": "010-1234-5678"},
    }


def _csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def _pictures(chunks: list[str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("images", (f"code{i}.png", png, "image/png")) for i, png in enumerate(handoff.render_pngs(chunks))
    ]


async def test_the_counter_reads_pictures_of_the_codes_once(hub_state: HubState, backend: Backend) -> None:
    sealed = hub_state.handoff.seal(_application(), COUNTER, create_counter_key=True)
    async with open_browsers(hub_state, backend, 1) as (desk,):
        assert (await sign_in(desk, "official", "official-pw")).status_code == 303
        form = await desk.get("/counter/handoff?lang=en")
        assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
        assert COUNTER in form.text

        read = await desk.post(
            "/counter/handoff?lang=en", data={"csrf": _csrf(form)}, files=_pictures(sealed.chunks)
        )
        assert read.status_code == 200, read.text[:2000]
        assert "Application received and verified" in read.text
        assert "2026-WEL-000123" in read.text and "농협은행" in read.text
        assert any(r["kind"] == "application_handoff" and r["outcome"] == "ok" for r in audit_rows(backend))

        again = await desk.post(
            "/counter/handoff?lang=en", data={"csrf": _csrf(form)}, files=_pictures(sealed.chunks)
        )
        assert again.status_code == 409
        assert 'data-slug="handoff-replayed"' in again.text and "already read at a counter" in again.text


@pytest.mark.parametrize("lang", ["ko", "en", "ja", "zh", "th", "vi"])
async def test_an_expired_handoff_is_refused_in_the_officials_language(
    hub_state: HubState, backend: Backend, lang: str
) -> None:
    old = hub_state.handoff.seal(
        _application(), COUNTER, now=utcnow() - timedelta(minutes=30), create_counter_key=True
    )
    async with open_browsers(hub_state, backend, 1) as (desk,):
        await sign_in(desk, "official", "official-pw")
        form = await desk.get(f"/counter/handoff?lang={lang}")
        assert form.status_code == 200 and f'lang="{lang}"' in form.text
        refused = await desk.post(
            f"/counter/handoff?lang={lang}", data={"csrf": _csrf(form), "codes": "\n".join(old.chunks)}
        )
    assert refused.status_code == 422
    assert 'data-slug="handoff-expired"' in refused.text and 'data-reason="expired"' in refused.text
    assert re.search(r'<p class="verdict-reason">[^<]{10,}</p>', refused.text)


async def test_without_the_forms_token_nothing_is_read(hub_state: HubState, backend: Backend) -> None:
    sealed = hub_state.handoff.seal(_application(), COUNTER, create_counter_key=True)
    async with open_browsers(hub_state, backend, 1) as (desk,):
        await sign_in(desk, "official", "official-pw")
        forged = await desk.post("/counter/handoff", data={"csrf": "x" * 64}, files=_pictures(sealed.chunks))
        assert forged.status_code == 403
        form = await desk.get("/counter/handoff?lang=en")
        still = await desk.post(
            "/counter/handoff?lang=en", data={"csrf": _csrf(form), "codes": "\n".join(sealed.chunks)}
        )
        assert still.status_code == 200, "the refused post used nothing up"


async def test_a_resident_is_sent_to_sign_in(hub_state: HubState, backend: Backend) -> None:
    async with open_browsers(hub_state, backend, 1) as (phone,):
        await sign_in(phone, "resident0", "resident0-pw")
        page = await phone.get("/counter/handoff")
        assert page.status_code in (302, 303) and page.headers["location"].startswith("/login")
