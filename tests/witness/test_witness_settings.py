"""GONGYU_WITNESSES and GONGYU_WITNESS_QUORUM: read from the environment, refused when they cannot work."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from audit.checkpoint import verifier_key
from audit.witness.protocol import cosigner_vkey
from hub.settings import Settings, WitnessConfig


def _vkey(name: str) -> str:
    return cosigner_vkey(name, Ed25519PrivateKey.generate().public_key())


def test_witnesses_come_from_the_environment_and_the_quorum_defaults_to_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    witnesses = [
        {"url": "http://127.0.0.1:8101", "vkey": _vkey("w1.test")},
        {"url": "http://w2", "vkey": _vkey("w2.test")},
    ]
    monkeypatch.setenv("GONGYU_WITNESSES", json.dumps(witnesses))
    settings = Settings()
    assert [w.url for w in settings.witnesses] == ["http://127.0.0.1:8101", "http://w2"]
    assert settings.effective_witness_quorum == 2
    monkeypatch.setenv("GONGYU_WITNESS_QUORUM", "1")
    assert Settings().effective_witness_quorum == 1
    monkeypatch.delenv("GONGYU_WITNESS_QUORUM")
    assert Settings(witnesses=[]).effective_witness_quorum == 0  # no witnesses: nothing to require


def test_a_quorum_larger_than_the_witnesses_is_refused() -> None:
    with pytest.raises(ValidationError, match="only 1 witnesses"):
        Settings(witnesses=[WitnessConfig(url="http://w1", vkey=_vkey("w1.test"))], witness_quorum=2)


def test_a_log_key_or_a_mistyped_key_is_not_a_witness_key() -> None:
    with pytest.raises(ValidationError, match="0x04"):
        WitnessConfig(
            url="http://w1", vkey=verifier_key("w1.test", Ed25519PrivateKey.generate().public_key())
        )
    good = _vkey("w1.test")
    name, kid, key = good.split("+", 2)
    with pytest.raises(ValidationError, match="key id"):
        WitnessConfig(url="http://w1", vkey=f"{name}+{'0' * 8 if kid != '0' * 8 else '1' * 8}+{key}")
