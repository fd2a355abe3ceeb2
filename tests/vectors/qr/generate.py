"""Generate the QR payload test vectors in the eu-digital-green-certificates/dgc-testdata layout.

    .venv/bin/python tests/vectors/qr/generate.py [OUT_DIR]     # default: tests/vectors/qr/GY

One JSON file per case under ``GY/2DCode/raw/``: the expected claims (``JSON``), each encoding stage in hex
(``CBOR``, ``COSE``, ``COMPRESSED``), ``BASE45``, the full payload (``PREFIX``), the QR image as base64 PNG
(``2DCODE``, where the payload fits QR alphanumeric mode), the test context (trusted public key as ``JWK``
and as a self-signed ``CERTIFICATE``, ``VALIDATIONCLOCK``) and ``EXPECTEDRESULTS`` with the dgc-testdata flags
plus ``GONGYU_STATUS``/``GONGYU_REASON``, the answer of ``hub.issuance.qr.verify``. Keys are derived from
fixed scalars; ECDSA signatures are randomised, so a regeneration differs byte-wise but not in meaning.
"""

from __future__ import annotations

import base64
import json
import sys
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import base45
import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pycose.algorithms import Es256, Es384
from pycose.headers import KID, Algorithm

from hub.issuance import qr
from hub.issuance.keys import DocumentKey, key_id

HERE = Path(__file__).resolve().parent
ISSUED = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)
CLOCK = ISSUED + timedelta(days=1)

FIELDS_BASIC = {
    "name": "박유나",
    "resident_number_masked": "031126-0******",
    "birth_date": "2003-11-26",
    "sex": "여",
    "address": "서울특별시 서초구 서초대로 123, 456동 789호",
    "postal_code": "06591",
    "moved_in_on": "2020-03-01",
}
FIELDS_HISTORY = {
    **FIELDS_BASIC,
    "name_hanja": "朴有娜",
    "name_en": "PARK YUNA",
    "address_history": [
        {
            "seq": 1,
            "address": "경기도 성남시 분당구 판교로 1",
            "moved_in_on": "2003-11-26",
            "moved_out_on": "2020-03-01",
            "reason": "전입",
        },
        {
            "seq": 2,
            "address": "서울특별시 서초구 서초대로 123, 456동 789호",
            "moved_in_on": "2020-03-01",
            "moved_out_on": None,
            "reason": "전입",
        },
    ],
}


def _key(scalar: int, nbf: datetime, exp: datetime | None = None) -> DocumentKey:
    private = ec.derive_private_key(scalar, ec.SECP256R1())
    return DocumentKey(key_id(private.public_key()), private, nbf, exp)


TRUSTED = _key(0x6A6F6E6779752D7665637469636F72732D31, ISSUED - timedelta(days=30))
ATTACKER = _key(0x61747461636B65722D6B6579, ISSUED - timedelta(days=30))
RETIRED = _key(0x6A6F6E6779752D7265746972656421, ISSUED - timedelta(days=60), ISSUED - timedelta(days=10))


def _claims(**changes: Any) -> qr.DocumentClaims:
    base = qr.DocumentClaims(
        issuer="https://gongyu.example",
        issued_at=int(ISSUED.timestamp()),
        expires_at=int((ISSUED + timedelta(days=90)).timestamp()),
        number="6025244779942406",
        document_type="resident_registration_abstract",
        view="basic",
        holder="mois",
        fields=FIELDS_BASIC,
    )
    return replace(base, **changes)


def _certificate(key: DocumentKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Gongyu test vectors")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key)
        .serial_number(1)
        .not_valid_before(key.nbf)
        .not_valid_after(key.nbf + timedelta(days=3650))
        .sign(key.private_key, hashes.SHA256())
    )
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _raw_sign(payload: bytes, key: DocumentKey, phdr: dict[Any, Any]) -> bytes:
    message = qr._Sign1(phdr=phdr, payload=payload)
    message.signer = key.private_key
    encoded: bytes = message.encode(tag=True)
    return encoded


def _png(payload: str) -> str | None:
    try:
        return base64.b64encode(qr.render_png(payload, scale=2)).decode()
    except Exception:  # not encodable in alphanumeric mode (e.g. lowercase): no picture
        return None


