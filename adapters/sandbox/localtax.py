"""Sandbox local government tax system (지방세, as run for every 시·군·구 through Wetax): its own database.

Adults of the synthetic population are local taxpayers of the district they live in; a few owe arrears
(property tax, vehicle tax, resident tax, local income tax). The hub reaches it with the SQL adapter.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Column, Date, Engine, Index, Integer, MetaData, String, Table, Text

from adapters.sandbox.common import AS_OF, Row, age, households, person_rng, region, seed_tables

AGENCY = "localtax"
_ITEMS = ("재산세", "자동차세", "주민세", "지방소득세")

metadata = MetaData()

local_taxpayers = Table(
    "local_taxpayers",
    metadata,
    Column("resident_number", String(13), primary_key=True),
    Column("name_ko", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("municipality", Text, nullable=False),
)
local_arrears = Table(
    "local_arrears",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("resident_number", String(13), nullable=False),
    Column("tax_item", Text, nullable=False),
    Column("tax_year", Integer, nullable=False),
    Column("amount", Integer, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("municipality", Text, nullable=False),
    Index("ix_local_arrears_resident_number", "resident_number"),
)
TABLES = (local_taxpayers, local_arrears)


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


def _rows(count: int, seed: int) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {t.name: [] for t in TABLES}
    for home in households(count, seed):
        address = home.household["address"]
        for member in home.members:
            if age(member["birth_date"]) < 19:
                continue
            number = member["resident_number"]
            rng = person_rng(seed, AGENCY, number)
            out["local_taxpayers"].append(
                {
                    "resident_number": number,
                    "name_ko": member["name_ko"],
                    "address": address,
                    "municipality": region(address),
                }
            )
            for _ in range(rng.randint(1, 3) if rng.random() < 0.1 else 0):
                year = rng.randint(AS_OF.year - 3, AS_OF.year - 1)
                out["local_arrears"].append(
                    {
                        "id": len(out["local_arrears"]) + 1,
                        "resident_number": number,
                        "tax_item": rng.choice(_ITEMS),
                        "tax_year": year,
                        "amount": rng.randint(3, 300) * 1_000,
                        "due_on": AS_OF.replace(
                            year=year, month=rng.choice((7, 9, 12)), day=rng.choice((10, 30))
                        ),
                        "municipality": region(address),
                    }
                )
    return out


def seed(
    engine: Engine, count: int = 10_000, seed: int = 1123, progress: Callable[[int], None] | None = None
) -> int:
    """Fill the local tax database for the first ``count`` synthetic residents (idempotent)."""
    create_schema(engine)
    return seed_tables(engine, TABLES, _rows(count, seed), count, progress)
