"""Audit log benchmark at scale: ``python -m loadtests.bench_audit [--events N]`` (issue 17).

Creates throwaway PostgreSQL databases (``gongyu_bench_audit_<hex>``, on 127.0.0.1 only) and fills them with
already integrated synthetic events written by the server itself (``seed_server_side``: ``INSERT ... SELECT``,
leaf hashes and tree levels in SQL, checkpoints signed here), then measures:

(a) over HTTP against ``gongyu serve --workers 2`` on that database, one request at a time: a resident's
    newest 20 entries with inclusion proofs (``/v1/me/access-log``, random residents who have entries):
    p99 <= 10 ms; (b) an inclusion proof for a random leaf (``/v1/audit/proof/inclusion``): p99 <= 5 ms;
(c) the export (``audit.export.stream``: COPY on PostgreSQL) of a time range of ~1,000,000 rows, JSONL and
    CSV, against PostgreSQL's own ``COPY (SELECT * ...) TO STDOUT CSV`` of the same rows: >= 0.3x;
(d) ``audit.verify.verify_log`` of a separate 1,000,000-leaf database: < 10 s;
(e) ``audit.verify.verify_since`` from the checkpoint 50,000 leaves before the end: < 10 s;
(f) integrator lag: appenders in separate processes (as the hub's workers) call ``AuditLog.append`` at
    ~1,200/s for 20 s while ``Integrator.run(0.5, stop)`` runs here; lag = created_at of the first checkpoint
    covering an event minus the event's occurred_at: p99 < 1 s.

``--keep`` keeps the databases (and prints the key directory); ``--reuse NAME --var DIR`` measures a kept main
database again without seeding. Each measurement is repeated ``--repeat`` times and the median reported.
The load generator shares the machine with the database and the hub, so on a small box the numbers are a
floor; the load average at the start and after each run is in the result file.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import bindparam, create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import AuditEvent, AuditLog
from audit.checkpoint import verifier_key, verify_checkpoint
from audit.export import ExportFilter
from audit.export import stream as export_stream
from audit.integrator import Integrator
from audit.merkle import verify_inclusion
from audit.signer import LogSigner
from audit.synthetic import (
    BANK_PURPOSES,
    BANKS,
    DOCUMENTS,
    STATUTES,
    SUBJECTS,
)
from audit.verify import verify_log, verify_since
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.migrate import upgrade
from hub.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULT_FILE = ROOT / "var" / "bench-audit.json"
PG_SERVER = "root@127.0.0.1:5432"
ORIGIN = "bench.gongyu.local/log"
TARGETS = {
    "history_p99_ms": ("<=", 10.0),  # over HTTP, a resident's newest 20 with proofs
    "inclusion_p99_ms": ("<=", 5.0),  # over HTTP
    "export_ratio_to_copy": (">=", 0.3),  # the slower of JSONL and CSV, against plain COPY of the same rows
    "verify_1m_s": ("<", 10.0),
    "incremental_verify_s": ("<", 10.0),  # the leaves after a checkpoint 50,000 leaves back, plus the proof
    "integrator_lag_p99_s": ("<", 1.0),
}
TRUSTED_GAP = 50_000


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


def _server_seeded(name: str, events: int, var: Path, create: bool) -> Log:
    """A log of ``events`` (``seed_server_side``), or the one already in database ``name`` (``--reuse``)."""
    from hub.keys import load_keyring

    var.mkdir(parents=True, exist_ok=True)
    settings = Settings(var_dir=var, database_url=_pg(name, "postgresql+asyncpg"), environment="test")
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    log = Log(name, settings, keys.log_key.private_key)
    if create:
        _create(name)
        upgrade(settings)
        started = time.monotonic()
        seed_server_side(_pg(name), events, ORIGIN, log.key, TRUSTED_GAP)
        log.seed_seconds = time.monotonic() - started
        _log(f"{name}: {events:,} events in {log.seed_seconds:.0f}s ({events / log.seed_seconds:,.0f}/s)")
        engine = create_engine(_pg(name), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("VACUUM (ANALYZE) audit_events, audit_nodes"))
        finally:
            engine.dispose()
    engine = create_engine(_pg(name))
    try:
        with engine.connect() as conn:
            log.size = int(conn.execute(text("SELECT max(tree_size) FROM audit_checkpoints")).scalar_one())
    finally:
        engine.dispose()
    return log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the main log")
    parser.add_argument("--verify-events", type=int, default=1_000_000, help="leaves for the verify run")
    parser.add_argument("--samples", type=int, default=2000, help="history pages and proofs per run")
    parser.add_argument("--export-rows", type=int, default=1_000_000, help="rows in the exported range")
    parser.add_argument("--workers", type=int, default=2, help="gongyu serve workers for the HTTP reads")
    parser.add_argument("--lag-rate", type=float, default=1200.0, help="appends per second for (f)")
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--lag-processes", type=int, default=2, help="appender processes for (f)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement (median reported)")
    parser.add_argument("--keep", action="store_true", help="keep the databases (their names are printed)")
    parser.add_argument("--reuse", help="measure the kept main database of an earlier run (name)")
    parser.add_argument("--var", type=Path, help="with --reuse: that run's key directory parent")
    parser.add_argument("--output", type=Path, default=RESULT_FILE)
    args = parser.parse_args(argv)
    if not TRUSTED_GAP < args.events <= 50_000_000 or not TRUSTED_GAP < args.verify_events <= 10_000_000:
        parser.error(f"--events must be {TRUSTED_GAP + 1:,}..50,000,000 and --verify-events up to 10,000,000")
    if not 1 <= args.repeat <= 10 or not 1 <= args.samples <= 100_000 or not 0 < args.lag_seconds <= 300:
        parser.error("--repeat 1..10, --samples 1..100,000, --lag-seconds up to 300")
    if args.reuse and not args.var:
        parser.error("--reuse needs --var (the directory printed by the run that kept it)")

    token = secrets.token_hex(4)
    main_db = args.reuse or f"gongyu_bench_audit_{token}"
    verify_db = f"gongyu_bench_audit_{token}_verify"
    created = [verify_db] if args.reuse else [main_db, verify_db]
    var = args.var or Path(tempfile.mkdtemp(prefix="gongyu-bench-audit-"))
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "events": args.events,
        "verify_events": args.verify_events,
        "runs": [],
    }
    try:
        big = _server_seeded(main_db, args.events, var / "main", create=not args.reuse)
        small = _server_seeded(verify_db, args.verify_events, var / "verify", create=True)
        result["events"] = big.size
        result["seed"] = {
            "events": big.size,
            "seconds": big.seed_seconds or None,
            "events_per_s": big.size / big.seed_seconds if big.seed_seconds else None,
            "verify_db_seconds": small.seed_seconds,
        }
        for run in range(args.repeat):
            _log(f"run {run + 1}/{args.repeat}: history and proofs over HTTP")
            http = asyncio.run(measure_http(big, args.samples, args.workers))
            _log(f"run {run + 1}/{args.repeat}: export against COPY")
            export = asyncio.run(measure_export_ratio(big, args.export_rows))
            _log(f"run {run + 1}/{args.repeat}: verify {args.verify_events:,} leaves; incremental verify")
            verify = asyncio.run(measure_verify(small))
            incremental = asyncio.run(measure_incremental(big, TRUSTED_GAP))
            _log(f"run {run + 1}/{args.repeat}: integrator lag at {args.lag_rate:.0f}/s")
            lag = asyncio.run(measure_lag(big, args.lag_rate, args.lag_seconds, args.lag_processes))
            run_result = {
                "http": http,
                "export": export,
                "verify": verify,
                "incremental": incremental,
                "lag": lag,
                "load_average": os.getloadavg(),
            }
            result["runs"].append(run_result)
            _log(json.dumps(_metrics(run_result)))
    finally:
        if args.keep:
            _log(f"kept databases {created} (keys under {var})")
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
        "history_p99_ms": run["http"]["history_ms"]["p99"],
        "inclusion_p99_ms": run["http"]["inclusion_ms"]["p99"],
        "export_ratio_to_copy": min(run["export"][f]["ratio_to_copy"] for f in ("jsonl", "csv")),
        "verify_1m_s": run["verify"]["seconds"],
        "incremental_verify_s": run["incremental"]["seconds"],
        "integrator_lag_p99_s": lag["p99"] if lag else float("inf"),
    }


def _print_table(result: dict[str, Any], runs: list[dict[str, float]], output: Path) -> None:
    seeded = result["seed"]["events_per_s"]
    print(
        f"\naudit benchmark: {result['events']:,} events (verify: {result['verify_events']:,} leaves), "
        f"{len(runs)} run(s), {result['cpus']} CPUs, load average {result['load_average'][0]:.1f} at start; "
        + (f"seeded at {seeded:,.0f} events/s" if seeded else "reused database")
    )
    print(f"{'metric':<24}{'target':>14}{'median':>14}  {'runs':<40}verdict")
    for metric, (op, target) in TARGETS.items():
        values = ", ".join(f"{r[metric]:,.2f}" for r in runs)
        shown = format(target, ",.0f" if target >= 1 else ".1f")
        print(
            f"{metric:<24}{op + ' ' + shown:>14}{result['median'][metric]:>14,.2f}  "
            f"{values:<40}{result['verdict'][metric]}"
        )
    print(f"\nresults: {output}")


# --------------------------------------------------------------------------- server-side seeding (10M)
#
# ``audit.synthetic`` builds and hashes every event in Python (~10,000 events/s on this box under load):
# 10,000,000 would take over 15 minutes. Here PostgreSQL writes the events itself (``INSERT ... SELECT`` over
# ``generate_series``), hashes every leaf from its canonical text (the same text ``repository.leaf_digests``
# hashes in Python; the verify run below checks them all) and builds each tree level from the one below with
# ``lead()``; Python only signs the checkpoints. Indexes are dropped for the load and rebuilt after.

_VOCAB = {
    "docs": list(DOCUMENTS),
    "banks": list(BANKS),
    "purpose_codes": [code for code, _ in BANK_PURPOSES],
    "purpose_texts": [text_ for _, text_ in BANK_PURPOSES],
    "statutes": list(STATUTES),
}
_INSERT_EVENTS = """
INSERT INTO audit_events (event_id, leaf_index, occurred_at, kind, actor_kind, actor_id, actor_org,
  subject_commitment, document_type, view, fields, purpose_code, purpose_text, basis, outcome, reason,
  request_id, visible_from)
