"""The applicant's phone page for an offline counter: the application as QR codes only that counter reads."""

from __future__ import annotations

import re

import httpx
import pytest

from hub.applications import handoff
from hub.state import HubState
from hub.uow import transaction
from tests.applications.support import PERSONAL, TYPED, principal
from tests.conftest import Backend, account_bearer
from tests.helpers.pages import CSRF, open_browsers, sign_in

pytestmark = pytest.mark.anyio
FORM = "basic_pension"
COUNTER = handoff.counter_id_for("Test Office")  # the seeded official's office


async def _case(state: HubState) -> str:
    resident = await principal(state, "resident0")
    async with transaction(state.sessions) as session:
        row = await state.applications.submit(
            session, resident, FORM, {**TYPED[FORM], **PERSONAL}, "test-phone"
        )
        return row.application_id


def _csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


async def test_the_phone_shows_codes_that_the_counter_reads(hub_state: HubState, backend: Backend) -> None:
    hub_state.handoff.counter_public_jwk(COUNTER, create=True)
    case_id = await _case(hub_state)
    async with open_browsers(hub_state, backend, 2) as (phone, api):
        await sign_in(phone, "resident0", "resident0-pw")
        form = await phone.get(f"/me/applications/{case_id}/handoff?lang=en")
        assert form.status_code == 200 and 'name="counter_id"' in form.text
        shown = await phone.post(
            f"/me/applications/{case_id}/handoff?lang=en", data={"csrf": _csrf(form), "counter_id": COUNTER}
        )
        assert shown.status_code == 200, shown.text[:1000]
        pictures = re.findall(r'src="data:image/png;base64,([^"]+)"', shown.text)
        assert pictures and "Valid until" in shown.text

        decoded = await api.post(
            "/v1/counter/handoff/decode",
            json={"images": pictures},
            headers=account_bearer(hub_state, "official"),
        )
    assert decoded.status_code == 200, decoded.text
    assert decoded.json()["application"]["application_id"] == case_id


async def test_an_unknown_counter_or_anothers_application_is_refused_on_the_page(
    hub_state: HubState, backend: Backend
) -> None:
    case_id = await _case(hub_state)
    async with open_browsers(hub_state, backend, 1) as (phone,):
        await sign_in(phone, "resident0", "resident0-pw")
        form = await phone.get(f"/me/applications/{case_id}/handoff?lang=en")
        unknown = await phone.post(
            f"/me/applications/{case_id}/handoff?lang=en",
            data={"csrf": _csrf(form), "counter_id": "org-nobody-here"},
        )
        assert unknown.status_code == 404 and 'role="alert"' in unknown.text
        assert "data:image/png" not in unknown.text
    async with open_browsers(hub_state, backend, 1) as (other,):
        await sign_in(other, "resident1", "resident1-pw")
        form = await other.get(f"/me/applications/{case_id}/handoff")
        refused = await other.post(
            f"/me/applications/{case_id}/handoff", data={"csrf": _csrf(form), "counter_id": COUNTER}
        )
        assert refused.status_code == 404 and "data:image/png" not in refused.text
