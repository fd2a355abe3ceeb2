"""The public verification page (``/verify``, no sign-in): three ways in, one answer in large plain words.

A visitor pastes the QR code text, types the issuance number (with the check code printed beside it to see
the content: the number alone shows only the status and the kind of document), or gives a picture of the QR
code: ``static/verify_scan.js`` reads it in the browser with ``BarcodeDetector``
(camera or file) where the browser has one, and otherwise posts the file, which the server reads with
zxing-cpp. The answer is rendered by the server through the shared page layout (``render``), so the page works
without script, in all six languages, under the strict Content-Security-Policy.

The routes live here, with the page, rather than beside the ``/v1/verify`` API: the faces (``hub.api``,
``hub.web``) do not import each other, and both call the same ``IssuanceService``. A verification by number
and check code is an audit event written in the request's unit of work (``db: SessionDep``); the number alone
discloses nothing personal and is only counted.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import zxingcpp
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from PIL import Image, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import Message

from document_specs.loader import SpecCatalog
from document_specs.model import FieldSpec
from hub import i18n
from hub.auth.tokens import AccountPrincipal
from hub.deps import SessionDep, StateDep
from hub.errors import Problem
from hub.issuance.schemas import FieldTitle, VerificationOut
from hub.issuance.service import IssuanceService
from hub.ratelimit import GuardDep, Throttled, limit_verify
from hub.web import session
from hub.web.render import SHARED_DOMAINS, language, render
from hub.web.strings import Strings

router = APIRouter(include_in_schema=False)

DOMAINS: Final = ("verify",)
MAX_UPLOAD_MB: Final = 5
MAX_UPLOAD_BYTES: Final = MAX_UPLOAD_MB * 1024 * 1024
# The whole form: the picture plus the multipart framing and the small text fields.
MAX_BODY_BYTES: Final = MAX_UPLOAD_BYTES + 64 * 1024
# An oversized upload is read to its end (and dropped) up to this much, so the browser shows the 413 page
# rather than a reset connection; past it the connection is simply closed.
_DRAIN_LIMIT: Final = 64 * 1024 * 1024
# A small file can still unpack into a huge bitmap (a "decompression bomb"): refuse it before decoding.
MAX_PIXELS: Final = 40_000_000
IMAGE_FORMATS: Final = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
_QR_FORMATS: Final = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
FIELD_LIMITS: Final[Mapping[str, int]] = {"qr_payload": 10_000, "issuance_number": 64, "check": 16}
FILE_FIELD: Final = "qr_image"
STATUSES: Final = ("valid", "revoked", "expired", "unknown", "invalid")
# Reason codes with a plain-words explanation (``verify.why.<code>``); any other shows ``verify.why.other``.
REASONS: Final = frozenset(
    {
        "signature_valid",
        "on_record",
        "status_only",
        "revoked_status_only",
        "revoked",
        "retention_elapsed",
        "not_on_record",
        "record_mismatch",
        "bad_claims",
        "wrong_prefix",
        "too_large",
        "bad_base45",
        "bad_zlib",
        "bad_cose",
        "missing_kid",
        "unsupported_algorithm",
        "unknown_key",
        "bad_signature",
        "not_yet_valid",
        "key_not_valid_at_issue",
    }
)


class PageError(Exception):
    """A refusal shown on the page: an HTTP status and the catalog key of its message."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


@dataclass
class Submission:
    """What the visitor sent: the text fields (echoed back into the forms) and the picture, if any."""

    fields: dict[str, str] = field(default_factory=dict)
    image: bytes | None = None


# --- reading the form -------------------------------------------------------------------------------------


async def _drain(request: Request, already: int) -> None:
    seen = already
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > _DRAIN_LIMIT:
            return


