"""What the broker needs from an agency, whatever system the agency runs.

Adapters only fetch: they neither decide who may see a record nor write the audit log, so a new agency kind
cannot weaken either.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final, Protocol, runtime_checkable

Record = dict[str, Any]

# Stable reason codes carried by AgencyError (and recorded in the audit log). Never agency internals.
TIMEOUT: Final = "timeout"  # no (complete) answer within the agency's deadline
UNAVAILABLE: Final = "unavailable"  # connection refused/reset, DNS, driver error, 5xx, SOAP server fault
CIRCUIT_OPEN: Final = "circuit_open"  # too many recent failures: failing fast without asking the agency
BAD_RESPONSE: Final = "bad_response"  # the agency answered, but with something we refuse to read
REJECTED: Final = "rejected"  # the agency refused our request (4xx other than 404, SOAP client fault)
REASONS: Final = frozenset({TIMEOUT, UNAVAILABLE, CIRCUIT_OPEN, BAD_RESPONSE, REJECTED})


class AgencyError(Exception):
    """The agency could not answer; ``reason`` is a stable code for the audit log, never agency internals.

    ``retryable`` marks failures where asking again may help and cannot do harm (connection errors and
    timeouts of idempotent reads). ``cause`` names the exception class for operators' logs only; it is never
    part of ``reason`` and never shown to callers.
    """

    def __init__(
        self, agency: str, reason: str, *, retryable: bool = False, cause: str | None = None
    ) -> None:
        super().__init__(f"agency {agency}: {reason}")
        self.agency = agency
        self.reason = reason
        self.retryable = retryable
        self.cause = cause


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
