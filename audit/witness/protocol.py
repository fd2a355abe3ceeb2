"""The tlog-witness wire format and tlog-cosignature ``cosignature/v1`` signatures, pure and I/O-free.

- https://c2sp.org/tlog-cosignature: a cosignature is a signed-note signature line whose key ID is
  ``SHA-256(name || 0x0A || 0x04 || public key)[:4]`` and whose signature is a ``timestamped_signature``
  (big-endian u64 POSIX seconds || 64-byte Ed25519 signature) over ``cosignature/v1\\ntime <secs>\\n``
  followed by the whole checkpoint body.
- https://c2sp.org/tlog-witness: ``POST <prefix>/add-checkpoint`` with ``old <size>\\n``, at most 63 base64
  consistency-proof lines, a blank line and the signed checkpoint.

Both the witness (``audit.witness.server``) and its clients (the hub, verifiers) use these functions, so the
two sides cannot drift apart on a byte.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.checkpoint import CheckpointError, NoteSignature, parse_note

__all__ = [
    "ADD_CHECKPOINT_PATH",
    "COSIGNATURE_V1",
    "MAX_PROOF_LINES",
    "SIZE_MEDIA_TYPE",
    "AddCheckpoint",
    "Cosigner",
    "ProtocolError",
    "cosign",
    "cosigner_key_id",
    "cosigner_signer_key",
    "cosigner_vkey",
    "encode_add_checkpoint",
    "parse_add_checkpoint",
    "parse_cosigner_signer_key",
    "parse_cosigner_vkey",
    "signature_lines",
    "signed_message",
    "verify_cosignature",
]

COSIGNATURE_V1 = 0x04
"""Signature type byte of Ed25519 ``cosignature/v1`` keys (tlog-cosignature "Format")."""
SIZE_MEDIA_TYPE = "text/x.tlog.size"
"""Content type of a 409 answer: the size the witness last cosigned, in decimal, then a newline."""
ADD_CHECKPOINT_PATH = "/add-checkpoint"
MAX_PROOF_LINES = 63

_PRIVATE_PREFIX = "PRIVATE+KEY+"
_HEX8 = re.compile(r"[0-9a-fA-F]{8}", re.ASCII)
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)", re.ASCII)
_MAX_TIMESTAMP = 2**63 - 1
_SIG_SIZE = 64
_HASH_SIZE = 32


class ProtocolError(ValueError):
    """A request or key that does not follow the spec; the witness answers 400 Bad Request."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64decode(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ProtocolError(f"{what} is not base64") from exc
    if _b64(raw) != value:
        raise ProtocolError(f"{what} is not canonical base64")
    return raw


def _check_name(name: str) -> None:
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise ProtocolError(f"invalid cosigner name {name!r}: non-empty, without whitespace or '+'")


# --------------------------------------------------------------------------- keys


def cosigner_key_id(name: str, public_key: Ed25519PublicKey | bytes) -> bytes:
    """tlog-cosignature key ID: ``SHA-256(name || "\\n" || 0x04 || public key)[:4]``.

    The type byte differs from a log key's (0x01), so a log's signature can never pass for a cosignature.
    """
    _check_name(name)
    raw = public_key if isinstance(public_key, bytes) else public_key.public_bytes_raw()
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([COSIGNATURE_V1]) + raw).digest()[:4]


@dataclass(frozen=True)
class Cosigner:
    """A witness as a verifier knows it: the name and key its cosignature lines must carry."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @property
    def vkey(self) -> str:
        return cosigner_vkey(self.name, self.public_key)


def cosigner_vkey(name: str, public_key: Ed25519PublicKey) -> str:
    """The witness's signed-note vkey: ``<name>+<hex key ID>+<base64(0x04 || 32-byte key)>``."""
    raw = public_key.public_bytes_raw()
    return f"{name}+{cosigner_key_id(name, raw).hex()}+{_b64(bytes([COSIGNATURE_V1]) + raw)}"


def parse_cosigner_vkey(text: str) -> Cosigner:
    """Parse a witness vkey, refusing another key type or a key ID that does not match name and key."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise ProtocolError(f"malformed witness key {text!r}: want <name>+<key id>+<key>")
    name, id_hex, key_b64 = parts
    _check_name(name)
    if not _HEX8.fullmatch(id_hex):
        raise ProtocolError(f"malformed witness key {name}: key id {id_hex!r} is not 8 hex digits")
    raw = _b64decode(key_b64, "witness key")
    if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
        raise ProtocolError(f"witness key {name}: want type 0x04 (cosignature/v1) and a 32-byte Ed25519 key")
    kid = cosigner_key_id(name, raw[1:])
    if kid != bytes.fromhex(id_hex):
        raise ProtocolError(
            f"witness key {name}: key id {id_hex.lower()} does not match, computed {kid.hex()}"
        )
    return Cosigner(name, kid, Ed25519PublicKey.from_public_bytes(raw[1:]))


def cosigner_signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """The witness's private key file text: ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 || seed)>``."""
    kid = cosigner_key_id(name, private_key.public_key())
    seed = private_key.private_bytes_raw()
    return f"{_PRIVATE_PREFIX}{name}+{kid.hex()}+{_b64(bytes([COSIGNATURE_V1]) + seed)}"


