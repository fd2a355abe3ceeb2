"""Issue, revoke and verify SD-JWT VCs (RFC 9901 with key binding; SD-JWT VC) of a resident's own records.

Issuance is a self-issuance by another name: the fields come through the broker's audited lookup
(:meth:`hub.broker.Broker.preview`, basis ``self``), exactly as an e-document the resident asks for on
``/me/documents``, and the issuance is its own audit event (``credential_issuance``) written in the caller's
transaction with the credential's row, so both commit or neither. The credential is signed with the issuer
key (``hub.credentials.keys``) by the reference ``sd-jwt`` package: every released field is its own
disclosure (with decoy digests, so the number of fields does not show), ``cnf.jwk`` is the key the resident's
wallet holds, and ``status`` points at a random entry of a status list (``hub.credentials.status_list``).
The hub keeps no copy of the credential: only what it needs to revoke it.

Verification (:meth:`CredentialService.verify`) is what any verifier could do offline with the published
JWKS and status list; the hub offers it for verifiers without an SD-JWT library. Each check that fails has
its own problem type, so a verifier can tell a forged credential from an altered disclosure, a presentation
made for someone else, an old one, or one already used. A presentation's key-binding JWT is accepted once:
its hash is kept (``credential_kb_replays``) until it would be too old anyway. Verifications are not audited:
the resident chose to present, the hub discloses nothing the presentation does not already carry, and an
audit row per call would let anyone grow the permanent log.

Nothing here commits: callers pass the request's session (``hub.uow``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto.common import JWException
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent
from audit.events import iso, utcnow
from document_specs.loader import SpecCatalog
from hub.actors import account_actor, event_actor
from hub.auth.tokens import AccountPrincipal
from hub.broker import Broker, released_field_names
from hub.credentials import status_list
from hub.credentials.keys import ALG, IssuerKey, load_issuer_key, thumbprint
from hub.credentials.models import CredentialRow, KeyBindingReplayRow
from hub.errors import Problem
from hub.resident_number import contains_resident_number
from hub.uow import Trail, commit_now

# Audit kinds (at most 32 characters, like every kind).
ISSUANCE_KIND: Final = "credential_issuance"
REVOCATION_KIND: Final = "credential_revocation"
KINDS: Final = frozenset({ISSUANCE_KIND, REVOCATION_KIND})
PURPOSE: Final = "credential-issuance"

TYP: Final = "dc+sd-jwt"  # SD-JWT VC (draft-ietf-oauth-sd-jwt-vc) media type of the issuer-signed JWT
KB_TYP: Final = "kb+jwt"
VCT_PREFIX: Final = "urn:gongyu:vct:"
LIST_ID: Final = "1"
# A key-binding JWT older than this (or issued further than SKEW in the future) is refused; the replay cache
# keeps each accepted one exactly this long, after which the age check refuses it anyway.
KB_MAX_AGE: Final = timedelta(minutes=5)
SKEW: Final = timedelta(seconds=60)
MAX_PRESENTATION: Final = 64 * 1024
MAX_AUDIENCE: Final = 500
MAX_NONCE: Final = 200
# Claims that describe the credential rather than the resident: never selectively disclosable.
ENVELOPE: Final = frozenset({"iss", "iat", "exp", "nbf", "vct", "cnf", "status", "_sd_alg"})
_DRAWS: Final = 8


@dataclass(frozen=True)
class IssuedCredential:
    credential_id: str
    sd_jwt: str  # the issuance: issuer-signed JWT, every disclosure, and the closing ``~``
    vct: str
    document_type: str
    view: str
    issued_at: datetime
    expires_at: datetime
    status_list: str
    status_idx: int
    fields: tuple[str, ...]  # the names a presentation may disclose
    audit_event_id: str

    def as_json(self) -> dict[str, Any]:
        return {
            "credential_id": self.credential_id,
            "credential": self.sd_jwt,
            "format": TYP,
            "vct": self.vct,
            "document_type": self.document_type,
            "view": self.view,
            "issued_at": iso(self.issued_at),
            "expires_at": iso(self.expires_at),
            "status": {"status_list": {"idx": self.status_idx, "uri": self.status_list}},
            "disclosable": list(self.fields),
            "audit": {"event_id": self.audit_event_id},
        }


@dataclass(frozen=True)
class Verified:
    """A presentation that passed every check; ``status`` is ``valid`` or ``revoked`` (then no claims)."""

    status: str
    vct: str
    issuer: str
    issued_at: int
    expires_at: int
    claims: dict[str, Any]
    undisclosed: int  # how many digests the presentation left closed (fields and decoys alike)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.status,
            "vct": self.vct,
            "document_type": self.vct.removeprefix(VCT_PREFIX),
            "iss": self.issuer,
            "iat": self.issued_at,
            "exp": self.expires_at,
        }
        if self.status == "valid":
            body["claims"] = self.claims
        return body


@dataclass(frozen=True)
class Checked:
    """A presentation that passed the offline checks (:meth:`CredentialService.check`)."""

    payload: dict[str, Any]  # the issuer-signed payload as signed (digests, envelope)
    disclosed: dict[str, Any]  # the payload with the sent disclosures opened
    sent: frozenset[str]  # the digests of the disclosures sent
    kb_jwt: str
    status: tuple[str, int]  # (status list id, index)
    at: datetime


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def credential_json(row: CredentialRow) -> dict[str, Any]:
    """One credential as the resident's list shows it (never its content: the hub does not keep it)."""
    return {
        "credential_id": row.credential_id,
        "document_type": row.document_type,
        "view": row.view,
        "issued_at": iso(_aware(row.issued_at)),
        "expires_at": iso(_aware(row.expires_at)),
        "status": "revoked" if row.revoked_at is not None else "valid",
        "revoked_at": iso(_aware(row.revoked_at)) if row.revoked_at is not None else None,
        "holder_key_thumbprint": row.holder_thumbprint,
    }


