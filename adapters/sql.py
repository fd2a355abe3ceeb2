"""Agencies that expose a relational database (MOIS resident registry, local tax, MOLIT registers).

The spec's query names one ``record`` statement (one row, columns named after fields) and optional ``lists``
statements (one per list field, run only when that field is requested). Every statement binds the subject as
``:subject``; values are never interpolated into SQL. The adapter has its own engine and pool so that a slow
agency cannot exhaust the hub's connections, and every fetch is bounded by the agency's deadline, retried on
connection errors and guarded by a circuit breaker (:mod:`adapters.resilience`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.base import TIMEOUT, UNAVAILABLE, AgencyError, QueryError, Record
from adapters.resilience import ResiliencePolicy, ResilientAdapter

# Errors where the database (or the way to it) failed rather than the statement: worth another attempt.
_TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, OSError)


def _agency_error(agency: str, exc: BaseException) -> AgencyError:
    # The driver's message may quote the statement and its parameters: keep only the class, for logs.
    cause = type(exc).__name__
    if isinstance(exc, PoolTimeoutError):
        return AgencyError(agency, TIMEOUT, retryable=True, cause=cause)
    transient = isinstance(exc, _TRANSIENT) or (
        isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
    )
    return AgencyError(agency, UNAVAILABLE, retryable=transient, cause=cause)


class SqlAdapter(ResilientAdapter):
    kind = "sql"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float = 2.0,
        pool_size: int = 24,
        policy: ResiliencePolicy | None = None,
    ) -> None:
        super().__init__(name, policy or ResiliencePolicy(timeout=timeout))
        options: dict[str, Any] = {}
        if not url.startswith("sqlite"):
            # Reads only: autocommit spares a BEGIN/ROLLBACK pair per lookup, and no pre-ping (three more
            # round trips per checkout); a dead connection fails the read and the resilience policy retries.
            options = {
                "pool_size": pool_size,
                "max_overflow": pool_size,
                "pool_recycle": 1800,
                "pool_timeout": self.policy.timeout,
                "isolation_level": "AUTOCOMMIT",
            }
        self.engine: AsyncEngine = create_async_engine(url, **options)
        self._compiled: dict[str, TextClause] = {}

    def validate_query(self, query: Mapping[str, Any]) -> None:
        record = query.get("record")
        if not isinstance(record, str) or ":subject" not in record:
            raise QueryError("query.record must be an SQL statement binding :subject")
        lists = query.get("lists", {})
        if not isinstance(lists, Mapping):
            raise QueryError("query.lists must map list fields to SQL statements")
        for name, statement in lists.items():
            if not isinstance(statement, str) or ":subject" not in statement:
                raise QueryError(f"query.lists.{name} must be an SQL statement binding :subject")
        unknown = set(query) - {"record", "lists"}
        if unknown:
            raise QueryError(f"unknown query keys: {', '.join(sorted(unknown))}")

    def _statement(self, sql: str) -> TextClause:
        stmt = self._compiled.get(sql)
        if stmt is None:
            stmt = self._compiled[sql] = text(sql)
        return stmt

    async def _run(self, query: Mapping[str, Any], subject: str, fields: Collection[str]) -> Record | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(self._statement(query["record"]), {"subject": subject}))
                .mappings()
                .first()
            )
            if row is None:
                return None
            record: Record = dict(row)
            for name, sql in query.get("lists", {}).items():
                if name in fields:
                    rows = await conn.execute(self._statement(sql), {"subject": subject})
                    record[name] = [dict(r) for r in rows.mappings()]
            return record

    async def _fetch_once(
        self, query: Mapping[str, Any], subject: str, fields: Collection[str]
    ) -> Record | None:
        try:
            return await self._run(query, subject, fields)
        except (SQLAlchemyError, OSError) as exc:
            raise _agency_error(self.name, exc) from None

    async def _check_once(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise _agency_error(self.name, exc) from None

    async def close(self) -> None:
        await self.engine.dispose()
