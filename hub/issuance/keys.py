"""The document-signing keys of the QR payload (COSE ES256): created on first run, rotated, never forgotten.

Each key has a validity period: ``nbf`` when it started signing and, once rotated out, ``exp`` when it
stopped.
A retired key stays in the manifest and in the published trust list, so documents it signed stay verifiable;
a verifier refuses a document whose issue time falls outside its key's period (a stolen retired key cannot
mint "new" documents). The manifest is re-read when it changes, so ``gongyu keys rotate`` takes effect in
running processes without a restart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hub.issuance.files import directory_lock, write_private


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """First 8 bytes of SHA-256 over the SubjectPublicKeyInfo (as the EU DCC derives its ``kid``)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()[:8]


def ec_public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


@dataclass(frozen=True)
class DocumentKey:
    kid: bytes
    private_key: ec.EllipticCurvePrivateKey
    nbf: datetime
    exp: datetime | None

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    @property
    def kid_text(self) -> str:
        return b64url(self.kid)

    def jwk(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            **ec_public_jwk(self.public_key),
            "kid": self.kid_text,
            "alg": "ES256",
            "use": "sig",
            "gongyu_purpose": "document",
            "nbf": int(self.nbf.timestamp()),
        }
        if self.exp is not None:
            entry["exp"] = int(self.exp.timestamp())
        return entry


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class DocumentKeyRing:
    """All document keys under ``directory`` (``KEY_DIR/issuance/cose``); the newest unretired one signs."""

    MANIFEST = "manifest.json"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._mtime_ns = -1
        self._keys: list[DocumentKey] = []

    @classmethod
    def load_or_create(cls, directory: Path) -> DocumentKeyRing:
        ring = cls(directory)
        if not (directory / cls.MANIFEST).exists():
            with directory_lock(directory):
                if not (directory / cls.MANIFEST).exists():
                    ring._add_key(entries=[])
        ring._reload()
        return ring

    def _manifest(self) -> list[dict[str, Any]]:
        data = json.loads((self.directory / self.MANIFEST).read_text(encoding="utf-8"))
        entries: list[dict[str, Any]] = data["keys"]
        return entries

    def _add_key(self, entries: list[dict[str, Any]]) -> None:
        """Retire the current key (if any) now and append a fresh one; caller holds the directory lock."""
        now = _now()
        for entry in entries:
            if entry.get("exp") is None:
                entry["exp"] = int(now.timestamp())
        private = ec.generate_private_key(ec.SECP256R1())
        kid = key_id(private.public_key())
        name = f"{kid.hex()}.p256.pem"
        write_private(
            self.directory / name,
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        entries.append({"kid": b64url(kid), "file": name, "nbf": int(now.timestamp()), "exp": None})
        write_private(
            self.directory / self.MANIFEST, json.dumps({"keys": entries}, indent=2).encode() + b"\n"
        )

    def _reload(self) -> None:
        mtime = os.stat(self.directory / self.MANIFEST).st_mtime_ns
        if mtime == self._mtime_ns:
            return
        with self._lock:
            keys: list[DocumentKey] = []
            for entry in self._manifest():
                private = serialization.load_pem_private_key(
                    (self.directory / entry["file"]).read_bytes(), password=None
                )
                if not isinstance(private, ec.EllipticCurvePrivateKey):
                    raise ValueError(f"{entry['file']} is not an EC private key")
                kid = key_id(private.public_key())
                if b64url(kid) != entry["kid"]:
                    raise ValueError(f"{entry['file']}: key id does not match the manifest")
                exp = entry.get("exp")
                keys.append(
                    DocumentKey(
                        kid,
                        private,
                        datetime.fromtimestamp(entry["nbf"], UTC),
                        datetime.fromtimestamp(exp, UTC) if exp is not None else None,
                    )
                )
            if not keys or keys[-1].exp is not None:
                raise ValueError(f"{self.directory / self.MANIFEST}: no current signing key")
            self._keys, self._mtime_ns = keys, mtime

    def current(self) -> DocumentKey:
        self._reload()
        return self._keys[-1]

    def all(self) -> list[DocumentKey]:
        self._reload()
        return list(self._keys)

    def rotate(self) -> DocumentKey:
        with directory_lock(self.directory):
            self._add_key(self._manifest())
        self._mtime_ns = -1
        return self.current()

    def jwks(self) -> list[dict[str, Any]]:
        return [key.jwk() for key in self.all()]