SELECT gen_random_uuid()::text, i, t, CASE WHEN i % 20 = 0 THEN 'consent' ELSE 'lookup' END,
  CASE WHEN i % 4 = 0 THEN 'official' ELSE 'client' END,
  CASE WHEN i % 4 = 0 THEN 'official-' || lpad(((i * 17) % 400)::text, 4, '0')
       ELSE 'bank-' || lpad(((i * 31) % 160)::text, 3, '0') END,
  (CAST(:banks AS text[]))[1 + ((i * 31) % 160) % 16],
  encode(sha256(convert_to('gongyu-synthetic-subject-' || ((i * 7919) % :subjects), 'UTF8')), 'hex'),
  (CAST(:docs AS text[]))[1 + (i * 13) % 12], 'basic', '["name","birth_date","address"]'::json,
  (CAST(:purpose_codes AS text[]))[1 + i % 5],
  CASE WHEN i % 3 = 0 THEN NULL ELSE (CAST(:purpose_texts AS text[]))[1 + i % 5] END,
  'statute:' || (CAST(:statutes AS text[]))[1 + i % 6],
  CASE WHEN i % 17 = 0 THEN 'denied' ELSE 'ok' END,
  CASE WHEN i % 17 = 0 THEN 'no_consent' ELSE 'allowed' END,
  'req-' || to_hex(i), CASE WHEN i % 997 = 0 THEN t + interval '90 days' END
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS i,
  LATERAL (SELECT CAST(:start AS timestamptz) + i * interval '700 milliseconds' AS t) AS times
