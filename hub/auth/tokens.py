"""Short-lived signed access tokens (RFC 9068 JWT profile, EdDSA).

Claims carry the client's kind, organisation and granted statutes so the hot path needs no database read to
authorise; the short lifetime bounds how long a changed grant can lag. A token given up at sign-out is refused
by its ``jti`` until it expires (``hub.auth.revocation``).

A bank's integration sends the same token with thousands of requests, and checking it (Ed25519 verify, two
base64 and JSON decodes, the claim checks) was ~14 % of a lookup's CPU (issue 17). So a token that verified is
remembered, keyed by its exact text, until its own expiry: only the signature and claim checks are skipped on
a hit; the expiry is checked again on every use and the sign-out deny list is consulted on every use, so a
remembered token is refused the moment it expires or is signed out. The memory is bounded (least recently
used first out) and per process.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from hub.auth.revocation import DenyList, MemoryDenyList
from hub.errors import Problem
from hub.keys import SigningKey

BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="gongyu"'}
LEEWAY_SECONDS = 5  # clock skew allowed on exp/nbf/iat, as pyjwt is told
VERIFIED_CACHE_SIZE = 4096  # distinct live tokens one process remembers (~2 MB at most)


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
        leeway_seconds: int = LEEWAY_SECONDS,
    ) -> None:
        self._key = key
        self._leeway = leeway_seconds
        self._issuer = issuer
        self._audience = audience
        self.ttl_seconds = ttl_seconds
        self._public = key.public_key
        # Per process unless replaced by a shared one (``hub.ratelimit.attach`` does, from the settings).
        self.denied: DenyList = denied if denied is not None else MemoryDenyList()
        # token text -> its verified claims; only tokens whose signature and claims checked out get in.
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.cache_size = VERIFIED_CACHE_SIZE

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
        claims = self._verified.get(token)
        if claims is not None and time.time() < float(claims["exp"]) + self._leeway:
            self._verified.move_to_end(token)
        else:
            if claims is not None:  # expired since it was remembered: forget it, and let pyjwt say why
                del self._verified[token]
            claims = self._verify_signed(token)
            self._verified[token] = claims
            if len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        if self.denied.is_denied(str(claims["jti"])):
            raise Problem(401, "invalid-token", headers=BEARER_CHALLENGE)
        return claims

    def _verify_signed(self, token: str) -> dict[str, Any]:
        """The full check: our key id, the EdDSA signature, issuer, audience, and the time claims."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self._key.kid:
                raise jwt.InvalidTokenError("unknown kid")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=["EdDSA"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "jti", "sub", "aud", "iss"]},
                leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError:
            raise Problem(401, "token-expired", headers=BEARER_CHALLENGE) from None
        except jwt.PyJWTError:
            raise Problem(401, "invalid-token", headers=BEARER_CHALLENGE) from None
        return claims
