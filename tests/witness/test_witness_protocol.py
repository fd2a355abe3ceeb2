"""cosignature/v1 and the add-checkpoint body, as c2sp.org tlog-cosignature and tlog-witness say."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint import CheckpointError, NoteSignature, parse_note
from audit.witness.protocol import (
    ProtocolError,
    cosign,
    cosigner_key_id,
    cosigner_signer_key,
    cosigner_vkey,
    encode_add_checkpoint,
    parse_add_checkpoint,
    parse_cosigner_signer_key,
    parse_cosigner_vkey,
    signed_message,
    verify_cosignature,
)

# RFC 8032 section 7.1, TEST 1: a published seed, so the expected bytes do not depend on our own keys.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
# The checkpoint of the tlog-cosignature spec's example.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
NAME = "witness.example.com/w1"


def test_signed_message_is_header_time_line_then_the_whole_body() -> None:
    # tlog-cosignature "Ed25519 signed message", the spec's own example.
    assert signed_message(SPEC_BODY, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_key_id_uses_type_0x04_over_name_newline_key() -> None:
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
    assert key.public_key().public_bytes_raw() == RFC8032_PUBLIC
    expected = hashlib.sha256(NAME.encode() + b"\n\x04" + RFC8032_PUBLIC).digest()[:4]
    assert cosigner_key_id(NAME, key.public_key()) == expected
    # A log key (0x01) of the same name and key has another ID: one can never stand in for the other.
    assert expected != hashlib.sha256(NAME.encode() + b"\n\x01" + RFC8032_PUBLIC).digest()[:4]


def test_known_answer_cosignature_line_from_the_rfc8032_key() -> None:
    """Ed25519 is deterministic: this line is what any correct cosignature/v1 implementation produces."""
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
    sig = cosign(SPEC_BODY, NAME, key, 1679315147)
    blob = base64.b64decode(sig.line().split(" ")[2])
    kid = hashlib.sha256(NAME.encode() + b"\n\x04" + RFC8032_PUBLIC).digest()[:4]
    assert blob[:4] == kid
    assert blob[4:12] == struct.pack(">Q", 1679315147)
    # Independent check with the raw key and the spec's message bytes, then the pinned bytes.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(RFC8032_PUBLIC).verify(
        blob[12:], b"cosignature/v1\ntime 1679315147\n" + SPEC_BODY.encode()
    )
    assert sig.line() == PINNED_LINE


# Pinned once from the code above and cross-checked by the independent verification before it; the timestamp
# bytes (AAAABkGFDL) are those of the spec's own example line for the same time.
PINNED_LINE = (
    "\u2014 witness.example.com/w1 fm9KqgAAAABkGFDL+TPmh4BYuAjsYRoqMJCWb/gWJaeRF/kmm5tlCr9sJ57DLErur"
    "7K0yDXc2ArN+TIuotuB/HbuL3AJsp3bv/aNCQ==\n"
)


def test_vkey_round_trips_and_verifies_the_cosignature() -> None:
    key = Ed25519PrivateKey.generate()
    vkey = cosigner_vkey(NAME, key.public_key())
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    cosigner = parse_cosigner_vkey(vkey)
    line = cosign(SPEC_BODY, NAME, key, 1700000000).line()
    _, sigs = parse_note(SPEC_BODY + "\n" + line)
    assert verify_cosignature(SPEC_BODY, sigs[0], cosigner) == 1700000000


def test_a_cosignature_over_another_checkpoint_or_time_does_not_verify() -> None:
    key = Ed25519PrivateKey.generate()
    cosigner = parse_cosigner_vkey(cosigner_vkey(NAME, key.public_key()))
    sig = cosign(SPEC_BODY, NAME, key, 1700000000)
    with pytest.raises(CheckpointError, match="bad cosignature"):
        verify_cosignature(SPEC_BODY.replace("20852163", "20852164"), sig, cosigner)
    moved = NoteSignature(sig.name, sig.key_id, struct.pack(">Q", 1700000001) + sig.signature[8:])
    with pytest.raises(CheckpointError, match="bad cosignature"):
        verify_cosignature(SPEC_BODY, moved, cosigner)


def test_a_log_style_vkey_is_not_accepted_as_a_witness_key() -> None:
    from audit.checkpoint import verifier_key

    with pytest.raises(ProtocolError, match="0x04"):
        parse_cosigner_vkey(verifier_key(NAME, Ed25519PrivateKey.generate().public_key()))


def test_signer_key_file_round_trips() -> None:
    key = Ed25519PrivateKey.generate()
    name, back = parse_cosigner_signer_key(cosigner_signer_key(NAME, key))
    assert name == NAME and back.private_bytes_raw() == key.private_bytes_raw()


def test_add_checkpoint_body_round_trips_in_the_spec_layout() -> None:
    proof = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    note = SPEC_BODY + "\n— example.com/behind-the-sofa AAAA\n"
    body = encode_add_checkpoint(20852014, proof, note)
    lines = body.decode().split("\n")
    assert lines[0] == "old 20852014" and lines[4] == "" and lines[5] == "example.com/behind-the-sofa"
    parsed = parse_add_checkpoint(body)
    assert (parsed.old_size, list(parsed.proof), parsed.note) == (20852014, proof, note)
    assert parse_add_checkpoint(encode_add_checkpoint(0, [], note)).proof == ()


@pytest.mark.parametrize(
    "body",
    [
        b"old 01\n\nx\n",
        b"old -1\n\nx\n",
        b"new 1\n\nx\n",
        b"old 1\nnot-base64!\n\nx\n",
        b"old 1\n" + base64.b64encode(b"short") + b"\n\nx\n",
        b"old 1\n",
        b"old 1\n\n",
        b"old 1\n" + b"".join(base64.b64encode(bytes(32)) + b"\n" for _ in range(64)) + b"\nx\n",
    ],
)
def test_malformed_add_checkpoint_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_add_checkpoint(body)
