"""The lookup's append straight on asyncpg: the statement SQLAlchemy compiled, without its layers per call.

A statutory lookup's only write is its audit event (with its notices as a CTE of the same INSERT), sent
autocommitted: one statement, durable when it returns. Through SQLAlchemy that statement paid, on every
request, a pool checkout and its reset, an isolation-level switch, the greenlet bridge, parameter
compilation and the result wrappers: more CPU than the statement itself in issue 17's profile. Here the
statement is compiled once by SQLAlchemy's own asyncpg dialect (the same SQL text, casts and bind
processors, so the row written is the one the engine would write) and executed on a small asyncpg pool of
its own, as the SQL agencies' reads are (``adapters.sql``).

Nothing else is taken from SQLAlchemy: a failure of any kind is the caller's to turn into
``AuditUnavailable`` (fail closed), and the pool replaces a connection the server closed when it is next
acquired.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import Insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True)
class Compiled:
    """One statement as asyncpg takes it: the SQL text and how to turn named values into positional ones."""

    sql: str
    names: tuple[str, ...]
    processors: Mapping[str, Callable[[Any], Any]]
    literals: Mapping[str, Any]  # values bound in the statement itself (``literal("inbox")``...)

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        out = []
        for name in self.names:
            value = params[name] if name in params else self.literals[name]
            process = self.processors.get(name)
            out.append(process(value) if process is not None and value is not None else value)
        return out


def compile_for(statement: Insert, dialect: Dialect) -> Compiled:
    compiled = statement.compile(dialect=dialect)
    if compiled.positiontup is None:  # pragma: no cover - the asyncpg dialect is positional ($n)
        raise TypeError("direct append needs a positional dialect")
    processors = {k: v for k, v in compiled._bind_processors.items() if callable(v)}
    literals = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
    return Compiled(compiled.string, tuple(compiled.positiontup), processors, literals)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No reset on release: an autocommitted INSERT leaves no session state behind (see adapters.sql)."""


class DirectAppender:
    """Single autocommitted statements on an asyncpg pool beside the engine's, to the same database."""

    def __init__(self, engine: AsyncEngine, *, max_size: int = 24) -> None:
        self._dialect = engine.dialect
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._compile = functools.cache(functools.partial(_compile_cached, dialect=self._dialect))

    @staticmethod
    def supports(engine: AsyncEngine) -> bool:
        return engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg"

    async def _pool_ready(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=0,
                        max_size=self._max_size,
                        max_inactive_connection_lifetime=1800,
                        timeout=30,
                        server_settings={"application_name": "gongyu-audit-append"},
                        reset=_keep_session,
                    )
        return self._pool

    async def fetchval(self, statement: Insert, params: Mapping[str, Any]) -> Any:
        compiled: Compiled = self._compile(statement)
        pool = await self._pool_ready()
        async with pool.acquire() as conn:
            return await conn.fetchval(compiled.sql, *compiled.arguments(params))

    @property
    def connections(self) -> int:
        """Connections the pool holds now (open or being opened)."""
        return self._pool.get_size() if self._pool is not None else 0

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


def _compile_cached(statement: Insert, *, dialect: Dialect) -> Compiled:
    return compile_for(statement, dialect)
