import itertools
import secrets
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, select, text, update

from adapters.sandbox import mois
from adapters.sandbox.synthetic import has_valid_check_digit, is_synthetic

PG_SERVER = "postgresql+psycopg2://root@127.0.0.1:5432/"
SMALL = 2_000


def _engine(path: Path) -> Engine:
    return create_engine(f"sqlite:///{path}")


def _dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        dump: dict[str, list[tuple[Any, ...]]] = {}
        for table in (mois.households, mois.residents, mois.address_history):
            query = select(table).order_by(*table.primary_key.columns)
            dump[table.name] = [tuple(row) for row in conn.execute(query)]
        return dump


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Any, ...]]]:
    engine = _engine(tmp_path_factory.mktemp("mois") / "mois.db")
    assert mois.seed(engine, count=SMALL, seed=1123) == SMALL
    rows = _dump(engine)
    engine.dispose()
    return rows


@pytest.fixture(scope="module")
def people(seeded: dict[str, list[tuple[Any, ...]]]) -> list[dict[str, Any]]:
    columns = [c.name for c in mois.residents.columns]
    return [dict(zip(columns, row, strict=True)) for row in seeded["residents"]]


@pytest.fixture(scope="module")
def by_household(people: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for person in people:
        groups[person["household_id"]].append(person)
    return groups


def _years(older: date, younger: date) -> float:
    return (younger - older).days / 365.25


def test_schema_has_the_agreed_table_and_column_names():
    assert {t.name: [c.name for c in t.columns] for t in mois.metadata.sorted_tables} == {
        "households": ["household_id", "address", "postal_code", "formed_on"],
        "residents": [
            "resident_id",
            "resident_number",
            "name_ko",
            "name_hanja",
            "name_en",
            "birth_date",
            "sex",
            "household_id",
            "relation_to_head",
            "moved_in_on",
            "status",
        ],
        "address_history": ["id", "resident_id", "seq", "address", "moved_in_on", "moved_out_on", "reason"],
    }


def test_seeding_twice_with_the_same_seed_gives_identical_rows(tmp_path, seeded):
    other = _engine(tmp_path / "again.db")
    mois.seed(other, count=SMALL, seed=1123)
    assert _dump(other) == seeded
    assert len(seeded["residents"]) == SMALL


def test_a_different_seed_gives_different_people(tmp_path, seeded):
    other = _engine(tmp_path / "other.db")
    mois.seed(other, count=SMALL, seed=99)
    numbers = {row[1] for row in _dump(other)["residents"]}
    assert len(numbers & {row[1] for row in seeded["residents"]}) < 10


def test_resident_numbers_are_unique_synthetic_and_match_birth_date_and_sex(people):
    numbers = [p["resident_number"] for p in people]
    assert len(set(numbers)) == len(numbers)
    for person in people:
        number = person["resident_number"]
        assert is_synthetic(number) and has_valid_check_digit(number)
        assert number[:6] == person["birth_date"].strftime("%y%m%d")
        assert number[6] == {"M": "9", "F": "0"}[person["sex"]]
        assert person["status"] == "active"


def test_every_household_has_exactly_one_head_listed_first(by_household, seeded):
    assert set(by_household) == {row[0] for row in seeded["households"]}
    for members in by_household.values():
        assert [m["relation_to_head"] for m in members].count("본인") == 1
        assert members[0]["relation_to_head"] == "본인"
        assert 1 <= len(members) <= 5


def test_household_relations_have_consistent_sexes_and_ages(by_household):
    seen: set[str] = set()
    for members in by_household.values():
        head = members[0]
        couple = [m for m in members if m["relation_to_head"] in ("본인", "배우자")]
        for member in members[1:]:
            relation = member["relation_to_head"]
            seen.add(relation)
            if relation == "배우자":
                assert member["sex"] != head["sex"]
            elif relation in ("부", "모", "며느리", "사위"):
                assert member["sex"] == {"부": "M", "모": "F", "며느리": "F", "사위": "M"}[relation]
            if relation in ("부", "모"):
                assert _years(member["birth_date"], head["birth_date"]) >= 20
            if relation == "자녀":
                for parent in couple:
                    assert _years(parent["birth_date"], member["birth_date"]) >= 17
            if relation == "손자녀":
                for child in (m for m in members if m["relation_to_head"] == "자녀"):
                    assert _years(child["birth_date"], member["birth_date"]) >= 17
    assert {"배우자", "자녀", "부", "모"} <= seen


def test_children_share_their_fathers_surname(by_household):
    checked = 0
    for members in by_household.values():
        children = [m for m in members if m["relation_to_head"] == "자녀"]
        if not children:
            continue
        assert len({c["name_ko"][0] for c in children}) == 1
        fathers = [m for m in members if m["relation_to_head"] in ("본인", "배우자") and m["sex"] == "M"]
        if fathers:
            assert children[0]["name_ko"][0] == fathers[0]["name_ko"][0]
            assert children[0]["name_en"].split()[0] == fathers[0]["name_en"].split()[0]
            checked += 1
    assert checked > 100


def test_current_address_history_row_is_the_household_address(seeded, people):
    household_address = {row[0]: row[1] for row in seeded["households"]}
    current = {row[1]: row for row in seeded["address_history"] if row[5] is None}
    assert len(current) == len(people)
    for person in people:
        row = current[person["resident_id"]]
        assert row[3] == household_address[person["household_id"]]
        assert row[4] == person["moved_in_on"]


def test_address_history_seq_is_dense_and_dates_are_ordered(seeded, people):
    history: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in seeded["address_history"]:
        history[row[1]].append(row)
    births = {p["resident_id"]: p["birth_date"] for p in people}
    lengths = set()
    for resident_id, rows in history.items():
        rows.sort(key=lambda r: r[2])
        lengths.add(len(rows))
        assert [r[2] for r in rows] == list(range(1, len(rows) + 1))
        assert rows[-1][5] is None and all(r[5] is not None for r in rows[:-1])
        assert rows[0][4] >= births[resident_id]
        for earlier, later in itertools.pairwise(rows):
            assert earlier[4] < earlier[5] == later[4]
            assert earlier[3] != later[3]
        for row in rows:
            assert row[6] in ("전입", "출생", "세대합가")
            if row[6] == "출생":
                assert row[4] == births[resident_id] and row[2] == 1
        assert rows[-1][4] <= mois.AS_OF
    assert lengths == {1, 2, 3, 4, 5}


def test_seeding_ten_thousand_on_sqlite_is_fast_and_reports_progress(tmp_path):
    engine = _engine(tmp_path / "big.db")
    reported: list[int] = []
    started = time.perf_counter()
    assert mois.seed(engine, count=10_000, progress=reported.append) == 10_000
    elapsed = time.perf_counter() - started
    assert elapsed < 15, f"seeding took {elapsed:.1f}s"
    assert len(reported) >= 10
    assert reported == sorted(reported) and reported[-1] == 10_000
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM residents")).scalar_one() == 10_000


def test_reseeding_the_same_seed_and_count_leaves_rows_alone(tmp_path):
    engine = _engine(tmp_path / "idem.db")
    mois.seed(engine, count=300, seed=5)
    with engine.begin() as conn:  # a marker the seeder would wipe if it redid the work
        conn.execute(update(mois.residents).where(mois.residents.c.resident_id == 1).values(status="moved"))
    assert mois.seed(engine, count=300, seed=5) == 300
    with engine.connect() as conn:
        query = select(mois.residents.c.status).where(mois.residents.c.resident_id == 1)
        assert conn.execute(query).scalar() == "moved"


def test_a_different_count_or_seed_replaces_all_rows(tmp_path):
    engine = _engine(tmp_path / "replace.db")
    mois.seed(engine, count=300, seed=5)
    assert mois.seed(engine, count=120, seed=5) == 120
    assert len(_dump(engine)["residents"]) == 120
    mois.seed(engine, count=120, seed=6)
    fresh = _engine(tmp_path / "fresh.db")
    mois.seed(fresh, count=120, seed=6)
    assert _dump(engine) == _dump(fresh)


def test_a_tampered_registry_is_reseeded(tmp_path):
    engine = _engine(tmp_path / "tamper.db")
    mois.seed(engine, count=200, seed=5)
    expected = _dump(engine)
    with engine.begin() as conn:
        conn.execute(
            update(mois.residents)
            .where(mois.residents.c.resident_id == 7)
            .values(resident_number="0101019000000")
        )
    mois.seed(engine, count=200, seed=5)
    assert _dump(engine) == expected


def test_registry_refuses_numbers_without_the_synthetic_marker(tmp_path):
    engine = _engine(tmp_path / "guard.db")
    mois.seed(engine, count=10, seed=5)
    with pytest.raises(Exception, match=r"(?i)constraint"), engine.begin() as conn:
        conn.execute(
            update(mois.residents)
            .where(mois.residents.c.resident_id == 1)
            .values(resident_number="9001011234568")
        )


def test_demo_residents_are_the_first_residents_with_hyphenated_numbers(tmp_path, people):
    engine = _engine(tmp_path / "demo.db")
    mois.seed(engine, count=SMALL, seed=1123)
    demo = mois.demo_residents(engine, n=3)
    assert demo == [
        {
            "name_ko": p["name_ko"],
            "name_en": p["name_en"],
            "resident_number": f"{p['resident_number'][:6]}-{p['resident_number'][6:]}",
        }
        for p in people[:3]
    ]


def test_ensure_database_creates_the_sqlite_parent_directory(tmp_path):
    path = tmp_path / "nested" / "deeper" / "mois.db"
    mois.ensure_database(f"sqlite:///{path}")
    assert path.parent.is_dir()
    mois.ensure_database("sqlite://")  # in-memory: nothing to create, must not fail


@pytest.mark.postgres
def test_postgres_seed_matches_sqlite_and_creates_its_database(seeded):
    name = f"gongyu_t_sandbox_{secrets.token_hex(6)}"
    url = PG_SERVER + name
    admin = create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
    engine = None
    try:
        mois.ensure_database(url)
        mois.ensure_database(url)  # already there: no error
        engine = create_engine(url)
        reported: list[int] = []
        assert mois.seed(engine, count=SMALL, seed=1123, progress=reported.append) == SMALL
        assert reported[-1] == SMALL
        assert {t: len(rows) for t, rows in _dump(engine).items()} == {t: len(r) for t, r in seeded.items()}
        assert _dump(engine) == seeded
        assert {"households", "residents", "address_history"} <= set(inspect(engine).get_table_names())
        with engine.begin() as conn:  # serial counters were moved past the explicit ids
            new_id = conn.execute(
                text(
                    "INSERT INTO households (address, postal_code, formed_on) "
                    "VALUES ('x', '00000', DATE '2020-01-01') RETURNING household_id"
                )
            ).scalar_one()
            assert new_id == len(seeded["households"]) + 1
            conn.rollback()
        started = time.perf_counter()
        assert mois.seed(engine, count=SMALL, seed=1123) == SMALL
        assert time.perf_counter() - started < 5
    finally:
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
