"""A civil application at the counter in real Debian Chromium: a desk context and a phone context.

The official opens a form session (QR) → the phone reads the link out of the QR image (zxing-cpp), signs in,
consents to the pre-fill and sees the form pre-filled, completes and submits → the desk, which polls, shows
the application → the official asks for a supplement → the resident supplements → the official completes →
the resident answers the survey → the same phone files another resident's food business report as their
agent (mandate chosen, seal picture uploaded) and sees the seal on the case. Every page on the way is
checked with axe-core. The time from the QR scan to the desk showing the application is measured and
written to test-artifacts/measurements.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.state import build_state
from tests.applications.support import official_in, proxy_mandate
from tests.browser.support import CHROMIUM_FLAGS, artifacts, axe_violations
from tests.conftest import Backend
from tests.servers import running_hub

pytestmark = pytest.mark.slow
PROXY_FORM = "food_business_report"


@pytest.fixture
def live_server(sqlite_backend: Backend, tmp_path: Path) -> Iterator[str]:
    async def place() -> None:
        state = build_state(sqlite_backend.settings)
        try:
            await official_in(state, "browser-official", "resident_registration")
            # resident1 (the phone) may also file resident2's food business report, with a seal.
            await proxy_mandate(state, "resident1", "resident2", PROXY_FORM)
        finally:
            await state.close()

    asyncio.run(place())
    with running_hub(
        tmp_path / "server.log", {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir)}
    ) as base:
        yield base


def _decode_qr(data_uri: str) -> str:
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1])))
    results = zxingcpp.read_barcodes(image)
    assert results, "the desk shows a readable QR code"
    return str(results[0].text)


def _seal_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (120, 120), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def _clean(page, where: str) -> None:  # type: ignore[no-untyped-def]
    violations = axe_violations(page)
    assert violations == [], f"{where}: {violations}"


def test_counter_application_flow_in_chromium(live_server: str, sqlite_backend: Backend) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = shutil.which("chromium")
    assert executable, "install Debian's chromium package (make test does it as root)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            desk = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 800}).new_page()
            desk.goto(f"{live_server}/cases")
            desk.fill("#username", "browser-official")
            desk.fill("#password", "browser-official-pw")
            desk.click("button[type=submit]")
            expect(desk.locator("h1")).to_be_visible()
            _clean(desk, "case queue")
            desk.select_option("#session-form", "moving_in_report")
            desk.click("form[action='/counter/forms'] button[type=submit]")
            qr = desk.locator("img.qr")
            expect(qr).to_be_visible()
            _clean(desk, "form session")
            link = _decode_qr(str(qr.get_attribute("src")))
            assert link.startswith(f"{live_server}/apply/")

            phone = browser.new_context(locale="ko-KR", viewport={"width": 390, "height": 844}).new_page()
            scanned = time.monotonic()
            phone.goto(link)
            phone.fill("#username", "resident1")
            phone.fill("#password", "resident1-pw")
            phone.click("button[type=submit]")
            expect(phone.locator("input[name=documents]")).to_be_checked()
            _clean(phone, "pre-fill consent")
            phone.click("form[action$='/prefill'] button[type=submit]")
            name = sqlite_backend.residents[1]["name_ko"]
            expect(phone.locator("#f-applicant_name")).to_have_value(name)
            _clean(phone, "pre-filled form")
            phone.fill("#f-new_address", "서울특별시 서초구 남부순환로 2584")
            phone.fill("#f-new_postal_code", "06750")
            phone.fill("#f-moved_in_on", "2026-11-20")
            phone.select_option("#f-household_status", "new_head")
            phone.fill("#f-movers_count", "1")
            phone.fill("#f-phone", "010-2222-3333")
            submitted = time.monotonic()
            phone.click("button[name=action][value=submit]")
            # The desk polls (every 1.5 s) and reloads by itself once the application exists.
            expect(desk.locator("#submitted")).to_be_visible(timeout=15_000)
            seen = time.monotonic() - scanned
            after_submit = time.monotonic() - submitted
            expect(phone.locator("#case-status")).to_have_attribute("data-status", "received")
            _clean(phone, "my application")
            expect(desk.locator("#submitted")).to_contain_text("남부순환로 2584")
            desk.screenshot(path=str(artifacts() / "counter-application-received.png"))
            (artifacts("measurements") / "application_scan_to_desk.json").write_text(
                json.dumps(
                    {
                        "qr_scan_to_desk_seconds": round(seen, 2),
                        "submit_to_desk_seconds": round(after_submit, 2),
                    }
                )
            )

            def move(to: str, note: str | None = None) -> None:
                form = desk.locator(f"form[data-move={to}]")
                if to == "completed":
                    form.locator("input[value=approved]").check()
                if note:
                    form.locator("textarea[name=note]").fill(note)
                form.locator("button[type=submit]").click()

            desk.click("#submitted a")
            _clean(desk, "case page")
            move("assigned")
            move("in_review")
            move("supplementation_requested", "임대차계약서의 전입일을 확인해 주세요")
            expect(desk.locator("#case-status")).to_have_attribute("data-status", "supplementation_requested")

            phone.reload()
            expect(phone.locator("main")).to_contain_text("임대차계약서의 전입일을 확인해 주세요")
            _clean(phone, "supplement form")
            phone.fill("#f-moved_in_on", "2026-11-21")
            phone.fill("#supplement-note", "전입일 정정")
            phone.click("form[action$='/move'] button:has-text('보완 제출')")
            expect(phone.locator("#case-status")).to_have_attribute("data-status", "supplemented")

            desk.reload()
            move("in_review")
            move("completed")
            expect(desk.locator("#case-status")).to_have_attribute("data-status", "completed")

            phone.reload()
            expect(phone.locator("#survey-heading")).to_be_visible()
            _clean(phone, "survey")
            phone.check("input[name=rating][value='5']")
            phone.fill("#survey-comment", "빨라요")
            phone.click("form[action$='/rating'] button[type=submit]")
            expect(phone.locator("[data-rated='5']")).to_be_visible()
            expect(phone.locator("#survey-heading")).to_have_count(0)
            phone.screenshot(path=str(artifacts() / "application-rated.png"), full_page=True)

            # The same phone files resident2's food business report as their agent, with their seal.
            phone.goto(f"{live_server}/me/applications/new/{PROXY_FORM}?step=form")
            phone.click("#proxy-link")
            principal = sqlite_backend.residents[2]["name_ko"]
            # resident1 may hold other mandates (the session's database is shared): choose resident2's.
            choice = phone.get_by_role("radio", name=re.compile(principal)).first
            choice.check()
            expect(choice).to_be_checked()
            _clean(phone, "proxy form")
            for field, value in (
                ("applicant_name", principal),
                ("birth_date", "1994-12-31"),
                ("home_address", "서울특별시 서초구 남부순환로 2584"),
                ("trade_name", "유나식당"),
                ("business_address", "서울특별시 서초구 서초대로 1"),
                ("floor_area_m2", "45"),
                ("hygiene_training_on", "2026-11-02"),
                ("phone", "010-1234-5678"),
            ):
                phone.fill(f"#f-{field}", value)
            phone.select_option("#f-water_supply", "tap")
            phone.set_input_files(
                "#seal", files=[{"name": "도장.png", "mimeType": "image/png", "buffer": _seal_png()}]
            )
            phone.click("#proxy-form button[type=submit]")
            expect(phone.locator("#case-proxy")).to_contain_text(principal)
            expect(phone.locator("img.seal")).to_be_visible()
            # Visible is not loaded: wait for the picture itself (its width is 0 until it has arrived).
            phone.wait_for_function("document.querySelector('img.seal').complete", timeout=10_000)
            assert phone.locator("img.seal").evaluate("img => img.naturalWidth") == 120
            _clean(phone, "proxy case")
            phone.screenshot(path=str(artifacts() / "application-proxy-sealed.png"), full_page=True)

            # Every new page, in each of the six languages, is axe-clean.
            case_path = phone.url.removeprefix(live_server)
            desk_case = desk.url.removeprefix(live_server)
            for lang in ("ko", "en", "ja", "zh", "th", "vi"):
                for page, path in (
                    (phone, "/me/applications"),
                    (phone, "/me/applications/new/basic_pension?step=consent"),
                    (phone, "/me/applications/new/childbirth_support?step=form"),
                    (phone, f"/me/applications/new/{PROXY_FORM}/proxy"),
                    (phone, case_path),
                    (desk, "/cases"),
                    (desk, desk_case),
                ):
                    page.goto(f"{live_server}{path}{'&' if '?' in path else '?'}lang={lang}")
                    expect(page.locator("html")).to_have_attribute("lang", lang)
                    _clean(page, f"{path} in {lang}")
        finally:
            browser.close()
