"""Request bodies of the consent flows (API and pages share them).

They are ``RequestBody`` models: no unknown keys, no NUL, and no resident-number shapes in any string (a
document type or user name can reach a problem's detail or the audit log).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from hub.schemas import PurposeIn, RequestBody


class DocumentRef(RequestBody):
    model_config = ConfigDict(extra="forbid")
    document_type: str = Field(max_length=64)
    view: str = Field(max_length=64)


class ConsentRequestIn(RequestBody):
    """Name the documents, or a life-event bundle (one consent then covers all its documents)."""

    model_config = ConfigDict(extra="forbid")
    documents: list[DocumentRef] = Field(default_factory=list, max_length=20)
    bundle: str | None = Field(default=None, max_length=64)
    purpose: PurposeIn
    mode: Literal["one_time", "standing"] = "one_time"
    consent_days: int = Field(default=30, ge=1, le=365)
    max_uses: int = Field(default=1, ge=1, le=1000)
    redirect_uri: str = Field(max_length=500)
    state: str | None = Field(default=None, max_length=200)


class DecisionIn(RequestBody):
    model_config = ConfigDict(extra="forbid")
    mandate_id: str | None = Field(default=None, pattern=r"^[0-9a-f-]{36}$")


class MandateIn(RequestBody):
    model_config = ConfigDict(extra="forbid")
    agent_username: str = Field(min_length=1, max_length=64)
    document_types: list[str] = Field(min_length=1, max_length=20)
    expires_at: datetime

    @field_validator("expires_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # Without an offset it is UTC; with one it must still be a representable instant once in UTC.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("expires_at is out of range once converted to UTC") from None
