"""The answer to "may this actor see this view of this subject's document, on this basis?".

Decisions carry a stable reason code because every refusal is audited with it and mapped to a distinct
problem type; the basis string is what the audit log records (``statute:<code>``, ``consent:<id>``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    kind: str  # "client" (bank/agency system), "official", "resident"
    id: str
    org: str
    client_kind: str | None = None
    statutes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Basis:
    statute: str | None = None
    consent_id: str | None = None

    def describe(self) -> str:
        if self.consent_id is not None:
            return f"consent:{self.consent_id}"
        return f"statute:{self.statute}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    basis: str
    reason: str  # "allowed" or a refusal code, e.g. "statute_not_granted", "consent_expired"
    # Filled for consent decisions: the consent knows whose records it covers.
    subject: str | None = None
    subject_commitment: str | None = None
    consent_id: str | None = None

    @classmethod
    def allow(cls, basis: str) -> Decision:
        return cls(True, basis, "allowed")

    @classmethod
    def deny(cls, basis: str, reason: str) -> Decision:
        return cls(False, basis, reason)
