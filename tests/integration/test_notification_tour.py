"""The issue's "Done when" (issue 12), for real: ``gongyu demo`` on a fresh directory serves; resident1 signs
in, a bank looks up resident1's abstract, and within 2 seconds resident1's inbox holds a notice of that lookup
whose code ``POST /v1/notices/verify`` confirms; an e-mail for it is in ``var/mail/`` (the demo's Maildir
sink) with a code and a link that verify too; ``/`` answers a page. The README's tour makes the same calls.
"""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import free_port

pytestmark = pytest.mark.slow
RESIDENT1 = re.compile(r"resident1 / resident1-demo\s+\S+\s+(\d{6}-\d{7})")


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 240  # first run: migrations, sandbox seeding, the font conversion
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gongyu demo exited:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"gongyu demo did not become ready:\n{log.read_text(errors='replace')}")


def test_the_done_when_tour_on_a_fresh_demo(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    var = tmp_path / "var"
    log = tmp_path / "demo.log"
    env = {
        **os.environ,
        "GONGYU_VAR_DIR": str(var),
        "GONGYU_SANDBOX_RESIDENT_COUNT": "300",
    }
    env.pop("GONGYU_SMTP_URL", None)  # the demo's own mail sink
    env.pop("GONGYU_PUBLIC_URL", None)  # the demo's links follow --port: the mail's link below proves it
    with log.open("wb") as output:
        demo = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "demo", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=output,
        )
        try:
            _wait_ready(base, demo, log)
            found = RESIDENT1.search(log.read_text(errors="replace"))
            assert found, log.read_text(errors="replace")
            _tour(base, found.group(1), var)
        finally:
            demo.terminate()
            demo.wait(timeout=20)


def _tour(base: str, resident_number: str, var: Path) -> None:
    login = httpx.post(f"{base}/v1/auth/login", json={"username": "resident1", "password": "resident1-demo"})
    resident = {"Authorization": f"Bearer {login.json()['access_token']}", "Accept-Language": "en"}
    token = httpx.post(
        f"{base}/v1/auth/token",
        auth=("demo-bank", "demo-bank-secret"),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    lookup = httpx.post(
        f"{base}/v1/lookups",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "document_type": "resident_registration_abstract",
            "view": "basic",
            "subject": {"resident_number": resident_number},
            "purpose": {"code": "loan-screening", "text": "mortgage application"},
            "basis": {"statute": "KR-FTRA-5-2"},
        },
        timeout=30,
    )
    assert lookup.status_code == 200, lookup.text
    answered = time.monotonic()

    notice = None
    while notice is None and time.monotonic() - answered < 2.0:
        items = httpx.get(f"{base}/v1/me/notifications", headers=resident).json()["items"]
        notice = next((n for n in items if n["kind"] == "lookup"), None)
        if notice is None:
            time.sleep(0.05)
    assert notice is not None, "no notice of the lookup in resident1's inbox within 2 seconds"
    assert "Demo Bank" in notice["text"] and "abstract" in notice["text"]

    verified = httpx.post(f"{base}/v1/notices/verify", json={"code": notice["code"]}).json()
    assert verified["genuine"] is True and verified["channel"] == "inbox" and verified["kind"] == "lookup"

    # The demo mails others too (resident2 hears of the mandate resident1 granted): resident1's lookup mail.
    mail, by_mail = _lookup_mail(base, var / "mail" / "new", "resident1@demo.gongyu.test")
    code = str(mail["X-Gongyu-Notice-Code"])
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and f"{base}/notices/verify?code={code}" in body.get_content()
    assert by_mail["genuine"] is True and by_mail["channel"] == "email"
    link = httpx.get(f"{base}/notices/verify", params={"code": code, "lang": "en"})
    assert link.status_code == 200 and 'data-verdict="genuine"' in link.text

    front = httpx.get(f"{base}/")
    assert front.status_code == 200 and front.headers["content-type"].startswith("text/html")


def _lookup_mail(base: str, maildir: Path, to: str) -> tuple[EmailMessage, dict[str, Any]]:
    """The lookup's e-mail to ``to`` in the demo's Maildir (delivered beside the inbox notice), with what
    the public check says of its code (which is how a mail's kind is known: the code, not the text)."""
    checked: set[str] = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for path in sorted(maildir.glob("*")) if maildir.exists() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            code = message["X-Gongyu-Notice-Code"]
            if not code or message["To"] != to or str(code) in checked:
                continue
            checked.add(str(code))
            verdict = httpx.post(f"{base}/v1/notices/verify", json={"code": str(code)}).json()
            if verdict.get("kind") == "lookup":
                return message, verdict
        time.sleep(0.1)
    raise AssertionError(f"no lookup mail to {to} under {maildir}")
