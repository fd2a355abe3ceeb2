"""Sandbox MOIS (행정안전부) resident registry: an outside agency's own database, full of synthetic people.

The hub must treat this as somebody else's system, so nothing here imports the hub, consent or audit code; it
owns its schema, its engine and its data. Seeding is deterministic from a seed and a fixed reference date, so
the same seed gives the same households, residents and address histories on SQLite and PostgreSQL alike, and
demos and tests can name concrete people.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine, make_url

from adapters.sandbox.synthetic import (
    Sex,
    format_resident_number,
    make_address,
    make_name,
    make_resident_number,
    pick_surname,
)

# Ages and dates are computed against this day, not the clock, so a seed means the same data next year too.
AS_OF = date(2025, 11, 1)
BATCH_RESIDENTS = 1_000

metadata = MetaData()

households = Table(
    "households",
    metadata,
    Column("household_id", Integer, primary_key=True),
    Column("address", Text, nullable=False),
    Column("postal_code", Text, nullable=False),
    Column("formed_on", Date, nullable=False),
)

residents = Table(
    "residents",
    metadata,
    Column("resident_id", Integer, primary_key=True),
    Column("resident_number", String(13), nullable=False, unique=True),
    Column("name_ko", Text, nullable=False),
    Column("name_hanja", Text, nullable=True),
    Column("name_en", Text, nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", Text, nullable=False),
    Column("household_id", Integer, ForeignKey("households.household_id"), nullable=False),
    Column("relation_to_head", Text, nullable=False),
    Column("moved_in_on", Date, nullable=False),
    Column("status", Text, nullable=False, default="active", server_default="active"),
    CheckConstraint("sex IN ('M', 'F')", name="ck_residents_sex"),
    # The registry can never hold a real person's number, whoever writes to it.
    CheckConstraint("substr(resident_number, 7, 1) IN ('9', '0')", name="ck_residents_synthetic_marker"),
    Index("ix_residents_household_id", "household_id"),
)

address_history = Table(
    "address_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("resident_id", Integer, ForeignKey("residents.resident_id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("address", Text, nullable=False),
    Column("moved_in_on", Date, nullable=False),
    Column("moved_out_on", Date, nullable=True),
    Column("reason", Text, nullable=False),
    UniqueConstraint("resident_id", "seq", name="uq_address_history_resident_seq"),
    Index("ix_address_history_resident_id", "resident_id"),
)

_Row = dict[str, Any]


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


# --- Generation (pure, in memory) ------------------------------------------------------------------------


@dataclass(slots=True)
class _Member:
    relation: str
    sex: Sex
    birth: date
    surname: str
    joined_on: date | None = None  # when someone married into the household; None: came with it
    moved_in_on: date = AS_OF
    reason: str = "전입"


@dataclass(slots=True)
class _Household:
    formed_on: date
    members: list[_Member] = field(default_factory=list)


@dataclass(slots=True)
class _Population:
    households: list[_Row]
    residents: list[_Row]
    history: list[_Row]
    # Per household: how many residents and history rows it owns, for cutting batches on household borders.
    shape: list[tuple[int, int]]


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # Feb 29 into a common year
        return day.replace(year=day.year + years, day=28)


def _between(rng: random.Random, low: date, high: date) -> date:
    if high <= low:
        return low
    return low + timedelta(days=rng.randint(0, (high - low).days))


def _birth_between(rng: random.Random, low: date, high: date) -> date:
    """Like :func:`_between` but never Feb 29, which the 1800s-coded resident number could not express."""
    day = _between(rng, low, high)
    if day.month == 2 and day.day == 29:
        day = day - timedelta(days=1) if day - timedelta(days=1) >= low else day + timedelta(days=1)
    return day


def _birth_for_age(rng: random.Random, age: int) -> date:
    latest = _years_after(AS_OF, -age)
    return _birth_between(rng, latest - timedelta(days=364), latest)


def _age(birth: date) -> int:
    return AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))


def _random_sex(rng: random.Random, male_share: float = 0.5) -> Sex:
    return "M" if rng.random() < male_share else "F"


def _spaced_births(rng: random.Random, count: int, low: date, high: date) -> list[date]:
    """Sibling birth dates inside [low, high], about a year apart when the window allows it."""
    span = max((high - low).days, 0)
    gap = 330 if count <= 1 or span >= 330 * (count - 1) else span // count
    free = span - gap * (count - 1)
    offsets = sorted(rng.randint(0, free) for _ in range(count))
    return [_birth_between(rng, low + timedelta(days=o + i * gap), high) for i, o in enumerate(offsets)]


def _couple(
    rng: random.Random, husband_ages: tuple[int, int], marriage_ages: tuple[int, int] = (24, 36)
) -> tuple[_Member, _Member, date]:
    """Head and spouse (the husband heads about three households in four) and their wedding date."""
    husband_age = rng.randint(*husband_ages)
    wife_age = min(max(husband_age - rng.randint(-2, 5), husband_ages[0] - 3, 25), 95)
    husband = _Member("배우자", "M", _birth_for_age(rng, husband_age), pick_surname(rng))
    wife = _Member("배우자", "F", _birth_for_age(rng, wife_age), pick_surname(rng))
    younger = max(husband.birth, wife.birth)
    latest = min(_years_after(younger, marriage_ages[1]), AS_OF - timedelta(days=400))
    married = _between(rng, min(_years_after(younger, marriage_ages[0]), latest), latest)
    head, spouse = (husband, wife) if rng.random() < 0.75 else (wife, husband)
    head.relation = "본인"
    return head, spouse, married


def _children(rng: random.Random, count: int, mother_birth: date, since: date, surname: str) -> list[_Member]:
    """Children born after ``since`` while their mother was 20–42."""
    high = min(_years_after(mother_birth, 42), AS_OF - timedelta(days=1))
    low = min(max(since + timedelta(days=300), _years_after(mother_birth, 20)), high)
    births = _spaced_births(rng, count, low, high)
    return [_Member("자녀", _random_sex(rng, 0.51), birth, surname) for birth in births]


def _parent_of(rng: random.Random, head: _Member) -> _Member:
    """The head's father or mother; a father shares the head's surname, a mother keeps her own."""
    age = min(_age(head.birth) + rng.randint(24, 36), 98)
    if rng.random() < 0.7:
        return _Member("모", "F", _birth_for_age(rng, age), pick_surname(rng))
    return _Member("부", "M", _birth_for_age(rng, age), head.surname)


def _compose(rng: random.Random) -> _Household:
    """One household; every member's relation, sex and age fit the others (and Korean surname customs).

    Sizes follow the Korean census mix, in which one-person households are the largest group.
    """
    size = rng.choices((1, 2, 3, 4, 5), weights=(33, 28, 19, 14, 6))[0]
    shape = rng.random()
    if size == 1:
        return _single(rng)
    if size == 2:
        if shape < 0.6:
            return _married(rng, kids=0, with_parent=False)
        return _single_parent(rng, kids=1) if shape < 0.85 else _single(rng, with_parent=True)
    if size == 3:
        return _married(rng, kids=1, with_parent=False) if shape < 0.8 else _single_parent(rng, kids=2)
    if size == 4:
        return _married(rng, kids=2, with_parent=False) if shape < 0.8 else _married(rng, 1, with_parent=True)
    if shape < 0.5:
        return _married(rng, kids=3, with_parent=False)
    return _married(rng, kids=2, with_parent=True) if shape < 0.8 else _three_generations(rng)


def _single(rng: random.Random, with_parent: bool = False) -> _Household:
    """Someone living alone, or with their widowed father or mother."""
    age = rng.randint(25, 60) if with_parent else rng.randint(20, 85)
    head = _Member("본인", _random_sex(rng), _birth_for_age(rng, age), pick_surname(rng))
    household = _Household(_between(rng, _years_after(head.birth, 19), AS_OF - timedelta(days=60)), [head])
    if with_parent:
        household.members.append(_parent_of(rng, head))
    return household


def _married(rng: random.Random, kids: int, with_parent: bool) -> _Household:
    """A married couple, their children (with the father's surname) and perhaps the head's parent."""
    head, spouse, married = _couple(rng, (25, 85) if kids == 0 and not with_parent else (30, 62))
    father, mother = (head, spouse) if head.sex == "M" else (spouse, head)
    household = _Household(married, [head, spouse])
    if kids:
        household.members += _children(rng, kids, mother.birth, married, father.surname)
    if with_parent:
        household.members.append(_parent_of(rng, head))
    return household


def _single_parent(rng: random.Random, kids: int) -> _Household:
    """A lone parent with children who carry the father's surname (the head's own when he is the father)."""
    birth = _birth_for_age(rng, rng.randint(30, 60))
    head = _Member("본인", _random_sex(rng, 0.25), birth, pick_surname(rng))
    family = head.surname if head.sex == "M" else pick_surname(rng)
    children = _children(rng, kids, head.birth, _years_after(head.birth, 21), family)
    formed = _between(rng, _years_after(head.birth, 20), children[0].birth)
    return _Household(formed, [head, *children])


def _three_generations(rng: random.Random) -> _Household:
    """Grandparents heading the household, a married child, the child's spouse and a grandchild."""
    head, spouse, married = _couple(rng, (64, 82), marriage_ages=(22, 28))
    father, mother = (head, spouse) if head.sex == "M" else (spouse, head)
    child_low = max(married + timedelta(days=300), _years_after(mother.birth, 22))
    child_high = min(_years_after(mother.birth, 40), _years_after(AS_OF, -30))
    child = _Member("자녀", _random_sex(rng, 0.7), _birth_between(rng, child_low, child_high), father.surname)
    in_law_sex: Sex = "F" if child.sex == "M" else "M"
    in_law_age = max(_age(child.birth) + rng.randint(-4, 3), 28)
    in_law = _Member(
        "며느리" if child.sex == "M" else "사위",
        in_law_sex,
        _birth_for_age(rng, in_law_age),
        pick_surname(rng),
    )
    latest = AS_OF - timedelta(days=400)
    in_law.joined_on = _between(rng, min(_years_after(max(child.birth, in_law.birth), 25), latest), latest)
    grandchild_father = child if child.sex == "M" else in_law
    born = _birth_between(rng, in_law.joined_on + timedelta(days=300), AS_OF - timedelta(days=1))
    grandchild = _Member("손자녀", _random_sex(rng, 0.51), born, grandchild_father.surname)
    return _Household(married, [head, spouse, child, in_law, grandchild])


