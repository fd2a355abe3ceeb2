"""Notifications under load: ``python -m loadtests.bench_notify`` (issue 12, "Benchmark"; PostgreSQL).

Three measurements on a throwaway database, with two ``gongyu worker`` processes delivering and the hub's
own in-process delivery loop off (``GONGYU_NOTIFY_INTERVAL_SECONDS=0``), as production runs them:

1. **Webhook deliveries/s**: ``--webhooks`` messages for a bank with an endpoint on a local receiver
   (``loadtests.webhook_receiver`` on 127.0.0.1) are put in the outbox at once; the rate is messages over the
   time from the workers' start to the last ``delivered_at``. Target >= 1,000/s.
2. **Lookup throughput with notifications on vs off**: ``wrk`` flat out on the statutory lookup with the two
   workers running (and the backlog drained first), then with no worker. Each lookup writes its inbox row
   either way (the outbox joins the audit event's transaction); "off" saves the delivery. Target: on loses
   at most 10 %.
3. **Outbox lag** commit -> delivered (``delivered_at - created_at`` of the lookups' inbox rows) while the hub
   serves lookups paced at ``--rate`` (500/s: wrk's per-connection delay, wrk2 is not on this box). Target
   p99 < 1 s. The lag of the flat-out run is printed too.

Everything listens on 127.0.0.1 and every run is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from loadtests import bench_wrk
from loadtests.bench import (
    PG_SERVER,
    ROOT,
    _bin,
    _run,
    _server,
    _stop,
    _wait_ready,
    throwaway_run,
)

RESULT_FILE = ROOT / "var" / "bench-notify.json"
TARGET_DELIVERIES = 1000.0
TARGET_LAG_P99_S = 1.0
TARGET_LOSS = 0.10
DRAIN_TIMEOUT_S = 120.0


def _sync(db: str) -> Any:
    return create_engine(f"postgresql+psycopg2://{PG_SERVER}/{db}")


@contextmanager
def _process(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = log_path.open("wb")
    proc = subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield proc
    finally:
        _stop(proc)
        log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (``/proc/<pid>/stat`` utime + stime), 0 if gone.

    Wall-clock rates swing with whatever else the shared box runs; CPU-seconds per delivery do much less.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # fields 14 and 15 of stat(5)


def group_cpu_seconds(pgid: int) -> float:
    """CPU-seconds used so far by the processes of one process group (the hub: uvicorn and its workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp, counting from the state field as 0
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def per_lookup(run: bench_wrk.WrkResult, workers_cpu: float, server_cpu: float) -> dict[str, float]:
    """CPU-seconds per 1,000 lookups of one wrk run: the workers' (delivering their notices) and the hub's.

    On a box whose cores are shared with others the throughput swings from run to run; what delivery costs
    next to what a lookup costs is steadier: on a CPU-bound box the lookups lose about that share.
    """
    lookups = max(1, run.requests)
    return {
        "lookups": lookups,
        "workers_cpu_s_per_1000": round(1000 * workers_cpu / lookups, 3),
        "server_cpu_s_per_1000": round(1000 * server_cpu / lookups, 3),
    }


@contextmanager
def workers(n: int, env: dict[str, str], tmp: Path, cpu: list[float] | None = None) -> Iterator[list[int]]:
    """``n`` real ``gongyu worker`` processes, polling every 50 ms when idle; their pids.

    ``cpu``, if given, receives each worker's CPU-seconds, read just before it is stopped.
    """
    with ExitStack() as stack:
        procs = [
            stack.enter_context(
                _process([_bin("gongyu"), "worker", "--interval", "0.05"], env, tmp / f"worker{i}.log")
            )
            for i in range(n)
        ]
        try:
            yield [p.pid for p in procs]
        finally:
            if cpu is not None:
                cpu.extend(cpu_seconds(p.pid) for p in procs)


@contextmanager
def receiver(port: int, tmp: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    with _process(
        [_bin("uvicorn"), "loadtests.webhook_receiver:app", "--host", "127.0.0.1", "--port", str(port),
         "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
        dict(os.environ), tmp / "receiver.log",
    ) as proc:  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                _stats(url)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("bench: the webhook receiver did not start") from None
                time.sleep(0.2)
        yield url


def wait_started(tmp: Path, n: int) -> None:
    """Until each worker said it is delivering (imports done, loop running), at most 60 s."""
    deadline = time.monotonic() + 60
    logs = [tmp / f"worker{i}.log" for i in range(n)]
    while time.monotonic() < deadline:
        if all(b"delivering" in log.read_bytes() for log in logs if log.exists()) and all(
            log.exists() for log in logs
        ):
            return
        time.sleep(0.1)
    raise SystemExit("bench: the workers did not start")


def _stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/stats", timeout=5) as response:
        result: dict[str, int] = json.load(response)
    return result


def enqueue_webhooks(db: str, client_id: str, n: int) -> datetime:
    """``n`` due webhook messages for ``client_id``, as ``outbox.announce`` writes them for consent events."""
    now = datetime.now(UTC)
    rows = []
    for _ in range(n):
        event_id, consent_id = str(uuid.uuid4()), str(uuid.uuid4())
        params = {"client_id": client_id, "type": "consent.revoked", "consent_id": consent_id,
                  "event_id": event_id, "occurred_at": now.isoformat()}  # fmt: skip
        rows.append(
            {"message_id": str(uuid.uuid4()), "event_id": event_id, "kind": "consent_revoke",
             "channel": "webhook", "params": json.dumps(params), "now": now}
        )  # fmt: skip
    engine = _sync(db)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO outbox (message_id, event_id, kind, subject_commitment, channel, params,"
                    " created_at, not_before, status, attempts, next_attempt_at)"
                    " VALUES (:message_id, :event_id, :kind, NULL, :channel, CAST(:params AS json),"
                    " :now, :now, 'created', 0, :now)"
                ),
                rows,
            )
    finally:
        engine.dispose()
    return now


def _scalar(db: str, sql: str, **params: Any) -> Any:
    engine = _sync(db)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).one()
    finally:
        engine.dispose()


def wait_drained(db: str, since: datetime, channel: str | None = None) -> bool:
    """Until nothing created since ``since`` is still owed (or the timeout); True when drained."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    where = "created_at >= :since AND status IN ('created', 'sending', 'temporary-failure')"
    if channel:
        where += " AND channel = :channel"
    while time.monotonic() < deadline:
        (owed,) = _scalar(db, f"SELECT count(*) FROM outbox WHERE {where}", since=since, channel=channel)
        if owed == 0:
            return True
        time.sleep(0.2)
    return False


def lag(db: str, start: datetime, end: datetime) -> dict[str, float]:
    """p50/p99/max of delivered_at - created_at for the inbox rows created in [start, end), in seconds."""
    count, p50, p99, worst, undelivered = _scalar(
        db,
        "SELECT count(*),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at)),"
        " percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at)),"
        " max(extract(epoch FROM delivered_at - created_at)),"
        " count(*) FILTER (WHERE delivered_at IS NULL)"
        " FROM outbox WHERE channel = 'inbox' AND created_at >= :start AND created_at < :end",
        start=start,
        end=end,
    )
    return {
        "messages": int(count),
        "undelivered": int(undelivered),
        "p50_s": round(float(p50 or 0), 3),
        "p99_s": round(float(p99 or 0), 3),
        "max_s": round(float(worst or 0), 3),
    }


def measure(args: argparse.Namespace, tmp: Path, db: str) -> dict[str, Any]:
    agency_db = f"{db}_agency_mois"
    env = {
        **os.environ,
        "GONGYU_DATABASE_URL": f"postgresql+asyncpg://{PG_SERVER}/{db}",
        "GONGYU_VAR_DIR": str(tmp / "var"),
        "GONGYU_LOG_LEVEL": "WARNING",
        "GONGYU_NOTIFY_INTERVAL_SECONDS": "0",  # the hub only writes the outbox; `gongyu worker` delivers
        "GONGYU_WEBHOOK_ALLOW_PRIVATE": "1",  # the receiver is on 127.0.0.1 (development setting)
    }
    env.pop("GONGYU_AGENCY_DATABASE_URLS", None)
    wrk_args = argparse.Namespace(residents=args.residents)
    client = bench_wrk._prepare(wrk_args, env, tmp)
    out: dict[str, Any] = {}
    with receiver(args.receiver_port, tmp) as hook_url:
        _run(
            "register webhook",
            [_bin("gongyu"), "clients", "webhook", client["client_id"], f"{hook_url}/hook"],
            env,
        )
        # 1. Webhook deliveries/s.
        cpu: list[float] = []
        with workers(args.workers, env, tmp, cpu) as pids:
            wait_started(tmp, args.workers)
            idle_cpu = [cpu_seconds(pid) for pid in pids]  # start-up (imports, pools) is not delivery
            enqueued = enqueue_webhooks(db, client["client_id"], args.webhooks)
            print(f"bench: {args.webhooks} webhooks queued for {args.workers} workers", file=sys.stderr)
            drained = wait_drained(db, enqueued, "webhook")
        worker_cpu = sum(cpu) - sum(idle_cpu)
        first, last, delivered = _scalar(
            db,
            "SELECT min(delivered_at), max(delivered_at), count(*) FROM outbox"
            " WHERE channel = 'webhook' AND status = 'delivered' AND created_at >= :since",
            since=enqueued,
        )
        # From the first delivery to the last: the workers' start-up (imports, pools) is not delivery time.
        seconds = (last - first).total_seconds() if delivered > 1 else float("inf")
        stats = _stats(hook_url)
        out["webhooks"] = {
            "queued": args.webhooks,
            "delivered": int(delivered),
            "drained": drained,
            "seconds": round(seconds, 2),
            "per_s": round((delivered - 1) / seconds, 1) if seconds else 0.0,
            "received": stats["received"],
            "distinct_received": stats["distinct"],
            "worker_cpu_s": round(worker_cpu, 2),
            "worker_cpu_s_per_1000": round(1000 * worker_cpu / delivered, 3) if delivered else None,
        }
        print(f"bench: webhooks {json.dumps(out['webhooks'])}", file=sys.stderr, flush=True)
        if args.webhooks_only:
            return out
        # 2 and 3. Lookups with and without delivery.
        numbers = bench_wrk.residents_sample(agency_db, args.sample)
        bodies = bench_wrk.statutory_bodies(numbers, tmp / "statutory.jsonl")
        base = f"http://127.0.0.1:{args.port}"
        load = {"duration": args.duration, "connections": 32, "threads": 2}
        with _server(args.port, 2, env, tmp / "server.log") as server:
            _wait_ready(base, server, tmp / "server.log")
            token = bench_wrk.client_token(base, client["client_id"], client["secret"])
            url = f"{base}/v1/lookups"
            bench_wrk.wrk(url, bodies, token=token, **{**load, "duration": 3})  # warm-up, notifications off
            with workers(args.workers, env, tmp) as pids:
                wait_drained(db, enqueued)
                t0 = datetime.now(UTC)
                cpu_before = sum(cpu_seconds(pid) for pid in pids), group_cpu_seconds(server.pid)
                on = bench_wrk.wrk(url, bodies, token=token, **load)
                cpu_after = sum(cpu_seconds(pid) for pid in pids), group_cpu_seconds(server.pid)
                t1 = datetime.now(UTC)
                out["cpu_on"] = per_lookup(on, cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
                wait_drained(db, t0)
                out["lag_flat_out"] = lag(db, t0, t1)
                # Paced: each connection waits so that the total stays near --rate.
                connections = 16
                delay_ms = max(1.0, 1000.0 * connections / args.rate - on.p50_ms)
                t2 = datetime.now(UTC)
                paced = bench_wrk.wrk(
                    url, bodies, token=token, duration=args.duration, connections=connections, threads=2,
                    delay_ms=delay_ms,
                )  # fmt: skip
                t3 = datetime.now(UTC)
                wait_drained(db, t2)
                out["lag_paced"] = {**lag(db, t2, t3), "lookups_per_s": paced.requests_per_s}
            server_before = group_cpu_seconds(server.pid)
            off = bench_wrk.wrk(url, bodies, token=token, **load)
            out["cpu_off"] = per_lookup(off, 0.0, group_cpu_seconds(server.pid) - server_before)
        out["lookups_on"] = on.__dict__
        out["lookups_off"] = off.__dict__
    return out


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(args: argparse.Namespace, out: dict[str, Any]) -> None:
    hooks = out["webhooks"]
    print()
    print(
        f"Gongyu notifications: {args.workers} `gongyu worker` processes, PostgreSQL, {os.cpu_count()} CPUs"
    )
    print(
        f"  webhook deliveries   {hooks['per_s']:8.1f}/s  ({hooks['delivered']}/{hooks['queued']} in "
        f"{hooks['seconds']} s; receiver got {hooks['received']}, {hooks['distinct_received']} distinct)  "
        f"target >= {TARGET_DELIVERIES:.0f}/s [{verdict(hooks['per_s'] >= TARGET_DELIVERIES)}]"
    )
    print(
        f"  worker CPU           {hooks['worker_cpu_s']:8.2f} s  "
        f"({hooks['worker_cpu_s_per_1000']} CPU-s per 1,000 deliveries, all workers)"
    )
    if "lookups_on" in out:
        _report_lookups(out)
    _write(args, out)


def _report_lookups(out: dict[str, Any]) -> None:
    on, off = out["lookups_on"], out["lookups_off"]
    paced, flat = out["lag_paced"], out["lag_flat_out"]
    loss = 1 - on["requests_per_s"] / off["requests_per_s"] if off["requests_per_s"] else 1.0
    for label, run in (("on ", on), ("off", off)):
        print(
            f"  lookups, delivery {label} {run['requests_per_s']:8.1f}/s  p99 {run['p99_ms']:.0f} ms  "
            f"errors {run['errors']}"
        )
    print(
        f"  throughput lost       {loss:8.1%}  target <= {TARGET_LOSS:.0%} [{verdict(loss <= TARGET_LOSS)}]"
    )
    if "cpu_on" in out:
        cpu_on, cpu_off = out["cpu_on"], out["cpu_off"]
        share = cpu_on["workers_cpu_s_per_1000"] / cpu_on["server_cpu_s_per_1000"] if cpu_on["lookups"] else 0
        print(
            f"  CPU-s per 1,000 lookups: workers {cpu_on['workers_cpu_s_per_1000']}, hub "
            f"{cpu_on['server_cpu_s_per_1000']} with delivery on, {cpu_off['server_cpu_s_per_1000']} off "
            f"(delivery = {share:.1%} of the hub's CPU per lookup)"
        )
    print(
        f"  outbox lag at {paced['lookups_per_s']:.0f} lookups/s: p50 {paced['p50_s']:.3f} s, "
        f"p99 {paced['p99_s']:.3f} s, max {paced['max_s']:.3f} s over {paced['messages']} messages "
        f"({paced['undelivered']} undelivered)  target p99 < {TARGET_LAG_P99_S:.0f} s "
        f"[{verdict(paced['p99_s'] < TARGET_LAG_P99_S and paced['undelivered'] == 0)}]"
    )
    print(
        f"  outbox lag flat out ({on['requests_per_s']:.0f}/s): p50 {flat['p50_s']:.3f} s, "
        f"p99 {flat['p99_s']:.3f} s"
    )


def _write(args: argparse.Namespace, out: dict[str, Any]) -> None:
    RESULT_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULT_FILE.write_text(
        json.dumps(
            {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "config": vars(args), **out},
            indent=2,
            default=str,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"  written to {RESULT_FILE}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_notify", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--webhooks", type=int, default=10_000, help="webhook messages to deliver")
    parser.add_argument("--workers", type=int, default=2, help="`gongyu worker` processes")
    parser.add_argument("--duration", type=int, default=20, help="seconds of each lookup run")
    parser.add_argument("--rate", type=float, default=500.0, help="paced lookups per second for the lag")
    parser.add_argument("--residents", type=int, default=10_000, help="synthetic residents to seed")
    parser.add_argument("--sample", type=int, default=2000, help="residents drawn at random per lookup")
    parser.add_argument("--webhooks-only", action="store_true", help="measure webhook deliveries only")
    parser.add_argument("--port", type=int, default=8089, help="hub port on 127.0.0.1")
    parser.add_argument("--receiver-port", type=int, default=8091, help="webhook receiver port on 127.0.0.1")
    args = parser.parse_args(argv)
    if min(args.webhooks, args.workers, args.duration, args.residents, args.sample) < 1 or args.rate <= 0:
        parser.error("counts, durations and the rate must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with throwaway_run("gongyu-notify-", args.port, args.receiver_port) as (db, tmp):
        report(args, measure(args, tmp, db))
    return 0


if __name__ == "__main__":
    sys.exit(main())
