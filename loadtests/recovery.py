"""Recovery after a PostgreSQL outage under lookup load: ``python -m loadtests.recovery`` (issue 16 point 13).

Not part of the test suite: it stops the machine's PostgreSQL server (``pg_ctlcluster 15 main stop``) for a
few seconds, which every other user of that server notices. Run it on a machine of your own, once.

What it does: a throwaway database (dropped afterwards) with the sandbox registry, the real ``gongyu serve``
on 127.0.0.1, a bank client, then a bounded closed-loop lookup load (``--users`` concurrent for
``--duration`` seconds, httpx). ``--stop-at`` seconds in, PostgreSQL is stopped for ``--outage`` seconds and
started again, while ``/readyz`` is sampled. It reports:

- lookups answered 200 whose request overlapped the outage (and those answered while the server was
  certainly stopped: none, if the hub fails closed), and whether every 200 of the run has its audit row
  (a 200 without one would be a release off the record);
- the time from PostgreSQL accepting connections again to the first 200, and to the point after which every
  lookup sent was answered 200 (the goal: under 10 s);
- what ``/readyz`` named while the database was down;
- p50/p99 latency of the whole run and of the 200s.

Whatever happens, PostgreSQL is started again if it is not answering when the script ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from loadtests.bench import (
    PG_SERVER,
    _bin,
    _check_port_free,
    _create_database,
    _drop_databases,
    _run,
    _server,
    _wait_ready,
    _write_residents,
)

GOAL_S = 10.0
PG_CTL = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main"]
STATUTE = "KR-FTRA-5-2"
DOCUMENT = ("resident_registration_abstract", "basic")


@dataclass
class Answer:
    sent: float
    answered: float
    status: int  # 0: no HTTP answer (transport error or client timeout)
    event_id: str | None  # the audit event a 200 names


@dataclass
class Outage:
    stop_issued: float = 0.0
    stopped: float = 0.0  # pg_ctlcluster stop returned: the server is down
    start_issued: float = 0.0
    back: float = 0.0  # pg_isready answers again
    readyz: list[tuple[float, int, dict[str, str]]] = field(default_factory=list)


def _log(message: str) -> None:
    print(f"recovery: {message}", file=sys.stderr, flush=True)


def _pg_ctl(action: str) -> None:
    subprocess.run([*PG_CTL, action], check=True, capture_output=True, timeout=60)


def _pg_ready() -> bool:
    probe = ["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-t", "1"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def _wait_for_postgres(limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not _pg_ready():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _ensure_postgres_running() -> None:
    """The script's one promise to everyone else on the machine: PostgreSQL is up when it ends."""
    if _pg_ready():
        return
    _log("PostgreSQL is not answering: starting it")
    subprocess.run([*PG_CTL, "start"], check=False, timeout=60)
    _log("PostgreSQL is " + ("up" if _wait_for_postgres(30.0) else "STILL DOWN: start it by hand"))


