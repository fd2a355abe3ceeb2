"""Every QR test vector under tests/vectors/qr (dgc-testdata layout) gives its expected answer."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import base45
import cbor2
import pytest
import zxingcpp
from PIL import Image

from hub.issuance import qr

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "qr"
CASES = sorted((VECTORS / "GY" / "2DCode" / "raw").glob("*.json"), key=lambda p: int(p.stem))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_there_are_at_least_ten_cases_covering_each_answer() -> None:
    assert len(CASES) >= 10
    statuses = {_load(p)["EXPECTEDRESULTS"]["GONGYU_STATUS"] for p in CASES}
    reasons = {_load(p)["EXPECTEDRESULTS"]["GONGYU_REASON"] for p in CASES}
    assert statuses == {"valid", "expired", "invalid"}
    assert {"bad_signature", "unknown_key", "wrong_prefix", "bad_base45", "bad_zlib"} <= reasons


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    case = _load(path)
    expected = case["EXPECTEDRESULTS"]
    context = case["TESTCTX"]
    trust = qr.TrustList.from_jwks({"keys": [context["JWK"]]})
    clock = datetime.fromisoformat(context["VALIDATIONCLOCK"].replace("Z", "+00:00"))

    result = qr.verify(case["PREFIX"], trust, clock)
    assert (result.status, result.reason) == (expected["GONGYU_STATUS"], expected["GONGYU_REASON"]), context[
        "DESCRIPTION"
    ]
    if result.status != "invalid":
        assert result.claims is not None and result.claims.as_json() == case["JSON"]

    if expected.get("EXPECTEDUNPREFIX"):
        assert case["PREFIX"].startswith(qr.PREFIX)
    if expected.get("EXPECTEDB45DECODE"):
        assert base45.b45decode(case["PREFIX"][len(qr.PREFIX) :]).hex() == case["COMPRESSED"]
    if expected.get("EXPECTEDCOMPRESSION"):
        assert zlib.decompress(bytes.fromhex(case["COMPRESSED"])).hex() == case["COSE"]
    if expected.get("EXPECTEDDECODE"):
        decoded = qr.decode(qr.PREFIX + case["BASE45"])
        assert cbor2.dumps(decoded.claims.to_cbor()).hex() == case["CBOR"]
    if expected.get("EXPECTEDPICTUREDECODE"):
        image = Image.open(io.BytesIO(base64.b64decode(case["2DCODE"])))
        found = zxingcpp.read_barcodes(image)
        assert [b.text for b in found] == [case["PREFIX"]]


def test_generator_writes_cases_that_verify_as_expected(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("qr_vector_generator", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.write(tmp_path)
    assert [p.name for p in written] == [p.name for p in CASES]
    for fresh, shipped in zip(written, CASES, strict=True):
        new, old = _load(fresh), _load(shipped)
        assert new["EXPECTEDRESULTS"] == old["EXPECTEDRESULTS"]
        assert new["JSON"] == old["JSON"] and new["CBOR"] == old["CBOR"]
