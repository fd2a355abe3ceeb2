"""``/dev/mail``: the demo's mail sink (``var/mail/``), listed for a developer trying the e-mail notices.

Development mode only (``Settings.dev_mail_enabled``): it shows every mail the hub sent, to anyone who can
reach the page, which is fine for synthetic demo residents and never for real ones, so production answers
404 whatever is configured, and the test environment too unless a test turns it on.
"""

from __future__ import annotations

import asyncio
from html import escape

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse

from hub.deps import StateDep
from hub.notify.mail import stored_mails

router = APIRouter(include_in_schema=False)


@router.get("/dev/mail", response_class=HTMLResponse)
async def dev_mail(state: StateDep) -> HTMLResponse:
    settings = state.settings
    if not settings.dev_mail_enabled:
        raise HTTPException(status_code=404)
    mails = await asyncio.to_thread(stored_mails, settings.mail_dir)
    items = "\n".join(
        f"<article><h2>{escape(m['subject'])}</h2>"
        f"<p>To: {escape(m['to'])} &middot; {escape(m['date'])} &middot; lang {escape(m['language'])}</p>"
        f"<pre>{escape(m['text'])}</pre></article>"
        for m in mails
    )
    empty = "<p>No mail yet.</p>" if not mails else ""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo mail - Gongyu</title></head>'
        f"<body><main><h1>Demo mail ({len(mails)})</h1><p>Stored in {escape(str(settings.mail_dir))}/ "
        f"(a Maildir), newest first.</p>{empty}{items}</main></body></html>"
    )
    return HTMLResponse(body)
