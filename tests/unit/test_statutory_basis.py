"""The statutory path: the client must hold the statute and the spec must grant it for its kind and view."""

from __future__ import annotations

import pytest

from consent import Actor, Basis, ConsentService
from document_specs.loader import load_catalog

pytestmark = pytest.mark.anyio
ABSTRACT = load_catalog()["resident_registration_abstract"]


def bank(*statutes: str) -> Actor:
    return Actor(kind="client", id="b", org="Bank", client_kind="bank", statutes=frozenset(statutes))


@pytest.mark.parametrize(
    ("actor", "view", "statute", "allowed", "reason"),
    [
        (bank("KR-FTRA-5-2"), "basic", "KR-FTRA-5-2", True, "allowed"),
        (bank(), "basic", "KR-FTRA-5-2", False, "statute_not_granted"),
        (bank("KR-XX-1"), "basic", "KR-XX-1", False, "statute_not_in_spec"),
        (bank("KR-RRA-29-2-1"), "basic", "KR-RRA-29-2-1", False, "client_kind_not_allowed"),
        (bank("KR-FTRA-5-2"), "with_address_history", "KR-FTRA-5-2", False, "view_not_allowed"),
    ],
)
async def test_statutory_decisions(actor: Actor, view: str, statute: str, allowed: bool, reason: str) -> None:
    # A statute is decided from the token and the spec alone: no database session is needed.
    decision = await ConsentService().authorize(
        None, actor, "c" * 64, ABSTRACT, view, "kyc", Basis(statute=statute)
    )
    assert (decision.allowed, decision.reason, decision.basis) == (allowed, reason, f"statute:{statute}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
