"""Sandbox National Tax Service (국세청): a REST/JSON service with its own database.

Adults of the synthetic population are taxpayers; some owe arrears, most earners have three years of income,
about one adult in seven runs a registered business. Routes (``POST``, subject in the body as
``resident_number``): ``/v1/tax-payment-certificates/query``, ``/v1/income-certificates/query``,
``/v1/business-registrations/query``; ``GET /health``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Boolean, Column, Date, Engine, Index, Integer, MetaData, String, Table, Text, select
from starlette.applications import Starlette

from adapters.sandbox.common import AS_OF, Row, age, households, person_rng, region, seed_tables
from adapters.sandbox.rest_service import create_json_app

AGENCY = "nts"
_TAX_ITEMS = ("종합소득세", "부가가치세", "양도소득세", "증여세")
_TRADES = (
    ("소매업", "전자상거래", "스토어"),
    ("음식점업", "한식", "식당"),
    ("서비스업", "미용", "헤어"),
    ("정보통신업", "소프트웨어 개발", "랩스"),
    ("제조업", "가구", "공방"),
    ("교육서비스업", "학원", "학원"),
)

metadata = MetaData()

taxpayers = Table(
    "taxpayers",
    metadata,
    Column("resident_number", String(13), primary_key=True),
    Column("name_ko", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("tax_office", Text, nullable=False),
    Column("has_arrears", Boolean, nullable=False),
)
arrears = Table(
    "arrears",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("resident_number", String(13), nullable=False),
    Column("tax_item", Text, nullable=False),
    Column("tax_year", Integer, nullable=False),
    Column("amount", Integer, nullable=False),
    Column("due_on", Date, nullable=False),
    Index("ix_arrears_resident_number", "resident_number"),
)
incomes = Table(
    "incomes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("resident_number", String(13), nullable=False),
    Column("tax_year", Integer, nullable=False),
    Column("wage_income", Integer, nullable=False),
    Column("business_income", Integer, nullable=False),
    Column("other_income", Integer, nullable=False),
    Index("ix_incomes_resident_number", "resident_number"),
)
businesses = Table(
    "businesses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("resident_number", String(13), nullable=False, unique=True),
    Column("registration_number", String(12), nullable=False, unique=True),
    Column("trade_name", Text, nullable=False),
    Column("business_type", Text, nullable=False),
    Column("business_item", Text, nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("address", Text, nullable=False),
    Column("status", Text, nullable=False),
)
TABLES = (taxpayers, arrears, incomes, businesses)


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


def _registration_number(rng: Any) -> str:
    """A business registration number (###-##-#####) with the NTS check digit."""
    digits = [rng.randint(1, 9), *(rng.randint(0, 9) for _ in range(7))]
    digits.insert(3, 8)  # 8x: 개인 면세/과세 구분 코드 for individuals
    weights = (1, 3, 7, 1, 3, 7, 1, 3, 5)
    total = sum(d * w for d, w in zip(digits, weights, strict=True)) + (digits[8] * 5) // 10
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return f"{text[:3]}-{text[3:5]}-{text[5:]}"


def _rows(count: int, seed: int) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {t.name: [] for t in TABLES}
    used: set[str] = set()
    for home in households(count, seed):
        address = home.household["address"]
        for member in home.members:
            if age(member["birth_date"]) < 19:
                continue
            number = member["resident_number"]
            rng = person_rng(seed, AGENCY, number)
            owes = rng.random() < 0.08
            out["taxpayers"].append(
                {
                    "resident_number": number,
                    "name_ko": member["name_ko"],
                    "address": address,
                    "tax_office": f"{region(address).split(' ')[-1]} 세무서",
                    "has_arrears": owes,
                }
            )
            for _ in range(rng.randint(1, 2) if owes else 0):
                year = rng.randint(AS_OF.year - 3, AS_OF.year - 1)
                out["arrears"].append(
                    {
                        "id": len(out["arrears"]) + 1,
                        "resident_number": number,
                        "tax_item": rng.choice(_TAX_ITEMS),
                        "tax_year": year,
                        "amount": rng.randint(5, 900) * 10_000,
                        "due_on": AS_OF.replace(year=year + 1, month=5, day=31),
                    }
                )
            runs_business = 25 <= age(member["birth_date"]) <= 70 and rng.random() < 0.15
            earns = runs_business or (age(member["birth_date"]) <= 65 and rng.random() < 0.7)
            base = rng.randint(2_400, 9_000) * 10_000
            for year in range(AS_OF.year - 3, AS_OF.year) if earns else ():
                wage = 0 if runs_business else int(base * (1 + 0.03 * (year - AS_OF.year + 3)))
                out["incomes"].append(
                    {
                        "id": len(out["incomes"]) + 1,
                        "resident_number": number,
                        "tax_year": year,
                        "wage_income": wage,
                        "business_income": rng.randint(1_500, 12_000) * 10_000 if runs_business else 0,
                        "other_income": rng.choice((0, 0, 0, rng.randint(10, 500) * 10_000)),
                    }
                )
            if runs_business:
                trade = rng.choice(_TRADES)
                registration = _registration_number(rng)
                while registration in used:
                    registration = _registration_number(rng)
                used.add(registration)
                opened = member["birth_date"] + timedelta(
                    days=365 * rng.randint(24, max(age(member["birth_date"]) - 1, 24))
                )
                out["businesses"].append(
                    {
                        "id": len(out["businesses"]) + 1,
                        "resident_number": number,
                        "registration_number": registration,
                        "trade_name": f"{member['name_ko'][1:]} {trade[2]}",
                        "business_type": trade[0],
                        "business_item": trade[1],
                        "opened_on": min(opened, AS_OF - timedelta(days=30)),
                        "address": address,
                        "status": "계속사업자" if rng.random() < 0.92 else "휴업자",
                    }
                )
    return out


def seed(
    engine: Engine, count: int = 10_000, seed: int = 1123, progress: Callable[[int], None] | None = None
) -> int:
    create_schema(engine)
    return seed_tables(engine, TABLES, _rows(count, seed), count, progress)


def _tax_payment(engine: Engine, number: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(taxpayers).where(taxpayers.c.resident_number == number)).mappings().first()
        if row is None:
            return None
        query = select(arrears).where(arrears.c.resident_number == number).order_by(arrears.c.id)
        owed = [
            {k: r[k] for k in ("tax_item", "tax_year", "amount", "due_on")}
            for r in conn.execute(query).mappings()
        ]
    return {
        "certificate": {
            "taxpayer_name": row["name_ko"],
            "address": row["address"],
            "tax_office": row["tax_office"],
            "has_arrears": row["has_arrears"],
            "arrears_total": sum(o["amount"] for o in owed),
        },
        "arrears": owed,
    }


def _income(engine: Engine, number: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(taxpayers).where(taxpayers.c.resident_number == number)).mappings().first()
        if row is None:
            return None
        query = select(incomes).where(incomes.c.resident_number == number).order_by(incomes.c.tax_year.desc())
        years = [
            {
                "tax_year": r["tax_year"],
                "wage_income": r["wage_income"],
                "business_income": r["business_income"],
                "other_income": r["other_income"],
                "total_income": r["wage_income"] + r["business_income"] + r["other_income"],
            }
            for r in conn.execute(query).mappings()
        ]
    return {
        "taxpayer": {
            "name": row["name_ko"],
            "address": row["address"],
            "latest_total_income": years[0]["total_income"] if years else 0,
        },
        "years": years,
    }


def _business(engine: Engine, number: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(businesses, taxpayers.c.name_ko)
                .join(taxpayers, taxpayers.c.resident_number == businesses.c.resident_number)
                .where(businesses.c.resident_number == number)
            )
            .mappings()
            .first()
        )
    if row is None:
        return None
    data = {
        k: row[k]
        for k in (
            "registration_number",
            "trade_name",
            "business_type",
            "business_item",
            "opened_on",
            "address",
            "status",
        )
    }
    return {"registration": {**data, "representative_name": row["name_ko"]}}


def create_app(database_url: str) -> Starlette:
    return create_json_app(
        AGENCY,
        database_url,
        "resident_number",
        {
            "/v1/tax-payment-certificates/query": _tax_payment,
            "/v1/income-certificates/query": _income,
            "/v1/business-registrations/query": _business,
        },
    )
