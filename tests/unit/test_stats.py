"""Open statistics (``audit.stats``) on a log of their own, SQLite and PostgreSQL.

The published numbers equal a count over the log; the newest ten days are absent; a cell of 9 is suppressed
and one of 10 shown; a day is counted only once the checkpoint covers it, and counted again to the same rows.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import AuditLog
from audit.events import AuditEvent
from audit.integrator import Integrator
from audit.signer import LogSigner
from audit.stats import (
    DAY_ZONE,
    LOOKUP_KINDS,
    LookupStats,
    NotPublished,
    day_window,
    last_published_day,
)
from audit.synthetic import seed_synthetic
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.migrate import upgrade
from hub.settings import Settings, sync_url
from tests.conftest import _drop_pg

pytestmark = pytest.mark.anyio
# Long before the synthetic log's last 90 days: the tests with a clock of their own see only their own days.
NOW = datetime(2025, 6, 30, 3, 0, tzinfo=UTC)  # 12:00 in Korea
SIGNER = LogSigner("test.gongyu/log", Ed25519PrivateKey.generate())


@dataclass
class Log:
    sessions: async_sessionmaker[AsyncSession]
    integrator: Integrator
    url: str

    def stats(self, now: datetime = NOW) -> LookupStats:
        return LookupStats(self.sessions, lambda payload: "signed", clock=lambda: now)

    async def integrate(self) -> None:
        while (await self.integrator.integrate_once()).integrated:
            pass

    async def append(self, count: int, when: datetime, org: str, **overrides: object) -> None:
        log = AuditLog(self.sessions)
        for _ in range(count):
            values: dict[str, object] = {
                "kind": "lookup",
                "actor_kind": "client",
                "actor_id": "stats-test",
                "outcome": "ok",
                "actor_org": org,
                "document_type": "resident_registration_abstract",
                "basis": "statute:KR-FTRA-5-2",
                "occurred_at": when,
                **overrides,
            }
            await log.append(AuditEvent(**values))  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database per backend for the module: each test uses days and organisations of its own."""
    name = f"gongyu_t_stats_{secrets.token_hex(4)}"
    var = tmp_path_factory.mktemp("stats")
    url = (
        f"sqlite+aiosqlite:///{var / 'stats.db'}"
        if request.param == "sqlite"
        else f"postgresql+asyncpg://root@127.0.0.1:5432/{name}"
    )
    upgrade(Settings(var_dir=var, database_url=url))
    yield url
    if request.param == "postgres":
        _drop_pg(name)


@pytest.fixture
async def fresh(database: str) -> AsyncIterator[Log]:
    engine = create_async_engine(database)
    sessions = session_factory(engine)
    try:
        yield Log(sessions, Integrator(sessions, SIGNER), database)
    finally:
        await engine.dispose()


def _korean_day(moment: datetime) -> date:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(DAY_ZONE).date()


async def _count_over_the_log(
    log: Log, first: date, last: date
) -> Counter[tuple[str, str | None, str | None, str, str]]:
    """The reference: every lookup of the log read row by row and counted in Python."""
    basis_kinds = {"consent", "statute", "mandate"}
    counted: Counter[tuple[str, str | None, str | None, str, str]] = Counter()
    async with log.sessions() as session:
        rows = await session.execute(
            text("SELECT occurred_at, kind, actor_org, document_type, basis, outcome FROM audit_events")
        )
        for occurred, kind, org, document, basis, outcome in rows:
            if isinstance(occurred, str):
                occurred = datetime.fromisoformat(occurred)
            day = _korean_day(occurred)
            if kind not in LOOKUP_KINDS or not first <= day <= last:
                continue
            prefix = (basis or "").split(":", 1)[0]
            basis_kind = "none" if basis is None else basis if basis == "self" else prefix
            basis_kind = basis_kind if basis_kind in basis_kinds | {"self", "none"} else "other"
            counted[(day.isoformat(), org, document, basis_kind, outcome)] += 1
    return counted


