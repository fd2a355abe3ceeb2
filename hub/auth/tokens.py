"""Short-lived signed access tokens (RFC 9068 JWT profile, EdDSA).

Claims carry the client's kind, organisation and granted statutes so the hot path needs no database read to
authorise; the short lifetime bounds how long a changed grant can lag. A token given up at sign-out is refused
by its ``jti`` until it expires (``hub.auth.revocation``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from hub.auth.revocation import DenyList, MemoryDenyList
from hub.errors import Problem
from hub.keys import SigningKey

BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="gongyu"'}


@dataclass(frozen=True)
class ClientPrincipal:
    client_id: str
    kind: str
    org: str
    statutes: frozenset[str]
    token_id: str


@dataclass(frozen=True)
class AccountPrincipal:
    account_id: str
    role: str
    display_name: str
    org: str | None
    subject_commitment: str | None
    # The page session's CSRF token, set by ``hub.web.session`` so the layout's sign-out form (on every page
    # that shows who is signed in) can carry it; empty for API callers, who have no forms.
    csrf: str = field(default="", repr=False, compare=False)


class TokenService:
    def __init__(
        self,
        key: SigningKey,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        denied: DenyList | None = None,
    ) -> None:
        self._key = key
        self._issuer = issuer
        self._audience = audience
        self.ttl_seconds = ttl_seconds
        self._public = key.public_key
        # Per process unless replaced by a shared one (``hub.ratelimit.attach`` does, from the settings).
        self.denied: DenyList = denied if denied is not None else MemoryDenyList()

    def _encode(self, subject: str, claims: dict[str, Any]) -> str:
        now = datetime.now(UTC)
        registered = {
            "iss": self._issuer,
            "sub": subject,
            "aud": self._audience,
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=self.ttl_seconds),
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(
            {**claims, **registered},
            self._key.private_key,
            algorithm="EdDSA",
            headers={"kid": self._key.kid, "typ": "at+jwt"},
        )

    def issue(self, client_id: str, kind: str, org: str, statutes: list[str]) -> str:
        """A client token: kind and statutes ride along so the hot path needs no database read."""
        return self._encode(
            client_id, {"client_id": client_id, "kind": kind, "org": org, "statutes": sorted(statutes)}
        )

    def issue_account(
        self, account_id: str, role: str, display_name: str, org: str | None, subject_commitment: str | None
    ) -> str:
        """An account token (no ``kind``, so it can never pass as a client's)."""
        return self._encode(
            account_id, {"role": role, "name": display_name, "org": org, "cmt": subject_commitment}
        )

    def verify_account(self, token: str) -> AccountPrincipal:
        claims = self._decode(token)
        if claims.get("role") not in {"official", "auditor", "resident", "privacy_officer"}:
            raise Problem(401, "invalid-token", headers=BEARER_CHALLENGE)
        return AccountPrincipal(
            account_id=str(claims["sub"]),
            role=str(claims["role"]),
            display_name=str(claims.get("name", "")),
            org=claims.get("org"),
            subject_commitment=claims.get("cmt"),
        )

    def verify(self, token: str) -> ClientPrincipal:
        claims = self._decode(token)
        statutes = claims.get("statutes", [])
        if not isinstance(statutes, list) or claims.get("kind") not in {"bank", "agency"}:
            raise Problem(401, "invalid-token", headers=BEARER_CHALLENGE)
        return ClientPrincipal(
            client_id=str(claims["sub"]),
            kind=str(claims["kind"]),
            org=str(claims.get("org", "")),
            statutes=frozenset(str(s) for s in statutes),
            token_id=str(claims["jti"]),
        )

    def revoke(self, token: str) -> None:
        """Sign a token out: it is refused from now until it would have expired.

        The token must be one of ours and still valid (an expired or forged one raises the usual 401), so
        nobody can fill the list with made-up ids.
        """
        claims = self._decode(token)
        self.denied.deny(str(claims["jti"]), float(claims["exp"]))

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self._key.kid:
                raise jwt.InvalidTokenError("unknown kid")
            claims = jwt.decode(
                token,
                self._public,
                algorithms=["EdDSA"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "jti", "sub", "aud", "iss"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise Problem(401, "token-expired", headers=BEARER_CHALLENGE) from None
        except jwt.PyJWTError:
            raise Problem(401, "invalid-token", headers=BEARER_CHALLENGE) from None
        if self.denied.is_denied(str(claims["jti"])):
            raise Problem(401, "invalid-token", headers=BEARER_CHALLENGE)
        return claims