"""


def _leaf_text_sql() -> str:
    from audit.repository import LEAF_KEYS

    parts = []
    for n, key in enumerate(LEAF_KEYS):
        if key in ("occurred_at", "visible_from"):
            value = (
                f"CASE WHEN {key} IS NULL THEN 'null' ELSE '\"' || "
                f"to_char({key} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || '\"' END"
            )
        elif key == "fields":
            value = "fields::text"  # written canonical above
        else:
            value = f"coalesce(to_json(\"{key}\")::text, 'null')"
        parts.append(("'{" if n == 0 else "',") + f'"{key}":' + "' || " + value)
    return " || ".join(parts) + " || '}'"


def seed_server_side(url: str, events: int, origin: str, key: Ed25519PrivateKey, trusted_gap: int) -> int:
    """Fill an empty, migrated hub database with ``events`` integrated events; checkpoints at every million,
    at ``events - trusted_gap`` (the incremental verify's trusted one) and at ``events``."""
    from audit import tree
    from audit.checkpoint import Checkpoint, sign_checkpoint
    from audit.synthetic import _drop_indexes, _restore_indexes

    engine = create_engine(url)
    start = datetime.now(UTC) - timedelta(milliseconds=700 * events + 60_000)
    try:
        with engine.connect() as conn:
            conn.execute(text("SET synchronous_commit = off"))
            restore = _drop_indexes(conn)
            conn.commit()
            step = 1_000_000
            for first in range(0, events, step):
                last = min(events, first + step) - 1
                conn.execute(
                    text(_INSERT_EVENTS),
                    {**_VOCAB, "first": first, "last": last, "start": start, "subjects": SUBJECTS},
                )
                conn.execute(
                    text(
                        "INSERT INTO audit_nodes (level, idx, hash) SELECT 0, leaf_index,"
                        f" sha256('\\x00'::bytea || convert_to({_leaf_text_sql()}, 'UTF8'))"
                        " FROM audit_events WHERE leaf_index BETWEEN :a AND :b"
                    ),
                    {"a": first, "b": last},
                )
                conn.commit()
                _log(f"seed: {last + 1:,}/{events:,} events and leaf hashes")
            level, count = 0, events
            while count > 1:
                conn.execute(
                    text(
                        "INSERT INTO audit_nodes (level, idx, hash) SELECT :up, idx / 2,"
                        " sha256('\\x01'::bytea || hash || nxt) FROM (SELECT idx, hash, lead(hash)"
                        " OVER (ORDER BY idx) AS nxt FROM audit_nodes WHERE level = :lv) AS s"
                        " WHERE idx % 2 = 0 AND nxt IS NOT NULL"
                    ),
                    {"lv": level, "up": level + 1},
                )
                conn.commit()
                level, count = level + 1, count // 2
            _log(f"seed: tree built ({level} levels); rebuilding indexes")
            _restore_indexes(conn, restore)
            sizes = sorted({*range(step, events, step), events - trusted_gap, events} - {0})
            for size in sizes:
                ids = tree.range_nodes(0, size)
                rows = conn.execute(
                    text("SELECT level, idx, hash FROM audit_nodes WHERE (level, idx) IN :ids").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": ids},
                ).all()
                found = {(int(lv), int(ix)): bytes(h) for lv, ix, h in rows}
                root = tree.fold([found[node] for node in ids])
                note = sign_checkpoint(Checkpoint(origin, size, root), origin, key)
                conn.execute(
                    text(
                        "INSERT INTO audit_checkpoints (tree_size, root_hash, note, created_at)"
                        " VALUES (:s, :r, :n, now())"
                    ),
                    {"s": size, "r": root, "n": note},
                )
            conn.commit()
    finally:
        engine.dispose()
    return events


# --------------------------------------------------------------------------- over HTTP (gongyu serve)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serving(log: Log, workers: int) -> Iterator[str]:
    """``gongyu serve`` on the benchmark database (its own process, as in production); yields its URL."""
    import subprocess

    import httpx

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "GONGYU_VAR_DIR": str(log.settings.var_dir),
        "GONGYU_DATABASE_URL": log.settings.effective_database_url,
        "GONGYU_PUBLIC_URL": base,
        "GONGYU_ORIGIN": ORIGIN,
        # As `gongyu serve` runs out of the box: "test" is the suite's in-process setting, and it leaves the
        # app's long-lived objects in the collector's sight (no gc.freeze), whose full collections are pauses.
        "GONGYU_ENVIRONMENT": "development",
        "GONGYU_LOG_LEVEL": "WARNING",
        "GONGYU_INTEGRATOR_INTERVAL_SECONDS": "0",
    }
    command = [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--workers", str(workers)]
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    # /healthz, not /readyz: no agency sandbox is behind this database, nor needed
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    output.seek(0)
                    raise SystemExit(f"bench-audit: the hub did not start:\n{output.read().decode()[-3000:]}")
                time.sleep(0.3)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=20)


