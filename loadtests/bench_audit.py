"""Audit log benchmark at scale: ``python -m loadtests.bench_audit [--events N]``.

Creates a throwaway PostgreSQL database (``gongyu_bench_audit_<hex>``, on 127.0.0.1 only), bulk-loads N
synthetic, already integrated events (``audit.synthetic``), and measures the real code paths in-process:

(a) a resident's history page (``audit.history.page`` via ``AuditReader``, 20 entries with inclusion proofs,
    random residents who have entries): p99 <= 20 ms;
(b) an inclusion proof for a random leaf at the latest size: p99 <= 10 ms;
(c) export (``audit.export.stream``, JSONL) of a time range of >= 1,000,000 rows: >= 100,000 rows/s;
(d) ``audit.verify.verify_log`` of a separate 1,000,000-leaf database: < 10 s;
(e) integrator lag: appenders in separate processes (as the hub's workers) call ``AuditLog.append`` at
    ~1,200/s for 20 s while ``Integrator.run(0.5, stop)`` runs here; lag = created_at of the first checkpoint
    covering an event minus the event's occurred_at: p99 < 1 s.

Each measurement is repeated ``--repeat`` times and the median of the runs is reported. The databases are
always dropped at the end (unless ``--keep``). The load generator shares the machine with the database, so
on a small box the numbers are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import AuditEvent, AuditLog
from audit.checkpoint import verifier_key
from audit.export import ExportFilter
from audit.history import HistoryFilter
from audit.integrator import Integrator
from audit.merkle import leaf_hash, verify_inclusion
from audit.service import AuditReader
from audit.signer import LogSigner
from audit.synthetic import seed_synthetic
from audit.verify import verify_log
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.migrate import upgrade
from hub.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULT_FILE = ROOT / "var" / "bench-audit.json"
PG_SERVER = "root@127.0.0.1:5432"
ORIGIN = "bench.gongyu.local/log"
TARGETS = {
    "history_p99_ms": ("<=", 20.0),
    "inclusion_p99_ms": ("<=", 10.0),
    "export_rows_per_s": (">=", 100_000.0),
    "verify_1m_s": ("<", 10.0),
    "integrator_lag_p99_s": ("<", 1.0),
}


def _pg(name: str, driver: str = "postgresql+psycopg2") -> str:
    return f"{driver}://{PG_SERVER}/{name}"


@contextmanager
def _admin() -> Iterator[Any]:
    engine = create_engine(_pg("postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _create(name: str) -> None:
    with _admin() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))


def _drop(names: list[str]) -> None:
    with _admin() as conn:
        for name in names:
            try:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception as exc:  # best effort: never hide the result
                print(f"bench: could not drop {name}: {exc}", file=sys.stderr)


def _log(message: str) -> None:
    print(f"bench-audit [{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": _percentile(values, 50),
        "p95": _percentile(values, 95),
        "p99": _percentile(values, 99),
        "max": max(values),
    }


@dataclass
class Log:
    name: str
    settings: Settings
    key: Ed25519PrivateKey
    size: int = 0
    seed_seconds: float = 0.0

    @property
    def signer(self) -> LogSigner:
        return LogSigner(ORIGIN, self.key)


def _seed(name: str, events: int, var: Path, create: bool = True) -> Log:
    if create:
        _create(name)
    settings = Settings(var_dir=var / name, database_url=_pg(name, "postgresql+asyncpg"), environment="test")
    upgrade(settings)
    log = Log(name, settings, Ed25519PrivateKey.generate())
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 15 or done == total:
            last[0] = time.monotonic()
            _log(f"{name}: {done:,}/{total:,} events seeded")

    started = time.monotonic()
    log.size = seed_synthetic(_pg(name), events, ORIGIN, log.key, progress, rebuild_indexes=True)
    log.seed_seconds = time.monotonic() - started
    _log(f"{name}: {events:,} events in {log.seed_seconds:.0f}s ({events / log.seed_seconds:,.0f}/s)")
    # Steady state, as autovacuum would leave it: hint bits and visibility map set, statistics fresh.
    engine = create_engine(_pg(name), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM (ANALYZE) audit_events, audit_nodes"))
    finally:
        engine.dispose()
    _log(f"{name}: vacuumed in {time.monotonic() - started - log.seed_seconds:.0f}s")
    return log


# --------------------------------------------------------------------------- measurements


async def _sample_subjects(sessions: async_sessionmaker[AsyncSession], size: int, n: int) -> list[str]:
    """Residents who have entries, weighted by how many (a random leaf's subject)."""
    leaves = [random.randrange(size) for _ in range(n * 2)]
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT subject_commitment FROM audit_events"
                " WHERE leaf_index = ANY(:leaves) AND subject_commitment IS NOT NULL"
            ),
            {"leaves": leaves},
        )
        subjects = [str(s) for (s,) in rows]
    random.shuffle(subjects)
    return subjects[:n]


