"""Key material kept under ``KEY_DIR``: generated on first run, read on every start.

Keys are files rather than database rows so that a database dump never contains them, and the audit pepper in
particular stays outside the database: without it the subject commitments in the log cannot be brute-forced.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    # A concurrent first start may have written it already; keep whichever landed first.
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    if not path.exists():
        _write_secret(path, secrets.token_bytes(size))
    secret = path.read_bytes()
    if len(secret) < size:
        raise ValueError(f"secret {path} is shorter than {size} bytes")
    return secret


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key with the ``kid`` published in the JWKS."""

    private_key: Ed25519PrivateKey
    kid: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, str]:
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }


def _kid(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).rstrip(b"=").decode()


def load_or_create_ed25519(path: Path) -> SigningKey:
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_secret(path, pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return SigningKey(key, _kid(key.public_key()))


@dataclass(frozen=True)
class KeyRing:
    token_key: SigningKey
    log_key: SigningKey
    pepper: bytes
    data_key: bytes


def load_keyring(key_dir: Path, pepper_file: Path) -> KeyRing:
    return KeyRing(
        token_key=load_or_create_ed25519(key_dir / "token-signing.ed25519.pem"),
        log_key=load_or_create_ed25519(key_dir / "log-signing.ed25519.pem"),
        pepper=load_or_create_secret(pepper_file),
        data_key=load_or_create_secret(key_dir / "data.aes256", 32)[:32],
    )