async def _residents(log: Log, subjects: list[str]) -> list[tuple[str, str]]:
    """One resident account per sampled subject (username, password), created straight in the database."""
    from hub.auth.accounts import create_account

    engine = create_async_engine(log.settings.effective_database_url)
    accounts = []
    try:
        async with session_factory(engine)() as session, session.begin():
            for n, subject in enumerate(subjects):
                username = f"bench-resident-{secrets.token_hex(4)}-{n}"
                await create_account(
                    session,
                    username=username,
                    password="bench-resident-pw",
                    role="resident",
                    display_name="Bench",
                    subject_commitment=subject,
                )
                accounts.append((username, "bench-resident-pw"))
    finally:
        await engine.dispose()
    return accounts


async def measure_http(log: Log, samples: int, workers: int) -> dict[str, Any]:
    """(a) a resident's newest 20 with proofs and (b) an inclusion proof, one request at a time, over HTTP."""
    import httpx

    engine = create_async_engine(log.settings.effective_database_url)
    try:
        subjects = await _sample_subjects(session_factory(engine), log.size, min(samples, 40))
    finally:
        await engine.dispose()
    accounts = await _residents(log, subjects)
    with _serving(log, workers) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            tokens = []
            for username, password in accounts:
                response = await http.post(
                    "/v1/auth/login", json={"username": username, "password": password}
                )
                response.raise_for_status()
                tokens.append(response.json()["access_token"])
            entries: list[int] = []

            def history_call(n: int) -> Callable[[], Any]:
                async def call() -> None:
                    headers = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}
                    response = await http.get("/v1/me/access-log", params={"limit": 20}, headers=headers)
                    response.raise_for_status()
                    entries.append(len(response.json()["entries"]))

                return call

            history = await _timed([history_call(n) for n in range(samples)])
            page = (
                await http.get("/v1/me/access-log", headers={"Authorization": f"Bearer {tokens[0]}"})
            ).json()
            root = verify_checkpoint(page["checkpoint"], page["verifier_key"]).root_hash
            for entry in page["entries"]:  # a fast but wrong answer must not pass
                proof = [base64.b64decode(h) for h in entry["inclusion_proof"]["hashes"]]
                digest = base64.b64decode(entry["leaf_hash"])
                verify_inclusion(digest, entry["leaf_index"], page["tree_size"], proof, root)

            def proof_call(leaf: int) -> Callable[[], Any]:
                async def call() -> None:
                    response = await http.get("/v1/audit/proof/inclusion", params={"leaf_index": leaf})
                    if response.status_code not in (200, 404):  # 404: a withheld entry, answered as absent
                        response.raise_for_status()

                return call

            inclusion = await _timed([proof_call(random.randrange(log.size)) for _ in range(samples)])
    return {
        "history_ms": _summary(history),
        "history_entries_per_page": statistics.mean(entries),
        "inclusion_ms": _summary(inclusion),
        "workers": workers,
    }