async def _timed(calls: list[Callable[[], Any]], warmup: int = 20) -> list[float]:
    for call in calls[:warmup]:
        await call()
    latencies = []
    for call in calls:
        started = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def measure_reads(log: Log, samples: int, export_rows: int) -> dict[str, Any]:
    engine = create_async_engine(log.settings.effective_database_url)
    sessions = session_factory(engine)
    reader = AuditReader(sessions, log.signer)
    try:
        latest = await reader.latest_checkpoint()
        assert latest is not None
        size = latest.tree_size
        now = datetime.now(UTC)

        subjects = await _sample_subjects(sessions, size, samples)
        pages: list[int] = []

        def history_call(subject: str) -> Callable[[], Any]:
            async def call() -> None:
                page = await reader.history(subject, now, HistoryFilter(), None, 20)
                pages.append(len(page.entries))

            return call

        history = await _timed([history_call(s) for s in subjects])
        # Check one page's proofs end to end, so a fast but wrong path cannot pass.
        page = await reader.history(subjects[0], now, HistoryFilter(), None, 20)
        for entry in page.entries:
            if entry["inclusion_proof"]:
                proof = [base64.b64decode(h) for h in entry["inclusion_proof"]["hashes"]]
                digest = base64.b64decode(entry["leaf_hash"])
                verify_inclusion(digest, entry["leaf_index"], size, proof, latest.root_hash)

        leaves = [random.randrange(size) for _ in range(samples)]

        def proof_call(leaf: int) -> Callable[[], Any]:
            async def call() -> None:
                await reader.inclusion_proof(leaf, None)

            return call

        inclusion = await _timed([proof_call(leaf) for leaf in leaves])
        for leaf in leaves[:5]:
            got_size, path = await reader.inclusion_proof(leaf, None)
            found = await reader.leaf(leaf)
            assert found is not None
            verify_inclusion(leaf_hash(found.leaf_bytes), leaf, got_size, path, latest.root_hash)

        # A time range holding export_rows events, in the middle of the log (events are in time order).
        start_leaf = max(0, (size - export_rows) // 2)
        async with sessions() as session:
            bounds = (
                await session.execute(
                    text("SELECT leaf_index, occurred_at FROM audit_events WHERE leaf_index IN (:a, :b)"),
                    {"a": start_leaf, "b": min(size - 1, start_leaf + export_rows)},
                )
            ).all()
        times: dict[int, datetime] = {int(i): t for i, t in bounds}
        since, until = times[start_leaf], times[min(size - 1, start_leaf + export_rows)]
        rows = 0
        body = 0
        started = time.perf_counter()
        async for chunk in reader.export_stream(ExportFilter(since=since, until=until), size, "jsonl"):
            rows += chunk.count(b"\n")
            body += len(chunk)
        export_s = time.perf_counter() - started
        return {
            "tree_size": size,
            "history_ms": _summary(history),
            "history_entries_per_page": statistics.mean(pages),
            "inclusion_ms": _summary(inclusion),
            "export": {"rows": rows, "bytes": body, "seconds": export_s, "rows_per_s": rows / export_s},
        }
    finally:
        await engine.dispose()


async def measure_verify(log: Log) -> dict[str, Any]:
    engine = create_async_engine(log.settings.effective_database_url)
    try:
        started = time.perf_counter()
        report = await verify_log(session_factory(engine), verifier_key(ORIGIN, log.key.public_key()))
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    if not report.ok:
        raise SystemExit(
            f"bench-audit: verify_log found {len(report.findings)} problems: {report.findings[:3]}"
        )
    return {"leaves": report.leaves_checked, "checkpoints": report.checkpoints_checked, "seconds": seconds}


def _appender(url: str, rate: float, seconds: float, tasks: int, seed: int) -> int:
    """One hub-worker-like process appending events at ``rate``/s from ``tasks`` concurrent tasks."""

    async def run() -> int:
        engine = create_async_engine(url)
        log = AuditLog(session_factory(engine))
        rng = random.Random(seed)
        deadline = time.monotonic() + seconds
        count = 0

        async def task(offset: float) -> None:
            nonlocal count
            interval = tasks / rate
            due = time.monotonic() + offset
            while due < deadline:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await log.append(
                    AuditEvent(
                        kind="lookup",
                        actor_kind="client",
                        actor_id=f"bank-{rng.randrange(200):03d}",
                        actor_org="Bench Bank",
                        outcome="ok",
                        subject_commitment=f"{rng.getrandbits(256):064x}",
                        document_type="resident_registration_abstract",
                        view="basic",
                        fields=("name", "address"),
                        purpose_code="loan-screening",
                        basis="statute:KR-FTRA-5-2",
                        reason="allowed",
                    )
                )
                count += 1
                due += interval

        try:
            await asyncio.gather(*(task(i * tasks / rate / tasks) for i in range(tasks)))
        finally:
            await engine.dispose()
        return count

    return asyncio.run(run())


async def measure_lag(log: Log, rate: float, seconds: float, processes: int) -> dict[str, Any]:
    engine = create_async_engine(log.settings.effective_database_url)
    sessions = session_factory(engine)
    integrator = Integrator(sessions, log.signer)
    stop = asyncio.Event()
    async with sessions() as session:
        before = int(
            (await session.execute(text("SELECT coalesce(max(seq), 0) FROM audit_events"))).scalar_one()
        )
    runner = asyncio.create_task(integrator.run(0.5, stop))
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    try:
        with context.Pool(processes) as pool:
            jobs = [
                pool.apply_async(
                    _appender, (log.settings.effective_database_url, rate / processes, seconds, 16, i)
                )
                for i in range(processes)
            ]
            counts = [await loop.run_in_executor(None, job.get, seconds + 120) for job in jobs]
        # Let the integrator catch up with the last appends.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            async with sessions() as session:
                pending = (
                    await session.execute(
                        text("SELECT count(*) FROM audit_events WHERE seq > :s AND leaf_index IS NULL"),
                        {"s": before},
                    )
                ).scalar_one()
            if not pending:
                break
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await runner
    async with sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT extract(epoch FROM (SELECT min(c.created_at) FROM audit_checkpoints c"
                    "  WHERE c.tree_size > e.leaf_index) - e.occurred_at)"
                    " FROM audit_events e WHERE e.seq > :s AND e.leaf_index IS NOT NULL"
                ),
                {"s": before},
            )
        ).all()
        checkpoints = (
            await session.execute(
                text(
                    "SELECT count(*) FROM audit_checkpoints WHERE created_at >="
                    " (SELECT min(occurred_at) FROM audit_events WHERE seq > :s)"
                ),
                {"s": before},
            )
        ).scalar_one()
    await engine.dispose()
    lags = [float(lag) for (lag,) in rows]
    appended = sum(counts)
    return {
        "appended": appended,
        "rate_per_s": appended / seconds,
        "integrated": len(lags),
        "checkpoints": int(checkpoints),
        "lag_s": _summary(lags) if lags else None,
    }


