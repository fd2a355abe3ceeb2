"""The offline hand-off: an application shown on the phone as QR codes that only the chosen counter can read.

Some counters take applications without a live connection between the phone and the desk. The hub then
hands the phone a sealed copy of the application:

1. the application (compact JSON) with ``iss``, ``aud`` (``counter:<id>``), ``iat``, ``exp`` and a unique
   ``jti`` is signed by the hub (compact JWS, Ed25519, ``typ`` ``gongyu-handoff+jws``, the hub's published
   token key, so anyone can check it against ``/.well-known/gongyu/keys``);
2. that JWS is encrypted to the counter's own P-256 key (compact JWE, ``ECDH-ES`` + ``A256GCM``, deflated):
   only the counter holding the private key reads it, and any change to a byte fails the GCM tag;
3. the JWE is cut into chunks of at most ``CHUNK_CHARS`` characters, each a QR code of its own reading
   ``GYH1:<id>:<index>:<count>:<part>``, so a long application still scans on a phone screen.

The counter scans (or uploads) the codes; :meth:`HandoffService.open` reassembles them, decrypts, verifies
the signature, the audience, the times and refuses a ``jti`` seen before (remembered in ``handoff_replays``
until it expires). Each decode, accepted or refused, is an audit event; a refusal names its reason.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import segno
import zxingcpp
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey
from PIL import Image
from sqlalchemy import DateTime, MetaData, String, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit import AuditEvent
from audit.events import utcnow
from audit.models import NAMING
from hub.applications.files import FileActor
from hub.applications.seal import decode_image
from hub.errors import Problem
from hub.keys import SigningKey, load_counter_key
from hub.uow import Trail, commit_now

PREFIX: Final = "GYH1"
TYP: Final = "gongyu-handoff+jws"
SIGNING_ALG: Final = "Ed25519"
KEY_ALG: Final = "ECDH-ES"
CONTENT_ALG: Final = "A256GCM"
# DEFLATE before encryption keeps a hand-off to fewer codes; joserfc caps the inflated size (250 KiB).
JWE_ALGS: Final = (KEY_ALG, CONTENT_ALG, "DEF")
CHUNK_CHARS: Final = 700  # a version-20-ish QR code at level M: scans from a phone screen at arm's length
MAX_CHUNKS: Final = 12
MAX_APPLICATION_BYTES: Final = 6000
TTL: Final = timedelta(minutes=10)
MAX_TTL: Final = timedelta(hours=1)
# What of an application (as ``views.application_json`` shows it) a hand-off carries.
SEALED_KEYS: Final = ("application_id", "case_number", "form_type", "department", "submitted_at", "answers")
LEEWAY: Final = timedelta(seconds=60)  # the phone's and the counter's clocks may differ a little
MAX_QR_IMAGE_BYTES: Final = 5 * 1024 * 1024
MAX_QR_IMAGE_PIXELS: Final = 40_000_000
_QR_FORMATS: Final = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


class HandoffBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class HandoffReplayRow(HandoffBase):
    """A hand-off already decoded: its ``jti`` is refused until it would have expired anyway."""

    __tablename__ = "handoff_replays"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    counter_id: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def counter_id_for(org: str) -> str:
    """The counter of an organisation (one hand-off key pair per office): a stable id safe for a file name."""
    return "org-" + hashlib.sha256(org.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Sealed:
    """A hand-off as the phone shows it: the chunks to render as QR codes, and what the hub promised."""

    chunks: list[str]
    jti: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Opened:
    """A hand-off the counter accepted: the application, when it was sealed, and the decode's audit event."""

    application: dict[str, Any]
    jti: str
    issued_at: datetime
    expires_at: datetime
    event_id: str