def _settle(rng: random.Random, household: _Household) -> None:
    """Pick when the household reached its current address, and when and why each member moved in there."""
    since = household.formed_on
    if rng.random() >= 0.25:
        since = _between(rng, household.formed_on, AS_OF - timedelta(days=30))
    for member in household.members:
        if member.relation in ("부", "모"):
            member.moved_in_on, member.reason = _between(rng, since, AS_OF - timedelta(days=1)), "세대합가"
        elif member.joined_on is not None:
            member.moved_in_on, member.reason = max(since, member.joined_on), "전입"
        elif member.birth >= since:
            member.moved_in_on, member.reason = member.birth, "출생"
        else:
            member.moved_in_on, member.reason = since, "전입"


def _history(rng: random.Random, member: _Member, current: str) -> list[tuple[str, date, date | None, str]]:
    """Earlier homes walked backwards from the current move-in, so every move-out meets the next move-in.

    Stops at birth (the home they were born in) rather than inventing homes before the person existed.
    """
    rows: list[tuple[str, date, date | None, str]] = [(current, member.moved_in_on, None, member.reason)]
    if member.reason == "출생":
        return rows
    end, later = member.moved_in_on, current
    for _ in range(rng.choices((0, 1, 2, 3, 4), weights=(25, 30, 22, 14, 9))[0]):
        start = end - timedelta(days=rng.randint(200, 3650))
        address = make_address(rng).full
        while address == later:
            address = make_address(rng).full
        if start <= member.birth:
            rows.append((address, member.birth, end, "출생"))
            break
        rows.append((address, start, end, "전입"))
        end, later = start, address
    rows.reverse()
    return rows


