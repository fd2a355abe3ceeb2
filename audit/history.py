"""A resident's own access history, newest first, each entry with its inclusion proof and its leaf.

Entries are selected by the resident's subject commitment and nothing else, so no filter, cursor or index a
caller sends can reach another person's entries. Entries whose ``visible_from`` lies in the future are
withheld (they are in the Merkle log already; only their disclosure is delayed).

A page is read in a fixed number of statements whatever its length: the events, the latest checkpoint and
one read of every node the page's proofs need. The leaf bytes come from the same event rows, so a page that
shows them (the portal, for in-browser verification) costs no query per entry.
"""

from __future__ import annotations

import base64
from binascii import b2a_base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import proofs, repository
from audit.events import iso
from audit.filters import EventFilter, decode_cursor, encode_cursor
from audit.merkle import leaf_hash

# The history's filter is the one every audit read takes; the name stays for existing callers.
HistoryFilter = EventFilter

__all__ = ["EventFilter", "HistoryFilter", "HistoryPage", "decode_cursor", "encode_cursor", "page"]


@dataclass
class HistoryPage:
    """One page of entries (the ``/v1/me/access-log`` shape) and the leaf bytes of the proven ones.

    ``leaves`` maps the leaf index of every entry that has an inclusion proof to its leaf bytes. It is kept
    beside the entries, not in them, so the API's response stays as it is while the portal can hand each
    leaf to the browser's verifier without reading it again.
    """

    entries: list[dict[str, Any]]
    next_cursor: str | None
    checkpoint: str | None
    tree_size: int
    pending: int = field(default=0)
    leaves: dict[int, bytes] = field(default_factory=dict)


async def page(
    session: AsyncSession,
    subject_commitment: str,
    now: datetime,
    filters: EventFilter,
    cursor: str | None,
    limit: int,
    *,
    upper: proofs.UpperLevels | None = None,
) -> HistoryPage:
    rows, latest = await repository.history_page(
        session,
        filters,
        limit + 1,
        before_seq=decode_cursor(cursor) if cursor else None,
        subject_commitment=subject_commitment,
        visible_at=now,
    )
    size = latest.tree_size if latest else 0
    shown = rows[:limit]
    proven = [row.leaf_index for row in shown if row.leaf_index is not None and row.leaf_index < size]
    root = bytes(latest.root_hash) if latest else None
    paths = (
        await proofs.inclusions(session, proven, size, size, published_root=root, upper=upper)
        if proven
        else {}
    )
    entries = []
    leaves: dict[int, bytes] = {}
    for row in shown:
        # ``AuditEvent.from_row(row).leaf_bytes()``, byte for byte, through the verifier's fast path (orjson
        # instead of the standard library's encoder and strftime: ~4x less CPU a row).
        leaf_bytes = repository.leaf_bytes(
            repository.leaf_record(-1, {key: getattr(row, key) for key in repository.LEAF_KEYS})
        )
        hashes = paths.get(row.leaf_index) if row.leaf_index is not None else None
        proof = None
        if hashes is not None and row.leaf_index is not None:
            proof = {"tree_size": size, "hashes": [b2a_base64(h, newline=False).decode() for h in hashes]}
            leaves[row.leaf_index] = leaf_bytes
        entries.append(
            {
                "event_id": row.event_id,
                "leaf_index": row.leaf_index,
                "leaf_hash": base64.b64encode(leaf_hash(leaf_bytes)).decode(),
                "occurred_at": iso(row.occurred_at),
                "kind": row.kind,
                "actor": {"kind": row.actor_kind, "org": row.actor_org},
                "document_type": row.document_type,
                "view": row.view,
                "fields": list(row.fields or []),
                "purpose": {"code": row.purpose_code, "text": row.purpose_text},
                "basis": row.basis,
                "outcome": row.outcome,
                "reason": row.reason,
                "inclusion_proof": proof,
            }
        )
    next_cursor = encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None
    return HistoryPage(entries, next_cursor, latest.note if latest else None, size, leaves=leaves)
