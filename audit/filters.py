"""The one filter every read of the audit events takes, and the keyset cursor their pages share.

A resident's history, the auditor's event list, the export and the auditor console used to carry four copies
of the same fields and four query builders that had started to drift. They now all describe *which events*
with one :class:`EventFilter`, and ``audit.repository`` alone turns it into SQL. This module holds plain
values only (no SQL), so the hub's pages and routes can build a filter without touching the tables.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from audit.events import iso


@dataclass(frozen=True, kw_only=True)
class EventFilter:
    """Which events: every field that is set must match (``since <= occurred_at < until``).

    Keyword-only, because the old per-reader filters listed the same fields in different orders. What a
    filter can never do is widen a read: the resident's history adds its subject and the visibility rule
    itself (see ``repository.event_page``), so nothing a caller puts here reaches another person's entries.
    """

    since: datetime | None = None
    until: datetime | None = None
    org: str | None = None
    document_type: str | None = None
    kind: str | None = None
    outcome: str | None = None

    def describe(self) -> dict[str, str | None]:
        """The filter as the export's manifest and audit event name it (times in the log's ISO form).

        ``outcome`` appears only when set: exports made before it was a filter, and every export made without
        it, keep the exact manifest they always had.
        """
        described: dict[str, str | None] = {
            "since": iso(self.since) if self.since else None,
            "until": iso(self.until) if self.until else None,
            "org": self.org,
            "document_type": self.document_type,
            "kind": self.kind,
        }
        if self.outcome is not None:
            described["outcome"] = self.outcome
        return described


def encode_cursor(seq: int) -> str:
    """An opaque page cursor: the append sequence to continue below (pages are keyed on ``seq``)."""
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The sequence a cursor names; ``ValueError`` for anything :func:`encode_cursor` did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("s"):
            raise ValueError
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("malformed cursor") from exc
