"""Sandbox Ministry of Land, Infrastructure and Transport registers (국토교통부): buildings and vehicles.

Its own database: a building register (건축물대장) entry for about half of the synthetic households' homes,
owned by the head of household, and a vehicle register (자동차등록원부) entry for about half of the adults.
Owners are recorded by resident number, as on the real registers. The hub reaches it with the SQL adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Column, Date, Engine, Index, Integer, MetaData, String, Table, Text

from adapters.sandbox.common import AS_OF, Row, age, households, person_rng, seed_tables

AGENCY = "molit"
_MODELS = (
    ("아반떼", "휘발유"),
    ("쏘나타", "휘발유"),
    ("그랜저", "하이브리드"),
    ("K5", "LPG"),
    ("스포티지", "경유"),
    ("아이오닉 5", "전기"),
    ("EV6", "전기"),
    ("모닝", "휘발유"),
    ("카니발", "경유"),
    ("포터 II", "경유"),
)
_PLATE_LETTERS = "가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주"

metadata = MetaData()

buildings = Table(
    "buildings",
    metadata,
    Column("building_id", Integer, primary_key=True),
    Column("owner_number", String(13), nullable=False),
    Column("owner_name", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("main_use", Text, nullable=False),
    Column("structure", Text, nullable=False),
    Column("floors", Integer, nullable=False),
    Column("floor_area_m2", Text, nullable=False),
    Column("approved_on", Date, nullable=False),
    Index("ix_buildings_owner_number", "owner_number"),
)
vehicles = Table(
    "vehicles",
    metadata,
    Column("vehicle_id", Integer, primary_key=True),
    Column("owner_number", String(13), nullable=False),
    Column("owner_name", Text, nullable=False),
    Column("plate_number", Text, nullable=False, unique=True),
    Column("model_name", Text, nullable=False),
    Column("model_year", Integer, nullable=False),
    Column("fuel", Text, nullable=False),
    Column("first_registered_on", Date, nullable=False),
    Column("owner_address", Text, nullable=False),
    Index("ix_vehicles_owner_number", "owner_number"),
)
TABLES = (buildings, vehicles)


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


def _rows(count: int, seed: int) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {t.name: [] for t in TABLES}
    plates: set[str] = set()
    for home in households(count, seed):
        address = home.household["address"]
        for member in home.members:
            number = member["resident_number"]
            rng = person_rng(seed, AGENCY, number)
            years = age(member["birth_date"])
            if member["relation_to_head"] == "본인" and years >= 25 and rng.random() < 0.55:
                apartment = "동 " in address
                out["buildings"].append(
                    {
                        "building_id": len(out["buildings"]) + 1,
                        "owner_number": number,
                        "owner_name": member["name_ko"],
                        "address": address,
                        "main_use": "공동주택(아파트)"
                        if apartment
                        else rng.choice(("단독주택", "다가구주택")),
                        "structure": "철근콘크리트구조"
                        if apartment
                        else rng.choice(("철근콘크리트구조", "조적조")),
                        "floors": rng.randint(12, 35) if apartment else rng.randint(1, 4),
                        "floor_area_m2": f"{rng.randint(3_300, 13_500) / 100:.2f}",
                        "approved_on": AS_OF - timedelta(days=rng.randint(400, 365 * 40)),
                    }
                )
            if 20 <= years <= 80 and rng.random() < 0.5:
                model, fuel = rng.choice(_MODELS)
                plate = f"{rng.randint(10, 399)}{rng.choice(_PLATE_LETTERS)} {rng.randint(1000, 9999)}"
                while plate in plates:
                    plate = f"{rng.randint(10, 399)}{rng.choice(_PLATE_LETTERS)} {rng.randint(1000, 9999)}"
                plates.add(plate)
                model_year = rng.randint(max(AS_OF.year - 15, member["birth_date"].year + 20), AS_OF.year)
                out["vehicles"].append(
                    {
                        "vehicle_id": len(out["vehicles"]) + 1,
                        "owner_number": number,
                        "owner_name": member["name_ko"],
                        "plate_number": plate,
                        "model_name": model,
                        "model_year": model_year,
                        "fuel": fuel,
                        "first_registered_on": min(
                            AS_OF.replace(year=model_year, month=1, day=1)
                            + timedelta(days=rng.randint(0, 300)),
                            AS_OF - timedelta(days=1),
                        ),
                        "owner_address": address,
                    }
                )
    return out


def seed(
    engine: Engine, count: int = 10_000, seed: int = 1123, progress: Callable[[int], None] | None = None
) -> int:
    """Fill the registers for the first ``count`` synthetic residents (idempotent)."""
    create_schema(engine)
    return seed_tables(engine, TABLES, _rows(count, seed), count, progress)