async def _json(stats: LookupStats, first: date, last: date) -> dict[str, object]:
    body = b"".join([chunk async for chunk in stats.body(first, last, "json")])
    found: dict[str, object] = json.loads(body)
    return found


async def test_the_published_numbers_equal_a_count_over_the_log(fresh: Log) -> None:
    await fresh.integrate()  # the synthetic log extends an integrated one
    seed_synthetic(sync_url(fresh.url), 3000, SIGNER.origin, SIGNER.private_key, seed=11, workers=1)
    now = datetime.now(UTC)
    stats = fresh.stats(now)
    refreshed = await stats.refresh()
    assert refreshed.waiting is None and refreshed.days
    published = await stats.published_range()
    assert published is not None
    last = published[1]
    assert last == last_published_day(now)
    first = last - timedelta(days=85)  # the synthetic log's published days (one file holds 92 at most)
    expected = await _count_over_the_log(fresh, first, last)
    keys = ("day", "organisation", "document_type", "basis_kind", "outcome")
    cells = {
        tuple(cell[k] for k in keys): cell["lookups"]
        for cell in (await _json(stats, first, last))["cells"]  # type: ignore[attr-defined]
    }
    assert set(cells) == set(expected) and len(cells) > 100
    assert cells == {key: (n if n >= 10 else None) for key, n in expected.items()}
    # The raw aggregate holds the exact counts the suppression hides.
    async with fresh.sessions() as session:
        total = (
            await session.execute(
                text("SELECT sum(lookups) FROM lookup_stats WHERE day BETWEEN :a AND :b"),
                {"a": first, "b": last},
            )
        ).scalar_one()
    assert total == sum(expected.values())


async def test_the_newest_ten_days_are_absent(fresh: Log) -> None:
    newest = last_published_day(NOW)
    _, end = day_window(newest)
    assert end <= NOW - timedelta(days=10) < end + timedelta(days=1)
    await fresh.append(12, end - timedelta(microseconds=1), "Last Published Office")
    await fresh.append(12, end, "Too Recent Office")  # the first instant of the next day
    await fresh.append(12, NOW - timedelta(days=2), "Too Recent Office")
    await fresh.integrate()
    stats = fresh.stats()
    refreshed = await stats.refresh(since=newest - timedelta(days=6))
    assert refreshed.waiting is None
    assert newest + timedelta(days=1) in refreshed.days  # counted already, only not published
    published = await stats.published_range()
    assert published is not None and published[1] == newest
    body = await _json(stats, newest - timedelta(days=6), newest)
    assert [(c["organisation"], c["lookups"]) for c in body["cells"]] == [("Last Published Office", 12)]  # type: ignore[attr-defined]
    with pytest.raises(NotPublished):
        await stats.resolve(newest, newest + timedelta(days=1))
    assert [c async for c in stats.cells(newest + timedelta(days=1), newest + timedelta(days=3))] == []
    # Ten days later the next day is published too.
    later = await fresh.stats(NOW + timedelta(days=1)).published_range()
    assert later is not None and later[1] == newest + timedelta(days=1)


async def test_a_cell_of_nine_is_suppressed_and_a_cell_of_ten_shown(fresh: Log) -> None:
    day = NOW.date() - timedelta(days=20)
    noon = datetime.combine(day, time(12), DAY_ZONE)
    await fresh.append(9, noon, "Nine Office")
    await fresh.append(10, noon, "Ten Office")
    await fresh.append(10, noon, "Ten Office", outcome="denied", basis=None)
    await fresh.integrate()
    stats = fresh.stats()
    await stats.refresh(since=day, until=day)
    cells = (await _json(stats, day, day))["cells"]
    found = {(c["organisation"], c["outcome"], c["basis_kind"]): c["lookups"] for c in cells}  # type: ignore[attr-defined]
    assert found == {
        ("Nine Office", "ok", "statute"): None,
        ("Ten Office", "ok", "statute"): 10,
        ("Ten Office", "denied", "none"): 10,
    }
    body = b"".join([c async for c in stats.body(day, day, "csv")]).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {(r["organisation"], r["lookups"]) for r in rows} == {("Nine Office", "<10"), ("Ten Office", "10")}
    # Every sum drawn adds the shown cells only and counts the suppressed cells apart: no 9 to recompute.
    overview = await stats.overview(day, day)
    assert [(s.value, s.lookups, s.suppressed_cells) for s in overview.by_organisation] == [
        ("Ten Office", 20, 0),
        ("Nine Office", 0, 1),
    ]
    assert [(s.value, s.lookups, s.suppressed_cells) for s in overview.by_day] == [(day.isoformat(), 20, 1)]
    assert {(s.value, s.lookups, s.suppressed_cells) for s in overview.by_outcome} == {
        ("ok", 10, 1),
        ("denied", 10, 0),
    }