def _generate(count: int, seed: int) -> _Population:
    rng = random.Random(seed)
    population = _Population([], [], [], [])
    used_numbers: set[str] = set()
    resident_id = 0
    while resident_id < count:
        household = _compose(rng)
        household.members = household.members[: count - resident_id]
        _settle(rng, household)
        address = make_address(rng)
        household_id = len(population.households) + 1
        population.households.append(
            {
                "household_id": household_id,
                "address": address.full,
                "postal_code": address.postal_code,
                "formed_on": household.formed_on,
            }
        )
        history_before = len(population.history)
        for member in household.members:
            resident_id += 1
            number = make_resident_number(rng, member.birth, member.sex)
            while number in used_numbers:
                number = make_resident_number(rng, member.birth, member.sex)
            used_numbers.add(number)
            name = make_name(rng, member.sex, member.birth.year, member.surname)
            population.residents.append(
                {
                    "resident_id": resident_id,
                    "resident_number": number,
                    "name_ko": name.name_ko,
                    "name_hanja": name.name_hanja,
                    "name_en": name.name_en,
                    "birth_date": member.birth,
                    "sex": member.sex,
                    "household_id": household_id,
                    "relation_to_head": member.relation,
                    "moved_in_on": member.moved_in_on,
                    "status": "active",
                }
            )
            for seq, (where, moved_in, moved_out, reason) in enumerate(_history(rng, member, address.full)):
                population.history.append(
                    {
                        "id": len(population.history) + 1,
                        "resident_id": resident_id,
                        "seq": seq + 1,
                        "address": where,
                        "moved_in_on": moved_in,
                        "moved_out_on": moved_out,
                        "reason": reason,
                    }
                )
        population.shape.append((len(household.members), len(population.history) - history_before))
    return population


