"""What the browser tests share: Debian Chromium, the screenshot folder, axe-core, a sign-in helper."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Impacts that fail a page; axe's "minor"/"moderate" findings are reported but do not fail.
BLOCKING_IMPACTS = {"serious", "critical"}


def chromium() -> str:
    executable = shutil.which("chromium")
    assert executable, "install Debian's chromium package (make test does it as root)"
    return executable


def artifacts(kind: str = "screenshots") -> Path:
    """``test-artifacts/<kind>`` in the checkout (or under GONGYU_TEST_ARTIFACTS), kept after the run."""
    folder = Path(os.environ.get("GONGYU_TEST_ARTIFACTS", str(ROOT / "test-artifacts"))) / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(page: Any, base: str, username: str, password: str, target: str = "/") -> None:
    page.goto(f"{base}/login?next={target}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.1 A/AA rules) in the page; the serious and critical violations.

    The script is evaluated through the DevTools protocol, so the page's strict CSP (no inline script) stays.
    """
    assert AXE.exists(), "run `make test` (npm ci installs axe-core from the npm registry)"
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
            const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in result if v["impact"] in BLOCKING_IMPACTS]
