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

from sqlalchemy import TextClause, event, text
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    InvalidatePoolError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.base import TIMEOUT, UNAVAILABLE, AgencyError, QueryError, Record
from adapters.resilience import ResiliencePolicy, ResilientAdapter

# Errors where the database (or the way to it) failed rather than the statement: worth another attempt.
_TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, OSError)


def replace_closed_connections(engine: AsyncEngine) -> None:
    """Never hand out a pooled asyncpg connection that the server has already closed; replace the pool's.

    A database restart (or a failover, or ``pg_terminate_backend``) closes every pooled connection at once.
    Without this, each stale connection fails the first statement run on it, so after the database is back
    the first requests still fail (one per stale connection checked out before SQLAlchemy's own invalidation
    on that error reaches the pool). ``pool_pre_ping`` would catch it with a round trip per checkout;
    asyncpg already knows a connection is closed (the server's FATAL and the socket's EOF were read by the
    event loop), so asking it is free. A closed one invalidates every connection pooled before now
    (``InvalidatePoolError``), and the pool opens a fresh one for this checkout, or raises if the database is
    still down. A connection that died silently (no FIN) is not caught here: its statement fails, which
    SQLAlchemy's ``is_disconnect`` turns into the same pool invalidation, and the deadline bounds the wait.
    """
    if engine.dialect.driver != "asyncpg":
        return

    @event.listens_for(engine.sync_engine, "checkout")
    def _closed_on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        raw = getattr(dbapi_connection, "_connection", None)  # the asyncpg connection under the adaptor
        if raw is not None and raw.is_closed():
            raise InvalidatePoolError("pooled connection closed by the server")


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
            # round trips per checkout): connections the server closed are replaced on checkout for free
            # (replace_closed_connections), one that died silently fails the read and the policy retries.
            options = {
                "pool_size": pool_size,
                "max_overflow": pool_size,
                "pool_recycle": 1800,
                "pool_timeout": self.policy.timeout,
                "isolation_level": "AUTOCOMMIT",
            }
        self.engine: AsyncEngine = create_async_engine(url, **options)
        replace_closed_connections(self.engine)
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
