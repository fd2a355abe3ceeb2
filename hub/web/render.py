"""Template rendering with the page language and a strict Content-Security-Policy (no inline script).

The language is the user's choice (``?lang=`` sets the ``gy_lang`` cookie, the chooser in every page header),
then ``Accept-Language``, then Korean.

Forms may only be sent to the hub itself (``form-action 'self'``), so an injected form cannot post a
resident's input elsewhere. The one exception is the consent decision (``consent.html``): it is answered with
a 303 to the bank's registered redirect URI, and browsers check a form's redirects against ``form-action``
too, so that page also allows https origins (and http outside production, where the demo bank listens on
127.0.0.1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, Undefined, UndefinedError, select_autoescape

from hub import i18n
from hub.web.strings import Strings

TEMPLATES = Path(__file__).resolve().parent / "templates"


class _MissingTextFails(Undefined):
    """Optional context values may be absent; a page string no catalog has fails the render (and its test)."""

    def __str__(self) -> str:
        if isinstance(self._undefined_obj, Strings):
            raise UndefinedError(f"no catalog has the page string {self._undefined_name!r}")
        return super().__str__()


_env = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), undefined=_MissingTextFails
)


def content_security_policy(form_action: str = "'self'") -> str:
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob:; connect-src 'self'; form-action {form_action}; base-uri 'none'; "
        "frame-ancestors 'none'"
    )


CSP: Final = content_security_policy()
# Pages whose form is answered with a redirect to a client's registered redirect URI (see the module doc).
REDIRECTING_FORMS: Final = frozenset({"consent.html"})
LANG_COOKIE: Final = "gy_lang"
# Catalog domains every page reads; a page adds its own (``render(..., domains=("auditor",))``).
SHARED_DOMAINS: Final = ("pages", "common")


def language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return chosen if chosen in i18n.SUPPORTED else i18n.negotiate(request.headers.get("accept-language"))


def page_csp(request: Request, template: str) -> str:
    """The policy of one page: ``form-action 'self'`` unless its form redirects to a client (module doc)."""
    if template not in REDIRECTING_FORMS:
        return CSP
    running = getattr(request.app.state, "hub", None)
    production = running is not None and running.settings.is_production
    return content_security_policy("'self' https:" if production else "'self' http: https:")


def _switch_url(request: Request, lang: str) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", lang)]
    return request.url.path + "?" + urlencode(query)


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    domains: tuple[str, ...] = (),
    **context: Any,
) -> HTMLResponse:
    lang = language(request)
    context.setdefault("account", None)
    languages = [(code, i18n.NATIVE_NAMES[code], _switch_url(request, code)) for code in i18n.SUPPORTED]
    html = _env.get_template(template).render(
        t=Strings(lang, (*SHARED_DOMAINS, *domains)),
        lang=lang,
        languages=languages,
        when=lambda moment, format="medium": i18n.format_moment(moment, lang, format),
        number=lambda value: i18n.format_number(value, lang),
        **context,
    )
    response = HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Content-Security-Policy": page_csp(request, template),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            "Content-Language": lang,
            "Vary": "Accept-Language, Cookie",
        },
    )
    chosen = request.query_params.get("lang")
    if chosen in i18n.SUPPORTED and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax", path="/")
    return response
