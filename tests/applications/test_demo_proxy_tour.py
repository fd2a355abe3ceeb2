"""The README's proxy tour on a fresh demo: ``gongyu demo``'s seeding grants resident2 a live mandate from
resident1 covering the food business report's records (once, however often the demo is seeded), and with it
resident2 files the report for resident1 and adds resident1's seal; the food sanitation desk's case page says
whose agent filed it under which mandate and shows the seal."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from hub.cli.accounts import seed_demo_principals
from hub.cli.sandbox import PROXY_TOUR_FORM, seed_demo_desks, seed_demo_mandate
from hub.migrate import upgrade
from hub.settings import Settings
from hub.state import build_state
from tests.conftest import BACKGROUND_OFF, Backend, account_bearer
from tests.helpers.pages import open_browsers, sign_in

pytestmark = pytest.mark.anyio

# The README's answers for the tour (what a person types on the agent's phone).
ANSWERS = {
    "applicant_name": "박유나",
    "birth_date": "1994-12-31",
    "home_address": "서울특별시 서초구 남부순환로 2584",
    "trade_name": "유나식당",
    "business_address": "서울특별시 서초구 서초대로 1",
    "floor_area_m2": 45,
    "hygiene_training_on": "2026-11-02",
    "water_supply": "tap",
    "phone": "010-1234-5678",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, sqlite_backend: Backend) -> Backend:
    settings = Settings(var_dir=tmp_path_factory.mktemp("demo-proxy"), environment="test", **BACKGROUND_OFF)
    upgrade(settings)
    residents = sqlite_backend.residents[:3]
    asyncio.run(seed_demo_principals(settings, residents))
    asyncio.run(seed_demo_desks(settings))
    return Backend("sqlite", settings, residents)


def _seal_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 200), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def test_the_demo_seeds_one_mandate_and_the_proxy_tour_works(demo: Backend) -> None:
    first = await seed_demo_mandate(demo.settings)
    again = await seed_demo_mandate(demo.settings)  # `gongyu demo` run again on the same directory
    assert first is not None and again == first
    assert (first.principal, first.agent) == ("resident1", "resident2")
    assert first.document_types == ("resident_registration_abstract",)

    state = build_state(demo.settings)
    try:
        async with open_browsers(state, demo, 2) as (api, desk):
            agent = account_bearer(state, "resident2")
            listed = (await api.get("/v1/me/mandates", headers=agent)).json()["mandates"]
            assert [m["mandate_id"] for m in listed if m["state"] == "active"] == [first.mandate_id]
            filed = await api.post(
                "/v1/me/applications",
                headers=agent,
                json={"form_type": PROXY_TOUR_FORM, "mandate_id": first.mandate_id, "answers": ANSWERS},
            )
            assert filed.status_code == 201, filed.text
            case = filed.json()
            principal_name = demo.residents[0]["name_ko"]
            assert case["proxy"] == {"mandate_id": first.mandate_id, "principal_name": principal_name}
            sealed = await api.post(
                "/v1/application-files",
                params={"application_id": case["application_id"], "kind": "seal"},
                content=_seal_png(),
                headers={**agent, "Content-Type": "image/png"},
            )
            assert sealed.status_code == 201, sealed.text
            # resident3 holds no mandate from resident1: filing for them is refused.
            other = await api.post(
                "/v1/me/applications",
                headers=account_bearer(state, "resident3"),
                json={"form_type": PROXY_TOUR_FORM, "mandate_id": first.mandate_id, "answers": ANSWERS},
            )
            assert other.status_code == 403

            desk_user = "official-food-sanitation"
            assert (await sign_in(desk, desk_user, f"{desk_user}-demo")).status_code == 303
            page = await desk.get(f"/cases/{case['application_id']}?lang=en")
            assert page.status_code == 200
            filed_by = f"Filed by {principal_name}&#39;s agent under mandate {first.mandate_id[:8]}"
            assert filed_by in page.text
            assert '<img class="seal"' in page.text
    finally:
        await state.close()
