"""Signed checkpoints for the audit log, in the C2SP signed-note and tlog-checkpoint formats.

A checkpoint is the log's signed statement "at size N my Merkle root is R".  Publishing it in
the C2SP formats (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint) rather than
an ad-hoc JSON blob means residents, auditors and witnesses can verify it with existing tools
(golang.org/x/mod/sumdb/note, transparency-dev/formats, sigstore's rekor checkpoint code),
and witnesses can cosign it to detect split views.

Parsing is deliberately strict (canonical decimal, canonical base64, no stray control
characters): a checkpoint has exactly one valid encoding, so two parties comparing the bytes
they saw cannot be fooled by equivalent-but-different spellings.  This module is pure and
I/O-free; key storage and publication live elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Checkpoint",
    "CheckpointError",
    "NoteSignature",
    "add_signature",
    "key_id",
    "parse_checkpoint_body",
    "parse_note",
    "parse_signed_note",
    "parse_signer_key",
    "parse_verifier_key",
    "sign_checkpoint",
    "sign_note",
    "signer_key",
    "verifier_key",
    "verify_checkpoint",
    "verify_note",
]

ALG_ED25519 = 0x01
"""signed-note signature type byte for Ed25519 keys."""

MAX_SIGNATURES = 100
"""Same cap as golang.org/x/mod/sumdb/note, so a hostile note cannot make us verify forever."""

# signed-note: a signature line is EM DASH, SPACE, key name, SPACE, base64 blob.
_SIG_PREFIX = "\u2014 "
_KEY_ID_SIZE = 4
_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64
_ROOT_HASH_SIZE = 32
_MAX_TREE_SIZE = 2**64 - 1
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)", re.ASCII)
_HEX8 = re.compile(r"[0-9a-fA-F]{8}", re.ASCII)
_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"


class CheckpointError(ValueError):
    """Any reason a note, key or checkpoint must not be trusted; the message says which."""


# --------------------------------------------------------------------------- helpers


def _b64decode_canonical(value: str, what: str) -> bytes:
    """Decode standard padded base64, rejecting any spelling other than the canonical one."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise CheckpointError(f"{what} is not valid base64: {value!r}") from exc
    if base64.b64encode(raw).decode("ascii") != value:
        raise CheckpointError(f"{what} is not canonical base64: {value!r}")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _is_valid_name(name: str) -> bool:
    # signed-note: key names are non-empty, contain no Unicode whitespace and no '+'
    # (the '+' separates fields of a verifier key).
    if not name or "+" in name or any(ch.isspace() for ch in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_name(name: str) -> None:
    if not _is_valid_name(name):
        raise CheckpointError(f"invalid key name {name!r}: must be non-empty, without whitespace or '+'")


def _raw_public_key(public_key: Ed25519PublicKey | bytes) -> bytes:
    raw = public_key if isinstance(public_key, bytes) else public_key.public_bytes_raw()
    if len(raw) != _ED25519_KEY_SIZE:
        raise CheckpointError(f"Ed25519 public key must be {_ED25519_KEY_SIZE} bytes, got {len(raw)}")
    return raw


def _as_text(text: str | bytes) -> str:
    if isinstance(text, bytes):
        try:
            return text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError("malformed note: not valid UTF-8") from exc
    return text


def _check_note_chars(text: str) -> None:
    # signed-note: the note must be UTF-8 with no ASCII control characters except newline.
    for ch in text:
        if ch < " " and ch != "\n":
            raise CheckpointError(f"malformed note: control character {ch!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CheckpointError("malformed note: not encodable as UTF-8") from exc


# --------------------------------------------------------------------------- keys


def key_id(name: str, public_key: Ed25519PublicKey | bytes) -> bytes:
    """Derive the 4-byte key ID that lets a verifier pick the right key without trying them all.

    signed-note "Signatures": key ID = SHA-256(key name || 0x0A || type || public key)[:4],
    with type 0x01 for Ed25519.
    """
    _check_name(name)
    material = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + _raw_public_key(public_key)
    return hashlib.sha256(material).digest()[:_KEY_ID_SIZE]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """Encode a public key the way every signed-note tool expects to be configured with it.

    signed-note "Verifier keys": ``<name>+<hex key ID>+<base64(type || public key)>``.
    """
    raw = _raw_public_key(public_key)
    return f"{name}+{key_id(name, raw).hex()}+{_b64encode(bytes([ALG_ED25519]) + raw)}"


def parse_verifier_key(s: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """Parse a verifier key, refusing one whose key ID does not match its name and key.

    Checking the ID (as golang.org/x/mod/sumdb/note does) catches keys that were mistyped
    or spliced together from two different keys.
    """
    # The base64 part may itself contain '+', so split at most twice.
    parts = s.split("+", 2)
    if len(parts) != 3:
        raise CheckpointError(f"malformed verifier key {s!r}: want <name>+<key id>+<key>")
    name, id_hex, key_b64 = parts
    _check_name(name)
    if not _HEX8.fullmatch(id_hex):
        raise CheckpointError(f"malformed verifier key: key id {id_hex!r} is not 8 hex digits")
    raw = _b64decode_canonical(key_b64, "verifier key")
    if len(raw) != 1 + _ED25519_KEY_SIZE or raw[0] != ALG_ED25519:
        raise CheckpointError("unsupported verifier key: want type 0x01 followed by a 32-byte Ed25519 key")
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    want = key_id(name, raw[1:])
    if bytes.fromhex(id_hex) != want:
        raise CheckpointError(f"verifier key id mismatch: key says {id_hex.lower()}, computed {want.hex()}")
    return name, want, public


def signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """Encode a private key in golang.org/x/mod/sumdb/note's format, for interop with Go tooling.

    ``PRIVATE+KEY+<name>+<hex key ID>+<base64(type || 32-byte seed)>``.
    """
    raw_pub = private_key.public_key().public_bytes_raw()
    seed = private_key.private_bytes_raw()
    return (
        f"{_PRIVATE_KEY_PREFIX}{name}+{key_id(name, raw_pub).hex()}+{_b64encode(bytes([ALG_ED25519]) + seed)}"
    )


def parse_signer_key(s: str) -> tuple[str, bytes, Ed25519PrivateKey]:
    """Parse a Go-format signer key, checking its key ID against the derived public key."""
    if not s.startswith(_PRIVATE_KEY_PREFIX):
        raise CheckpointError("malformed signer key: missing PRIVATE+KEY+ prefix")
    parts = s[len(_PRIVATE_KEY_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise CheckpointError("malformed signer key: want PRIVATE+KEY+<name>+<key id>+<key>")
    name, id_hex, key_b64 = parts
    _check_name(name)
    if not _HEX8.fullmatch(id_hex):
        raise CheckpointError(f"malformed signer key: key id {id_hex!r} is not 8 hex digits")
    raw = _b64decode_canonical(key_b64, "signer key")
    if len(raw) != 1 + _ED25519_KEY_SIZE or raw[0] != ALG_ED25519:
        raise CheckpointError("unsupported signer key: want type 0x01 followed by a 32-byte Ed25519 seed")
    private = Ed25519PrivateKey.from_private_bytes(raw[1:])
    want = key_id(name, private.public_key())
    if bytes.fromhex(id_hex) != want:
        raise CheckpointError(f"signer key id mismatch: key says {id_hex.lower()}, computed {want.hex()}")
    return name, want, private


# --------------------------------------------------------------------------- signed notes


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note; ``signature`` excludes the 4-byte key ID prefix."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line as it appears in a note, including the trailing newline."""
        return f"{_SIG_PREFIX}{self.name} {_b64encode(self.key_id + self.signature)}\n"


def parse_note(text: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines, without verifying anything.

    signed-note "Format": the text ends in a newline and is separated from one or more
    signature lines by a blank line; the last blank line is the separator, so it is
    unambiguous where the signed text ends.
    """
    note = _as_text(text)
    _check_note_chars(note)
    if not note.endswith("\n"):
        raise CheckpointError("malformed note: does not end in a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("malformed note: no blank line before the signatures")
    body, sig_block = note[: split + 1], note[split + 2 :]
    if not sig_block:
        raise CheckpointError("malformed note: no signature lines")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    sigs: list[NoteSignature] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointError(f"malformed note: signature line {line!r} does not start with '— '")
        name, sep, blob_b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep or not _is_valid_name(name) or not blob_b64:
            raise CheckpointError(f"malformed note: bad signature line {line!r}")
        blob = _b64decode_canonical(blob_b64, "signature")
        if len(blob) < _KEY_ID_SIZE + 1:
            raise CheckpointError(f"malformed note: signature of {name!r} is too short")
        sigs.append(NoteSignature(name, blob[:_KEY_ID_SIZE], blob[_KEY_ID_SIZE:]))
    return body, sigs


def _make_signature(text: str, key_name: str, private_key: Ed25519PrivateKey) -> NoteSignature:
    _check_name(key_name)
    _check_note_chars(text)
    if not text.endswith("\n"):
        raise CheckpointError("note text must end in a newline")
    if "\n\n" in text or text.startswith("\n"):
        # A blank line inside the text would be mistaken for the signature separator.
        raise CheckpointError("note text must not contain blank lines")
    kid = key_id(key_name, private_key.public_key())
    return NoteSignature(key_name, kid, private_key.sign(text.encode("utf-8")))


def sign_note(text: str, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign arbitrary note text; the signed bytes are exactly the UTF-8 text, newline included."""
    sig = _make_signature(text, key_name, private_key)
    return text + "\n" + sig.line()


def add_signature(signed_note: str, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """Add (or replace) one key's signature on an already signed note, e.g. a witness cosignature.

    Like golang.org/x/mod/sumdb/note.Sign, an existing signature by the same key is dropped
    so re-signing never produces duplicate lines.
    """
    text, sigs = parse_note(signed_note)
    new = _make_signature(text, key_name, private_key)
    kept = [s for s in sigs if (s.name, s.key_id) != (new.name, new.key_id)]
    return text + "\n" + "".join(s.line() for s in [*kept, new])


def verify_note(text: str | bytes, verifier: str) -> str:
    """Return the note's text only if ``verifier`` signed it; other keys' signatures are ignored.

    Following golang.org/x/mod/sumdb/note.Open, a signature line that claims to be from our
    key but does not verify is an error even if another line does, because it means someone
    is forging or corrupting notes in our name.
    """
    name, kid, public = parse_verifier_key(verifier)
    body, sigs = parse_note(text)
    mine = [s for s in sigs if s.name == name and s.key_id == kid]
    if not mine:
        raise CheckpointError(f"no signature by key {name}+{kid.hex()}")
    if len(mine) > 1:
        raise CheckpointError(f"malformed note: multiple signatures by key {name}+{kid.hex()}")
    sig = mine[0]
    if len(sig.signature) != _ED25519_SIG_SIZE:
        raise CheckpointError(f"bad signature by key {name}+{kid.hex()}: wrong length {len(sig.signature)}")
    try:
        public.verify(sig.signature, body.encode("utf-8"))
    except InvalidSignature as exc:
        raise CheckpointError(f"bad signature by key {name}+{kid.hex()}") from exc
    return body


# --------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """The log state a checkpoint commits to; validated on construction so it always encodes.

    tlog-checkpoint: origin line, decimal tree size, base64 root hash, then optional
    extension lines.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for label, line in (("origin", self.origin), *(("extension line", e) for e in self.extensions)):
            if not line or "\n" in line or any(ch < " " for ch in line):
                raise CheckpointError(f"{label} must be a non-empty single line without control characters")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointError("tree size must be an int")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size} is outside 0..2^64-1")
        if len(self.root_hash) != _ROOT_HASH_SIZE:
            raise CheckpointError(f"root hash must be {_ROOT_HASH_SIZE} bytes, got {len(self.root_hash)}")

    def body_text(self) -> str:
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    def body(self) -> bytes:
        """The exact bytes that get signed (tlog-checkpoint note text)."""
        return self.body_text().encode("utf-8")


def parse_checkpoint_body(body: str | bytes) -> Checkpoint:
    """Parse checkpoint note text, accepting only its canonical encoding."""
    text = _as_text(body)
    if not text.endswith("\n"):
        raise CheckpointError("malformed checkpoint: body does not end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("malformed checkpoint: want origin, size and root hash lines")
    origin, size_s, root_b64, *extensions = lines
    if not _DECIMAL.fullmatch(size_s):
        raise CheckpointError(f"malformed checkpoint: tree size {size_s!r} is not a canonical decimal")
    size = int(size_s)
    if size > _MAX_TREE_SIZE:
        raise CheckpointError(f"malformed checkpoint: tree size {size_s} does not fit in 64 bits")
    root = _b64decode_canonical(root_b64, "root hash")
    if len(root) != _ROOT_HASH_SIZE:
        raise CheckpointError(f"malformed checkpoint: root hash is {len(root)} bytes, want {_ROOT_HASH_SIZE}")
    return Checkpoint(origin, size, root, tuple(extensions))


def sign_checkpoint(cp: Checkpoint, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """Produce the signed-note text of a checkpoint, ready to publish or hand to witnesses."""
    return sign_note(cp.body_text(), key_name, private_key)


def parse_signed_note(text: str | bytes) -> tuple[Checkpoint, list[NoteSignature]]:
    """Parse a signed checkpoint without verifying it (e.g. to learn which keys signed it)."""
    body, sigs = parse_note(text)
    return parse_checkpoint_body(body), sigs


def verify_checkpoint(text: str | bytes, verifier_key: str) -> Checkpoint:
    """Return the checkpoint only if it is well-formed and signed by ``verifier_key``.

    The caller must still check the origin is the log it expects; this function cannot
    know that.
    """
    body = verify_note(text, verifier_key)
    return parse_checkpoint_body(body)