# --------------------------------------------------------------------------- driver


def _verdict(metric: str, value: float) -> str:
    op, target = TARGETS[metric]
    ok = value <= target if op == "<=" else value >= target if op == ">=" else value < target
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the main log")
    parser.add_argument("--verify-events", type=int, default=1_000_000, help="leaves for the verify run")
    parser.add_argument("--samples", type=int, default=2000, help="history pages and proofs per run")
    parser.add_argument("--export-rows", type=int, default=1_000_000, help="rows in the exported range")
    parser.add_argument("--lag-rate", type=float, default=1200.0, help="appends per second for (e)")
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--lag-processes", type=int, default=2, help="appender processes for (e)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median reported)")
    parser.add_argument("--keep", action="store_true", help="keep the databases (their names are printed)")
    parser.add_argument("--output", type=Path, default=RESULT_FILE)
    args = parser.parse_args(argv)
    if not 1 <= args.events <= 50_000_000 or not 1 <= args.verify_events <= 10_000_000:
        parser.error("--events must be 1..50,000,000 and --verify-events 1..10,000,000")
    if not 1 <= args.repeat <= 10 or not 1 <= args.samples <= 100_000 or not 0 < args.lag_seconds <= 300:
        parser.error("--repeat 1..10, --samples 1..100,000, --lag-seconds up to 300")

    token = secrets.token_hex(4)
    main_db, verify_db = f"gongyu_bench_audit_{token}", f"gongyu_bench_audit_{token}_verify"
    created: list[str] = [main_db, verify_db]
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
        "events": args.events,
        "verify_events": args.verify_events,
        "runs": [],
    }
    try:
        with tempfile.TemporaryDirectory(prefix="gongyu-bench-audit-") as tmp:
            var = Path(tmp)
            big = _seed(main_db, args.events, var)
            small = _seed(verify_db, args.verify_events, var)
            result["seed"] = {
                "events": args.events,
                "seconds": big.seed_seconds,
                "events_per_s": args.events / big.seed_seconds,
                "verify_db_seconds": small.seed_seconds,
            }
            for run in range(args.repeat):
                _log(f"run {run + 1}/{args.repeat}: history, proofs, export")
                reads = asyncio.run(measure_reads(big, args.samples, args.export_rows))
                _log(f"run {run + 1}/{args.repeat}: verify {args.verify_events:,} leaves")
                verify = asyncio.run(measure_verify(small))
                _log(f"run {run + 1}/{args.repeat}: integrator lag at {args.lag_rate:.0f}/s")
                lag = asyncio.run(measure_lag(big, args.lag_rate, args.lag_seconds, args.lag_processes))
                run_result = {"reads": reads, "verify": verify, "lag": lag}
                result["runs"].append(run_result)
                _log(json.dumps(_metrics(run_result)))
    finally:
        if args.keep:
            _log(f"kept databases {created}")
        else:
            _drop(created)
    runs = [_metrics(r) for r in result["runs"]]
    result["median"] = {k: statistics.median(r[k] for r in runs) for k in TARGETS}
    result["verdict"] = {k: _verdict(k, v) for k, v in result["median"].items()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    _print_table(result, runs, args.output)
    return 0 if all(v == "PASS" for v in result["verdict"].values()) else 1


def _metrics(run: dict[str, Any]) -> dict[str, float]:
    lag = run["lag"]["lag_s"]
    return {
        "history_p99_ms": run["reads"]["history_ms"]["p99"],
        "inclusion_p99_ms": run["reads"]["inclusion_ms"]["p99"],
        "export_rows_per_s": run["reads"]["export"]["rows_per_s"],
        "verify_1m_s": run["verify"]["seconds"],
        "integrator_lag_p99_s": lag["p99"] if lag else float("inf"),
    }


def _print_table(result: dict[str, Any], runs: list[dict[str, float]], output: Path) -> None:
    print(
        f"\naudit benchmark: {result['events']:,} events (verify: {result['verify_events']:,} leaves), "
        f"{len(runs)} run(s), {result['cpus']} CPUs; seeded at {result['seed']['events_per_s']:,.0f} events/s"
    )
    print(f"{'metric':<24}{'target':>14}{'median':>14}  {'runs':<40}verdict")
    for metric, (op, target) in TARGETS.items():
        values = ", ".join(f"{r[metric]:,.2f}" for r in runs)
        print(
            f"{metric:<24}{op + ' ' + format(target, ',.0f'):>14}{result['median'][metric]:>14,.2f}  "
            f"{values:<40}{result['verdict'][metric]}"
        )
    print(f"\nresults: {output}")


if __name__ == "__main__":
    raise SystemExit(main())
