"""The witness's private key on disk: ``<key dir>/witness.key`` (0600), in the note signer-key text format."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.witness.protocol import cosigner_signer_key, parse_cosigner_signer_key

KEY_FILE = "witness.key"


def key_path(key_dir: Path) -> Path:
    return key_dir / KEY_FILE


def init_key(key_dir: Path, name: str) -> tuple[str, Ed25519PrivateKey, bool]:
    """Create the key once (never overwritten: a witness that changed keys would be a new witness).

    Returns the name, the key and whether it was created now; an existing key keeps its own name.
    """
    path = key_path(key_dir)
    if path.exists():
        found_name, private = load_key(key_dir)
        return found_name, private, False
    key_dir.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(cosigner_signer_key(name, private) + "\n")
    return name, private, True


def load_key(key_dir: Path) -> tuple[str, Ed25519PrivateKey]:
    return parse_cosigner_signer_key(key_path(key_dir).read_text(encoding="ascii"))
