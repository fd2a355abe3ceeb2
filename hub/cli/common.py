"""What every ``gongyu`` command module shares: the stderr console and a session factory for the hub database.

Commands print progress and messages on stderr and keep stdout for what scripts read (JSON, Markdown), so
their output can be piped.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub.settings import Settings

console = Console(stderr=True)


def open_sessions(settings: Settings) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """An engine on the hub database and its session factory; the caller disposes of the engine."""
    from hub.db import create_engine as create_async
    from hub.db import session_factory

    engine = create_async(settings.effective_database_url)
    return engine, session_factory(engine)


def counted_progress(label: str) -> Progress:
    """The bar every long CLI job shows on stderr: what it does, how many of how many, time so far."""
    return Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
