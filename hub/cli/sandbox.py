"""``gongyu sandbox``: the simulated agencies and their synthetic residents."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import create_engine

from hub.cli.common import counted_progress
from hub.settings import Settings, sync_url

sandbox_app = typer.Typer(help="Simulated agencies with synthetic data.", no_args_is_help=True)


@sandbox_app.command("seed")
def sandbox_seed(
    count: Annotated[
        int | None, typer.Option(help="synthetic residents (default GONGYU_SANDBOX_RESIDENT_COUNT)")
    ] = None,
) -> None:
    """Create and fill the sandbox MOIS registry with deterministic synthetic residents."""
    seed_sandbox(Settings(), count)


def seed_sandbox(settings: Settings, count: int | None = None) -> int:
    from adapters.sandbox import mois

    total = count or settings.sandbox_resident_count
    url = sync_url(settings.agency_database_url("mois"))
    mois.ensure_database(url)
    engine = create_engine(url)
    try:
        mois.create_schema(engine)
        with counted_progress("seeding MOIS registry") as progress:
            task = progress.add_task("residents", total=total)
            seeded = mois.seed(engine, count=total, progress=lambda n: progress.update(task, completed=n))
            progress.update(task, completed=seeded)
    finally:
        engine.dispose()
    # The other agencies hold records about the same synthetic people.
    from adapters.sandbox import agencies

    with counted_progress("seeding {task.description}") as progress:
        for agency in agencies.SEEDERS:
            task = progress.add_task(agency, total=total)
            agencies.seed_database(
                agency,
                sync_url(settings.agency_database_url(agency)),
                count=total,
                progress=lambda n, task=task: progress.update(task, completed=n),  # type: ignore[misc]
            )
            progress.update(task, completed=total)
    return seeded