async def read_submission(request: Request) -> Submission:
    """The posted form (urlencoded or multipart), its body capped before anything is parsed."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        await _drain(request, 0)
        raise PageError(413, "verify.upload_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            await _drain(request, len(body))
            raise PageError(413, "verify.upload_too_large")
    data = bytes(body)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": data, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=16, max_part_size=64 * 1024)
    except HTTPException:  # malformed multipart, or more parts than allowed
        raise PageError(400, "verify.bad_form") from None
    try:
        submission = Submission()
        for name, limit in FIELD_LIMITS.items():
            value = form.get(name)
            text = value if isinstance(value, str) else ""
            # NUL has no use here and PostgreSQL text cannot hold it (the app-wide check skips this page).
            if "\x00" in text:
                raise PageError(422, "verify.bad_form")
            if len(text) > limit:
                raise PageError(422, "verify.bad_number" if name != "qr_payload" else "verify.bad_form")
            submission.fields[name] = text
        upload = form.get(FILE_FIELD)
        if isinstance(upload, UploadFile):
            content = await upload.read(MAX_UPLOAD_BYTES + 1)
            if len(content) > MAX_UPLOAD_BYTES:
                raise PageError(413, "verify.upload_too_large")
            submission.image = content or None
        return submission
    finally:
        await form.close()


# --- reading a picture of the QR code ---------------------------------------------------------------------


def decode_qr_image(data: bytes) -> str:
    """The text of the QR code in a picture (a ``GY1:`` one first); ``PageError`` when there is none.

    Runs in a worker thread: Pillow and zxing-cpp are CPU-bound.
    """
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            if image.width * image.height > MAX_PIXELS:
                raise PageError(413, "verify.upload_too_many_pixels")
            image.load()
            if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
                # Transparent parts read as white (a QR drawn on nothing is dark on light).
                shaded = image.convert("LA")
                gray = Image.new("L", image.size, 255)
                gray.paste(shaded.getchannel("L"), mask=shaded.getchannel("A"))
            else:
                gray = image.convert("L")
    except PageError:
        raise
    except Image.DecompressionBombError:
        raise PageError(413, "verify.upload_too_many_pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise PageError(415, "verify.upload_not_image") from None
    found = [b.text for b in zxingcpp.read_barcodes(gray, formats=_QR_FORMATS) if b.text]
    if not found:
        raise PageError(422, "verify.upload_no_qr")
    return next((text for text in found if text.strip().startswith("GY1:")), found[0])


# --- the answer -------------------------------------------------------------------------------------------


def _pick(titles: Mapping[str, str] | None, lang: str, fallback: str | None) -> str | None:
    if not titles:
        return fallback
    return titles.get(lang) or titles.get("en") or fallback


def _field_title(spec_field: FieldSpec | None, title: FieldTitle | None, name: str, lang: str) -> str:
    if spec_field is not None and spec_field.titles.get(lang):
        return spec_field.titles[lang]
    if title is not None:
        return str(getattr(title, lang, None) or title.en)
    return name


def _item_title(spec_field: FieldSpec | None, title: FieldTitle | None, key: str, lang: str) -> str:
    sub = next((i for i in spec_field.items if i.name == key), None) if spec_field is not None else None
    if sub is not None and sub.titles.get(lang):
        return sub.titles[lang]
    known = ((title.items or {}) if title is not None else {}).get(key, {})
    return known.get(lang) or known.get("en") or key


def _value(value: Any, t: Strings, number: Callable[[float | int], str]) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return t["verify.yes"] if value else t["verify.no"]
    if isinstance(value, int | float):
        return number(value)
    return str(value)


def details(
    result: VerificationOut, method: str, lang: str, t: Strings, when: Callable[[str], str]
) -> list[tuple[str, str]]:
    """The rows under the status block: what the record says about the document, in the page language."""
    rows: list[tuple[str, str | None]] = [
        ("verify.document", _pick(result.document_title, lang, result.document_type)),
        ("verify.view", _pick(result.view_title, lang, result.view)),
        ("verify.holder", _pick(result.holder_title, lang, result.holder)),
        ("verify.number", result.issuance_number),
        ("verify.issued_at", when(result.issued_at) if result.issued_at else None),
        ("verify.retain_until", when(result.retain_until) if result.retain_until else None),
        ("verify.revoked_at", when(result.revoked_at) if result.revoked_at else None),
        ("verify.revocation_reason", result.revocation_reason),
        ("verify.pdf_sha256", result.pdf_sha256),
        ("verify.method_label", t[f"verify.method.{method}"]),
        ("verify.reason", result.reason),
    ]
    return [(t[key], value) for key, value in rows if value]


def content(
    result: VerificationOut, catalog: SpecCatalog, lang: str, t: Strings, number: Callable[[float | int], str]
) -> list[dict[str, Any]]:
    """The document's fields (a valid document within its retention window), labelled in the page language."""
    if result.content is None:
        return []
    spec = catalog.get(result.document_type or "")
    items: list[dict[str, Any]] = []
    for name, value in result.content.fields.items():
        spec_field = spec.field(name) if spec is not None else None
        title = result.content.titles.get(name)
        label = _field_title(spec_field, title, name, lang)
        if isinstance(value, list):
            entries = [entry for entry in value if isinstance(entry, dict)]
            headers = list(entries[0].keys()) if entries else []
            items.append(
                {
                    "label": label,
                    "table": {
                        "headers": [_item_title(spec_field, title, h, lang) for h in headers],
                        "rows": [[_value(entry.get(h), t, number) for h in headers] for entry in entries],
                    },
                }
            )
        else:
            items.append({"label": label, "value": _value(value, t, number)})
    return items