def parse_cosigner_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    text = text.strip()
    if not text.startswith(_PRIVATE_PREFIX):
        raise ProtocolError("malformed witness private key: missing PRIVATE+KEY+ prefix")
    parts = text[len(_PRIVATE_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise ProtocolError("malformed witness private key")
    name, id_hex, key_b64 = parts
    _check_name(name)
    raw = _b64decode(key_b64, "witness private key")
    if len(raw) != 33 or raw[0] != COSIGNATURE_V1 or not _HEX8.fullmatch(id_hex):
        raise ProtocolError("malformed witness private key: want type 0x04 and a 32-byte seed")
    private = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if cosigner_key_id(name, private.public_key()) != bytes.fromhex(id_hex):
        raise ProtocolError("witness private key: key id does not match the key")
    return name, private


# --------------------------------------------------------------------------- cosignatures


def signed_message(checkpoint_body: str, timestamp: int) -> bytes:
    """``cosignature/v1\\ntime <timestamp>\\n`` then the checkpoint body (final newline, no signatures)."""
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise ProtocolError("cosignature timestamp outside 0..2^63-1")
    if not checkpoint_body.endswith("\n"):
        raise ProtocolError("checkpoint body must end in a newline")
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_body}".encode()


def cosign(checkpoint_body: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> NoteSignature:
    """The witness's cosignature on a checkpoint body, as a note signature line."""
    kid = cosigner_key_id(name, private_key.public_key())
    signature = private_key.sign(signed_message(checkpoint_body, timestamp))
    return NoteSignature(name, kid, struct.pack(">Q", timestamp) + signature)


def verify_cosignature(checkpoint_body: str, signature: NoteSignature, cosigner: Cosigner) -> int:
    """Check one cosignature line against the witness's key; return its timestamp.

    ``CheckpointError`` says what is wrong (another key, a malformed or a bad signature), in words a verifier
    can show next to the witness's name.
    """
    if signature.name != cosigner.name or signature.key_id != cosigner.key_id:
        raise CheckpointError(f"not a cosignature by {cosigner.name}+{cosigner.key_id.hex()}")
    if len(signature.signature) != 8 + _SIG_SIZE:
        raise CheckpointError(f"malformed cosignature by {cosigner.name}: {len(signature.signature)} bytes")
    (timestamp,) = struct.unpack(">Q", signature.signature[:8])
    if timestamp > _MAX_TIMESTAMP:
        raise CheckpointError(f"cosignature by {cosigner.name}: timestamp beyond 2^63-1")
    try:
        cosigner.public_key.verify(signature.signature[8:], signed_message(checkpoint_body, timestamp))
    except InvalidSignature as exc:
        raise CheckpointError(f"bad cosignature by {cosigner.name}") from exc
    return int(timestamp)


def signature_lines(text: str | bytes) -> list[NoteSignature]:
    """Parse a 200 answer's body (one or more signature lines) by reading it as a note's signature block."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    _, sigs = parse_note("x\n\n" + text)
    return sigs


# --------------------------------------------------------------------------- add-checkpoint


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: str


def encode_add_checkpoint(old_size: int, proof: list[bytes] | tuple[bytes, ...], note: str) -> bytes:
    if old_size < 0 or len(proof) > MAX_PROOF_LINES:
        raise ProtocolError("old size must be >= 0 and the proof at most 63 hashes")
    lines = [f"old {old_size}", *(_b64(h) for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode("utf-8")


def parse_add_checkpoint(data: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint body; ``ProtocolError`` (400) for anything but its one canonical spelling."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("body is not UTF-8") from exc
    split = text.find("\n\n")
    if split < 0:
        raise ProtocolError("no blank line before the checkpoint")
    head, note = text[:split].split("\n"), text[split + 2 :]
    old_line, proof_lines = head[0], head[1:]
    if not old_line.startswith("old ") or not _DECIMAL.fullmatch(old_line[4:]):
        raise ProtocolError("the first line must be 'old <size>' in decimal without leading zeroes")
    old_size = int(old_line[4:])
    if old_size > 2**64 - 1:
        raise ProtocolError("old size does not fit in 64 bits")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise ProtocolError("more than 63 consistency proof lines")
    proof = []
    for line in proof_lines:
        digest = _b64decode(line, "proof line")
        if len(digest) != _HASH_SIZE:
            raise ProtocolError("a proof line is not a 32-byte hash")
        proof.append(digest)
    if not note:
        raise ProtocolError("no checkpoint after the blank line")
    return AddCheckpoint(old_size, tuple(proof), note)
