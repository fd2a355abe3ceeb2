"""What the broker needs from an agency, whatever system the agency runs.

Adapters only fetch: they neither decide who may see a record nor write the audit log, so a new agency kind
cannot weaken either.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol, runtime_checkable

Record = dict[str, Any]


class AgencyError(Exception):
    """The agency could not answer; ``reason`` is a stable code for the audit log, never agency internals."""

    def __init__(self, agency: str, reason: str) -> None:
        super().__init__(f"agency {agency}: {reason}")
        self.agency = agency
        self.reason = reason


class QueryError(ValueError):
    """A spec's query is unusable by this adapter kind (found when specs load, not at lookup time)."""


@runtime_checkable
class Adapter(Protocol):
    name: str
    kind: str

    def validate_query(self, query: Mapping[str, Any]) -> None:
        """Raise QueryError if a spec's query cannot be run by this adapter."""

    async def fetch(self, query: Mapping[str, Any], subject: str, fields: Collection[str]) -> Record | None:
        """The subject's record with at least ``fields`` (None when the agency has no such subject)."""

    async def check(self) -> None:
        """Raise AgencyError when the agency cannot be reached (readiness probe)."""

    async def close(self) -> None: ...