async def measure_export_ratio(log: Log, rows: int) -> dict[str, Any]:
    """The export (JSONL and CSV, the hub's own path) against PostgreSQL's plain COPY of the same rows."""
    engine = create_async_engine(log.settings.effective_database_url)
    sessions = session_factory(engine)
    try:
        start_leaf = max(0, (log.size - rows) // 2)
        end_leaf = min(log.size - 1, start_leaf + rows)
        async with sessions() as session:
            found = (
                await session.execute(
                    text("SELECT leaf_index, occurred_at FROM audit_events WHERE leaf_index IN (:a, :b)"),
                    {"a": start_leaf, "b": end_leaf},
                )
            ).all()
            times = {int(i): t for i, t in found}
            since, until = times[start_leaf], times[end_leaf]
            raw = await (await session.connection()).get_raw_connection()
            driver: Any = raw.driver_connection
            sink = [0]

            async def count(chunk: bytes) -> None:
                sink[0] += len(chunk)

            started = time.perf_counter()
            await driver.copy_from_query(
                "SELECT * FROM audit_events WHERE occurred_at >= $1 AND occurred_at < $2 AND leaf_index < $3"
                " ORDER BY leaf_index",
                since,
                until,
                log.size,
                output=count,
                format="csv",
            )
            copy_s = time.perf_counter() - started
        result: dict[str, Any] = {"copy": {"seconds": copy_s, "bytes": sink[0]}}
        for fmt in ("jsonl", "csv"):
            lines = size = 0
            started = time.perf_counter()
            async for chunk in export_stream(sessions, ExportFilter(since=since, until=until), log.size, fmt):
                lines += chunk.count(b"\n")
                size += len(chunk)
            seconds = time.perf_counter() - started
            result[fmt] = {"seconds": seconds, "lines": lines, "bytes": size}
        exported = result["jsonl"]["lines"]
        result["rows"] = exported
        result["copy"]["rows_per_s"] = exported / copy_s
        for fmt in ("jsonl", "csv"):
            result[fmt]["rows_per_s"] = exported / result[fmt]["seconds"]
            result[fmt]["ratio_to_copy"] = result[fmt]["rows_per_s"] / result["copy"]["rows_per_s"]
        return result
    finally:
        await engine.dispose()


async def measure_incremental(log: Log, gap: int) -> dict[str, Any]:
    engine = create_async_engine(log.settings.effective_database_url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            # The newest checkpoint ``gap`` leaves back or older (a reused log has grown since it was seeded).
            trusted = (
                await session.execute(
                    text(
                        "SELECT note FROM audit_checkpoints WHERE tree_size <= :s"
                        " ORDER BY tree_size DESC LIMIT 1"
                    ),
                    {"s": log.size - gap},
                )
            ).scalar_one()
        started, cpu = time.perf_counter(), time.process_time()
        report = await verify_since(sessions, verifier_key(ORIGIN, log.key.public_key()), trusted)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await engine.dispose()
    if not report.ok:
        raise SystemExit(f"bench-audit: incremental verify found {report.findings[:3]}")
    return {
        "trusted_size": log.size - gap,
        "leaves_read": report.leaves_read,
        "seconds": seconds,
        "cpu_s": cpu,
    }


if __name__ == "__main__":
    raise SystemExit(main())
