"""The credential issuer's signing key: P-256 (ES256), in the key directory, published as a JWK.

ES256 because it is what SD-JWT VC wallets support first and what the reference ``sd-jwt`` package signs by
default. One key for the credentials and the status list tokens that revoke them: a verifier fetches one
JWKS. The ``kid`` is the key's RFC 7638 thumbprint, so a published key names itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto.jwk import JWK

from hub.issuance.keys import b64url, ec_public_jwk
from hub.keys import _write_secret

ISSUER_KEY_FILE: Final = Path("credentials") / "issuer-es256.pem"
ALG: Final = "ES256"


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of an EC public key."""
    required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


@dataclass(frozen=True)
class IssuerKey:
    private_key: ec.EllipticCurvePrivateKey
    jwk: JWK  # the same key for the sd-jwt package (jwcrypto)
    kid: str

    def public_jwk(self) -> dict[str, Any]:
        public = ec_public_jwk(self.private_key.public_key())
        # ``gongyu_purpose`` tells it apart in the hub's combined JWKS (/.well-known/gongyu/keys).
        return {**public, "kid": self.kid, "alg": ALG, "use": "sig", "gongyu_purpose": "credential-issuer"}


def issuer_key_path(key_dir: Path) -> Path:
    return key_dir / ISSUER_KEY_FILE


def load_issuer_key(key_dir: Path, *, create: bool) -> IssuerKey | None:
    """The issuer key, made on first use where ``create`` allows it (outside production, or the CLI)."""
    path = issuer_key_path(key_dir)
    if not path.exists():
        if not create:
            return None
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_secret(path, pem)
    data = path.read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{path} does not hold a P-256 private key")
    kid = thumbprint(ec_public_jwk(key.public_key()))
    return IssuerKey(key, JWK.from_pem(data), kid)
