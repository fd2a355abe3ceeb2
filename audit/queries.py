"""An auditor's reading of the log is itself an access, and goes on the record like an export.

Auditors see every resident's entries (as commitments, but with organisations, documents and times), so who
browsed what must be answerable later. Each query (a page of events, an anomaly report) writes one
``audit_query`` event naming the view and the filter, in the caller's transaction and before anything is
read: if it cannot be written, nothing is shown (the hub answers 503), exactly as an export is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal

from audit.events import AuditEvent

QUERY_KIND = "audit_query"
View = Literal["events", "anomalies", "tiles"]


def query_event(
    view: View,
    described: Mapping[str, object],
    actor_id: str,
    actor_org: str | None,
    request_id: str | None = None,
) -> AuditEvent:
    """One auditor query: which view, with which filter (as ``EventFilter.describe`` and the like name it).

    The description is sorted JSON in ``purpose_text`` (cut at the column's 500 characters), as an export's
    event carries its filter; ``purpose_code`` names the view so the log can be filtered by it.
    """
    description = json.dumps({"view": view, **described}, sort_keys=True, ensure_ascii=False)
    return AuditEvent(
        kind=QUERY_KIND,
        actor_kind="auditor",
        actor_id=actor_id,
        actor_org=actor_org,
        outcome="ok",
        purpose_code=f"audit-{view}",
        purpose_text=description[:500],
        request_id=request_id,
    )
