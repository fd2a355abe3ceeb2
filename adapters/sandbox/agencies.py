"""Seeding every sandbox agency beyond MOIS, one call per agency database.

``SEEDERS`` maps agency name to a ``seed(engine, count, seed, progress)`` function with the same contract as
:func:`adapters.sandbox.mois.seed` (deterministic, idempotent, batched, ``progress`` gets a resident count).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

from sqlalchemy import Engine, create_engine

from adapters.sandbox import court, localtax, mois, molit, nhis, nts


class Seeder(Protocol):
    def __call__(
        self, engine: Engine, count: int = ..., seed: int = ..., progress: Callable[[int], None] | None = ...
    ) -> int: ...


SEEDERS: Final[dict[str, Seeder]] = {
    "localtax": localtax.seed,
    "molit": molit.seed,
    "court": court.seed,
    "nts": nts.seed,
    "nhis": nhis.seed,
}


def seed_database(
    agency: str,
    url: str,
    count: int = 10_000,
    seed: int = 1123,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Create the agency's database if needed (synchronous ``url``) and seed it like ``mois.seed``."""
    mois.ensure_database(url)
    engine = create_engine(url)
    try:
        return SEEDERS[agency](engine, count=count, seed=seed, progress=progress)
    finally:
        engine.dispose()
