"""Request and response bodies of the lookup API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hub.resident_number import LOOKS_LIKE

_CODE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text (the audit log's included) cannot hold U+0000; refuse it here, where it is audited.
        if isinstance(value, str) and "\x00" in value:
            raise PydanticCustomError("string_nul", "must not contain NUL (U+0000) characters")
        return value


class SubjectIn(_Body):
    # Checked by the broker (not here) so that a malformed number gets its own audited problem type.
    resident_number: str = Field(
        min_length=1, max_length=32, description="YYMMDD-GNNNNNN; body only, never URLs"
    )


class PurposeIn(_Body):
    code: str = Field(pattern=_CODE, examples=["loan-screening"])
    text: str | None = Field(default=None, max_length=200)

    @field_validator("text")
    @classmethod
    def _no_resident_numbers(cls, value: str | None) -> str | None:
        # Free text lands in the audit log, which must never hold a resident number.
        if value is not None and LOOKS_LIKE.search(value):
            raise ValueError("purpose text must not contain a resident registration number")
        return value


class BasisIn(_Body):
    """Exactly one of: a statute code the client holds, or the id of a consent granted to the caller."""

    statute: str | None = Field(
        default=None, pattern=r"^[A-Z]{2}-[A-Z0-9-]+$", max_length=64, examples=["KR-FTRA-5-2"]
    )
    consent_id: str | None = Field(default=None, pattern=r"^[0-9a-f-]{36}$")

    @model_validator(mode="after")
    def _exactly_one(self) -> BasisIn:
        if (self.statute is None) == (self.consent_id is None):
            raise ValueError("give exactly one of statute or consent_id")
        return self


class LookupRequest(_Body):
    document_type: str = Field(max_length=64, examples=["resident_registration_abstract"])
    view: str = Field(max_length=64, examples=["basic"])
    subject: SubjectIn | None = Field(default=None, description="required with a statute; a consent names it")
    purpose: PurposeIn | str = Field(description="a purpose code, or {code, text}")
    basis: BasisIn

    @model_validator(mode="after")
    def _subject_with_statute(self) -> LookupRequest:
        if self.basis.statute is not None and self.subject is None:
            raise ValueError("a statutory lookup names its subject")
        return self

    @field_validator("purpose")
    @classmethod
    def _purpose_code(cls, value: PurposeIn | str) -> PurposeIn | str:
        return PurposeIn(code=value) if isinstance(value, str) else value

    def purpose_in(self) -> PurposeIn:
        return self.purpose if isinstance(self.purpose, PurposeIn) else PurposeIn(code=self.purpose)


class BundleLookupRequest(_Body):
    bundle: str = Field(max_length=64, examples=["loan_application"])
    subject: SubjectIn | None = None
    purpose: PurposeIn | str
    basis: BasisIn


class AuditRefOut(BaseModel):
    event_id: str


class LookupResponse(BaseModel):
    lookup_id: str
    document_type: str
    view: str
    holder: str
    fetched_at: str
    fields: dict[str, Any]
    audit: AuditRefOut


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    scope: str = ""
