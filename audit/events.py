"""The audit event as the log records it, and its canonical leaf bytes.

The leaf is RFC 8785 canonical JSON so that anyone can recompute a leaf hash from an exported event with an
off-the-shelf JCS library. Field values never appear here: only field names.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

import rfc8785

Outcome = Literal["ok", "denied", "not_found", "agency_error", "invalid"]
ActorKind = Literal["client", "official", "resident", "auditor", "public", "system"]


def canonical_json(value: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS) bytes of an event.

    Events hold only strings, integers, null and lists of strings, with ASCII keys. For such values JCS equals
    sorted-key, separator-free JSON without ASCII escaping (JCS escapes only quote, backslash and control
    characters, exactly as the standard library does), and the C encoder is ~30x faster than a general JCS
    implementation; the verifier recomputes millions of leaves. Anything else goes through ``rfc8785``.
    """
    if _simple(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return bytes(rfc8785.dumps(value))


def _simple(value: object) -> bool:
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return not isinstance(value, int) or abs(value) < 2**53
    if isinstance(value, list):
        return all(_simple(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _simple(v) for k, v in value.items())
    return False


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """UTC with microseconds and a Z, one spelling for every database and language."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class AuditEvent:
    kind: str
    actor_kind: ActorKind
    actor_id: str
    outcome: Outcome
    actor_org: str | None = None
    subject_commitment: str | None = None
    document_type: str | None = None
    view: str | None = None
    fields: tuple[str, ...] = ()
    purpose_code: str | None = None
    purpose_text: str | None = None
    basis: str | None = None
    reason: str | None = None
    request_id: str | None = None
    visible_from: datetime | None = None
    occurred_at: datetime = field(default_factory=utcnow)
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def from_row(cls, row: Any) -> AuditEvent:
        """Rebuild the event exactly as appended (SQLite hands back naive UTC datetimes)."""
        return cls(
            kind=row.kind,
            actor_kind=row.actor_kind,
            actor_id=row.actor_id,
            outcome=row.outcome,
            actor_org=row.actor_org,
            subject_commitment=row.subject_commitment,
            document_type=row.document_type,
            view=row.view,
            fields=tuple(row.fields or ()),
            purpose_code=row.purpose_code,
            purpose_text=row.purpose_text,
            basis=row.basis,
            reason=row.reason,
            request_id=row.request_id,
            visible_from=_aware(row.visible_from),
            occurred_at=_aware(row.occurred_at) or utcnow(),
            event_id=row.event_id,
        )

    def as_leaf_dict(self) -> dict[str, Any]:
        # Shallow on purpose: dataclasses.asdict deep-copies every value, which dominated export and verify.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["fields"] = list(self.fields)
        data["occurred_at"] = iso(self.occurred_at)
        data["visible_from"] = iso(self.visible_from) if self.visible_from else None
        return data

    def leaf_bytes(self) -> bytes:
        return canonical_json(self.as_leaf_dict())


@dataclass(frozen=True)
class EventRef:
    event_id: str
    seq: int
