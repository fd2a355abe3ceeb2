"""``gongyu stats``: count the open statistics' closed days now (the hub also does it hourly, in-process).

The command builds the same ``audit.stats.LookupStats`` the hub wires (the catalog's document types, the
hub's manifest key), so what it counts is what ``/stats`` publishes. Run it after seeding a log
(``gongyu audit seed-synthetic``), from cron where the web processes do not integrate, or with ``--recount``
to count days again (their rows are replaced).
"""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Annotated

import typer

from hub.cli.common import console, open_sessions
from hub.settings import Settings

stats_app = typer.Typer(help="The open statistics (/stats).", no_args_is_help=True)


@stats_app.command("refresh")
def stats_refresh(
    since: Annotated[
        str | None, typer.Option(help="first day to count, YYYY-MM-DD (default: the log's first day)")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="last day to count (default: the newest closed day)")
    ] = None,
    recount: Annotated[bool, typer.Option("--recount", help="count days again even if counted")] = False,
) -> None:
    """Count every closed day not counted yet into the statistics' daily aggregate."""
    from audit.stats import LookupStats
    from document_specs.loader import load_catalog
    from hub.keys import load_keyring
    from hub.signing import MANIFEST_TYP, jws_signer

    settings = Settings()
    try:
        first = date.fromisoformat(since) if since else None
        last = date.fromisoformat(until) if until else None
    except ValueError:
        raise typer.BadParameter("days are written YYYY-MM-DD") from None
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)

    async def run() -> None:
        engine, sessions = open_sessions(settings)
        try:
            stats = LookupStats(
                sessions, jws_signer(keys.token_key, MANIFEST_TYP), known_documents=list(load_catalog())
            )
            started = time.perf_counter()
            done = await stats.refresh(since=first, until=last, recount=recount)
            seconds = time.perf_counter() - started
        finally:
            await engine.dispose()
        span = f" ({done.days[0]} to {done.days[-1]})" if done.days else ""
        console.print(f"counted {len(done.days)} day(s){span}: {done.lookups:,} lookups in {seconds:.2f} s")
        if done.waiting is not None:
            console.print(
                f"{done.waiting} waits for the integrator: its events are not all in a checkpoint yet"
            )

    asyncio.run(run())
