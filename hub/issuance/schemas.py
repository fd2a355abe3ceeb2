"""Request and response bodies of the issuance and verification API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.schemas import refuse_resident_number

VerificationStatus = Literal["valid", "revoked", "expired", "unknown", "invalid"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuditRef(BaseModel):
    event_id: str


class IssuanceOut(BaseModel):
    issuance_number: str = Field(examples=["1234-5678-9012-3452"])
    issued_at: str
    retain_until: str = Field(description="until then the hub shows the content to verifiers")
    pdf_url: str
    pdf_sha256: str
    qr_payload: str = Field(description="GY1: payload, with the SHA-256 of the PDF")
    audit: AuditRef


class VerifyRequest(_Body):
    qr_payload: str | None = Field(default=None, max_length=10_000, examples=["GY1:6BF..."])
    issuance_number: str | None = Field(default=None, max_length=32, examples=["1234-5678-9012-3452"])
    check: str | None = Field(
        default=None, max_length=16, description="check code printed beside the number: shows the content"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> VerifyRequest:
        if (self.qr_payload is None) == (self.issuance_number is None):
            raise ValueError("give exactly one of qr_payload and issuance_number")
        if self.check is not None and self.issuance_number is None:
            raise ValueError("check goes with issuance_number")
        return self


class RevokeRequest(_Body):
    reason: str = Field(min_length=1, max_length=200, examples=["issued to the wrong subject"])

    @field_validator("reason")
    @classmethod
    def _no_resident_numbers(cls, value: str) -> str:
        # The reason is stored on the issuance and shown to verifiers who hold the check code: free text from
        # an agency, so the one shared detector refuses anything shaped like a resident number (never echoed).
        return refuse_resident_number(value)


class FieldTitle(BaseModel):
    ko: str
    en: str
    items: dict[str, dict[str, str]] | None = None


class ContentOut(BaseModel):
    fields: dict[str, Any]
    titles: dict[str, FieldTitle]


class VerificationOut(BaseModel):
    status: VerificationStatus
    reason: str
    method: Literal["qr", "number"]
    issuance_number: str | None = None
    document_type: str | None = None
    document_title: dict[str, str] | None = None
    view: str | None = None
    view_title: dict[str, str] | None = None
    holder: str | None = None
    holder_title: dict[str, str] | None = None
    issued_at: str | None = None
    retain_until: str | None = None
    revoked_at: str | None = None
    revocation_reason: str | None = None
    pdf_sha256: str | None = None
    content: ContentOut | None = None
    audit: AuditRef | None = None


class RevocationOut(BaseModel):
    issuance_number: str
    status: Literal["revoked"]
    revoked_at: str
    reason: str
    audit: AuditRef