class HandoffRefused(Exception):
    """Why a hand-off was refused (the service records it, then raises it as a Problem)."""

    def __init__(self, status: int, slug: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.slug, self.reason = status, slug, reason

    def problem(self) -> Problem:
        return Problem(self.status, self.slug, extra={"reason": self.reason}, reason=self.reason)


# --- chunks and QR codes ----------------------------------------------------------------------------------


def split(token: str, chunk_chars: int = CHUNK_CHARS) -> list[str]:
    """Cut a compact JWE into ``GYH1:<id>:<index>:<count>:<part>`` chunks (index from 1)."""
    parts = [token[i : i + chunk_chars] for i in range(0, len(token), chunk_chars)] or [""]
    if len(parts) > MAX_CHUNKS:
        raise ValueError(f"a hand-off needs {len(parts)} QR codes; at most {MAX_CHUNKS} are allowed")
    ident = secrets.token_hex(4)
    return [f"{PREFIX}:{ident}:{i}:{len(parts)}:{part}" for i, part in enumerate(parts, start=1)]


def reassemble(chunks: list[str]) -> str:
    """Put chunks back in order (any order, repeats allowed if identical); refuse mixed or missing ones."""
    parsed: dict[int, str] = {}
    ident = count = None
    for chunk in chunks:
        fields = chunk.strip().split(":", 4)
        if len(fields) != 5 or fields[0] != PREFIX or not fields[2].isdigit() or not fields[3].isdigit():
            raise HandoffRefused(422, "handoff-unreadable", "not_a_handoff_code")
        this_id, index, this_count, part = fields[1], int(fields[2]), int(fields[3]), fields[4]
        if not 1 <= this_count <= MAX_CHUNKS or not 1 <= index <= this_count:
            raise HandoffRefused(422, "handoff-unreadable", "bad_chunk_index")
        if (ident is not None and this_id != ident) or (count is not None and this_count != count):
            raise HandoffRefused(422, "handoff-unreadable", "mixed_handoffs")
        if parsed.get(index, part) != part:
            raise HandoffRefused(422, "handoff-unreadable", "conflicting_chunks")
        ident, count, parsed[index] = this_id, this_count, part
    if count is None or len(parsed) != count:
        raise HandoffRefused(422, "handoff-unreadable", "missing_chunks")
    return "".join(parsed[i] for i in range(1, count + 1))


def render_pngs(chunks: list[str], scale: int = 4) -> list[bytes]:
    """One PNG per chunk (byte mode, error correction M, the standard four-module quiet zone)."""
    pngs = []
    for chunk in chunks:
        out = io.BytesIO()
        segno.make_qr(chunk, error="m", mode="byte").save(out, kind="png", scale=scale, border=4)
        pngs.append(out.getvalue())
    return pngs


def read_png(data: bytes) -> list[str]:
    """The hand-off chunks in an uploaded picture (a photo may hold several), checked like any upload."""
    if len(data) > MAX_QR_IMAGE_BYTES:
        raise Problem(413, "file-too-large", limit=MAX_QR_IMAGE_BYTES)
    image = decode_image(data, max_pixels=MAX_QR_IMAGE_PIXELS)
    if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
        # Transparent parts read as white (a code drawn on nothing is dark on light).
        shaded = image.convert("LA")
        gray = Image.new("L", image.size, 255)
        gray.paste(shaded.getchannel("L"), mask=shaded.getchannel("A"))
    else:
        gray = image.convert("L")
    found = [b.text for b in zxingcpp.read_barcodes(gray, formats=_QR_FORMATS) if b.text]
    return [text for text in found if text.startswith(PREFIX + ":")]


# --- sealing and opening ----------------------------------------------------------------------------------


def counter_jwk(key: ECKey | ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """A counter's public key as a JWK, with the thumbprint (RFC 7638) as ``kid``; never the private half."""
    public = key if isinstance(key, ECKey) else ECKey.import_key(key.public_key())
    return {**public.as_dict(private=False), "kid": public.thumbprint(), "alg": KEY_ALG, "use": "enc"}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class HandoffService:
    """Seal an application for a counter, and open what a counter scanned; keys from the hub's key dir."""

    def __init__(
        self, signing_key: SigningKey, key_dir: Path, trail: Trail, issuer: str, *, create_keys: bool
    ) -> None:
        self.signing_key = signing_key
        self.key_dir = key_dir
        self.trail = trail
        self.issuer = issuer
        self.create_keys = create_keys

    def counter_key(self, counter_id: str, *, create: bool | None = None) -> ECKey | None:
        private = load_counter_key(
            self.key_dir, counter_id, create=self.create_keys if create is None else create
        )
        return None if private is None else ECKey.import_key(private)

    def counter_public_jwk(self, counter_id: str, *, create: bool | None = None) -> dict[str, Any] | None:
        """The counter's public key as a JWK (what the phone page encrypts to), or None without a key pair."""
        key = self.counter_key(counter_id, create=create)
        return None if key is None else counter_jwk(key)

    def seal(
        self,
        application: dict[str, Any],
        counter_id: str,
        *,
        now: datetime | None = None,
        ttl: timedelta = TTL,
        create_counter_key: bool | None = None,
    ) -> Sealed:
        """Sign the application with the hub key, encrypt it to the counter's key, cut it into QR chunks.

        A counter without a key pair is "not found"; ``create_counter_key`` (default: the service's
        ``create_keys``) lets development make one, never a caller naming a counter.
        """
        counter = self.counter_key(counter_id, create=create_counter_key)
        if counter is None:
            raise Problem(404, "not-found")
        body = json.dumps(application, ensure_ascii=False, separators=(",", ":")).encode()
        if len(body) > MAX_APPLICATION_BYTES:
            raise Problem(422, "validation-error", errors="application (too long for a hand-off)")
        issued = (now or utcnow()).replace(microsecond=0)
        expires = issued + min(ttl, MAX_TTL)
        jti = str(uuid.uuid4())
        claims = {
            "iss": self.issuer,
            "aud": f"counter:{counter_id}",
            "iat": _epoch(issued),
            "exp": _epoch(expires),
            "jti": jti,
            "app": application,
        }
        payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
        signed = jws.serialize_compact(
            {"alg": SIGNING_ALG, "typ": TYP, "kid": self.signing_key.kid},
            payload,
            OKPKey.import_key(self.signing_key.private_key),
            algorithms=[SIGNING_ALG],
        )
        token = jwe.encrypt_compact(
            {"alg": KEY_ALG, "enc": CONTENT_ALG, "zip": "DEF", "cty": TYP, "kid": counter.thumbprint()},
            signed,
            counter,
            algorithms=JWE_ALGS,
        )
        return Sealed(split(token), jti, issued, expires)

    def unseal(self, chunks: list[str], counter_id: str, now: datetime) -> tuple[dict[str, Any], str]:
        """Reassemble, decrypt, verify; the claims and ``jti``, or ``HandoffRefused`` with the reason.

        Pure (no database): the replay check and the record are :meth:`open`'s.
        """
        token = reassemble(chunks)
        counter = self.counter_key(counter_id, create=False)
        if counter is None:
            raise HandoffRefused(422, "handoff-not-genuine", "no_counter_key")
        try:
            inner = jwe.decrypt_compact(token, counter, algorithms=JWE_ALGS).plaintext
        except (JoseError, ValueError, TypeError):
            # Any altered byte fails the GCM tag; so does a code encrypted to another counter.
            raise HandoffRefused(422, "handoff-not-genuine", "not_decryptable") from None
        if inner is None:
            raise HandoffRefused(422, "handoff-not-genuine", "not_decryptable")
        try:
            hub_key = OKPKey.import_key(self.signing_key.public_key)
            signed = jws.deserialize_compact(inner, hub_key, algorithms=[SIGNING_ALG])
            claims = json.loads(signed.payload)
        except (JoseError, ValueError, TypeError):
            # Encrypted to this counter's public key (anyone can) but not signed by the hub: a forgery.
            raise HandoffRefused(422, "handoff-not-genuine", "bad_signature") from None
        if signed.protected.get("typ") != TYP or not isinstance(claims, dict):
            raise HandoffRefused(422, "handoff-not-genuine", "wrong_type")
        if claims.get("iss") != self.issuer or claims.get("aud") != f"counter:{counter_id}":
            raise HandoffRefused(422, "handoff-not-genuine", "wrong_counter")
        iat, exp, jti = claims.get("iat"), claims.get("exp"), claims.get("jti")
        if not (
            isinstance(iat, int) and isinstance(exp, int) and isinstance(jti, str) and 0 < len(jti) <= 36
        ):
            raise HandoffRefused(422, "handoff-not-genuine", "missing_claims")
        if not isinstance(claims.get("app"), dict) or exp - iat > MAX_TTL.total_seconds():
            raise HandoffRefused(422, "handoff-not-genuine", "missing_claims")
        if iat > _epoch(now + LEEWAY):
            raise HandoffRefused(422, "handoff-not-genuine", "issued_in_future")
        if exp <= _epoch(now):
            raise HandoffRefused(422, "handoff-expired", "expired")
        return claims, jti

    async def open(
        self,
        session: AsyncSession,
        chunks: list[str],
        *,
        counter_id: str,
        actor: FileActor,
        request_id: str,
        now: datetime | None = None,
    ) -> Opened:
        """Decode a scanned hand-off at ``counter_id``: accepted once, recorded either way.

        A refusal is recorded and committed here before the Problem is raised (the request then ends in an
        error, which would roll back an uncommitted record), like the issuance's refusals.
        """
        now = now or utcnow()
        try:
            claims, jti = self.unseal(chunks, counter_id, now)
            expires = datetime.fromtimestamp(claims["exp"], UTC)
            await self._remember(session, jti, counter_id, now, expires)
        except HandoffRefused as refused:
            await self._record(session, actor, request_id, "denied", refused.reason, None)
            await commit_now(session)
            raise refused.problem() from None
        application: dict[str, Any] = claims["app"]
        event_id = await self._record(session, actor, request_id, "ok", "decoded", application)
        return Opened(application, jti, datetime.fromtimestamp(claims["iat"], UTC), expires, event_id)

    async def _remember(
        self, session: AsyncSession, jti: str, counter_id: str, now: datetime, expires: datetime
    ) -> None:
        """Insert the ``jti``, or refuse it as replayed; forget codes that have expired (they fail anyway)."""
        await session.execute(delete(HandoffReplayRow).where(HandoffReplayRow.expires_at < now - LEEWAY))
        if await session.get(HandoffReplayRow, jti) is not None:
            raise HandoffRefused(409, "handoff-replayed", "replayed")
        session.add(HandoffReplayRow(jti=jti, counter_id=counter_id, seen_at=now, expires_at=expires))
        try:
            await session.flush()
        except IntegrityError:
            # Two counters scanned the same code at once and the other committed first: the key decides.
            await session.rollback()
            raise HandoffRefused(409, "handoff-replayed", "replayed") from None

    async def issue(
        self,
        session: AsyncSession,
        application: dict[str, Any],
        counter_id: str,
        *,
        actor: FileActor,
        request_id: str,
        subject_commitment: str | None = None,
    ) -> Sealed:
        """Seal an application for a counter the caller names (which must already have a key pair), and
        record that a hand-off with this ``jti`` left the hub, in the caller's transaction."""
        sealed = self.seal(application, counter_id, create_counter_key=False)
        ref = application.get("application_id")
        await self.trail.record(
            session,
            AuditEvent(
                kind="application_handoff_seal",
                actor_kind=actor.kind,
                actor_id=actor.id,
                actor_org=actor.org,
                subject_commitment=subject_commitment,
                fields=(f"jti:{sealed.jti}", f"counter:{counter_id}"),
                basis=f"application:{ref}" if isinstance(ref, str) and len(ref) <= 64 else None,
                outcome="ok",
                reason="sealed",
                request_id=request_id,
            ),
        )
        return sealed

    async def _record(
        self,
        session: AsyncSession,
        actor: FileActor,
        request_id: str,
        outcome: str,
        reason: str,
        application: dict[str, Any] | None,
    ) -> str:
        ref = application.get("application_id") if application else None
        event = AuditEvent(
            kind="application_handoff",
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_org=actor.org,
            basis=f"application:{ref}" if isinstance(ref, str) and len(ref) <= 64 else None,
            outcome="ok" if outcome == "ok" else "denied",
            reason=reason,
            request_id=request_id,
        )
        return (await self.trail.record(session, event)).event_id
