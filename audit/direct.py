"""The lookup's append straight on asyncpg: the statement SQLAlchemy compiled, without its layers per call.

A statutory lookup's only write is its audit event (with its notices as a CTE of the same INSERT), sent
autocommitted: one statement, durable when it returns. Through SQLAlchemy that statement paid, on every
request, a pool checkout and its reset, an isolation-level switch, the greenlet bridge, parameter
compilation and the result wrappers: more CPU than the statement itself in issue 17's profile. Here the
statement is compiled once by SQLAlchemy's own asyncpg dialect (the same SQL text, casts, bind processors
and bound literals, so the row written is the one the engine would write) and executed on the asyncpg
connection under one of the engine's pooled connections.

A failure of any kind is the caller's to turn into ``AuditUnavailable`` (fail closed); the engine replaces
a connection the server closed when it is next checked out (``adapters.sql.replace_closed_connections``).
A second pool was tried first and dropped: beside the engine's and the agencies' it pushed two workers past
PostgreSQL's default ``max_connections`` under load.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import Insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn


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


class DirectAppender:
    """Single autocommitted statements straight on the asyncpg connection under a pooled engine connection.

    The connection is the engine's own (no second pool: the hub's connections to PostgreSQL stay what the
    engine is sized for); only the statement bypasses SQLAlchemy. No transaction is opened on it, so asyncpg
    runs the statement in autocommit, and nothing is left for the pool's reset to undo.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._compile = functools.cache(functools.partial(compile_for, dialect=engine.dialect))

    @staticmethod
    def supports(engine: AsyncEngine) -> bool:
        return engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg"

    async def fetchval(self, statement: Insert, params: Mapping[str, Any]) -> Any:
        compiled: Compiled = self._compile(statement)
        # The pooled connection itself, not an engine Connection around it: one greenlet hop to check it
        # out (the pool's checkout events still run) and one to give it back, where ``engine.connect()``
        # took three and built a Connection the statement never used.
        pooled = await self._engine.raw_connection()
        try:
            driver: asyncpg.Connection = pooled.driver_connection
            return await driver.fetchval(compiled.sql, *compiled.arguments(params))
        finally:
            await greenlet_spawn(pooled.close)