def page(
    request: Request,
    catalog: SpecCatalog,
    *,
    result: VerificationOut | None = None,
    method: str = "qr",
    error_key: str | None = None,
    fields: Mapping[str, str] | None = None,
    status_code: int = 200,
    account: AccountPrincipal | None = None,
) -> HTMLResponse:
    """The page: the three forms, and the answer (or a refusal) when something was submitted."""
    lang = language(request)
    t = Strings(lang, (*SHARED_DOMAINS, *DOMAINS))

    def when(moment: str) -> str:
        return i18n.format_moment(moment, lang)

    def number(value: float | int) -> str:
        return i18n.format_number(value, lang)

    reason_key = None
    if result is not None:
        reason_key = f"verify.why.{result.reason}" if result.reason in REASONS else "verify.why.other"
    return render(
        request,
        "verify.html",
        status_code=status_code,
        domains=DOMAINS,
        account=account,
        result=result,
        reason_key=reason_key,
        rows=details(result, method, lang, t, when) if result is not None else [],
        content=content(result, catalog, lang, t, number) if result is not None else [],
        error=t[error_key].format(max_mb=number(MAX_UPLOAD_MB)) if error_key else None,
        form=dict(fields or {}),
        max_upload_bytes=MAX_UPLOAD_BYTES,
        max_upload_mb=number(MAX_UPLOAD_MB),
    )


async def submit(
    request: Request,
    service: IssuanceService,
    db: AsyncSession,
    account: AccountPrincipal | None = None,
) -> HTMLResponse:
    """POST /verify: exactly one of the QR code text, the issuance number (+ check code) or a picture."""
    fields: dict[str, str] = {}
    try:
        submission = await read_submission(request)
        fields = submission.fields
        qr_text = fields.get("qr_payload", "").strip()
        typed = fields.get("issuance_number", "").strip()
        given = sum((bool(qr_text), bool(typed), submission.image is not None))
        if given == 0:
            raise PageError(422, "verify.error")
        if given > 1:
            raise PageError(422, "verify.error_many")
        if submission.image is not None:
            method = "image"
            qr_text = await asyncio.to_thread(decode_qr_image, submission.image)
            fields["qr_payload"] = qr_text
            result = await service.verify_payload(qr_text)
        elif qr_text:
            method = "qr"
            result = await service.verify_payload(qr_text)
        else:
            method = "number"
            check = fields.get("check", "").strip() or None
            try:
                result = await service.verify_number(db, typed, check, None, request.state.request_id)
            except Problem as exc:
                if exc.status != 422:
                    raise
                raise PageError(422, "verify.bad_number") from None
    except PageError as exc:
        return page(
            request,
            service.catalog,
            error_key=exc.key,
            fields=fields,
            status_code=exc.status,
            account=account,
        )
    return page(request, service.catalog, result=result, method=method, fields=fields, account=account)


# --- routes -----------------------------------------------------------------------------------------------


@router.get("/verify", response_class=HTMLResponse)
async def verify_page(request: Request, state: StateDep) -> HTMLResponse:
    """The public verification page (``?lang=`` picks the language): scan, upload, paste or type."""
    return page(request, state.issuance.catalog, account=session.current(request, state))


@router.post("/verify", response_class=HTMLResponse)
async def verify_page_submit(
    request: Request, state: StateDep, db: SessionDep, guard: GuardDep
) -> HTMLResponse:
    """The page's forms: urlencoded (QR text, issuance number) or multipart (a picture of the QR code).

    Rate-limited per address like ``POST /v1/verify`` (the page is the same door, with a friendlier face).
    """
    account = session.current(request, state)
    try:
        await limit_verify(request, guard)
    except Throttled as refused:
        lang = language(request)
        page = render(
            request,
            "message.html",
            status_code=429,
            heading=i18n.message(lang, f"{refused.slug}.title"),
            message=i18n.message(lang, f"{refused.slug}.detail", **refused.params),
            account=account,
            receipt=None,
            back="/verify",
        )
        page.headers.update(refused.headers or {})
        return page
    return await submit(request, state.issuance, db, account)
