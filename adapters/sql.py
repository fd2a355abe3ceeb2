"""Agencies that expose a relational database (MOIS resident registry, local tax, MOLIT registers).

The spec's query names one ``record`` statement (one row, columns named after fields) and optional ``lists``
statements (one per list field, run only when that field is requested). Every statement binds the subject as
``:subject``; values are never interpolated into SQL. The adapter has its own engine and pool so that a slow
agency cannot exhaust the hub's connections, and every fetch is bounded by the agency's deadline, retried on
connection errors and guarded by a circuit breaker (:mod:`adapters.resilience`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Mapping
from typing import Any

import asyncpg
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
# The same, as asyncpg raises them on the direct PostgreSQL path (a closed or unreachable server, a pool
# that could not hand out a connection in time).
_PG_TRANSIENT = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.InterfaceError,
    OSError,
    asyncio.TimeoutError,
)
_SUBJECT = re.compile(r"(?<!:):subject\b")


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


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No reset when a connection goes back to the pool: the adapter only runs the spec's SELECTs, which leave
    no session state behind, and asyncpg's default reset (RESET ALL, UNLISTEN, advisory unlocks) would cost a
    round trip per lookup."""


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
        # On PostgreSQL the reads go straight to an asyncpg pool: a lookup is one prepared statement, and
        # SQLAlchemy's pooling and result layers around it cost more CPU than the statement itself (issue
        # 17's profile). asyncpg's pool replaces a connection the server closed when it is acquired, as
        # replace_closed_connections does for the engine. The engine stays for SQLite.
        self._dsn = (
            re.sub(r"^postgresql\+asyncpg://", "postgresql://", url)
            if self.engine.dialect.driver == "asyncpg"
            else None
        )
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._pg_sql: dict[str, str] = {}
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
        if self._dsn is not None:
            return await self._run_pg(query, subject, fields)
        return await self._run_engine(query, subject, fields)

    async def _run_engine(
        self, query: Mapping[str, Any], subject: str, fields: Collection[str]
    ) -> Record | None:
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

    async def _pg_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    assert self._dsn is not None
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=0,
                        max_size=self._pool_size,
                        max_inactive_connection_lifetime=1800,
                        timeout=self.policy.timeout,
                        server_settings={"application_name": f"gongyu-agency-{self.name}"},
                        reset=_keep_session,
                    )
        return self._pool

    def _positional(self, sql: str) -> str:
        """The spec's statement with ``:subject`` as asyncpg's ``$1`` (computed once per statement)."""
        found = self._pg_sql.get(sql)
        if found is None:
            found = self._pg_sql[sql] = _SUBJECT.sub("$1", sql)
        return found

    async def _run_pg(self, query: Mapping[str, Any], subject: str, fields: Collection[str]) -> Record | None:
        pool = await self._pg_pool()
        async with pool.acquire(timeout=self.policy.timeout) as conn:
            row = await conn.fetchrow(self._positional(query["record"]), subject)
            if row is None:
                return None
            record: Record = dict(row.items())
            for name, sql in query.get("lists", {}).items():
                if name in fields:
                    record[name] = [dict(r.items()) for r in await conn.fetch(self._positional(sql), subject)]
            return record

    async def _fetch_once(
        self, query: Mapping[str, Any], subject: str, fields: Collection[str]
    ) -> Record | None:
        try:
            return await self._run(query, subject, fields)
        except TimeoutError as exc:  # no pooled connection in time (asyncpg's pool)
            raise AgencyError(self.name, TIMEOUT, retryable=True, cause=type(exc).__name__) from None
        except (SQLAlchemyError, OSError) as exc:
            raise _agency_error(self.name, exc) from None
        except _PG_TRANSIENT as exc:
            raise AgencyError(self.name, UNAVAILABLE, retryable=True, cause=type(exc).__name__) from None
        except asyncpg.PostgresError as exc:  # the statement itself failed: another attempt fails alike
            raise AgencyError(self.name, UNAVAILABLE, retryable=False, cause=type(exc).__name__) from None

    async def _check_once(self) -> None:
        if self._dsn is not None:
            try:
                pool = await self._pg_pool()
                async with pool.acquire(timeout=self.policy.timeout) as conn:
                    await conn.fetchval("SELECT 1")
            except (*_PG_TRANSIENT, asyncpg.PostgresError) as exc:
                raise AgencyError(self.name, UNAVAILABLE, retryable=True, cause=type(exc).__name__) from None
            return
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise _agency_error(self.name, exc) from None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        await self.engine.dispose()
