"""Async engine and session factory for the hub's own database.

SQLite gets WAL and a busy timeout so that the integrator, the request path and CLI tools can share one file.
PostgreSQL connections the server has closed (a restart, a failover) are replaced when checked out, so the hub
serves again on the first request after the database is back instead of failing one request per stale
pooled connection (``adapters.sql.replace_closed_connections``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from adapters.sql import replace_closed_connections


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # Sized for the requests one worker has in flight; no pre-ping (it costs three round trips per checkout
    # with asyncpg): connections the server closed are swapped for fresh ones on checkout at no cost, old ones
    # are recycled by age, and one that died silently fails its statement (a 503) and invalidates the pool.
    kwargs.setdefault("pool_size", 24)
    kwargs.setdefault("max_overflow", 16)
    kwargs.setdefault("pool_recycle", 1800)
    engine = create_async_engine(url, **kwargs)
    replace_closed_connections(engine)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
