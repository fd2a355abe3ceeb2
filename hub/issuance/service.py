"""Issuing, serving, verifying and revoking e-documents.

Issuance goes through the broker's audited lookup, so the fields on a document were released exactly as a
lookup would release them and the lookup is in the log; the issuance is then its own audit event. The order
is fail-closed like the lookup's: reserve the number (a pending row, its own short transaction), render and
sign, then write the issuance event and mark the row valid *in the caller's unit of work*, which commits
both or neither before the answer is sent. A failure at any step leaves a pending/failed row that verifies
as ``unknown`` and was never handed out.

Every method that changes state or writes an audit event takes the request's ``AsyncSession`` and never
commits it (``hub.uow``); the only commits here are the ones that must outlive a rolled-back request: the
number reservation, the ``failed`` mark, and a refusal's audit event (a refusal is on the record even though
the request ends in an error).

Three ways in, one path out: an API client citing a statute or a consent, an official at the counter under
the resident's consent (:meth:`IssuanceService.issue`, the broker decides), and a resident for their own
records (:meth:`IssuanceService.issue_own`, basis ``self``). The document records the basis it was issued on.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent
from audit.events import iso, utcnow
from consent import Actor
from document_specs.loader import SpecCatalog
from document_specs.model import DocumentSpec
from hub import resident_number
from hub.actors import audit_kind, event_actor
from hub.broker import Broker, released_field_names
from hub.errors import Problem
from hub.issuance import fonts, numbers, pdf, qr
from hub.issuance.keys import DocumentKeyRing, b64url, ec_public_jwk
from hub.issuance.models import IssuanceRow
from hub.issuance.pki import Credential, Pki, load_or_create_pki
from hub.issuance.repository import IssuanceRepository, aware
from hub.issuance.schemas import (
    AuditRef,
    ContentOut,
    FieldTitle,
    IssuanceOut,
    RevocationOut,
    VerificationOut,
)
from hub.issuance.signing import PdfSigner
from hub.issuance.tsa import HttpTimeStamper, TimeStampAuthority
from hub.resident_number import contains_resident_number
from hub.schemas import LookupRequest, LookupResponse, PurposeIn
from hub.uow import Trail, commit_now

log = logging.getLogger("gongyu.issuance")
PURGE_EVERY_SECONDS = 600


@dataclass(frozen=True)
class IssuedSummary:
    issuance_number: str
    document_type: str
    view: str
    issued_at: datetime
    retain_until: datetime
    status: str
    downloadable: bool


@dataclass(frozen=True)
class IssuanceConfig:
    issuer: str
    public_url: str
    key_dir: Path
    tsa_url: str | None = None
    font_cache_dir: Path | None = None


class _Crypto:
    """AES-256-GCM for stored content; HMAC check codes. Both keyed by the hub's data key (in KEY_DIR)."""

    def __init__(self, data_key: bytes) -> None:
        self._aead = AESGCM(hashlib.sha256(b"gongyu-issuance-content|" + data_key).digest())
        self._check_key = hashlib.sha256(b"gongyu-issuance-check|" + data_key).digest()

    def seal(self, data: bytes, aad: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, aad.encode())

    def open(self, blob: bytes, aad: str) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], aad.encode())

    def check_code(self, number: str) -> str:
        mac = hmac.new(self._check_key, number.encode(), hashlib.sha256).digest()
        return f"{int.from_bytes(mac[:8], 'big') % 10**6:06d}"


