"""Template rendering with the page language and a strict Content-Security-Policy (no inline script)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hub import i18n
from hub.web.strings import STRINGS

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))

CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self' http: https:; base-uri 'none'; frame-ancestors 'none'"
)


def language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get("gy_lang")
    return chosen if chosen in i18n.SUPPORTED else i18n.negotiate(request.headers.get("accept-language"))


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    strings = STRINGS[lang]
    html = _env.get_template(template).render(t=strings, lang=lang, **context)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            "Content-Language": lang,
        },
    )
