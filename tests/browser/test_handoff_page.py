"""The counter's hand-off page in Debian Chromium: six languages, axe-clean, pictures of the codes uploaded
with the file chooser, the application shown, a second reading refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub import i18n
from hub.applications import handoff
from hub.keys import load_keyring
from tests.browser.support import CHROMIUM_FLAGS, artifacts, axe_violations, chromium, sign_in
from tests.conftest import Backend
from tests.servers import running_hub

pytestmark = pytest.mark.slow
DESK = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def live_server(sqlite_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("handoff-page") / "server.log"
    with running_hub(log, {"GONGYU_VAR_DIR": str(sqlite_backend.settings.var_dir)}) as base:
        yield base


def _sealed_pictures(backend: Backend, issuer: str, folder: Path) -> list[str]:
    """A hand-off for the seeded official's counter, sealed with the hub's own key, as PNG files."""
    paths = []
    for i, png in enumerate(handoff.render_pngs(_sealed_chunks(backend, issuer, "2026-WEL-000777"))):
        path = folder / f"code{i}.png"
        path.write_bytes(png)
        paths.append(str(path))
    return paths


def _sealed_chunks(backend: Backend, issuer: str, case_number: str) -> list[str]:
    """The ``GYH1:`` code texts of a hand-off for the seeded official's counter, sealed with the hub's key."""
    settings = backend.settings
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    # Sealing needs no audit trail (only decoding records), hence no Trail here.
    service = handoff.HandoffService(
        keys.token_key,
        settings.effective_key_dir,
        None,  # type: ignore[arg-type]
        issuer,
        create_keys=True,
    )
    application = {
        "application_id": str(uuid.uuid4()),
        "case_number": case_number,
        "form_type": "basic_pension",
        "submitted_at": "2026-12-01T04:00:00Z",
        "answers": {"bank_name": "농협은행"},
    }
    sealed = service.seal(application, handoff.counter_id_for("Test Office"))
    return handoff.split(handoff.reassemble(sealed.chunks), 300)  # smaller codes: several of them


# The camera as the page sees it where the browser has one and a BarcodeDetector (Linux Chromium has no
# detector): a canvas stream for getUserMedia, and a detector that "sees" the codes one frame in two, out of
# order and more than once, as a phone held in front of the camera would show them.
CAMERA = """
(() => {
  const codes = window.__codes || [];
  let frame = 0;
  window.BarcodeDetector = class {
    static getSupportedFormats() { return Promise.resolve(['qr_code']); }
    detect() {
      frame += 1;
      if (frame % 2) return Promise.resolve([]);
      const order = codes.slice().reverse().concat(codes);
      return Promise.resolve([{ rawValue: order[(frame / 2 - 1) % order.length] }]);
    }
  };
  const camera = () => {
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 64;
    canvas.getContext('2d').fillRect(0, 0, 64, 64);
    return Promise.resolve(canvas.captureStream(10));
  };
  Object.defineProperty(navigator, 'mediaDevices', { value: { getUserMedia: camera }, configurable: true });
})();
"""


def test_handoff_page_reads_the_codes_with_the_camera_where_the_browser_can(
    live_server: str, sqlite_backend: Backend
) -> None:
    import json

    from playwright.sync_api import sync_playwright

    chunks = _sealed_chunks(sqlite_backend, live_server, "2026-WEL-000778")
    assert len(chunks) > 1, "several codes, read one after another"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            plain = browser.new_context(viewport=DESK).new_page()
            sign_in(plain, live_server, "official", "official-pw", "/counter")
            plain.wait_for_url("**/counter")
            plain.goto(f"{live_server}/counter/handoff?lang=en")
            assert plain.is_hidden("#handoff-scan"), "no detector: the upload form alone, as before"

            desk = browser.new_context(viewport=DESK)
            desk.add_init_script(f"window.__codes = {json.dumps(chunks)};" + CAMERA)
            page = desk.new_page()
            sign_in(page, live_server, "official", "official-pw", "/counter")
            page.wait_for_url("**/counter")
            page.goto(f"{live_server}/counter/handoff?lang=en")
            page.click("#handoff-scan-start")
            verdict = page.wait_for_selector("#verdict")
            assert verdict is not None and verdict.get_attribute("data-status") == "valid", (
                verdict.inner_text()
            )
            assert "2026-WEL-000778" in page.inner_text("#handoff-application")
            problems = [f"camera: axe {v['id']} {v['nodes']}" for v in axe_violations(page)]
        finally:
            browser.close()
    assert not problems, "\n".join(problems)


def test_handoff_page_reads_uploaded_codes_in_six_languages_axe_clean(
    live_server: str, sqlite_backend: Backend, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            desk = browser.new_context(viewport=DESK).new_page()
            sign_in(desk, live_server, "official", "official-pw", "/counter")
            desk.wait_for_url("**/counter")
            for lang in i18n.SUPPORTED:
                desk.goto(f"{live_server}/counter/handoff?lang={lang}")
                heading = desk.inner_text("h1")
                if heading != i18n.gettext(lang, "handoff", "handoff.title"):
                    problems.append(f"{lang}: heading {heading!r}")
                problems += [f"{lang}: axe {v['id']} {v['nodes']}" for v in axe_violations(desk)]

            pictures = _sealed_pictures(sqlite_backend, live_server, tmp_path)  # the server is its own issuer
            desk.goto(f"{live_server}/counter/handoff?lang=en")
            desk.set_input_files("#images", pictures)
            desk.click("#handoff-form button[type=submit]")
            verdict = desk.wait_for_selector("#verdict")
            assert verdict is not None and verdict.get_attribute("data-status") == "valid", (
                verdict.inner_text()
            )
            assert "2026-WEL-000777" in desk.inner_text("#handoff-application")
            assert "농협은행" in desk.inner_text("#handoff-answers")
            problems += [f"accepted: axe {v['id']} {v['nodes']}" for v in axe_violations(desk)]
            desk.screenshot(path=str(artifacts() / "counter-handoff-accepted.png"), full_page=True)

            desk.goto(f"{live_server}/counter/handoff?lang=ko")
            desk.set_input_files("#images", pictures)
            desk.click("#handoff-form button[type=submit]")
            replayed = desk.wait_for_selector("#verdict[data-slug='handoff-replayed']")
            assert replayed is not None and "이미" in replayed.inner_text()
            problems += [f"replayed: axe {v['id']} {v['nodes']}" for v in axe_violations(desk)]

            phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            sign_in(phone, live_server, "resident0", "resident0-pw", "/me")
            phone.wait_for_url("**/me")
            case_id = _file_application(live_server)
            for lang in i18n.SUPPORTED:
                phone.goto(f"{live_server}/me/applications/{case_id}/handoff?lang={lang}")
                problems += [f"phone {lang}: axe {v['id']} {v['nodes']}" for v in axe_violations(phone)]
            phone.fill("#counter_id", handoff.counter_id_for("Test Office"))
            phone.click("#handoff-phone-form button[type=submit]")
            phone.wait_for_selector("#handoff-codes img.qr")
            problems += [f"phone codes: axe {v['id']} {v['nodes']}" for v in axe_violations(phone)]
            phone.screenshot(path=str(artifacts() / "phone-handoff-codes.png"), full_page=True)
        finally:
            browser.close()
    assert not problems, "\n".join(problems)


def _file_application(base: str) -> str:
    """A basic pension application by resident0, filed through the API (no pre-fill)."""
    import httpx

    from tests.applications.support import PERSONAL, TYPED

    login = httpx.post(f"{base}/v1/auth/login", json={"username": "resident0", "password": "resident0-pw"})
    token = login.json()["access_token"]
    filed = httpx.post(
        f"{base}/v1/me/applications",
        json={"form_type": "basic_pension", "answers": {**TYPED["basic_pension"], **PERSONAL}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert filed.status_code == 201, filed.text
    return str(filed.json()["application_id"])
