"""Open statistics at scale: ``python -m loadtests.bench_stats [--events N]`` (issue 14, part 2).

Creates a throwaway PostgreSQL database (``gongyu_bench_stats_<hex>``, 127.0.0.1 only), fills it with already
integrated events written by the server itself (``loadtests.bench_audit.seed_server_side``: one event every
700 ms, so a day holds ~123,000 events whatever N is, and N = 1,000,000 spans ~8 days, 10,000,000 ~81 days),
then measures with ``audit.stats.LookupStats``, the hub's own code:

(a) the first refresh: every closed day counted from nothing (the backfill a new deployment runs once);
(b) one day counted again (``--recount``), which is what the hourly refresh costs once a day closes;
(c) the page's read (``overview`` over 28 days) and one signed file (7 days of CSV, hashed for its manifest),
    each made afresh, and the manifest asked for again (kept).

``--python-seed`` seeds with ``audit.synthetic`` instead (``gongyu audit seed-synthetic``'s vocabulary: ~190
organisations, five outcomes, two kinds of basis, spread over 90 days), for the read side with many cells.

The sum of the counted cells is checked against ``count(*)`` over the same days of the log. ``--keep`` keeps
the database; ``--reuse NAME --var DIR`` measures a kept one again without seeding.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from loadtests.bench_audit import ORIGIN, _create, _drop, _log, _pg, seed_server_side


async def _measure(name: str, var: Path, repeat: int) -> dict[str, Any]:
    from audit.stats import DAY_ZONE, LOOKUP_KINDS, LookupStats, day_window, last_published_day
    from document_specs.loader import load_catalog
    from hub.db import create_engine as create_async
    from hub.db import session_factory
    from hub.keys import load_keyring
    from hub.settings import Settings
    from hub.signing import MANIFEST_TYP, jws_signer

    settings = Settings(var_dir=var, database_url=_pg(name, "postgresql+asyncpg"), environment="test")
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    engine = create_async(settings.effective_database_url)
    sessions = session_factory(engine)
    result: dict[str, Any] = {}
    try:
        async with sessions() as session:
            newest_event = (
                await session.execute(text("SELECT max(occurred_at) FROM audit_events"))
            ).scalar_one()
        # The clock stands 11 days after the newest event: every seeded day is closed and published.
        now = newest_event + timedelta(days=11)
        stats = LookupStats(
            sessions, jws_signer(keys.token_key, MANIFEST_TYP), list(load_catalog()), clock=lambda: now
        )
        async with sessions() as session, session.begin():
            await session.execute(text("DELETE FROM lookup_stats"))
            await session.execute(text("DELETE FROM lookup_stat_days"))
        started = time.perf_counter()
        first = await stats.refresh()
        result["backfill_seconds"] = round(time.perf_counter() - started, 2)
        result["backfill_days"] = len(first.days)
        result["backfill_lookups"] = first.lookups
        async with sessions() as session:
            busiest = (
                await session.execute(text("SELECT day FROM lookup_stat_days ORDER BY lookups DESC LIMIT 1"))
            ).scalar_one()
            start, end = day_window(first.days[0])[0], day_window(first.days[-1])[1]
            logged = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM audit_events WHERE occurred_at >= :a AND occurred_at < :b"
                        " AND kind = ANY(:kinds)"
                    ),
                    {"a": start, "b": end, "kinds": list(LOOKUP_KINDS)},
                )
            ).scalar_one()
            day_events, cells = (
                await session.execute(
                    text("SELECT lookups, cells FROM lookup_stat_days WHERE day = :d"), {"d": busiest}
                )
            ).one()
        result["sum_equals_log_count"] = logged == first.lookups
        result["busiest_day_lookups"], result["busiest_day_cells"] = int(day_events), int(cells)
        recounts = []
        for _ in range(repeat):
            started = time.perf_counter()
            await stats.refresh(since=busiest, until=busiest, recount=True)
            recounts.append(time.perf_counter() - started)
        result["one_day_recount_seconds_median"] = round(statistics.median(recounts), 3)
        last = last_published_day(now)
        reads, files, kept = [], [], []
        for _ in range(repeat):
            cold = LookupStats(sessions, jws_signer(keys.token_key, MANIFEST_TYP), clock=lambda: now)
            started = time.perf_counter()
            await cold.overview(last - timedelta(days=27), last)
            reads.append(time.perf_counter() - started)
            started = time.perf_counter()
            signed = await cold.signed_manifest(last - timedelta(days=6), last, "csv")
            files.append(time.perf_counter() - started)
            started = time.perf_counter()
            await cold.signed_manifest(last - timedelta(days=6), last, "csv")  # kept: one small read
            kept.append(time.perf_counter() - started)
        result["page_overview_28_days_seconds_median"] = round(statistics.median(reads), 3)
        result["manifest_7_days_csv_seconds_median"] = round(statistics.median(files), 3)
        result["manifest_7_days_csv_kept_seconds_median"] = round(statistics.median(kept), 4)
        result["manifest_7_days_csv_rows"] = signed.manifest.rows
        result["manifest_7_days_csv_bytes"] = signed.manifest.size_bytes
        result["day_zone"] = str(DAY_ZONE)
    finally:
        await engine.dispose()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log")
    parser.add_argument("--repeat", type=int, default=3, help="runs of (b) and (c); the median is reported")
    parser.add_argument(
        "--python-seed", action="store_true", help="seed with audit.synthetic (many more cells a day, slower)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--reuse", help="measure this kept database again (no seeding)")
    parser.add_argument("--var", type=Path, help="the kept database's key directory parent (with --reuse)")
    args = parser.parse_args(argv)
    name = args.reuse or f"gongyu_bench_stats_{secrets.token_hex(4)}"
    var = args.var or Path(f"/tmp/{name}")
    try:
        if not args.reuse:
            from audit.synthetic import seed_synthetic
            from hub.keys import load_keyring
            from hub.migrate import upgrade
            from hub.settings import Settings

            settings = Settings(var_dir=var, database_url=_pg(name, "postgresql+asyncpg"), environment="test")
            keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
            _create(name)
            upgrade(settings)
            started = time.monotonic()
            if args.python_seed:  # audit.synthetic: ~190 organisations, 5 outcomes, 2 bases, 90 days
                seed_synthetic(_pg(name), args.events, ORIGIN, keys.log_key.private_key, rebuild_indexes=True)
            else:
                gap = min(50_000, args.events // 2)
                seed_server_side(_pg(name), args.events, ORIGIN, keys.log_key.private_key, gap)
            _log(f"{name}: {args.events:,} events seeded in {time.monotonic() - started:.0f}s")
            engine = create_engine(_pg(name), isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text("VACUUM (ANALYZE) audit_events"))
            engine.dispose()
        result = {"events": args.events, "database": name, "at": datetime.now(UTC).isoformat()}
        result.update(asyncio.run(_measure(name, var, args.repeat)))
        print(json.dumps(result, indent=2))
        if args.keep or args.reuse:
            _log(f"kept: --reuse {name} --var {var}")
        return 0 if result["sum_equals_log_count"] else 1
    finally:
        if not (args.keep or args.reuse):
            _drop([name])


if __name__ == "__main__":
    sys.exit(main())
