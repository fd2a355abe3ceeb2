"""The log's checkpoint signer and its published verifier key (C2SP signed-note format)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint import Checkpoint, sign_checkpoint, verifier_key


@dataclass(frozen=True)
class LogSigner:
    origin: str  # also the key name, as transparency logs conventionally do
    private_key: Ed25519PrivateKey

    def sign(self, checkpoint: Checkpoint) -> str:
        return sign_checkpoint(checkpoint, self.origin, self.private_key)

    @property
    def verifier_key(self) -> str:
        return verifier_key(self.origin, self.private_key.public_key())
