"""Request and response bodies of the lookup API."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hub.resident_number import contains_resident_number

_CODE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


def refuse_resident_number(value: str) -> str:
    """A field validator's body: refuse a resident-number shape, naming the error kind and never the value."""
    if contains_resident_number(value):
        raise PydanticCustomError(
            "resident_number_shape", "must not hold anything shaped like a resident registration number"
        )
    return value


class RequestBody(BaseModel):
    """A request body: no unknown keys, no NUL, and no resident-number shapes outside the subject's field.

    Every string field of these bodies can reach the audit log (purpose code and text, statute, document type
    and view before the catalog is consulted, bundle) or a problem's detail. The log is append-only and
    integrated into a Merkle tree, so a number written there cannot be removed: refuse it at parse time, where
    the refusal names only the field and the error kind (``resident_number_shape``), never the value.
    """

    model_config = ConfigDict(extra="forbid")
    # Fields that carry a resident number on purpose (checked and committed by the broker, never logged).
    resident_number_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        # PostgreSQL text (the audit log's included) cannot hold U+0000; refuse it here, where it is audited.
        if "\x00" in value:
            raise PydanticCustomError("string_nul", "must not contain NUL (U+0000) characters")
        if info.field_name in cls.resident_number_fields:
            return value
        return refuse_resident_number(value)


class SubjectIn(RequestBody):
    resident_number_fields: ClassVar[frozenset[str]] = frozenset({"resident_number"})
    # Checked by the broker (not here) so that a malformed number gets its own audited problem type.
    resident_number: str = Field(
        min_length=1, max_length=32, description="YYMMDD-GNNNNNN; body only, never URLs"
    )


class PurposeIn(RequestBody):
    """Code and free text both land in the audit log: ``RequestBody`` refuses resident-number shapes."""

    code: str = Field(pattern=_CODE, examples=["loan-screening"])
    text: str | None = Field(default=None, max_length=200)


class BasisIn(RequestBody):
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


class LookupRequest(RequestBody):
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


class BundleLookupRequest(RequestBody):
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