# --- Database --------------------------------------------------------------------------------------------


_Batch = tuple[Sequence[_Row], Sequence[_Row], Sequence[_Row]]


def _batches(population: _Population, size: int) -> Iterator[_Batch]:
    """Slices cut on household borders, so each batch is self-contained for the foreign keys."""
    h_start = r_start = a_start = 0
    h_end, r_end, a_end = h_start, r_start, a_start
    for n_residents, n_history in population.shape:
        h_end, r_end, a_end = h_end + 1, r_end + n_residents, a_end + n_history
        if r_end - r_start >= size:
            yield (
                population.households[h_start:h_end],
                population.residents[r_start:r_end],
                population.history[a_start:a_end],
            )
            h_start, r_start, a_start = h_end, r_end, a_end
    if h_end > h_start:
        yield (
            population.households[h_start:h_end],
            population.residents[r_start:r_end],
            population.history[a_start:a_end],
        )


def _already_seeded(conn: Connection, population: _Population) -> bool:
    """Compare counts and every resident number, so a half-finished or hand-edited registry is redone."""
    for table, rows in (
        (households, population.households),
        (residents, population.residents),
        (address_history, population.history),
    ):
        if conn.execute(select(func.count()).select_from(table)).scalar_one() != len(rows):
            return False
    query = select(residents.c.resident_number).order_by(residents.c.resident_id)
    return list(conn.execute(query).scalars()) == [row["resident_number"] for row in population.residents]


def _reset_sequences(conn: Connection) -> None:
    """Rows were inserted with explicit ids; move PostgreSQL's serial counters past them."""
    serials = (("households", "household_id"), ("residents", "resident_id"), ("address_history", "id"))
    for table, column in serials:
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "  # noqa: S608 - fixed names
                f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
            )
        )


def seed(
    engine: Engine,
    count: int = 10_000,
    seed: int = 1123,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Fill the registry with ``count`` synthetic residents, or leave it alone if this seed is already there.

    Each batch is its own transaction so that a large seed does not hold one huge transaction open, and so the
    caller's progress display moves; a half-finished earlier run is detected and redone from scratch.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    create_schema(engine)
    population = _generate(count, seed)
    with engine.begin() as conn:
        if _already_seeded(conn, population):
            if progress is not None:
                progress(count)
            return count
        conn.execute(delete(address_history))
        conn.execute(delete(residents))
        conn.execute(delete(households))
    inserted = 0
    for household_rows, resident_rows, history_rows in _batches(population, BATCH_RESIDENTS):
        with engine.begin() as conn:
            conn.execute(insert(households), list(household_rows))
            conn.execute(insert(residents), list(resident_rows))
            conn.execute(insert(address_history), list(history_rows))
        inserted += len(resident_rows)
        if progress is not None:
            progress(inserted)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            _reset_sequences(conn)
    return inserted


def demo_residents(engine: Engine, n: int = 3) -> list[dict[str, str]]:
    """A few real rows to print as demo credentials, so people can try lookups without browsing the DB."""
    query = (
        select(residents.c.name_ko, residents.c.name_en, residents.c.resident_number)
        .order_by(residents.c.resident_id)
        .limit(n)
    )
    with engine.connect() as conn:
        return [
            {
                "name_ko": row.name_ko,
                "name_en": row.name_en,
                "resident_number": format_resident_number(row.resident_number),
            }
            for row in conn.execute(query)
        ]


def ensure_database(url: str) -> None:
    """Make the database ``url`` names exist, so a fresh machine can seed the sandbox in one command."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return
    if backend != "postgresql":
        raise ValueError(f"unsupported database backend for the sandbox: {backend}")
    name = parsed.database
    if not name:
        raise ValueError("the PostgreSQL URL names no database")
    maintenance = create_engine(
        parsed.set(drivername="postgresql+psycopg2", database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with maintenance.connect() as conn:
            exists = text("SELECT 1 FROM pg_database WHERE datname = :name")
            if conn.execute(exists, {"name": name}).first() is None:
                quoted = maintenance.dialect.identifier_preparer.quote(name)
                conn.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        maintenance.dispose()


@functools.lru_cache(maxsize=4)
def population(count: int = 10_000, seed: int = 1123) -> Population:
    """The synthetic population this registry is seeded with, for the other sandbox agencies to derive from.

    Other agencies regenerate it from the same ``count`` and ``seed`` instead of reading this database, as
    real agencies keep their own records of the same people.
    """
    return _generate(count, seed)


Population = _Population