def holder_public_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    """The wallet's key as it goes into ``cnf``: a P-256 public key, and nothing else.

    A private key (``d``) is refused rather than stripped: a wallet that sends it has leaked it.
    """
    if not isinstance(jwk, dict) or "d" in jwk:
        raise Problem(422, "credential-holder-key-invalid")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise Problem(422, "credential-holder-key-invalid")
    public = {name: jwk.get(name) for name in ("kty", "crv", "x", "y")}
    try:
        key = JWK(**public)
        key.get_op_key("verify")  # the point must be on the curve
    except (JWException, ValueError, TypeError):
        raise Problem(422, "credential-holder-key-invalid") from None
    return public


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _digests(value: Any) -> set[str]:
    """Every digest an object carries (``_sd`` entries and array ``...`` elements), at any depth."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "_sd" and isinstance(item, list):
                found |= {d for d in item if isinstance(d, str)}
            elif key == "..." and len(value) == 1 and isinstance(item, str):
                found.add(item)
            else:
                found |= _digests(item)
    elif isinstance(value, list):
        for item in value:
            found |= _digests(item)
    return found


class CredentialService:
    def __init__(
        self,
        catalog: SpecCatalog,
        broker: Broker,
        trail: Trail,
        *,
        public_url: str,
        key_dir: Path,
        create_keys: bool,
    ) -> None:
        self.catalog = catalog
        self.broker = broker
        self.trail = trail
        self.issuer = public_url
        self.key_dir = key_dir
        self.create_keys = create_keys
        self._key: IssuerKey | None = None

    # -- keys and lists ------------------------------------------------------------------------------------

    @property
    def key(self) -> IssuerKey:
        if self._key is None:
            self._key = load_issuer_key(self.key_dir, create=self.create_keys)
            if self._key is None:  # production without ``gongyu credentials issuer-key``
                raise Problem(503, "credential-issuance-unavailable", headers={"Retry-After": "60"})
        return self._key

    def jwks(self) -> list[dict[str, Any]]:
        """The issuer key as published (empty in a production hub that has none yet)."""
        try:
            return [self.key.public_jwk()]
        except Problem:
            return []

    def status_list_uri(self, list_id: str = LIST_ID) -> str:
        return f"{self.issuer}/v1/credentials/status-lists/{list_id}"

    async def status_token(self, session: AsyncSession, list_id: str) -> str:
        """The signed status list token of ``list_id``, as of now (404 for a list that does not exist)."""
        if list_id != LIST_ID:
            raise Problem(404, "not-found")
        revoked = await session.scalars(
            select(CredentialRow.status_idx).where(
                CredentialRow.status_list == list_id, CredentialRow.revoked_at.is_not(None)
            )
        )
        now = int(utcnow().timestamp())
        return status_list.token(
            self.status_list_uri(list_id), revoked, self.key.private_key, self.key.kid, now
        )

    # -- issuance ------------------------------------------------------------------------------------------

    async def _free_index(self, session: AsyncSession) -> int:
        """A random unused entry of the list (random for herd privacy: the index tells nothing)."""
        candidates = {secrets.randbelow(status_list.SIZE) for _ in range(_DRAWS)}
        taken = set(
            await session.scalars(
                select(CredentialRow.status_idx).where(
                    CredentialRow.status_list == LIST_ID, CredentialRow.status_idx.in_(candidates)
                )
            )
        )
        free = sorted(candidates - taken)
        if not free:  # eight taken draws in a row: the list is nearly full
            raise Problem(503, "credential-issuance-unavailable", headers={"Retry-After": "60"})
        return secrets.choice(free)

    async def issue(
        self,
        session: AsyncSession,
        account: AccountPrincipal,
        subject: str,
        document_type: str,
        view: str,
        holder_jwk: dict[str, Any],
        request_id: str,
    ) -> IssuedCredential:
        """A credential of the resident's own ``document_type``/``view``, bound to ``holder_jwk``."""
        if contains_resident_number(document_type) or contains_resident_number(view):
            raise Problem(422, "validation-error", errors="document (resident_number_shape)")
        cnf = holder_public_jwk(holder_jwk)
        _ = self.key  # before the lookup: a hub without its issuer key refuses before reading anything
        actor = account_actor(account)
        commitment = self.broker.committer.commit(subject)
        spec = self.catalog.get(document_type)
        if spec is not None and not spec.issuable:
            ref = await self.trail.record(
                session,
                AuditEvent(
                    kind=ISSUANCE_KIND,
                    **event_actor(actor),
                    outcome="denied",
                    reason="not_issuable",
                    subject_commitment=commitment,
                    document_type=document_type,
                    view=view,
                    request_id=request_id,
                ),
            )
            await commit_now(session)  # the refusal stays on the record though the request ends in an error
            raise Problem(
                422, "document-not-issuable", extra={"audit_event_id": ref.event_id}, document_type=spec.type
            )
        lookup = await self.broker.preview(
            session, actor, subject, document_type, view, request_id, kind="lookup", purpose_code=PURPOSE
        )
        spec = self.catalog[lookup.document_type]
        issued_at = utcnow().replace(microsecond=0)
        expires_at = issued_at + timedelta(days=spec.retention_days)
        idx = await self._free_index(session)
        credential_id = str(uuid.uuid4())
        vct = f"{VCT_PREFIX}{spec.type}"
        sd_jwt = self.sign(lookup.fields, cnf, idx, issued_at, expires_at, vct)
        ref = await self.trail.record(
            session,
            AuditEvent(
                kind=ISSUANCE_KIND,
                **event_actor(actor),
                outcome="ok",
                reason="issued",
                subject_commitment=commitment,
                document_type=spec.type,
                view=lookup.view,
                fields=released_field_names(spec, lookup.view),
                purpose_code=PURPOSE,
                basis=f"credential:{credential_id}",
                request_id=request_id,
            ),
        )
        session.add(
            CredentialRow(
                credential_id=credential_id,
                account_id=account.account_id,
                subject_commitment=commitment,
                document_type=spec.type,
                view=lookup.view,
                status_list=LIST_ID,
                status_idx=idx,
                holder_thumbprint=thumbprint(cnf),
                issued_at=issued_at,
                expires_at=expires_at,
                revoked_at=None,
                audit_event_id=ref.event_id,
                revoke_event_id=None,
            )
        )
        try:
            await session.flush()
        except IntegrityError:  # another issuance drew the same entry at the same moment
            await session.rollback()
            raise Problem(503, "credential-issuance-unavailable", headers={"Retry-After": "1"}) from None
        return IssuedCredential(
            credential_id=credential_id,
            sd_jwt=sd_jwt,
            vct=vct,
            document_type=spec.type,
            view=lookup.view,
            issued_at=issued_at,
            expires_at=expires_at,
            status_list=self.status_list_uri(),
            status_idx=idx,
            fields=tuple(lookup.fields),
            audit_event_id=ref.event_id,
        )

    def sign(
        self,
        fields: dict[str, Any],
        cnf: dict[str, Any],
        idx: int,
        issued_at: datetime,
        expires_at: datetime,
        vct: str,
    ) -> str:
        """The SD-JWT issuance: each field its own disclosure (with decoys), the envelope in clear."""
        key = self.key
        claims: dict[Any, Any] = {
            "iss": self.issuer,
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
            "vct": vct,
            "status": {"status_list": {"idx": idx, "uri": self.status_list_uri()}},
        }
        for name, value in fields.items():
            claims[SDObj(name)] = value
        issuer = SDJWTIssuer(
            claims,
            key.jwk,
            JWK(**cnf),
            sign_alg=ALG,
            add_decoy_claims=True,
            extra_header_parameters={"typ": TYP, "kid": key.kid},
        )
        issuance: str = issuer.sd_jwt_issuance
        return issuance

    # -- the resident's credentials ------------------------------------------------------------------------

    async def of_account(self, session: AsyncSession, account: AccountPrincipal) -> list[CredentialRow]:
        rows = await session.scalars(
            select(CredentialRow)
            .where(CredentialRow.account_id == account.account_id)
            .order_by(CredentialRow.issued_at.desc(), CredentialRow.credential_id)
        )
        return list(rows)

    async def revoke(
        self, session: AsyncSession, account: AccountPrincipal, credential_id: str, request_id: str
    ) -> CredentialRow:
        """Revoke one of my credentials: its status list bit is set when this commits, with its audit event.

        Someone else's credential reads as absent (404), as every object of another resident does.
        """
        row = await session.get(CredentialRow, credential_id, with_for_update=True)
        if row is None or row.account_id != account.account_id:
            raise Problem(404, "credential-not-found")
        if row.revoked_at is not None:
            raise Problem(409, "credential-already-revoked")
        actor = account_actor(account)
        ref = await self.trail.record(
            session,
            AuditEvent(
                kind=REVOCATION_KIND,
                **event_actor(actor),
                outcome="ok",
                reason="holder_revoked",
                subject_commitment=row.subject_commitment,
                document_type=row.document_type,
                view=row.view,
                basis=f"credential:{row.credential_id}",
                request_id=request_id,
            ),
        )
        row.revoked_at = utcnow()
        row.revoke_event_id = ref.event_id
        await session.flush()
        return row

    # -- verification --------------------------------------------------------------------------------------

    def _issuer_key(self, issuer: str | None, header: dict[str, Any]) -> JWK:
        """The sd-jwt package's callback: only this hub's issuer, only its published key, only ES256."""
        key = self.key
        if issuer != self.issuer or header.get("kid") != key.kid or header.get("alg") != ALG:
            raise Problem(422, "credential-signature-invalid")
        if header.get("typ") != TYP:
            raise Problem(422, "credential-signature-invalid")
        return key.jwk

    async def verify(self, session: AsyncSession, presentation: str, audience: str, nonce: str) -> Verified:
        """Check a presentation (SD-JWT ``~`` disclosures ``~`` KB-JWT) made for ``audience`` and ``nonce``.

        The checks that need no database first (:meth:`check`); then the key-binding JWT must not have been
        seen before (it is remembered), and last the status list. Each failure is its own problem type.
        """
        checked = self.check(presentation, audience, nonce)
        await self._remember(session, checked.kb_jwt, checked.at)
        revoked = await self._revoked(session, checked.status)
        payload = checked.payload
        return Verified(
            status="revoked" if revoked else "valid",
            vct=str(payload.get("vct", "")),
            issuer=str(payload.get("iss", "")),
            issued_at=int(payload.get("iat", 0)),
            expires_at=int(payload["exp"]),
            claims={k: v for k, v in checked.disclosed.items() if k not in ENVELOPE},
            undisclosed=len(_digests(payload) - checked.sent),
        )

    def check(self, presentation: str, audience: str, nonce: str, now: datetime | None = None) -> Checked:
        """Everything a verifier checks offline, in order: shape; the issuer's signature (against the
        published key); every disclosure is one the credential commits to; the key binding (the holder key's
        signature, ``sd_hash`` over exactly this presentation, ``aud``, ``nonce``, ``iat`` fresh); the
        credential's own ``exp``; a status list entry on a list this hub serves.
        """
        presentation = presentation.strip()
        parts = presentation.split("~")
        if len(presentation) > MAX_PRESENTATION or len(parts) < 2 or parts[0].count(".") != 2:
            raise Problem(422, "credential-presentation-malformed")
        disclosures, kb_jwt = parts[1:-1], parts[-1]
        if not kb_jwt:
            raise Problem(422, "credential-key-binding-invalid")
        if any(not d for d in disclosures):
            raise Problem(422, "credential-presentation-malformed")
        try:
            verifier = SDJWTVerifier(presentation, self._issuer_key)
        except Problem:
            raise
        except JWException:
            raise Problem(422, "credential-signature-invalid") from None
        except RecursionError:  # JSON nested past what the parser will follow: no credential looks like that
            raise Problem(422, "credential-presentation-malformed") from None
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            # A disclosure that is not base64url JSON (or repeats another) is an altered disclosure.
            raise Problem(422, "credential-disclosure-invalid") from None
        payload: dict[str, Any] = verifier._sd_jwt_payload
        # Every disclosure sent must be one the signed payload (or a disclosed value) commits to: the
        # package skips an unknown one silently, which would hide an altered or foreign disclosure.
        committed = _digests(payload)
        sent = frozenset(_b64url(hashlib.sha256(d.encode("ascii")).digest()) for d in disclosures)
        try:
            for decoded in verifier._hash_to_decoded_disclosure.values():
                committed |= _digests(decoded[-1])
        except RecursionError:
            raise Problem(422, "credential-presentation-malformed") from None
        if sent - committed:
            raise Problem(422, "credential-disclosure-invalid")
        try:
            disclosed = verifier.get_verified_payload()
        except (ValueError, TypeError, RecursionError):
            raise Problem(422, "credential-disclosure-invalid") from None
        holder = payload.get("cnf", {}).get("jwk") if isinstance(payload.get("cnf"), dict) else None
        if not isinstance(holder, dict):
            raise Problem(422, "credential-key-binding-invalid")
        now = now or utcnow()
        self._check_key_binding(presentation, kb_jwt, holder, audience, nonce, now)
        exp = payload.get("exp")
        if not isinstance(exp, int) or exp <= int(now.timestamp()):
            raise Problem(422, "credential-expired")
        return Checked(payload, disclosed, sent, kb_jwt, self._status_entry(payload), now)

    def _check_key_binding(
        self,
        presentation: str,
        kb_jwt: str,
        holder: dict[str, Any],
        audience: str,
        nonce: str,
        now: datetime,
    ) -> None:
        try:
            header = jwt.get_unverified_header(kb_jwt)
            if header.get("typ") != KB_TYP or header.get("alg") != ALG:
                raise Problem(422, "credential-key-binding-invalid")
            public = jwt.PyJWK(holder_public_jwk(holder), algorithm=ALG).key
            if not isinstance(public, ec.EllipticCurvePublicKey):
                raise Problem(422, "credential-key-binding-invalid")
            claims = jwt.decode(
                kb_jwt,
                public,
                algorithms=[ALG],
                options={"verify_aud": False, "require": ["iat", "aud", "nonce", "sd_hash"]},
            )
        except Problem:
            raise
        except (jwt.PyJWTError, ValueError, TypeError):
            raise Problem(422, "credential-key-binding-invalid") from None
        # sd_hash covers the issuer-signed JWT and exactly the disclosures sent, each followed by "~".
        signed_part = presentation[: len(presentation) - len(kb_jwt)]
        if claims["sd_hash"] != _b64url(hashlib.sha256(signed_part.encode("ascii")).digest()):
            raise Problem(422, "credential-key-binding-invalid")
        if claims["aud"] != audience:
            raise Problem(422, "credential-audience-mismatch")
        if claims["nonce"] != nonce:
            raise Problem(422, "credential-nonce-mismatch")
        iat = claims["iat"]
        if not isinstance(iat, int) or not (
            now - KB_MAX_AGE <= datetime.fromtimestamp(iat, now.tzinfo) <= now + SKEW
        ):
            raise Problem(422, "credential-key-binding-stale")

    def _status_entry(self, payload: dict[str, Any]) -> tuple[str, int]:
        """The list (its id) and index the credential names; a list this hub does not serve is refused."""
        entry = (
            payload.get("status", {}).get("status_list") if isinstance(payload.get("status"), dict) else None
        )
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("idx"), int)
            or not isinstance(entry.get("uri"), str)
        ):
            raise Problem(422, "credential-status-unknown")
        prefix = self.status_list_uri("")
        uri: str = entry["uri"]
        list_id = uri.removeprefix(prefix) if uri.startswith(prefix) else ""
        if list_id != LIST_ID:
            raise Problem(422, "credential-status-unknown")
        return list_id, int(entry["idx"])

    async def _revoked(self, session: AsyncSession, entry: tuple[str, int]) -> bool:
        """Read the entry off the signed status list token, as any verifier would."""
        list_id, idx = entry
        token = await self.status_token(session, list_id)
        try:
            array = status_list.read(token, self.status_list_uri(list_id), self.key.private_key.public_key())
            return status_list.status_at(array, idx) == status_list.INVALID
        except status_list.StatusListError:
            raise Problem(422, "credential-status-unknown") from None

    async def _remember(self, session: AsyncSession, kb_jwt: str, now: datetime) -> None:
        """Accept a key-binding JWT once: its hash is kept until the age check would refuse it anyway."""
        kb_hash = hashlib.sha256(kb_jwt.encode("ascii")).hexdigest()
        await session.execute(delete(KeyBindingReplayRow).where(KeyBindingReplayRow.expires_at < now - SKEW))
        if await session.get(KeyBindingReplayRow, kb_hash) is not None:
            raise Problem(409, "credential-replayed")
        session.add(KeyBindingReplayRow(kb_hash=kb_hash, seen_at=now, expires_at=now + KB_MAX_AGE + SKEW))
        try:
            await session.flush()
        except IntegrityError:  # the same presentation, verified at the same moment, committed first
            await session.rollback()
            raise Problem(409, "credential-replayed") from None
