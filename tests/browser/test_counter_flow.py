"""The counter flow in real Debian Chromium: the desk shows a QR code, a second browser plays the phone.

The phone reads the link out of the QR image itself (zxing-cpp), signs in, approves; the desk page, which
polls, then shows the minimized document. Chromium comes from Debian (`chromium`), never downloaded.
"""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.support import CHROMIUM_FLAGS, artifacts
from tests.conftest import Backend
from tests.servers import running_hub

pytestmark = pytest.mark.slow


@pytest.fixture
def live_server(sqlite_backend: Backend, tmp_path: Path) -> Iterator[str]:
    with running_hub(
        tmp_path / "server.log", {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir)}
    ) as base:
        yield base


def _decode_qr(data_uri: str) -> str:
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1])))
    results = zxingcpp.read_barcodes(image)
    assert results, "the counter page shows a readable QR code"
    return str(results[0].text)


def test_counter_flow_in_chromium(live_server: str, sqlite_backend: Backend) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = shutil.which("chromium")
    assert executable, "install Debian's chromium package (make test does it as root)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            desk = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 800}).new_page()
            desk.goto(f"{live_server}/counter")
            desk.fill("#username", "official")
            desk.fill("#password", "official-pw")
            desk.click("button[type=submit]")
            desk.check("input[value='resident_registration_copy:basic']")
            desk.fill("#purpose_text", "전입신고 확인")
            desk.click("button.primary")
            qr = desk.locator("img.qr")
            expect(qr).to_be_visible()
            link = _decode_qr(str(qr.get_attribute("src")))
            assert link.startswith(f"{live_server}/consent/")

            phone = browser.new_context(locale="ko-KR", viewport={"width": 390, "height": 844}).new_page()
            phone.goto(link)
            phone.fill("#username", "resident1")
            phone.fill("#password", "resident1-pw")
            phone.click("button[type=submit]")
            name = sqlite_backend.residents[1]["name_ko"]
            expect(phone.locator("main")).to_contain_text(name)  # the preview of the actual values
            expect(phone.locator("main")).to_contain_text("전입신고 확인")
            phone.click("button[name=decision][value=approve]")
            expect(phone.locator("[role=status]")).to_be_visible()

            # The desk polls and reloads by itself, then shows the released household members.
            expect(desk.locator("main")).to_contain_text(name, timeout=15_000)
            expect(desk.locator("#status")).to_have_attribute("data-status", "approved")
            desk.screenshot(path=str(artifacts() / "counter-session-approved.png"))
        finally:
            browser.close()
