"""What the sandbox agencies share: the synthetic population, per-person randomness, seeding, engines.

Every sandbox agency is somebody else's system with its own database; they agree with the MOIS registry only
because they are all derived from the same synthetic population (:func:`adapters.sandbox.mois.population`),
just as real agencies keep their own records of the same people. Per-person data is drawn from a generator
seeded by (seed, agency, resident number), so a person's tax record does not change when the population grows.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Table, create_engine, delete, func, insert, select
from sqlalchemy.engine import Engine, make_url

from adapters.sandbox import mois

Row = dict[str, Any]
AS_OF = mois.AS_OF
BATCH_ROWS = 2_000


def person_rng(seed: int, agency: str, resident_number: str) -> random.Random:
    return random.Random(f"{seed}:{agency}:{resident_number}")


def age(birth: date) -> int:
    return AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))


def region(address: str) -> str:
    """시/도 and 시/군/구 of a road-name address (the part before the road)."""
    parts = address.split(" ")
    if parts[0] == "세종특별자치시":
        return parts[0]
    if len(parts) > 2 and parts[2].endswith("구") and parts[1].endswith("시"):
        return " ".join(parts[:3])
    return " ".join(parts[:2])


def mask(resident_number: str) -> str:
    return f"{resident_number[:6]}-{resident_number[6]}******"


@dataclass(frozen=True, slots=True)
class Household:
    household: Row
    members: Sequence[Row]


def households(count: int, seed: int) -> Iterator[Household]:
    population = mois.population(count, seed)
    by_id: dict[int, list[Row]] = {}
    for resident in population.residents:
        by_id.setdefault(resident["household_id"], []).append(resident)
    for household in population.households:
        yield Household(household, by_id.get(household["household_id"], []))


def seed_tables(
    engine: Engine,
    tables: Sequence[Table],
    rows: Mapping[str, Sequence[Row]],
    residents: int,
    progress: Callable[[int], None] | None,
) -> int:
    """Replace the tables' contents with ``rows`` unless they already hold exactly that (idempotent).

    Tables are given parents first. Each batch is its own transaction; ``progress`` gets a resident count.
    """
    with engine.begin() as conn:
        same = all(
            conn.execute(select(func.count()).select_from(t)).scalar_one() == len(rows[t.name])
            for t in tables
        )
        if same and all(_same_edges(conn, t, rows[t.name]) for t in tables):
            if progress is not None:
                progress(residents)
            return residents
        for table in reversed(tables):
            conn.execute(delete(table))
    total = sum(len(rows[t.name]) for t in tables) or 1
    done = 0
    for table in tables:
        for chunk in _chunks(rows[table.name], BATCH_ROWS):
            with engine.begin() as conn:
                conn.execute(insert(table), list(chunk))
            done += len(chunk)
            if progress is not None:
                progress(residents * done // total)
    if progress is not None:
        progress(residents)
    return residents


def _same_edges(conn: Any, table: Table, rows: Sequence[Row]) -> bool:
    """Cheap fingerprint: the first and last rows by primary key equal what would be inserted."""
    if not rows:
        return True
    key = list(table.primary_key.columns)
    first = conn.execute(select(table).order_by(*key).limit(1)).mappings().first()
    last = conn.execute(select(table).order_by(*(c.desc() for c in key)).limit(1)).mappings().first()
    return dict(first or {}) == rows[0] and dict(last or {}) == rows[-1]


def _chunks(rows: Sequence[Row], size: int) -> Iterable[Sequence[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def sync_url(url: str) -> str:
    parsed = make_url(url)
    driver = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql+psycopg2"}.get(
        parsed.drivername
    )
    return parsed.set(drivername=driver or parsed.drivername).render_as_string(hide_password=False)


@functools.lru_cache(maxsize=32)
def engine_for(url: str) -> Engine:
    """One pooled synchronous engine per agency database, shared by every app instance in the process."""
    return create_engine(sync_url(url), pool_pre_ping=True)
