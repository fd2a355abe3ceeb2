"""Sandbox National Health Insurance Service (국민건강보험공단): a REST/JSON service with its own database.

Everyone in the synthetic population is covered: earners as employees (직장가입자) or the self-employed
(지역가입자), others as dependants (피부양자). The API speaks its own dialect (camelCase, an envelope with a
result code, the subject as ``residentNo``), which the hub's spec maps to its field names:
``POST /api/v2/eligibility``; ``GET /health``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, Date, Engine, Index, Integer, MetaData, String, Table, Text, select
from starlette.applications import Starlette

from adapters.sandbox.common import AS_OF, Row, age, households, person_rng, seed_tables
from adapters.sandbox.rest_service import create_json_app

AGENCY = "nhis"
_EMPLOYERS = (
    "(주)한빛전자",
    "공유물산(주)",
    "서울시청",
    "(주)가람소프트",
    "한국철강(주)",
    "(재)미래재단",
    "바다은행",
)

metadata = MetaData()

members = Table(
    "members",
    metadata,
    Column("resident_number", String(13), primary_key=True),
    Column("name_ko", Text, nullable=False),
)
eligibility = Table(
    "eligibility",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("resident_number", String(13), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("insured_type", Text, nullable=False),
    Column("workplace", Text, nullable=True),
    Column("acquired_on", Date, nullable=False),
    Column("lost_on", Date, nullable=True),
    Index("ix_eligibility_resident_number", "resident_number"),
)
TABLES = (members, eligibility)


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


def _rows(count: int, seed: int) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {t.name: [] for t in TABLES}
    for home in households(count, seed):
        for member in home.members:
            number = member["resident_number"]
            rng = person_rng(seed, AGENCY, number)
            out["members"].append({"resident_number": number, "name_ko": member["name_ko"]})
            years = age(member["birth_date"])
            periods: list[tuple[str, str | None]] = []
            if 20 <= years <= 64:
                periods = [
                    (rng.choice(("직장가입자", "직장가입자", "지역가입자")), None)
                    for _ in range(rng.randint(1, 3))
                ]
                periods = [
                    (kind, rng.choice(_EMPLOYERS) if kind == "직장가입자" else None) for kind, _ in periods
                ]
            start = member["birth_date"]
            seq = 0
            if not periods:
                periods = [("피부양자", None)]
            else:
                out["eligibility"].append(
                    {
                        "id": len(out["eligibility"]) + 1,
                        "resident_number": number,
                        "seq": 1,
                        "insured_type": "피부양자",
                        "workplace": None,
                        "acquired_on": start,
                        "lost_on": start + timedelta(days=365 * 20),
                    }
                )
                start += timedelta(days=365 * 20 + 1)
                seq = 1
            span = max((AS_OF - start).days, len(periods))
            cuts = sorted(rng.sample(range(1, span), len(periods) - 1)) if len(periods) > 1 else []
            bounds = [start, *(start + timedelta(days=c) for c in cuts)]
            for i, (kind, workplace) in enumerate(periods):
                seq += 1
                out["eligibility"].append(
                    {
                        "id": len(out["eligibility"]) + 1,
                        "resident_number": number,
                        "seq": seq,
                        "insured_type": kind,
                        "workplace": workplace,
                        "acquired_on": bounds[i],
                        "lost_on": bounds[i + 1] - timedelta(days=1) if i + 1 < len(bounds) else None,
                    }
                )
    return out


def seed(
    engine: Engine, count: int = 10_000, seed: int = 1123, progress: Callable[[int], None] | None = None
) -> int:
    create_schema(engine)
    return seed_tables(engine, TABLES, _rows(count, seed), count, progress)


def _eligibility(engine: Engine, number: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        person = conn.execute(select(members).where(members.c.resident_number == number)).mappings().first()
        if person is None:
            return None
        query = select(eligibility).where(eligibility.c.resident_number == number).order_by(eligibility.c.seq)
        rows = list(conn.execute(query).mappings())
    current = rows[-1]
    return {
        "result": {"code": "00", "message": "정상"},
        "data": {
            "name": person["name_ko"],
            "insuredType": current["insured_type"],
            "workplaceName": current["workplace"],
            "acquiredDate": current["acquired_on"],
            "lostDate": current["lost_on"],
            "history": [
                {
                    "insuredType": r["insured_type"],
                    "workplaceName": r["workplace"],
                    "acquiredDate": r["acquired_on"],
                    "lostDate": r["lost_on"],
                }
                for r in rows
            ],
        },
    }


def create_app(database_url: str) -> Starlette:
    return create_json_app(AGENCY, database_url, "residentNo", {"/api/v2/eligibility": _eligibility})
