"""Tests for audit.checkpoint: C2SP signed notes and tlog checkpoints.

Golden vectors come from other implementations wherever possible:
- golang.org/x/mod/sumdb/note's ExampleSign / ExampleSign_add_signatures (PeterNeumann and
  EnochRoot keys).  Ed25519 is deterministic, so our signatures must match Go's byte for byte.
- real checkpoints served by sum.golang.org, verified with the Go checksum database's
  published verifier key.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteSignature,
    add_signature,
    key_id,
    parse_checkpoint_body,
    parse_note,
    parse_signed_note,
    parse_signer_key,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    signer_key,
    verifier_key,
    verify_checkpoint,
    verify_note,
)

# --------------------------------------------------------------------------- fixtures

SEED = bytes(range(32))
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
# RFC 8032-style test key: the Ed25519 public key of seed 00 01 .. 1f.
PUBLIC_HEX = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
NAME = "gongyu.example/audit-log"
# Root of the 7-leaf RFC 6962 reference tree used by transparency-dev/merkle's test data.
ROOT7 = bytes.fromhex("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c")
CP = Checkpoint(NAME, 7, ROOT7)
VKEY = "gongyu.example/audit-log+2607f029+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
# Pinned output of sign_checkpoint(CP, NAME, KEY); a change here breaks every published note.
SIGNED = (
    "gongyu.example/audit-log\n"
    "7\n"
    "3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=\n"
    "\n"
    "— gongyu.example/audit-log "
    "JgfwKQaU5riUQGGPicfcc4oCQvcl6DWyCZgMCD0C40H3ETw5ld1yBCRyrdDQHkyesa8pTRfx9aNqDmuR5erThZDUfAQ=\n"
)

OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(32))

# golang.org/x/mod/sumdb/note example keys and messages.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_PETER_LINE = (
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"  # seed: 32 zero bytes
GO_ENOCH_LINE = (
    "— EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)

# sum.golang.org's verifier key (cmd/go's default GOSUMDB) and checkpoints it served.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTES = [
    (
        "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n\n"
        "— sum.golang.org "
        "Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=\n",
        65209736,
    ),
    (
        "go.sum database tree\n52544510\n+TGlZfnTizQCJgyZR56QixD8+X4dd8Wefy8U1w6k0Ig=\n\n"
        "— sum.golang.org "
        "Az3grn6d1PSjcypDf9bfcFVU5fvJB7VkLc0MAbz8jqeQVnSbAj9pKcsB5dJt5VdswPDUtiFar5LPRBu+uEQAT1CDfAc=\n",
        52544510,
    ),
]


def _independent_key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\x0a\x01" + public).digest()[:4]


# --------------------------------------------------------------------------- golden: ours


def test_fixed_seed_yields_the_known_ed25519_public_key() -> None:
    assert KEY.public_key().public_bytes_raw().hex() == PUBLIC_HEX


def test_key_id_matches_an_independent_computation() -> None:
    public = bytes.fromhex(PUBLIC_HEX)
    assert key_id(NAME, KEY.public_key()) == _independent_key_id(NAME, public)
    assert key_id(NAME, public).hex() == "2607f029"


def test_golden_checkpoint_signs_to_the_pinned_note() -> None:
    assert CP.body() == b"gongyu.example/audit-log\n7\n3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=\n"
    assert sign_checkpoint(CP, NAME, KEY) == SIGNED


def test_golden_note_parses_and_verifies() -> None:
    cp, sigs = parse_signed_note(SIGNED)
    assert cp == CP
    assert sigs == [NoteSignature(NAME, bytes.fromhex("2607f029"), sigs[0].signature)]
    assert len(sigs[0].signature) == 64
    KEY.public_key().verify(sigs[0].signature, CP.body())  # independent of verify_checkpoint
    assert verify_checkpoint(SIGNED, VKEY) == CP
    assert verify_checkpoint(SIGNED.encode(), VKEY) == CP


def test_verifier_key_string_round_trips() -> None:
    assert verifier_key(NAME, KEY.public_key()) == VKEY
    name, kid, public = parse_verifier_key(VKEY)
    assert (name, kid.hex()) == (NAME, "2607f029")
    assert public.public_bytes_raw().hex() == PUBLIC_HEX
    assert verifier_key(name, public) == VKEY
    assert base64.b64decode(VKEY.split("+", 2)[2]) == b"\x01" + bytes.fromhex(PUBLIC_HEX)


def test_signer_key_string_round_trips() -> None:
    skey = signer_key(NAME, KEY)
    assert skey.startswith("PRIVATE+KEY+gongyu.example/audit-log+2607f029+")
    name, kid, private = parse_signer_key(skey)
    assert (name, kid.hex()) == (NAME, "2607f029")
    assert private.private_bytes_raw() == SEED


def test_checkpoint_with_extension_lines_round_trips() -> None:
    cp = Checkpoint(NAME, 0, hashlib.sha256(b"").digest(), ("Timestamp: 1700000000", "witness-hint x"))
    signed = sign_checkpoint(cp, NAME, KEY)
    assert signed.startswith(
        f"{NAME}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nTimestamp: 1700000000\n"
    )
    assert verify_checkpoint(signed, VKEY) == cp


# --------------------------------------------------------------------------- golden: Go


def test_go_signer_key_parses_to_the_go_verifier_key() -> None:
    name, kid, private = parse_signer_key(GO_SKEY)
    assert (name, kid.hex()) == ("PeterNeumann", "c74f20a3")
    assert verifier_key(name, private.public_key()) == GO_VKEY
    assert signer_key(name, private) == GO_SKEY


def test_signature_matches_go_sumdb_note_byte_for_byte() -> None:
    _, _, private = parse_signer_key(GO_SKEY)
    assert sign_note(GO_TEXT, "PeterNeumann", private) == GO_TEXT + "\n" + GO_PETER_LINE


def test_go_signed_note_verifies() -> None:
    assert verify_note(GO_TEXT + "\n" + GO_PETER_LINE, GO_VKEY) == GO_TEXT


def test_cosignature_matches_go_sumdb_note_add_signatures_example() -> None:
    # Go's example generates EnochRoot's key from an all-zero random reader: seed = 32 zeros.
    enoch = Ed25519PrivateKey.from_private_bytes(bytes(32))
    assert verifier_key("EnochRoot", enoch.public_key()) == GO_ENOCH_VKEY
    cosigned = add_signature(GO_TEXT + "\n" + GO_PETER_LINE, "EnochRoot", enoch)
    assert cosigned == GO_TEXT + "\n" + GO_PETER_LINE + GO_ENOCH_LINE
    # Each key verifies the doubly signed note independently of the other's line.
    assert verify_note(cosigned, GO_VKEY) == GO_TEXT
    assert verify_note(cosigned, GO_ENOCH_VKEY) == GO_TEXT


def test_re_signing_replaces_rather_than_duplicates_a_signature() -> None:
    enoch = Ed25519PrivateKey.from_private_bytes(bytes(32))
    once = add_signature(GO_TEXT + "\n" + GO_PETER_LINE, "EnochRoot", enoch)
    assert add_signature(once, "EnochRoot", enoch) == once


@pytest.mark.parametrize(("note", "size"), SUMDB_NOTES, ids=["size-65209736", "size-52544510"])
def test_real_sum_golang_org_checkpoint_verifies(note: str, size: int) -> None:
    cp = verify_checkpoint(note, SUMDB_VKEY)
    assert cp.origin == "go.sum database tree"
    assert cp.size == size
    with pytest.raises(CheckpointError, match="bad signature"):
        verify_checkpoint(note.replace(f"\n{size}\n", f"\n{size + 1}\n"), SUMDB_VKEY)


# --------------------------------------------------------------------------- tampering


def test_tampered_size_fails() -> None:
    with pytest.raises(CheckpointError, match="bad signature"):
        verify_checkpoint(SIGNED.replace("\n7\n", "\n8\n", 1), VKEY)


def test_tampered_root_fails() -> None:
    other_root = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    tampered = SIGNED.replace("3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=", other_root)
    with pytest.raises(CheckpointError, match="bad signature"):
        verify_checkpoint(tampered, VKEY)


def test_tampered_origin_fails() -> None:
    with pytest.raises(CheckpointError, match="bad signature"):
        verify_checkpoint(SIGNED.replace("gongyu.example/audit-log\n", "evil.example/audit-log\n", 1), VKEY)


def test_tampered_signature_fails() -> None:
    body, sigs = parse_note(SIGNED)
    bad = bytearray(sigs[0].signature)
    bad[10] ^= 0x01
    tampered = body + "\n" + NoteSignature(NAME, sigs[0].key_id, bytes(bad)).line()
    with pytest.raises(CheckpointError, match="bad signature"):
        verify_checkpoint(tampered, VKEY)


def test_truncated_signature_fails() -> None:
    body, sigs = parse_note(SIGNED)
    tampered = body + "\n" + NoteSignature(NAME, sigs[0].key_id, sigs[0].signature[:63]).line()
    with pytest.raises(CheckpointError, match="bad signature"):
        verify_checkpoint(tampered, VKEY)


def test_wrong_key_fails() -> None:
    other_vkey = verifier_key(NAME, OTHER_KEY.public_key())
    with pytest.raises(CheckpointError, match="no signature by key"):
        verify_checkpoint(SIGNED, other_vkey)
    with pytest.raises(CheckpointError, match="no signature by key"):
        verify_checkpoint(SIGNED, GO_VKEY)


def test_signature_by_another_key_under_our_name_and_id_fails() -> None:
    # A forger who copies our name and key id but signs with their own key.
    forged_sig = OTHER_KEY.sign(CP.body())
    forged = (
        CP.body().decode() + "\n" + NoteSignature(NAME, key_id(NAME, KEY.public_key()), forged_sig).line()
    )
    with pytest.raises(CheckpointError, match="bad signature"):
        verify_checkpoint(forged, VKEY)


def test_a_bad_line_claiming_our_key_fails_even_beside_a_good_one() -> None:
    _, sigs = parse_note(SIGNED)
    bad = NoteSignature(NAME, sigs[0].key_id, bytes(64)).line()
    with pytest.raises(CheckpointError):
        verify_checkpoint(SIGNED + bad, VKEY)


def test_unknown_signatures_are_ignored() -> None:
    cosigned = add_signature(SIGNED, "witness.example", OTHER_KEY)
    assert verify_checkpoint(cosigned, VKEY) == CP


# --------------------------------------------------------------------------- strict parsing


def _signed_body(body: str) -> str:
    """Validly sign arbitrary text, so only the checkpoint parser can reject it."""
    return sign_note(body, NAME, KEY)


ROOT7_B64 = base64.b64encode(ROOT7).decode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{NAME}\n07\n{ROOT7_B64}\n", "canonical decimal"),
        (f"{NAME}\n+7\n{ROOT7_B64}\n", "canonical decimal"),
        (f"{NAME}\n-7\n{ROOT7_B64}\n", "canonical decimal"),
        (f"{NAME}\n7 \n{ROOT7_B64}\n", "canonical decimal"),
        (f"{NAME}\n\u0667\n{ROOT7_B64}\n", "canonical decimal"),  # Arabic-Indic digit seven
        (f"{NAME}\n{2**64}\n{ROOT7_B64}\n", "64 bits"),
        (f"{NAME}\n7\n{ROOT7_B64.rstrip('=')}\n", "not valid base64"),
        (f"{NAME}\n7\n{ROOT7_B64[:-2]}x=\n", "not canonical base64"),
        (f"{NAME}\n7\n{ROOT7_B64[:10]}*{ROOT7_B64[11:]}\n", "not valid base64"),
        (f"{NAME}\n7\n{base64.b64encode(ROOT7[:31]).decode()}\n", "root hash is 31 bytes"),
        (f"{NAME}\n7\n", "want origin, size and root hash"),
        (f"{NAME}\n7\n{ROOT7_B64}\n\xa0\n", None),  # extension lines are opaque and allowed
    ],
)
def test_non_canonical_or_malformed_checkpoint_bodies_are_rejected(body: str, message: str | None) -> None:
    signed = _signed_body(body)
    if message is None:
        assert verify_checkpoint(signed, VKEY).extensions == ("\xa0",)
        return
    with pytest.raises(CheckpointError, match=message):
        verify_checkpoint(signed, VKEY)


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("", "newline"),
        (CP.body().decode(), "blank line"),
        (CP.body().decode() + "\n", "no signature lines"),
        (SIGNED.rstrip("\n"), "newline"),
        (SIGNED.replace("— ", "- "), "does not start with"),
        (SIGNED.replace("— ", "—"), "does not start with"),
        (SIGNED.replace(f"{NAME} J", f"{NAME}  J"), "not valid base64"),
        (SIGNED.replace(f"— {NAME} ", "— a+b "), "bad signature line"),
        (SIGNED.replace("7\n", "7\r\n", 1), "control character"),
        (SIGNED.replace("DUfAQ=", "DUfAQ"), "not valid base64"),
        (CP.body().decode() + "\n— " + NAME + " AAAA\n", "too short"),
    ],
    ids=[
        "empty",
        "no-separator",
        "no-signatures",
        "no-final-newline",
        "ascii-hyphen",
        "dash-without-space",
        "double-space",
        "plus-in-name",
        "carriage-return",
        "unpadded-base64",
        "short-signature",
    ],
)
def test_malformed_notes_are_rejected(note: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        verify_checkpoint(note, VKEY)


def test_invalid_utf8_is_rejected() -> None:
    with pytest.raises(CheckpointError, match="UTF-8"):
        verify_checkpoint(SIGNED.encode().replace(b"7\n", b"\xff\n", 1), VKEY)


def test_duplicate_signatures_by_our_key_are_rejected() -> None:
    _, sigs = parse_note(SIGNED)
    with pytest.raises(CheckpointError, match="multiple signatures"):
        verify_checkpoint(SIGNED + sigs[0].line(), VKEY)


def test_too_many_signature_lines_are_rejected() -> None:
    _, sigs = parse_note(SIGNED)
    with pytest.raises(CheckpointError, match="more than 100"):
        parse_note(SIGNED + sigs[0].line() * 100)


def test_parse_checkpoint_body_rejects_empty_origin_and_extension_lines() -> None:
    with pytest.raises(CheckpointError, match="origin"):
        parse_checkpoint_body(f"\n7\n{ROOT7_B64}\n")
    with pytest.raises(CheckpointError, match="extension"):
        parse_checkpoint_body(f"{NAME}\n7\n{ROOT7_B64}\n\n")


# --------------------------------------------------------------------------- keys and names


@pytest.mark.parametrize("name", ["", "has space", "tab\there", "plus+sign", "nbsp\u00a0name", "new\nline"])
def test_invalid_key_names_are_refused_everywhere(name: str) -> None:
    with pytest.raises(CheckpointError, match="invalid key name"):
        key_id(name, KEY.public_key())
    with pytest.raises(CheckpointError, match="invalid key name"):
        verifier_key(name, KEY.public_key())
    with pytest.raises(CheckpointError, match="invalid key name"):
        sign_checkpoint(CP, name, KEY)


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("PeterNeumann", "malformed verifier key"),
        ("PeterNeumann+c74f20a3", "malformed verifier key"),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hex digits"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key id mismatch"),
        ("PeterNeumanx+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key id mismatch"),
        ("PeterNeumann+c74f20a3+AhpczQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "unsupported verifier key"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy", "unsupported verifier key"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "not valid base64"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "invalid key name"),
    ],
)
def test_malformed_verifier_keys_are_rejected(vkey: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        parse_verifier_key(vkey)


def test_checkpoint_constructor_refuses_unencodable_values() -> None:
    with pytest.raises(CheckpointError, match="root hash must be 32 bytes"):
        Checkpoint(NAME, 1, b"\x00" * 31)
    with pytest.raises(CheckpointError, match="tree size"):
        Checkpoint(NAME, -1, ROOT7)
    with pytest.raises(CheckpointError, match="tree size"):
        Checkpoint(NAME, 2**64, ROOT7)
    with pytest.raises(CheckpointError, match="origin"):
        Checkpoint("two\nlines", 1, ROOT7)
    with pytest.raises(CheckpointError, match="extension"):
        Checkpoint(NAME, 1, ROOT7, ("",))


def test_errors_are_value_errors() -> None:
    assert issubclass(CheckpointError, ValueError)