def _case(
    description: str,
    cose: bytes,
    *,
    status: str,
    reason: str,
    claims: qr.DocumentClaims | None,
    trusted: DocumentKey = TRUSTED,
    clock: datetime = CLOCK,
    prefix_override: str | None = None,
    compressed_override: bytes | None = None,
    flags: dict[str, bool] | None = None,
) -> dict[str, Any]:
    compressed = compressed_override if compressed_override is not None else zlib.compress(cose, 9)
    b45 = base45.b45encode(compressed).decode()
    prefix = prefix_override if prefix_override is not None else qr.PREFIX + b45
    payload_cbor = cbor2.dumps(claims.to_cbor()) if claims is not None else None
    case: dict[str, Any] = {
        "JSON": claims.as_json() if claims is not None and status != "invalid" else None,
        "CBOR": payload_cbor.hex() if payload_cbor is not None else None,
        "COSE": cose.hex(),
        "COMPRESSED": compressed.hex(),
        "BASE45": b45,
        "PREFIX": prefix,
        "TESTCTX": {
            "VERSION": 1,
            "SCHEMA": "gongyu-claims-1",
            "JWK": trusted.jwk(),
            "CERTIFICATE": _certificate(trusted),
            "VALIDATIONCLOCK": clock.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "DESCRIPTION": description,
        },
        "EXPECTEDRESULTS": {**(flags or {}), "GONGYU_STATUS": status, "GONGYU_REASON": reason},
    }
    picture = _png(prefix)
    if picture is not None:
        case["2DCODE"] = picture
        case["EXPECTEDRESULTS"]["EXPECTEDPICTUREDECODE"] = True
    return case