class _Signing:
    """The parts that need key material and are slow to build: made on first use, in a worker thread."""

    def __init__(self, config: IssuanceConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._pki: Pki | None = None
        self._tsa: TimeStampAuthority | None = None
        self._signer: PdfSigner | None = None

    def _ensure(self) -> tuple[Pki, TimeStampAuthority, PdfSigner]:
        with self._lock:
            if self._pki is None or self._tsa is None or self._signer is None:
                pki = load_or_create_pki(self._config.key_dir / "issuance")
                tsa = TimeStampAuthority(pki.tsa, [pki.ca])
                stamper: TimeStamper = (
                    tsa if not self._config.tsa_url else HttpTimeStamper(self._config.tsa_url)
                )
                self._pki, self._tsa, self._signer = pki, tsa, PdfSigner(pki, stamper)
            return self._pki, self._tsa, self._signer

    @property
    def pki(self) -> Pki:
        return self._ensure()[0]

    @property
    def tsa(self) -> TimeStampAuthority:
        return self._ensure()[1]

    @property
    def signer(self) -> PdfSigner:
        return self._ensure()[2]


def field_titles(spec: DocumentSpec, names: list[str]) -> dict[str, FieldTitle]:
    titles: dict[str, FieldTitle] = {}
    for name in names:
        field = spec.field(name)
        if field is None:
            continue
        items = {i.name: {"ko": i.titles["ko"], "en": i.titles["en"]} for i in field.items} or None
        titles[name] = FieldTitle(ko=field.titles["ko"], en=field.titles["en"], items=items)
    return titles


class IssuanceService:
    def __init__(
        self,
        config: IssuanceConfig,
        data_key: bytes,
        repository: IssuanceRepository,
        catalog: SpecCatalog,
        broker: Broker,
    ) -> None:
        self.config = config
        self.repository = repository
        self.catalog = catalog
        self.broker = broker
        self._crypto = _Crypto(data_key)
        self.keys = DocumentKeyRing.load_or_create(config.key_dir / "issuance" / "cose")
        self.signing = _Signing(config)
        self._last_purge = 0.0
        self._render_lock = threading.Lock()
        # Verifications by number that disclose nothing personal (malformed, unknown, wrong check code, status
        # only) are counted here instead of being audited: anyone may send them, and an audit row each would
        # let anyone grow the permanent log without bound. In-process and per worker; see ``verify_counts``.
        self.verify_counts: Counter[str] = Counter()

    # --- published keys ---

    def trust_list(self) -> qr.TrustList:
        return qr.TrustList.from_document_keys(self.keys.all())

    def jwks(self) -> list[dict[str, Any]]:
        """Document keys with their validity periods, then the issuance CA (certificate in ``x5c``)."""
        return [*self.keys.jwks(), ca_jwk(self.signing.pki.ca)]

    # --- issuance ---

    @property
    def trail(self) -> Trail:
        """The hub's trail (shared with the broker): every event goes into the caller's transaction."""
        return self.broker.trail

    def _event(self, actor: Actor, request_id: str, **values: Any) -> AuditEvent:
        # the hub's one mapping (hub.actors): a resident's self-issuance is "resident"
        return AuditEvent(**event_actor(actor), request_id=request_id, **values)

    async def _refuse_not_issuable(
        self,
        session: AsyncSession,
        actor: Actor,
        spec: DocumentSpec,
        view: str,
        commitment: str | None,
        request_id: str,
    ) -> Problem:
        """Record the refusal and commit it now: the request ends in an error, which rolls back the rest."""
        ref = await self.trail.record(
            session,
            self._event(
                actor,
                request_id,
                kind="issuance",
                outcome="denied",
                reason="not_issuable",
                subject_commitment=commitment,
                document_type=spec.type,
                view=view,
            ),
        )
        await commit_now(session)
        return Problem(
            422, "document-not-issuable", extra={"audit_event_id": ref.event_id}, document_type=spec.type
        )

    async def issue(
        self, session: AsyncSession, actor: Actor, body: bytes, request_id: str, language: str = "ko"
    ) -> IssuanceOut:
        """Issue on a raw lookup body (the API): a body that does not parse is refused *and audited*."""
        request = await self.broker.parse(session, actor, body, request_id)
        return (await self.issue_with_fields(session, actor, request, request_id, language))[0]

    async def issue_with_fields(
        self,
        session: AsyncSession,
        actor: Actor,
        request: LookupRequest,
        request_id: str,
        language: str = "ko",
    ) -> tuple[IssuanceOut, LookupResponse]:
        """Issue on a typed lookup request: a statute naming the subject, or a consent (which names it).

        Also hands back the released fields (the counter shows what it stamped). Callers with a typed
        request call this directly, never by JSON-encoding it for :meth:`issue`. ``language`` is the
        resident's: the PDF shows it beside the Korean original (``pdf.languages``).
        """
        spec = self.catalog.get(request.document_type)
        if spec is not None and not spec.issuable:
            commitment = None
            if request.subject is not None:
                try:
                    commitment = self.broker.committer.commit(
                        resident_number.normalize(request.subject.resident_number)
                    )
                except resident_number.InvalidResidentNumber:
                    pass
            raise await self._refuse_not_issuable(session, actor, spec, request.view, commitment, request_id)
        released = await self.broker.lookup_released(session, actor, request, request_id)
        lookup, commitment = released.response, released.subject_commitment
        issued = await self._issue(
            session, actor, lookup, commitment, released.basis, released.purpose, request_id, language
        )
        return issued, lookup

    async def issue_own(
        self,
        session: AsyncSession,
        actor: Actor,
        subject: str,
        document_type: str,
        view: str,
        request_id: str,
        language: str = "ko",
    ) -> IssuanceOut:
        """A resident's e-document of their own records (basis ``self``), fetched through the audited path.

        The document type and view come from a form and are written into the audit event before the catalog
        is consulted, so a resident-number shape in either is refused first, unaudited and unechoed.
        """
        if contains_resident_number(document_type) or contains_resident_number(view):
            raise Problem(422, "validation-error", errors="document (resident_number_shape)")
        commitment = self.broker.committer.commit(subject)
        spec = self.catalog.get(document_type)
        if spec is not None and not spec.issuable:
            raise await self._refuse_not_issuable(session, actor, spec, view, commitment, request_id)
        lookup = await self.broker.preview(
            session,
            actor,
            subject,
            document_type,
            view,
            request_id,
            kind="lookup",
            purpose_code="self-issuance",
        )
        return await self._issue(
            session, actor, lookup, commitment, "self", PurposeIn(code="self-issuance"), request_id, language
        )

    async def _issue(
        self,
        session: AsyncSession,
        actor: Actor,
        lookup: LookupResponse,
        commitment: str,
        basis: str,
        purpose: PurposeIn,
        request_id: str,
        language: str = "ko",
    ) -> IssuanceOut:
        """Reserve a number, render and sign, then the event and the valid row in ``session``'s transaction.

        The reservation commits on its own (:meth:`IssuanceRepository.reserve`): a drawn number is never
        reused, and a row left pending or marked failed verifies as ``unknown``, so burning a number costs
        nothing while holding the request's transaction open across rendering and signing would. The
        issuance event and the pending → valid update are written in the caller's session and commit
        together (or not at all) before the answer is sent.
        """
        spec = self.catalog[lookup.document_type]
        # Housekeeping first, in its own transaction: afterwards this session holds the write (on SQLite, the
        # database lock) until the request commits.
        await self._maybe_purge()
        issued_at = utcnow().replace(microsecond=0)
        retain_until = issued_at + timedelta(days=spec.retention_days)
        issuance_id = str(uuid.uuid4())
        key = self.keys.current()
        number = ""
        for _ in range(8):
            number = numbers.generate()
            reserved = await self.repository.reserve(
                IssuanceRow(
                    number=number,
                    issuance_id=issuance_id,
                    document_type=spec.type,
                    view=lookup.view,
                    holder=spec.holder,
                    issued_at=issued_at,
                    retain_until=retain_until,
                    subject_commitment=commitment,
                    requester_kind=actor.kind,
                    requester_id=actor.id,
                    requester_org=actor.org,
                    basis=basis,
                    status="pending",
                    kid=key.kid_text,
                    lookup_event_id=lookup.audit.event_id,
                )
            )
            if reserved:
                break
        else:  # 8 collisions in a space of 10**15: the generator is broken, not unlucky
            raise RuntimeError("could not draw a free issuance number")

        claims = qr.DocumentClaims(
            issuer=self.config.issuer,
            issued_at=int(issued_at.timestamp()),
            expires_at=int(retain_until.timestamp()),
            number=number,
            document_type=spec.type,
            view=lookup.view,
            holder=spec.holder,
            fields=lookup.fields,
        )
        if not qr.fits(qr.encode(_with_digest(claims, b"\0" * 32), key)):
            claims = _without_fields(claims)  # too big for one QR code: the PDF still carries everything
        print_payload = qr.encode(claims, key)
        try:
            signed = await asyncio.to_thread(
                self._render_and_sign,
                spec,
                lookup.view,
                lookup.fields,
                number,
                issued_at,
                print_payload,
                language,
            )
        except TimestampRequestError:
            await self.repository.mark_failed(number)
            raise Problem(503, "tsa-unavailable", headers={"Retry-After": "10"}) from None
        except BaseException:
            await self.repository.mark_failed(number)
            raise
        pdf_sha256 = hashlib.sha256(signed).digest()
        payload = qr.encode(_with_digest(claims, pdf_sha256), key)
        content = json.dumps(
            {"fields": lookup.fields, "qr_payload": payload, "print_payload": print_payload},
            ensure_ascii=False,
        ).encode()
        event = self._event(
            actor,
            request_id,
            kind="issuance",
            outcome="ok",
            reason="issued",
            subject_commitment=commitment,
            document_type=spec.type,
            view=lookup.view,
            fields=released_field_names(spec, lookup.view),
            purpose_code=purpose.code,
            purpose_text=purpose.text,
            basis=f"issuance:{issuance_id}",
        )
        try:
            ref = await self.trail.record(session, event)  # rolls back and raises the 503 on failure
            completed = await self.repository.complete(
                session,
                number,
                pdf_sha256=pdf_sha256.hex(),
                audit_event_id=ref.event_id,
                content_enc=self._crypto.seal(content, issuance_id),
                pdf_enc=self._crypto.seal(signed, issuance_id),
            )
            if not completed:
                raise RuntimeError("the reserved issuance row is no longer pending")
        except BaseException:
            await session.rollback()  # neither the event nor the valid row; releases SQLite's write lock
            await self.repository.mark_failed(number)
            raise
        display = numbers.display(number)
        return IssuanceOut(
            issuance_number=display,
            issued_at=iso(issued_at),
            retain_until=iso(retain_until),
            pdf_url=f"{self.config.public_url}/v1/issuances/{display}/pdf",
            pdf_sha256=pdf_sha256.hex(),
            qr_payload=payload,
            audit=AuditRef(event_id=ref.event_id),
        )

    def _render_and_sign(
        self,
        spec: DocumentSpec,
        view: str,
        fields: dict[str, Any],
        number: str,
        issued_at: datetime,
        payload: str,
        language: str = "ko",
    ) -> bytes:
        font = fonts.register(self.config.font_cache_dir)
        # The resident's language in its own font (converted on the first document in it), Korean in ``font``
        own = fonts.register(self.config.font_cache_dir, language)
        # One document at a time per process: the work is CPU-bound (threads would only contend for the
        # GIL) and reportlab keeps per-font subsetting state that is not meant for concurrent documents.
        with self._render_lock:
            return self._render_and_sign_locked(
                spec, view, fields, number, issued_at, payload, font, language, own
            )

    def _render_and_sign_locked(
        self,
        spec: DocumentSpec,
        view: str,
        fields: dict[str, Any],
        number: str,
        issued_at: datetime,
        payload: str,
        font: str,
        language: str = "ko",
        own: str | None = None,
    ) -> bytes:
        unsigned = pdf.render(
            pdf.RenderRequest(
                spec=spec,
                view=view,
                fields=fields,
                number=number,
                issued_at=issued_at,
                qr_payload=payload,
                verify_url=f"{self.config.public_url}/verify",
                check_code=self._crypto.check_code(number),
                language=language,
            ),
            font,
            own,
        )
        return self.signing.signer.sign(unsigned, payload, number)

    async def _maybe_purge(self) -> None:
        if time.monotonic() - self._last_purge < PURGE_EVERY_SECONDS:
            return
        self._last_purge = time.monotonic()
        try:
            purged = await self.repository.purge_expired(utcnow())
        except Exception as exc:  # housekeeping must never fail an issuance; reads enforce retention anyway
            log.warning("issuance purge failed", extra={"error_type": type(exc).__name__})
            return
        if purged:
            log.info("purged expired issuance content", extra={"count": purged})

    # --- the requester's PDF ---

    async def pdf_for(self, actor: Actor, text: str) -> tuple[str, bytes]:
        try:
            number = numbers.parse(text)
        except numbers.InvalidIssuanceNumber:
            raise Problem(404, "issuance-not-found") from None
        row = await self.repository.get(number)
        if row is None or row.status not in {"valid", "revoked"} or row.requester_id != actor.id:
            raise Problem(404, "issuance-not-found")  # someone else's document: as if it did not exist
        if row.pdf_enc is None or utcnow() > aware(row.retain_until):
            raise Problem(410, "issuance-content-expired")
        return number, self._crypto.open(row.pdf_enc, row.issuance_id)

    # --- verification ---

    def _metadata(self, row: IssuanceRow) -> dict[str, Any]:
        """Everything on record about an issuance except its content (shown to a holder of the check code)."""
        return {
            **self._public_metadata(row),
            "revocation_reason": row.revocation_reason,
            "pdf_sha256": row.pdf_sha256,
        }

    def _public_metadata(self, row: IssuanceRow) -> dict[str, Any]:
        """What the number alone may learn: the kind of document, who holds it, when it was issued and until
        when it is kept, and when it was revoked. Nothing about the person: no field, no revocation reason
        (agency free text that may describe the resident's situation), no PDF hash (tied to the content).
        """
        spec = self.catalog.get(row.document_type)
        view = spec.view(row.view) if spec else None
        return {
            "issuance_number": numbers.display(row.number),
            "document_type": row.document_type,
            "document_title": dict(spec.titles) if spec else None,
            "view": row.view,
            "view_title": dict(view.titles) if view else None,
            "holder": row.holder,
            "holder_title": dict(spec.holder_titles) if spec else None,
            "issued_at": iso(aware(row.issued_at)),
            "retain_until": iso(aware(row.retain_until)),
            "revoked_at": iso(aware(row.revoked_at)) if row.revoked_at else None,
        }

    def _content(self, row: IssuanceRow, fields: dict[str, Any]) -> ContentOut:
        spec = self.catalog.get(row.document_type)
        titles = field_titles(spec, list(fields)) if spec else {}
        return ContentOut(fields=fields, titles=titles)

    async def verify_number(
        self, session: AsyncSession, text: str, check: str | None, actor: Actor | None, request_id: str
    ) -> VerificationOut:
        """Verify by issuance number: the number alone gives the status, number and check code the content.

        The 16-digit number is printed on the paper and passed around; the 6-digit check code beside it is
        keyed by the hub's data key, so only someone who saw the document has both. Hence:

        - malformed number: 422 ``invalid-issuance-number``; unknown number or wrong check code: ``unknown``;
          number alone: the status (valid, revoked, expired) with :meth:`_public_metadata`. None of these is
          audited (nothing personal is disclosed, and anyone can send them): each is counted in
          :attr:`verify_counts` instead.
        - number and the right check code: the full record, and the content within the retention window,
          audited as an event the resident sees, in ``session``'s transaction.
        """
        try:
            number = numbers.parse(text)
        except numbers.InvalidIssuanceNumber as exc:
            self.verify_counts["number_malformed"] += 1
            raise Problem(422, "invalid-issuance-number", extra={"reason": exc.reason}) from None
        now = utcnow()
        row = await self.repository.get_in(session, number)
        if row is None or row.status not in {"valid", "revoked"}:
            self.verify_counts["number_unknown"] += 1
            return VerificationOut(status="unknown", reason="not_on_record", method="number")
        expired = now > aware(row.retain_until) or row.content_enc is None
        if check is None:
            self.verify_counts["number_status_only"] += 1
            public = self._public_metadata(row)
            if row.status == "revoked":
                return VerificationOut(
                    status="revoked", reason="revoked_status_only", method="number", **public
                )
            if expired:
                return VerificationOut(
                    status="expired", reason="retention_elapsed", method="number", **public
                )
            return VerificationOut(status="valid", reason="status_only", method="number", **public)
        if not hmac.compare_digest(check.strip().encode(), self._crypto.check_code(number).encode()):
            self.verify_counts["number_check_mismatch"] += 1
            return VerificationOut(status="unknown", reason="not_on_record", method="number")

        async def record(reason: str, fields: tuple[str, ...] = ()) -> AuditRef:
            event = AuditEvent(
                kind="verification",
                actor_kind=audit_kind(actor),
                actor_id=actor.id if actor is not None else "public",
                actor_org=actor.org if actor is not None else None,
                subject_commitment=row.subject_commitment,
                document_type=row.document_type,
                view=row.view,
                fields=fields,
                basis=f"issuance:{row.issuance_id}",
                outcome="ok",
                reason=reason,
                request_id=request_id,
            )
            return AuditRef(event_id=(await self.trail.record(session, event)).event_id)

        meta = self._metadata(row)
        if row.status == "revoked":
            audit = await record("revoked")
            return VerificationOut(status="revoked", reason="revoked", method="number", audit=audit, **meta)
        if expired:
            audit = await record("expired")
            return VerificationOut(
                status="expired", reason="retention_elapsed", method="number", audit=audit, **meta
            )
        assert row.content_enc is not None
        content = json.loads(self._crypto.open(row.content_enc, row.issuance_id))
        spec = self.catalog.get(row.document_type)
        released = released_field_names(spec, row.view) if spec and spec.view(row.view) else ()
        audit = await record("valid", released)
        return VerificationOut(
            status="valid",
            reason="on_record",
            method="number",
            content=self._content(row, content["fields"]),
            audit=audit,
            **meta,
        )

    async def verify_payload(self, payload: str) -> VerificationOut:
        """Signature first (offline-equivalent), then the record: revoked or not, still within retention.

        Not audited: the hub discloses nothing the payload does not already carry.
        """
        now = utcnow()
        result = qr.verify(payload, self.trust_list(), now)
        if result.status == "invalid" or result.claims is None:
            return VerificationOut(status="invalid", reason=result.reason, method="qr")
        claims = result.claims
        try:
            number = numbers.parse(claims.number)
        except numbers.InvalidIssuanceNumber:
            return VerificationOut(status="invalid", reason="bad_claims", method="qr")
        row = await self.repository.get(number)
        if row is None or row.status not in {"valid", "revoked"}:
            return VerificationOut(status="unknown", reason="not_on_record", method="qr")
        if row.document_type != claims.document_type or row.view != claims.view or row.kid != result.kid:
            return VerificationOut(status="invalid", reason="record_mismatch", method="qr")
        meta = self._metadata(row)
        if claims.pdf_sha256 is not None:
            meta["pdf_sha256"] = claims.pdf_sha256.hex()
        if row.status == "revoked":
            return VerificationOut(status="revoked", reason="revoked", method="qr", **meta)
        if result.status == "expired" or now > aware(row.retain_until):
            return VerificationOut(status="expired", reason="retention_elapsed", method="qr", **meta)
        content = self._content(row, claims.fields) if claims.fields is not None else None
        return VerificationOut(status="valid", reason="signature_valid", method="qr", content=content, **meta)

    # --- revocation ---

    async def requested_by(self, actor: Actor) -> list[IssuedSummary]:
        """The documents this actor had issued, newest first, with whether the PDF can still be fetched."""
        now = utcnow()
        return [
            IssuedSummary(
                issuance_number=numbers.display(row.number),
                document_type=row.document_type,
                view=row.view,
                issued_at=aware(row.issued_at),
                retain_until=aware(row.retain_until),
                status=row.status,
                downloadable=now <= aware(row.retain_until),  # content is purged only after this
            )
            for row in await self.repository.requested_by(actor.id)
        ]

    async def revoke(
        self, session: AsyncSession, actor: Actor, text: str, reason: str, request_id: str
    ) -> RevocationOut:
        """Valid → revoked and its audit event in ``session``'s transaction: both commit, or neither does.

        Only an agency client of the organisation that issued the document may revoke it; any other agency is
        answered 404, exactly as for a number that does not exist, so the answer tells it nothing.
        """
        if actor.client_kind != "agency":
            raise Problem(403, "revocation-not-allowed")
        try:
            number = numbers.parse(text)
        except numbers.InvalidIssuanceNumber as exc:
            raise Problem(422, "invalid-issuance-number", extra={"reason": exc.reason}) from None
        row = await self.repository.get_in(session, number)
        if row is None or row.status not in {"valid", "revoked"} or not _issued_by(row, actor):
            raise Problem(404, "issuance-not-found")  # another organisation's: as if it did not exist
        at = utcnow()
        # The conditional UPDATE decides a race between two revocations; only the winner writes an event.
        if row.status == "revoked" or not await self.repository.revoke(session, number, actor.id, reason, at):
            raise Problem(409, "issuance-already-revoked")
        ref = await self.trail.record(
            session,
            self._event(
                actor,
                request_id,
                kind="revocation",
                outcome="ok",
                reason="revoked",
                subject_commitment=row.subject_commitment,
                document_type=row.document_type,
                view=row.view,
                basis=f"issuance:{row.issuance_id}",
            ),
        )
        return RevocationOut(
            issuance_number=numbers.display(number),
            status="revoked",
            revoked_at=iso(at),
            reason=reason,
            audit=AuditRef(event_id=ref.event_id),
        )

    # --- time stamps ---

    def timestamp_reply(self, body: bytes) -> bytes:
        return self.signing.tsa.respond_der(body)


def ca_jwk(ca: Credential) -> dict[str, Any]:
    public = ca.cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return {
        **ec_public_jwk(public),
        "kid": b64url(hashlib.sha256(ca.cert_der).digest()[:8]),
        "use": "sig",
        "alg": "ES256",
        "gongyu_purpose": "document-ca",
        "x5c": [base64.b64encode(ca.cert_der).decode()],
        "nbf": int(ca.cert.not_valid_before_utc.timestamp()),
        "exp": int(ca.cert.not_valid_after_utc.timestamp()),
    }


def _issued_by(row: IssuanceRow, actor: Actor) -> bool:
    """Whether ``actor`` speaks for whoever had the document issued: the same requester, or the same
    organisation (an agency client and the officials of its counter share the organisation name)."""
    if row.requester_id == actor.id:
        return True
    return bool(actor.org) and row.requester_org == actor.org


def _with_digest(claims: qr.DocumentClaims, digest: bytes) -> qr.DocumentClaims:
    return qr.DocumentClaims(**{**claims.__dict__, "pdf_sha256": digest})


def _without_fields(claims: qr.DocumentClaims) -> qr.DocumentClaims:
    return qr.DocumentClaims(**{**claims.__dict__, "fields": None})


def build_issuance(
    *,
    issuer: str,
    public_url: str,
    key_dir: Path,
    data_key: bytes,
    sessions: Any,
    catalog: SpecCatalog,
    broker: Broker,
    tsa_url: str | None = None,
    font_cache_dir: Path | None = None,
) -> IssuanceService:
    config = IssuanceConfig(issuer, public_url.rstrip("/"), key_dir, tsa_url, font_cache_dir)
    return IssuanceService(config, data_key, IssuanceRepository(sessions), catalog, broker)
