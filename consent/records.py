"""Plain values the consent package hands out (never its rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consent.models import ConsentRequestRow, ConsentRow

LIFECYCLE = ("active", "paused", "revoked", "expired", "exhausted")


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def derive_state(consent: ConsentRow, now: datetime) -> str:
    """revoked > expired > exhausted > paused > active.

    ``status`` follows the pause/resume/revoke events (it is written with them); "exhausted" means every
    named document has had its ``max_uses`` (per-document limit), which is when the total reaches N x limit.
    """
    if consent.status == "revoked":
        return "revoked"
    if now >= aware(consent.expires_at):
        return "expired"
    if consent.uses >= consent.max_uses * max(1, len(consent.documents)):
        return "exhausted"
    return "paused" if consent.status == "paused" else "active"


@dataclass(frozen=True)
class ConsentView:
    consent_id: str
    request_id: str
    subject_commitment: str
    recipient_kind: str
    recipient_id: str
    recipient_org: str
    documents: list[dict[str, str]]
    purpose_code: str
    purpose_text: str | None
    mode: str
    starts_at: datetime
    expires_at: datetime
    max_uses: int
    uses: int
    last_used_at: datetime | None
    granted_by: str
    mandate_id: str | None
    state: str

    @classmethod
    def of(cls, row: ConsentRow, now: datetime) -> ConsentView:
        return cls(
            consent_id=row.consent_id,
            request_id=row.request_id,
            subject_commitment=row.subject_commitment,
            recipient_kind=row.recipient_kind,
            recipient_id=row.recipient_id,
            recipient_org=row.recipient_org,
            documents=list(row.documents),
            purpose_code=row.purpose_code,
            purpose_text=row.purpose_text,
            mode=row.mode,
            starts_at=aware(row.starts_at),
            expires_at=aware(row.expires_at),
            max_uses=row.max_uses,
            uses=row.uses,
            last_used_at=aware(row.last_used_at) if row.last_used_at else None,
            granted_by=row.granted_by,
            mandate_id=row.mandate_id,
            state=derive_state(row, now),
        )

    def covers(self, document_type: str, view: str) -> bool:
        return {"document_type": document_type, "view": view} in self.documents

    def receipt_claims(self) -> dict[str, Any]:
        """What the resident's receipt attests; subject only as its commitment."""
        return {
            "consent_id": self.consent_id,
            "subject_commitment": self.subject_commitment,
            "recipient": {"kind": self.recipient_kind, "id": self.recipient_id, "org": self.recipient_org},
            "documents": self.documents,
            "purpose": {"code": self.purpose_code, "text": self.purpose_text},
            "mode": self.mode,
            "starts_at": _iso(self.starts_at),
            "expires_at": _iso(self.expires_at),
            "max_uses": self.max_uses,
            "mandate_id": self.mandate_id,
        }


@dataclass(frozen=True)
class RequestView:
    request_id: str
    requester_kind: str
    requester_id: str
    recipient_org: str
    subject_commitment: str | None
    documents: list[dict[str, str]]
    purpose_code: str
    purpose_text: str | None
    mode: str
    consent_days: int
    max_uses: int
    redirect_uri: str | None
    state: str | None
    status: str
    expires_at: datetime
    consent_id: str | None
    created_at: datetime | None = None
    decided_at: datetime | None = None

    @classmethod
    def of(cls, row: ConsentRequestRow, now: datetime) -> RequestView:
        status = row.status
        if status == "pending" and now >= aware(row.expires_at):
            status = "expired"
        return cls(
            row.request_id,
            row.requester_kind,
            row.requester_id,
            row.recipient_org,
            row.subject_commitment,
            list(row.documents),
            row.purpose_code,
            row.purpose_text,
            row.mode,
            row.consent_days,
            row.max_uses,
            row.redirect_uri,
            row.state,
            status,
            aware(row.expires_at),
            row.consent_id,
            aware(row.created_at),
            aware(row.decided_at) if row.decided_at else None,
        )


def _iso(moment: datetime) -> str:
    return aware(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
