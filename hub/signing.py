"""Compact JWS (RFC 7515) over bytes with the hub's published key, for receipts and manifests.

Anyone can verify these with the JWKS at ``/.well-known/gongyu/keys`` and any JOSE library.
"""

from __future__ import annotations

from collections.abc import Callable

import jwt

from hub.keys import SigningKey

MANIFEST_TYP = "gongyu-manifest"


def jws_signer(key: SigningKey, typ: str) -> Callable[[bytes], str]:
    def sign(payload: bytes) -> str:
        return jwt.api_jws.PyJWS().encode(
            payload, key.private_key, algorithm="EdDSA", headers={"kid": key.kid, "typ": typ}
        )

    return sign
