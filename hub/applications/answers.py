"""Checking a resident's answers against the form spec, and keeping resident numbers out of the clear.

A wrong answer is named by its field and the kind of error, never by its value (a value could be a resident
number). Resident numbers are sealed under the hub's data key before anything is stored; pages and the API
show them masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from document_specs.forms import FormField, FormSpec
from hub import resident_number
from hub.auth.accounts import NumberSealer

SEALED_PREFIX = "sealed:"


@dataclass(frozen=True)
class AnswerError:
    field: str
    # required | unknown | type | pattern | too_long | too_small | too_large | choice |
    # resident_number_not_allowed
    code: str

    def describe(self) -> str:
        return f"{self.field} ({self.code})"


class AnswersInvalid(ValueError):
    def __init__(self, errors: list[AnswerError]) -> None:
        super().__init__("; ".join(e.describe() for e in errors))
        self.errors = errors


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _one(spec: FormField, value: Any, sealer: NumberSealer) -> Any:
    """The stored form of one answer; ``ValueError(code)`` when it does not fit the field."""
    if spec.type == "boolean":
        if not isinstance(value, bool):
            raise ValueError("type")
        return value
    if spec.type == "integer":
        if isinstance(value, bool):
            raise ValueError("type")
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,15}", value.strip()):
            value = int(value.strip())
        if not isinstance(value, int):
            raise ValueError("type")
        if spec.minimum is not None and value < spec.minimum:
            raise ValueError("too_small")
        if spec.maximum is not None and value > spec.maximum:
            raise ValueError("too_large")
        return value
    if not isinstance(value, str):
        raise ValueError("type")
    text = value.strip()
    if spec.type == "resident_number":
        if text.startswith(SEALED_PREFIX):  # kept from a draft or an earlier version of the case
            return text
        try:
            return SEALED_PREFIX + sealer.seal(resident_number.normalize(text))
        except resident_number.InvalidResidentNumber:
            raise ValueError("type") from None
    if len(text) > spec.max_length:
        raise ValueError("too_long")
    if resident_number.contains_resident_number(text):
        # Only a resident_number field may hold one, and it is sealed; nowhere else is it kept in clear.
        raise ValueError("resident_number_not_allowed")
    if spec.type == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError("type") from None
    if spec.type == "choice" and text not in spec.choice_values():
        raise ValueError("choice")
    if spec.pattern is not None and not re.fullmatch(spec.pattern, text):
        raise ValueError("pattern")
    return text


def clean(
    form: FormSpec, answers: Mapping[str, Any], sealer: NumberSealer, *, complete: bool
) -> dict[str, Any]:
    """The answers as stored; ``complete`` (a submission) also requires every required field.

    Raises :class:`AnswersInvalid` listing every problem at once, so a form shows them all together.
    """
    errors: list[AnswerError] = []
    out: dict[str, Any] = {}
    for name in answers:
        if form.field(name) is None:
            errors.append(
                AnswerError(
                    "(unknown field)" if resident_number.contains_resident_number(name) else name[:64],
                    "unknown",
                )
            )
    for spec in form.fields:
        value = answers.get(spec.name)
        if _blank(value):
            if complete and spec.required:
                errors.append(AnswerError(spec.name, "required"))
            continue
        try:
            out[spec.name] = _one(spec, value, sealer)
        except ValueError as exc:
            errors.append(AnswerError(spec.name, str(exc)))
    if errors:
        raise AnswersInvalid(errors)
    return out


def shown(form: FormSpec, answers: Mapping[str, Any], sealer: NumberSealer) -> dict[str, Any]:
    """Answers as the applicant and the official see them: resident numbers masked."""
    out: dict[str, Any] = {}
    for name, value in answers.items():
        spec = form.field(name)
        if spec is not None and spec.type == "resident_number" and isinstance(value, str):
            try:
                out[name] = resident_number.mask(sealer.open(value.removeprefix(SEALED_PREFIX)))
            except Exception:
                out[name] = "******"
        else:
            out[name] = value
    return out
