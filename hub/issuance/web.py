"""The public verification page: a plain form and a server-rendered answer (no script at all).

Strings are Korean and English for now; the web issue moves them into the shared Babel catalogs and restyles
the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, select_autoescape

from hub.issuance.schemas import VerificationOut

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))

CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

STRINGS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "title": "Verify an e-document",
        "intro": "Paste the text of the QR code (it starts with GY1:), or type the issuance number printed "
        "on the document.",
        "qr_label": "QR code text",
        "number_label": "Issuance number",
        "check_label": "Check code (optional)",
        "submit": "Verify",
        "or": "or",
        "result": "Result",
        "status.valid": "Valid: this document was issued by Gongyu and has not been revoked.",
        "status.revoked": "Revoked: this document was withdrawn by the issuing side.",
        "status.expired": "Expired: the verification window has passed; only the metadata is shown.",
        "status.unknown": "Unknown: there is no document with this number.",
        "status.invalid": "Invalid: this QR code is not a genuine Gongyu document.",
        "reason": "Reason",
        "document": "Document",
        "view": "View",
        "holder": "Holder",
        "number": "Issuance number",
        "issued_at": "Issued at (UTC)",
        "retain_until": "Content shown until (UTC)",
        "revoked_at": "Revoked at (UTC)",
        "revocation_reason": "Revocation reason",
        "pdf_sha256": "SHA-256 of the PDF",
        "content": "Content of the document",
        "error": "Enter either the QR code text or an issuance number.",
        "bad_number": "That is not a valid issuance number (16 digits; the last one is a check digit). "
        "Please check each digit.",
        "other_language": "한국어",
    },
    "ko": {
        "title": "전자문서 진위 확인",
        "intro": "QR 코드의 내용(GY1:로 시작)을 붙여 넣거나 문서에 인쇄된 발급번호를 입력하십시오.",
        "qr_label": "QR 코드 내용",
        "number_label": "발급번호",
        "check_label": "확인코드 (선택)",
        "submit": "확인",
        "or": "또는",
        "result": "확인 결과",
        "status.valid": "유효: 공유(Gongyu)에서 발급되었으며 취소되지 않은 문서입니다.",
        "status.revoked": "취소됨: 발급 측에서 취소한 문서입니다.",
        "status.expired": "기간 만료: 확인 기간이 지나 메타데이터만 표시합니다.",
        "status.unknown": "확인 불가: 이 번호로 발급된 문서가 없습니다.",
        "status.invalid": "무효: 이 QR 코드는 진본 공유 문서가 아닙니다.",
        "reason": "사유",
        "document": "문서",
        "view": "열람 범위",
        "holder": "보유기관",
        "number": "발급번호",
        "issued_at": "발급일시 (UTC)",
        "retain_until": "내용 표시 기한 (UTC)",
        "revoked_at": "취소일시 (UTC)",
        "revocation_reason": "취소 사유",
        "pdf_sha256": "PDF의 SHA-256",
        "content": "문서 내용",
        "error": "QR 코드 내용 또는 발급번호 중 하나를 입력하십시오.",
        "bad_number": "올바른 발급번호가 아닙니다(16자리, 마지막 자리는 검사 숫자). 각 자리를 확인하십시오.",
        "other_language": "English",
    },
}


def _display(value: Any) -> str:
    if value is None or value == "":
        return "—"
    return str(value)


def render_page(
    lang: str,
    result: VerificationOut | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> str:
    template = _env.get_template("verify.html")
    strings = STRINGS.get(lang, STRINGS["ko"])
    rows: list[tuple[str, str]] = []
    content: list[dict[str, Any]] = []
    if result is not None:

        def pick(titles: dict[str, str]) -> str:
            return titles.get(lang) or titles.get("en", "")

        for key, value in (
            ("document", pick(result.document_title) if result.document_title else result.document_type),
            ("view", pick(result.view_title) if result.view_title else result.view),
            ("holder", pick(result.holder_title) if result.holder_title else result.holder),
            ("number", result.issuance_number),
            ("issued_at", result.issued_at),
            ("retain_until", result.retain_until),
            ("revoked_at", result.revoked_at),
            ("revocation_reason", result.revocation_reason),
            ("pdf_sha256", result.pdf_sha256),
        ):
            if value:
                rows.append((strings[key], str(value)))
        if result.content is not None:
            for name, value in result.content.fields.items():
                title = result.content.titles.get(name)
                label = (title.ko if lang == "ko" else title.en) if title else name
                if isinstance(value, list):
                    items = (title.items or {}) if title else {}
                    headers = list(value[0].keys()) if value else []
                    content.append(
                        {
                            "label": label,
                            "table": {
                                "headers": [items.get(h, {}).get(lang, h) for h in headers],
                                "rows": [[_display(entry.get(h)) for h in headers] for entry in value],
                            },
                        }
                    )
                else:
                    content.append({"label": label, "value": _display(value)})
    return template.render(
        lang=lang,
        other="en" if lang == "ko" else "ko",
        s=strings,
        result=result,
        rows=rows,
        content=content,
        error=error,
        form=form or {},
    )