async def test_a_day_waits_for_the_checkpoint_and_a_recount_gives_the_same_rows(fresh: Log) -> None:
    day = NOW.date() - timedelta(days=30)
    await fresh.append(11, datetime.combine(day, time(9), DAY_ZONE), "Waiting Office")
    await fresh.integrate()
    await fresh.append(3, datetime.combine(day, time(10), DAY_ZONE), "Waiting Office")  # not integrated
    stats = fresh.stats()
    first = await stats.refresh(since=day)
    assert first.waiting == day and first.days == []
    await fresh.integrate()
    counted = await stats.refresh(since=day, until=day)
    assert counted.days == [day] and counted.lookups == 14 and counted.waiting is None

    async def rows() -> list[tuple[object, ...]]:
        async with fresh.sessions() as session:
            found = await session.execute(
                text("SELECT * FROM lookup_stats WHERE day = :d ORDER BY organisation, outcome"), {"d": day}
            )
            return [tuple(r) for r in found]

    before = await rows()
    kept = await stats.signed_manifest(day, day, "json")
    assert await stats.signed_manifest(day, day, "json") is kept  # the same counted days: kept, not rehashed
    again = await stats.refresh(since=day, until=day, recount=True)
    assert again.days == [day] and again.lookups == 14
    assert await rows() == before
    await fresh.append(1, datetime.combine(day, time(11), DAY_ZONE), "Waiting Office")
    await fresh.integrate()
    await stats.refresh(since=day, until=day, recount=True)
    changed = await stats.signed_manifest(day, day, "json")
    assert changed.manifest.sha256 != kept.manifest.sha256  # a recount that changes the day changes the file
    assert (await stats.refresh(since=day, until=day)).days == []  # nothing left to count


async def test_the_hubs_refresh_loop_retries_a_failed_round_and_stops_when_told() -> None:
    import asyncio

    from audit.stats import Refreshed
    from hub.stats import refresh_loop

    stop = asyncio.Event()
    rounds: list[str] = []

    class Flaky:
        async def refresh(self) -> Refreshed:
            rounds.append("round")
            if len(rounds) == 1:
                raise RuntimeError("database away")  # logged; the next round tries again
            stop.set()
            return Refreshed([NOW.date()], 1)

    await asyncio.wait_for(refresh_loop(Flaky(), 0.01, stop), timeout=5)  # type: ignore[arg-type]
    assert rounds == ["round", "round"]


def test_gongyu_stats_refresh_counts_the_closed_days(
    database: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from hub.cli import app

    monkeypatch.setenv("GONGYU_DATABASE_URL", database)
    monkeypatch.setenv("GONGYU_VAR_DIR", str(tmp_path_factory.mktemp("stats-cli")))
    day = datetime.now(DAY_ZONE).date() - timedelta(days=400)  # a day no other test of the module uses
    ran = CliRunner().invoke(
        app, ["stats", "refresh", "--since", day.isoformat(), "--until", day.isoformat()]
    )
    assert ran.exit_code == 0, ran.output
    assert "counted 1 day(s)" in ran.output
    refused = CliRunner().invoke(app, ["stats", "refresh", "--since", "yesterday"])
    assert refused.exit_code != 0
