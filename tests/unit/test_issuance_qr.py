"""QR payloads: encode → PNG at level Q → decode with zxing-cpp → verify; forgeries rejected; rotation."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
import pytest
import zxingcpp
from PIL import Image
from pycose.keys import EC2Key
from pycose.keys.curves import P256

from hub.issuance import qr
from hub.issuance.keys import DocumentKeyRing


@pytest.fixture
def now() -> datetime:
    """Taken when the test runs (not at import: keys made later must not predate the documents)."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def ring(tmp_path: Path) -> DocumentKeyRing:
    return DocumentKeyRing.load_or_create(tmp_path / "cose")


def _claims(now: datetime, **changes: object) -> qr.DocumentClaims:
    claims = qr.DocumentClaims(
        issuer="http://hub.test",
        issued_at=int(now.timestamp()) - 60,
        expires_at=int((now + timedelta(days=90)).timestamp()),
        number="6025244779942406",
        document_type="resident_registration_abstract",
        view="basic",
        holder="mois",
        fields={"name": "박유나", "birth_date": "2003-11-26", "address": "서울특별시 서초구 서초대로 123"},
        pdf_sha256=bytes(range(32)),
    )
    return replace(claims, **changes)  # type: ignore[arg-type]


def test_png_at_level_q_decodes_with_zxing_and_verifies(now: datetime, ring: DocumentKeyRing) -> None:
    payload = qr.encode(_claims(now), ring.current())
    assert payload.startswith("GY1:") and qr.fits(payload)
    code = qr.make_qr(payload)
    assert code.error == "Q" and code.mode == "alphanumeric"
    image = Image.open(io.BytesIO(qr.render_png(payload)))
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    assert found[0].ec_level == "Q"
    result = qr.verify(found[0].text, ring_trust(ring), now)
    assert (result.status, result.reason) == ("valid", "signature_valid")
    assert result.claims == _claims(now)


def ring_trust(ring: DocumentKeyRing) -> qr.TrustList:
    return qr.TrustList.from_jwks({"keys": ring.jwks()})


def test_pycose_itself_accepts_our_signature(now: datetime, ring: DocumentKeyRing) -> None:
    key = ring.current()
    decoded = qr.decode(qr.encode(_claims(now), key))
    numbers = key.public_key.public_numbers()
    decoded.message.key = EC2Key(crv=P256, x=numbers.x.to_bytes(32, "big"), y=numbers.y.to_bytes(32, "big"))
    assert decoded.message.verify_signature()
    assert decoded.kid == key.kid


def test_a_changed_field_re_encoded_without_re_signing_is_rejected(
    now: datetime, ring: DocumentKeyRing
) -> None:
    payload = qr.encode(_claims(now), ring.current())
    tagged = cbor2.loads(qr.unwrap(payload))
    protected, _, body, signature = tagged.value
    claims = cbor2.loads(body)
    claims[qr.CLAIM_DOCUMENT]["fields"]["name"] = "김위조"
    forged = qr.wrap(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, cbor2.dumps(claims), signature])))
    result = qr.verify(forged, ring_trust(ring), now)
    assert (result.status, result.reason) == ("invalid", "bad_signature")


def test_re_signed_with_another_key_is_rejected(now: datetime, ring: DocumentKeyRing, tmp_path: Path) -> None:
    other = DocumentKeyRing.load_or_create(tmp_path / "attacker").current()
    forged_key = replace(other, kid=ring.current().kid)  # claims to be the hub's key
    result = qr.verify(qr.encode(_claims(now), forged_key), ring_trust(ring), now)
    assert (result.status, result.reason) == ("invalid", "bad_signature")
    result = qr.verify(qr.encode(_claims(now), other), ring_trust(ring), now)
    assert (result.status, result.reason) == ("invalid", "unknown_key")


@pytest.mark.parametrize("position", [5, 40, -3])
def test_altered_payload_bytes_are_rejected(now: datetime, ring: DocumentKeyRing, position: int) -> None:
    payload = qr.encode(_claims(now), ring.current())
    chars = list(payload)
    chars[position] = "A" if chars[position] != "A" else "B"
    result = qr.verify("".join(chars), ring_trust(ring), now)
    assert result.status == "invalid"


def test_expired_after_the_retention_window(now: datetime, ring: DocumentKeyRing) -> None:
    payload = qr.encode(_claims(now), ring.current())
    result = qr.verify(payload, ring_trust(ring), now + timedelta(days=91))
    assert (result.status, result.reason) == ("expired", "retention_elapsed")


def test_rotation_keeps_old_documents_verifiable_and_bounds_the_old_key(
    now: datetime, ring: DocumentKeyRing
) -> None:
    old_key = ring.current()
    old_payload = qr.encode(_claims(now), old_key)
    new_key = ring.rotate()
    assert new_key.kid != old_key.kid and ring.current().kid == new_key.kid
    jwks = ring.jwks()
    assert [k["kid"] for k in jwks] == [old_key.kid_text, new_key.kid_text]
    assert "exp" in jwks[0] and "exp" not in jwks[1] and all("nbf" in k for k in jwks)
    trust = qr.TrustList.from_jwks({"keys": jwks})
    assert qr.verify(old_payload, trust, now).status == "valid"
    # A reloaded ring (another process) sees the same keys.
    assert [k.kid for k in DocumentKeyRing.load_or_create(ring.directory).all()] == [old_key.kid, new_key.kid]
    # The retired key cannot vouch for documents "issued" after its retirement (+ grace).
    retired = ring.all()[0]
    assert retired.exp is not None
    late = _claims(now, issued_at=int((retired.exp + timedelta(hours=1)).timestamp()))
    result = qr.verify(qr.encode(late, old_key), trust, retired.exp + timedelta(hours=2))
    assert (result.status, result.reason) == ("invalid", "key_not_valid_at_issue")


def test_claims_survive_the_round_trip_exactly(now: datetime, ring: DocumentKeyRing) -> None:
    claims = _claims(
        now,
        view="with_address_history",
        fields={"address_history": [{"seq": 1, "moved_out_on": None, "address": "주소"}], "flag": True},
    )
    decoded = qr.decode(qr.encode(claims, ring.current()))
    assert decoded.claims == claims