def cases() -> list[dict[str, Any]]:
    es256 = {Algorithm: Es256, KID: TRUSTED.kid}
    basic = _claims()
    history = _claims(view="with_address_history", fields=FIELDS_HISTORY, number="3847261905738215")
    digest = _claims(
        pdf_sha256=bytes.fromhex("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    )
    omitted = _claims(fields=None)
    good = {
        "EXPECTEDUNPREFIX": True,
        "EXPECTEDB45DECODE": True,
        "EXPECTEDCOMPRESSION": True,
        "EXPECTEDDECODE": True,
        "EXPECTEDVERIFY": True,
        "EXPECTEDVALIDOBJECT": True,
        "EXPECTEDSCHEMAVALIDATION": True,
        "EXPECTEDEXPIRATIONCHECK": True,
    }
    out = [
        _case(
            "valid: resident registration abstract, basic view",
            qr.sign_cose(basic, TRUSTED),
            status="valid",
            reason="signature_valid",
            claims=basic,
            flags=good,
        ),
        _case(
            "valid: list fields (address history)",
            qr.sign_cose(history, TRUSTED),
            status="valid",
            reason="signature_valid",
            claims=history,
            flags=good,
        ),
        _case(
            "valid: with the SHA-256 of the PDF",
            qr.sign_cose(digest, TRUSTED),
            status="valid",
            reason="signature_valid",
            claims=digest,
            flags=good,
        ),
        _case(
            "valid: fields omitted (too large for one QR code)",
            qr.sign_cose(omitted, TRUSTED),
            status="valid",
            reason="signature_valid",
            claims=omitted,
            flags=good,
        ),
        _case(
            "expired: validation clock after exp (retention window over)",
            qr.sign_cose(basic, TRUSTED),
            status="expired",
            reason="retention_elapsed",
            claims=basic,
            clock=ISSUED + timedelta(days=91),
            flags={**good, "EXPECTEDEXPIRATIONCHECK": False},
        ),
    ]
    genuine = cbor2.loads(qr.sign_cose(basic, TRUSTED))
    flipped = bytearray(genuine.value[3])
    flipped[10] ^= 0x01
    out.append(
        _case(
            "bad signature: one bit of the signature flipped",
            cbor2.dumps(cbor2.CBORTag(18, [genuine.value[0], {}, genuine.value[2], bytes(flipped)])),
            status="invalid",
            reason="bad_signature",
            claims=basic,
            flags={"EXPECTEDDECODE": True, "EXPECTEDVERIFY": False},
        )
    )
    forged = replace(basic, fields={**FIELDS_BASIC, "name": "김위조"})
    out.append(
        _case(
            "altered payload: a field changed after signing, old signature kept",
            cbor2.dumps(
                cbor2.CBORTag(18, [genuine.value[0], {}, cbor2.dumps(forged.to_cbor()), genuine.value[3]])
            ),
            status="invalid",
            reason="bad_signature",
            claims=forged,
            flags={"EXPECTEDDECODE": True, "EXPECTEDVERIFY": False},
        )
    )
    out.append(
        _case(
            "forged: altered claims re-signed with another key under the trusted kid",
            _raw_sign(cbor2.dumps(forged.to_cbor()), ATTACKER, es256),
            status="invalid",
            reason="bad_signature",
            claims=forged,
            flags={"EXPECTEDDECODE": True, "EXPECTEDVERIFY": False},
        )
    )
    out.append(
        _case(
            "unknown key: signed with a key that is not in the trust list",
            qr.sign_cose(basic, ATTACKER),
            status="invalid",
            reason="unknown_key",
            claims=basic,
            flags={"EXPECTEDDECODE": True, "EXPECTEDVERIFY": False},
        )
    )
    cose = qr.sign_cose(basic, TRUSTED)
    out.append(
        _case(
            "wrong prefix: HC1: instead of GY1:",
            cose,
            status="invalid",
            reason="wrong_prefix",
            claims=None,
            prefix_override="HC1:" + base45.b45encode(zlib.compress(cose, 9)).decode(),
            flags={"EXPECTEDUNPREFIX": False},
        )
    )
    full = qr.wrap(cose)
    cut = len(full) - 1 if (len(full) - 1 - len(qr.PREFIX)) % 3 == 1 else len(full) - 2
    if (cut - len(qr.PREFIX)) % 3 != 1:
        cut -= 1
    out.append(
        _case(
            "truncated Base45: a dangling character",
            cose,
            status="invalid",
            reason="bad_base45",
            claims=None,
            prefix_override=full[:cut],
            flags={"EXPECTEDB45DECODE": False},
        )
    )
    out.append(
        _case(
            "truncated zlib stream: the last two bytes missing",
            cose,
            status="invalid",
            reason="bad_zlib",
            claims=None,
            compressed_override=zlib.compress(cose, 9)[:-2],
            flags={"EXPECTEDB45DECODE": True, "EXPECTEDCOMPRESSION": False},
        )
    )
    out.append(
        _case(
            "not Base45: lowercase letters",
            cose,
            status="invalid",
            reason="bad_base45",
            claims=None,
            prefix_override=full.lower().replace("gy1:", "GY1:"),
            flags={"EXPECTEDB45DECODE": False},
        )
    )
    out.append(
        _case(
            "not compressed: COSE bytes Base45-encoded without zlib",
            cose,
            status="invalid",
            reason="bad_zlib",
            claims=None,
            compressed_override=cose,
            flags={"EXPECTEDB45DECODE": True, "EXPECTEDCOMPRESSION": False},
        )
    )
    out.append(
        _case(
            "unsupported algorithm: protected header says ES384",
            _raw_sign(cbor2.dumps(basic.to_cbor()), TRUSTED, {Algorithm: Es384, KID: TRUSTED.kid}),
            status="invalid",
            reason="unsupported_algorithm",
            claims=basic,
            flags={"EXPECTEDDECODE": True, "EXPECTEDVERIFY": False},
        )
    )
    out.append(
        _case(
            "key not valid at issue: issued after the key was retired",
            qr.sign_cose(basic, RETIRED),
            status="invalid",
            reason="key_not_valid_at_issue",
            claims=basic,
            trusted=RETIRED,
            flags={"EXPECTEDDECODE": True, "EXPECTEDVERIFY": False},
        )
    )
    future = _claims(issued_at=int((CLOCK + timedelta(days=2)).timestamp()))
    out.append(
        _case(
            "not yet valid: issued in the future",
            qr.sign_cose(future, TRUSTED),
            status="invalid",
            reason="not_yet_valid",
            claims=future,
            flags={"EXPECTEDDECODE": True, "EXPECTEDVERIFY": False},
        )
    )
    out.append(
        _case(
            "missing kid: no key id in the protected header",
            _raw_sign(cbor2.dumps(basic.to_cbor()), TRUSTED, {Algorithm: Es256}),
            status="invalid",
            reason="missing_kid",
            claims=basic,
            flags={"EXPECTEDDECODE": False},
        )
    )
    return out


def write(directory: Path) -> list[Path]:
    raw = directory / "2DCode" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for old in raw.glob("*.json"):
        old.unlink()
    written = []
    for number, case in enumerate(cases(), start=1):
        path = raw / f"{number}.json"
        path.write_text(json.dumps(case, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "GY"
    for path in write(target):
        print(path)
