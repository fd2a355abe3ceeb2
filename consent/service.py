"""Authorisation for lookups, behind one narrow interface.

The broker asks ``authorize`` and gets a ``Decision``; it does not know whether a statute, a consent or a
mandate answered. The statutory path is built now; the consent path plugs in here without touching the broker.
"""

from __future__ import annotations

from typing import Protocol

from consent.decisions import Actor, Basis, Decision
from document_specs.model import DocumentSpec


class Authorizer(Protocol):
    async def authorize(
        self,
        actor: Actor,
        subject_commitment: str,
        document: DocumentSpec,
        view: str,
        purpose: str,
        basis: Basis,
    ) -> Decision: ...


class StatutoryAuthorizer:
    """A statute allows a lookup when the client holds it and the spec lists it for that kind and view."""

    async def authorize(
        self,
        actor: Actor,
        subject_commitment: str,
        document: DocumentSpec,
        view: str,
        purpose: str,
        basis: Basis,
    ) -> Decision:
        code = basis.statute or ""
        described = basis.describe()
        if code not in actor.statutes:
            return Decision.deny(described, "statute_not_granted")
        legal = document.legal_basis(code)
        if legal is None:
            return Decision.deny(described, "statute_not_in_spec")
        if actor.client_kind not in legal.client_kinds:
            return Decision.deny(described, "client_kind_not_allowed")
        if view not in legal.views:
            return Decision.deny(described, "view_not_allowed")
        return Decision.allow(described)


class ConsentService:
    """Dispatches on the basis the caller cites."""

    def __init__(self, statutory: Authorizer | None = None) -> None:
        self._statutory = statutory or StatutoryAuthorizer()

    async def authorize(
        self,
        actor: Actor,
        subject_commitment: str,
        document: DocumentSpec,
        view: str,
        purpose: str,
        basis: Basis,
    ) -> Decision:
        if basis.statute is not None:
            return await self._statutory.authorize(actor, subject_commitment, document, view, purpose, basis)
        return Decision.deny("none", "no_basis")