def _token(base: str, client_id: str, secret: str) -> str:
    response = httpx.post(
        f"{base}/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


async def _outage(args: argparse.Namespace, t0: float, outage: Outage) -> None:
    """Stop PostgreSQL at ``--stop-at``, keep it down ``--outage`` seconds, start it, note when it answers."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, t0 + args.stop_at - loop.time()))
    outage.stop_issued = loop.time()
    _log("stopping PostgreSQL")
    await asyncio.to_thread(_pg_ctl, "stop")
    outage.stopped = loop.time()
    await asyncio.sleep(args.outage)
    outage.start_issued = loop.time()
    _log("starting PostgreSQL")
    # PostgreSQL accepts connections a good while before pg_ctlcluster returns: poll alongside the command,
    # or "back" would be marked late and the hub's recovery would look faster than it is.
    starting = asyncio.create_task(asyncio.to_thread(_pg_ctl, "start"))
    await asyncio.to_thread(_wait_for_postgres, 60.0)
    outage.back = loop.time()
    await starting
    _log(f"PostgreSQL answers again ({outage.back - outage.start_issued:.2f}s after start)")


async def _sample_readyz(client: httpx.AsyncClient, stop: asyncio.Event, outage: Outage) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            response = await client.get("/readyz", timeout=5)
            checks = response.json().get("checks", {})
            named = {str(k): str(v) for k, v in checks.items()}
            outage.readyz.append((loop.time(), response.status_code, named))
        except (httpx.HTTPError, ValueError):
            outage.readyz.append((loop.time(), 0, {}))
        await asyncio.sleep(0.5)


async def _user(
    client: httpx.AsyncClient, token: str, residents: list[str], deadline: float, answers: list[Answer]
) -> None:
    loop = asyncio.get_running_loop()
    headers = {"Authorization": f"Bearer {token}"}
    i = secrets.randbelow(len(residents))
    while loop.time() < deadline:
        i = (i + 1) % len(residents)
        body = {
            "document_type": DOCUMENT[0],
            "view": DOCUMENT[1],
            "subject": {"resident_number": residents[i]},
            "purpose": {"code": "loan-screening"},
            "basis": {"statute": STATUTE},
        }
        sent = loop.time()
        try:
            response = await client.post("/v1/lookups", json=body, headers=headers)
        except httpx.HTTPError:
            answers.append(Answer(sent, loop.time(), 0, None))
            await asyncio.sleep(0.1)  # no hot loop against a closed port
            continue
        event_id = None
        if response.status_code == 200:
            event_id = str(response.json()["audit"]["event_id"])
        answers.append(Answer(sent, loop.time(), response.status_code, event_id))


async def _drive(
    args: argparse.Namespace, base: str, token: str, residents: list[str]
) -> tuple[float, list[Answer], Outage]:
    answers: list[Answer] = []
    outage = Outage()
    limits = httpx.Limits(max_connections=args.users + 2, max_keepalive_connections=args.users + 2)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=15, trust_env=False) as client:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample_readyz(client, stop, outage))
        users = [
            asyncio.create_task(_user(client, token, residents, t0 + args.duration, answers))
            for _ in range(args.users)
        ]
        try:
            await _outage(args, t0, outage)
            await asyncio.gather(*users)
        finally:
            stop.set()
            for task in users:
                task.cancel()
            await asyncio.gather(*users, sampler, return_exceptions=True)
    return t0, answers, outage


def _audited(db: str, event_ids: list[str]) -> set[str]:
    engine = create_engine(f"postgresql+psycopg2://{PG_SERVER}/{db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT event_id FROM audit_events WHERE event_id = ANY(:ids) AND outcome = 'ok'"),
                {"ids": event_ids},
            ).scalars()
            return {str(r) for r in rows}
    finally:
        engine.dispose()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def _report(db: str, t0: float, answers: list[Answer], outage: Outage) -> dict[str, Any]:
    ok = [a for a in answers if a.status == 200]
    audited = _audited(db, [a.event_id for a in ok if a.event_id])
    missing = [a.event_id for a in ok if a.event_id not in audited]
    # Overlapping: in flight at some point between the stop command and PostgreSQL answering again (they
    # committed before the shutdown closed the connections, or after the start). Stopped: answered while the
    # server was certainly down; a fail-closed hub has none.
    during = [a for a in ok if a.sent <= outage.back and a.answered >= outage.stop_issued]
    stopped = [a for a in ok if outage.stopped <= a.answered <= outage.start_issued]
    after_back = [a.answered for a in ok if a.answered >= outage.back]
    first_ok = min(after_back) - outage.back if after_back else None
    # Independent of when pg_isready first answered: the database cannot be back before it was started.
    after_start = [a.answered for a in ok if a.answered >= outage.start_issued]
    first_ok_after_start = min(after_start) - outage.start_issued if after_start else None
    # Steady: the earliest time after which every lookup sent was answered 200.
    failed_after = [a.sent for a in answers if a.status != 200 and a.sent >= outage.stop_issued]
    steady = max(failed_after, default=outage.back) - outage.back
    statuses: dict[str, int] = {}
    for a in answers:
        statuses[str(a.status)] = statuses.get(str(a.status), 0) + 1
    named = sorted({k for _, _, checks in outage.readyz for k, v in checks.items() if v != "ok"})
    readyz_ok_again = min(
        (t - outage.back for t, status, _ in outage.readyz if status == 200 and t >= outage.back),
        default=None,
    )
    latencies = [(a.answered - a.sent) * 1000 for a in answers]
    ok_latencies = [(a.answered - a.sent) * 1000 for a in ok]
    return {
        "requests": len(answers),
        "statuses": statuses,
        "outage_s": round(outage.start_issued - outage.stopped, 2),
        "stop_issued_at_s": round(outage.stop_issued - t0, 2),
        "postgres_back_at_s": round(outage.back - t0, 2),
        "ok_overlapping_outage": len(during),
        "ok_answered_while_stopped": len(stopped),
        "ok_without_audit_row": len(missing),
        "all_200_audited": not missing,
        "postgres_back_after_start_s": round(outage.back - outage.start_issued, 2),
        "first_200_after_back_s": None if first_ok is None else round(first_ok, 2),
        "first_200_after_start_issued_s": None
        if first_ok_after_start is None
        else round(first_ok_after_start, 2),
        "all_200_after_back_s": round(max(steady, 0.0), 2),
        "goal_s": GOAL_S,
        "goal_met": first_ok is not None and first_ok < GOAL_S and steady < GOAL_S,
        "readyz_named_down": named,
        "readyz_ok_after_back_s": None if readyz_ok_again is None else round(readyz_ok_again, 2),
        "latency_ms": {
            "p50": round(_percentile(latencies, 50), 1),
            "p99": round(_percentile(latencies, 99), 1),
        },
        "latency_ok_ms": {
            "p50": round(_percentile(ok_latencies, 50), 1),
            "p99": round(_percentile(ok_latencies, 99), 1),
        },
    }


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.recovery",
        description="Stop PostgreSQL under lookup load and measure how soon the hub serves again.",
    )
    parser.add_argument("--users", type=int, default=20, help="concurrent lookups (closed loop)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--stop-at", type=float, default=8.0, help="seconds into the load to stop PostgreSQL")
    parser.add_argument("--outage", type=float, default=4.0, help="seconds PostgreSQL stays stopped")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--residents", type=int, default=2000, help="synthetic residents to seed")
    parser.add_argument("--port", type=int, default=8091, help="server port on 127.0.0.1")
    args = parser.parse_args(argv)
    if args.users < 1 or args.workers < 1 or args.residents < 1:
        parser.error("--users, --workers and --residents must be at least 1")
    if not 0 < args.outage <= 30:
        parser.error("--outage must be between 0 and 30 seconds: other people use this server")
    if args.stop_at + args.outage + GOAL_S > args.duration:
        parser.error("--duration must leave the goal's 10 s after the outage")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if not _pg_ready():
        raise SystemExit("recovery: PostgreSQL at 127.0.0.1:5432 is not answering; nothing to measure")
    db = f"gongyu_recovery_{secrets.token_hex(6)}"
    base = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory(prefix="gongyu-recovery-") as tmp_name:
        tmp = Path(tmp_name)
        env = {
            **os.environ,
            "GONGYU_DATABASE_URL": f"postgresql+asyncpg://{PG_SERVER}/{db}",
            "GONGYU_VAR_DIR": str(tmp / "var"),
            "GONGYU_LOG_LEVEL": "WARNING",
        }
        env.pop("GONGYU_AGENCY_DATABASE_URLS", None)  # the agency database must be the derived throwaway one
        created = False
        try:
            _check_port_free(args.port)
            _create_database(db)
            created = True
            gongyu = _bin("gongyu")
            _run("migrate", [gongyu, "migrate"], env)
            _run("seed", [gongyu, "sandbox", "seed", "--count", str(args.residents)], env)
            add = [gongyu, "clients", "add", "--name", "Recovery Bank", "--kind", "bank"]
            out = _run("register client", [*add, "--statute", STATUTE, "--json"], env)
            client = json.loads(out.strip().splitlines()[-1])
            residents_file = tmp / "residents.txt"
            _write_residents(f"{db}_agency_mois", residents_file)
            residents = residents_file.read_text(encoding="utf-8").split()
            log_path = tmp / "server.log"
            with _server(args.port, args.workers, env, log_path) as server:
                _wait_ready(base, server, log_path)
                token = _token(base, str(client["client_id"]), str(client["client_secret"]))
                _log(f"{args.users} users for {args.duration:.0f}s; PostgreSQL down at {args.stop_at:.0f}s")
                try:
                    t0, answers, outage = asyncio.run(_drive(args, base, token, residents))
                finally:
                    _ensure_postgres_running()
                if server.poll() is not None:
                    _log(f"the server died during the run:\n{log_path.read_text(errors='replace')}")
            print(json.dumps(_report(db, t0, answers, outage), indent=2))
            return 0
        finally:
            _ensure_postgres_running()
            if created:
                dropped = _drop_databases(db)
                _log(f"dropped {', '.join(dropped) or 'nothing'}")


if __name__ == "__main__":
    sys.exit(main())
