"""The verified-token cache (hub.auth.tokens): a token is checked in full once, then remembered, but a
remembered token is still refused the moment it is signed out or expires, and the memory stays bounded."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.auth import tokens as tokens_module
from hub.auth.tokens import TokenService
from hub.errors import Problem
from hub.keys import SigningKey

KEY = SigningKey(Ed25519PrivateKey.generate(), "test-kid")


def service(ttl: int = 300, leeway: int = 5) -> TokenService:
    return TokenService(
        KEY, issuer="https://hub.test", audience="gongyu", ttl_seconds=ttl, leeway_seconds=leeway
    )


@pytest.fixture
def full_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the full signature checks (pyjwt's decode) the service makes."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(tokens_module.jwt, "decode", counting)
    return seen


def test_a_token_is_verified_in_full_once_then_remembered(full_checks: list[str]) -> None:
    tokens = service()
    token = tokens.issue("bank-1", "bank", "Bank", ["KR-FTRA-5-2"])
    first, second = tokens.verify(token), tokens.verify(token)
    assert first == second and first.statutes == frozenset({"KR-FTRA-5-2"})
    assert full_checks == [token]


def test_a_remembered_token_is_refused_once_signed_out(full_checks: list[str]) -> None:
    tokens = service()
    token = tokens.issue("bank-1", "bank", "Bank", [])
    tokens.verify(token)
    tokens.revoke(token)
    with pytest.raises(Problem) as refused:
        tokens.verify(token)
    assert refused.value.slug == "invalid-token"


def test_a_remembered_token_is_refused_once_expired() -> None:
    tokens = service(ttl=1, leeway=0)
    token = tokens.issue("bank-1", "bank", "Bank", [])
    tokens.verify(token)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(Problem) as refused:
        tokens.verify(token)
    assert refused.value.slug == "token-expired"


def test_a_tampered_copy_of_a_remembered_token_is_checked_and_refused() -> None:
    tokens = service()
    token = tokens.issue("bank-1", "bank", "Bank", [])
    tokens.verify(token)
    head, body, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(Problem) as refused:
        tokens.verify(f"{head}.{body}.{flipped}")
    assert refused.value.slug == "invalid-token"


def test_the_memory_is_bounded_least_recently_used_out(full_checks: list[str]) -> None:
    tokens = service()
    tokens.cache_size = 2
    a, b, c = (tokens.issue(f"bank-{i}", "bank", "Bank", []) for i in range(3))
    for token in (a, b, a, c):  # c pushes out b, the least recently used
        tokens.verify(token)
    tokens.verify(a)
    tokens.verify(b)
    assert full_checks == [a, b, c, b]
