"""Benchmark of the audited lookup, end to end: ``make bench`` or ``python -m loadtests.bench``.

Everything runs against a throwaway PostgreSQL database so a run never touches anyone's data and two runs
never share state; the server is the real ``gongyu serve`` with its worker processes, because the lookup's
cost is in the audit append and the agency fetch, which an in-process test client would not measure honestly.

The load generator runs on the same machine as the server, so on a small box the two compete for CPU: the
numbers are a floor for the hub, not its ceiling on dedicated hardware.

Target: at least 1200 lookups/s with p99 at most 60 ms.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")
RESULT_FILE = ROOT / "var" / "bench-lookups.json"
PG_SERVER = "root@127.0.0.1:5432"
LOOKUP_ROW = "POST /v1/lookups"
TARGET_RPS = 1200.0
TARGET_P99_MS = 60.0
# Enough distinct subjects that the agency lookups are not all cache-hot, few enough to read quickly.
RESIDENT_SAMPLE = 2000
READY_TIMEOUT_S = 180.0  # a shared 2-core box under load can take minutes to start two workers
# What /readyz must report ok for the lookup to work; other agencies only earn a warning after the grace.
NEEDED_CHECKS = ("database", "agency:mois")
READY_GRACE_S = 5.0
SETUP_TIMEOUT_S = 600.0


def _bin(name: str) -> str:
    """The venv's own executables, so the bench measures this checkout whatever is on PATH."""
    for candidate in (ROOT / ".venv" / "bin" / name, Path(sys.executable).parent / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"bench: cannot find {name!r}; run `make install` first")
    return found


def _maintenance_engine() -> Any:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    return create_engine(f"postgresql+psycopg2://{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")


def _create_database(name: str) -> None:
    engine = _maintenance_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


def _drop_databases(db: str) -> list[str]:
    """Drop the hub's database and every agency database the hub derived from it (``<db>_agency_*``).

    The hub creates one per agency it knows, and that list grows, so the names are read from the server
    rather than assumed. Best effort: a failed drop must not hide the benchmark's own result or error.
    """
    dropped: list[str] = []
    try:
        engine = _maintenance_engine()
    except Exception as exc:
        print(f"bench: could not connect to drop {db}*: {exc}", file=sys.stderr)
        return dropped
    try:
        with engine.connect() as conn:
            derived = conn.execute(
                text(
                    "SELECT datname FROM pg_database WHERE datname LIKE :pattern ESCAPE '!' ORDER BY datname"
                ),
                {"pattern": db.replace("_", "!_") + "!_agency!_%"},
            ).scalars()
            for name in [*derived, db]:
                try:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    dropped.append(name)
                except Exception as exc:
                    print(f"bench: could not drop database {name}: {exc}", file=sys.stderr)
    finally:
        engine.dispose()
    return dropped


def _run(step: str, args: list[str], env: dict[str, str], timeout: float = SETUP_TIMEOUT_S) -> str:
    """Fail loudly with the step's own output: a broken step would make the numbers meaningless."""
    print(f"bench: {step} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    proc = subprocess.run(
        args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"bench: {step} failed (exit {proc.returncode}): {' '.join(args)}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    print(f"bench: {step} done in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
    return proc.stdout


def _write_residents(agency_db: str, path: Path) -> int:
    engine = create_engine(f"postgresql+psycopg2://{PG_SERVER}/{agency_db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT resident_number FROM residents ORDER BY resident_id LIMIT :n"),
                {"n": RESIDENT_SAMPLE},
            ).scalars()
            numbers = [f"{n[:6]}-{n[6:]}" for n in rows]
    finally:
        engine.dispose()
    if not numbers:
        raise SystemExit(f"bench: the sandbox registry {agency_db} has no residents")
    path.write_text("\n".join(numbers) + "\n", encoding="utf-8")
    return len(numbers)


def _check_port_free(port: int) -> None:
    """Anything else on the port would make uvicorn exit, or worse, answer the load itself."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise SystemExit(
                f"bench: port {port} on 127.0.0.1 is in use ({exc.strerror}); pass --port"
            ) from None


@contextmanager
def _server(
    port: int, workers: int, env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Own process group, so stopping it also stops uvicorn's worker processes and nothing else."""
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [_bin("gongyu"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    # Workers may outlive a master that exited first; the group id still reaches them.
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait for /readyz; accept a 503 that blames only agencies the lookup does not use, after a grace period.

    The bench seeds only what the lookup needs (the MOIS registry), so another sandbox agency that is not
    ready must not stop it; it is named in a warning instead.
    """
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer"
    needed_ok_since: float | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"bench: server exited with {proc.returncode} before it was ready\n"
                f"{log_path.read_text(errors='replace')}"
            )
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            body = exc.read()
            last = f"HTTP {exc.code}: {body[:300]!r}"
            checks = _readiness_checks(body)
            if all(checks.get(name) == "ok" for name in NEEDED_CHECKS):
                needed_ok_since = needed_ok_since or time.monotonic()
                if time.monotonic() - needed_ok_since >= READY_GRACE_S:
                    others = ", ".join(f"{k}={v}" for k, v in sorted(checks.items()) if v != "ok")
                    print(
                        f"bench: warning: /readyz is {exc.code} ({others}); the lookup needs only "
                        f"{', '.join(NEEDED_CHECKS)}, which are ok: going on",
                        file=sys.stderr,
                    )
                    return
            else:
                needed_ok_since = None
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.25)
    raise SystemExit(
        f"bench: server not ready after {READY_TIMEOUT_S:.0f}s ({last})\n"
        f"{log_path.read_text(errors='replace')}"
    )


def _readiness_checks(body: bytes) -> dict[str, str]:
    try:
        checks = json.loads(body).get("checks", {})
    except (ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in checks.items()} if isinstance(checks, dict) else {}


def _start_profiler(master: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample the master with its subprocesses: the work is in uvicorn's workers, not the idle master."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("bench: --profile needs py-spy (pip install py-spy); skipping the profile", file=sys.stderr)
        return None
    print(f"bench: profiling the server's workers for {seconds}s -> {out}", file=sys.stderr, flush=True)
    # --gil keeps only samples that hold the GIL, i.e. Python doing work: anyio's idle pool threads and the
    # event loop waiting in epoll would otherwise fill the top of the list.
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(master), "--subprocesses", "--gil", "--duration", str(seconds),
         "--rate", "100", "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


@dataclass(frozen=True)
class Result:
    requests: int
    failures: int
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def _parse_stats(path: Path) -> tuple[Result, Result]:
    """The lookup row is the benchmark; the aggregate also counts each user's one token request."""
    rows = {row["Name"]: row for row in csv.DictReader(path.open(encoding="utf-8"))}

    def result(name: str) -> Result:
        row = rows.get(name)
        if row is None:
            raise SystemExit(f"bench: no {name!r} row in {path}; did any request run?")
        return Result(
            requests=int(row["Request Count"]),
            failures=int(row["Failure Count"]),
            requests_per_s=float(row["Requests/s"]),
            p50_ms=float(row["50%"]),
            p95_ms=float(row["95%"]),
            p99_ms=float(row["99%"]),
            max_ms=float(row["Max Response Time"]),
        )

    return result(LOOKUP_ROW), result("Aggregated")


def _report(
    args: argparse.Namespace, lookup: Result, aggregated: Result, failures_csv: Path, cpu: dict[str, float]
) -> bool:
    rps_ok = lookup.requests_per_s >= TARGET_RPS
    p99_ok = lookup.p99_ms <= TARGET_P99_MS
    fail_ok = lookup.failures == 0
    cpus = os.cpu_count() or 0
    print()
    print(
        f"Gongyu lookup benchmark: {args.users} users, {args.duration}s, {args.workers} server workers, "
        f"{args.residents} seeded residents, {cpus} CPUs"
    )
    print(f"  requests   {lookup.requests}")
    print(f"  failures   {lookup.failures}  [{'PASS' if fail_ok else 'MISS'}]")
    print(
        f"  throughput {lookup.requests_per_s:.1f} req/s  (target >= {TARGET_RPS:.0f})  "
        f"[{'PASS' if rps_ok else 'MISS'}]"
    )
    print(f"  p50        {lookup.p50_ms:.0f} ms")
    print(f"  p95        {lookup.p95_ms:.0f} ms")
    print(
        f"  p99        {lookup.p99_ms:.0f} ms  (target <= {TARGET_P99_MS:.0f})  "
        f"[{'PASS' if p99_ok else 'MISS'}]"
    )
    print(f"  max        {lookup.max_ms:.0f} ms")
    print(
        f"  (all requests incl. token: {aggregated.requests} at {aggregated.requests_per_s:.1f} req/s, "
        f"p99 {aggregated.p99_ms:.0f} ms)"
    )
    if cpu:
        split = ", ".join(f"{role} {share:.0f}%" for role, share in cpu.items())
        print(f"  CPU during the run (100% = one core of {cpus}): {split}")
        if lookup.requests_per_s > 0:
            # Less noisy than req/s on a shared box: it does not depend on what else got the cores.
            per_lookup = 10 * cpu["server"] / lookup.requests_per_s
            print(
                f"  server CPU per lookup {per_lookup:.2f} ms (1200 req/s on {cpus} cores needs at most "
                f"{1000 * cpus / TARGET_RPS:.2f} ms for everything, PostgreSQL and load generator included)"
            )
    print(
        f"  note: locust shares this {cpus}-CPU machine with the server and PostgreSQL and takes part of "
        "the CPU, so these numbers understate what the hub does on its own hardware"
    )
    if lookup.failures and failures_csv.exists():
        print("  failures by cause:")
        for row in csv.DictReader(failures_csv.open(encoding="utf-8")):
            print(f"    {row['Occurrences']:>7} x {row['Method']} {row['Name']}: {row['Error']}")
    RESULT_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULT_FILE.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "config": {
                    "users": args.users,
                    "duration_s": args.duration,
                    "workers": args.workers,
                    "residents": args.residents,
                    "cpus": cpus,
                    "load_generator_on_same_host": True,
                },
                "cpu_percent_of_one_core": cpu,
                "server_cpu_ms_per_lookup": (
                    round(10 * cpu["server"] / lookup.requests_per_s, 2)
                    if cpu and lookup.requests_per_s > 0
                    else None
                ),
                "lookups": asdict(lookup),
                "aggregated": asdict(aggregated),
                "target": {"requests_per_s": TARGET_RPS, "p99_ms": TARGET_P99_MS},
                "pass": {"throughput": rps_ok, "p99": p99_ok, "no_failures": fail_ok},
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"  written to {RESULT_FILE}")
    return rps_ok and p99_ok and fail_ok


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench", description="Benchmark of the audited lookup."
    )
    parser.add_argument("--users", type=int, default=32, help="concurrent locust users (closed loop)")
    parser.add_argument("--duration", type=int, default=20, help="seconds of load")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--residents", type=int, default=10_000, help="synthetic residents to seed")
    parser.add_argument("--port", type=int, default=8089, help="server port on 127.0.0.1")
    parser.add_argument("--document", default="resident_registration_abstract", help="document type")
    parser.add_argument("--view", default="basic", help="view of that document")
    parser.add_argument("--statute", default="KR-FTRA-5-2", help="statute the client cites (and is granted)")
    parser.add_argument("--kind", choices=("bank", "agency"), default="bank", help="client kind")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="also record a py-spy profile (raw collapsed stacks) of one worker to this file",
    )
    parser.add_argument("--profile-seconds", type=int, default=10, help="length of the py-spy recording")
    args = parser.parse_args(argv)
    for name in ("users", "duration", "workers", "residents"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so the finally blocks stop the server and drop the databases.
    raise SystemExit(128 + signum)


@contextmanager
def throwaway_run(prefix: str, *ports: int) -> Iterator[tuple[str, Path]]:
    """A fresh database and temporary directory for one benchmark run, both gone afterwards.

    The ports are checked free first (a leftover server would be measured instead); SIGTERM unwinds through
    here too, so a stopped run still drops its database.
    """
    signal.signal(signal.SIGTERM, _on_sigterm)
    db = f"gongyu_bench_{secrets.token_hex(6)}"
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp_name:
        for port in ports:
            _check_port_free(port)
        _create_database(db)
        try:
            print(f"bench: database {db}", file=sys.stderr)
            yield db, Path(tmp_name)
        finally:
            with suppress(Exception):
                _drop_databases(db)


def _cpu_ticks(server_pgid: int, locust_pid: int) -> dict[int, tuple[str, int]]:
    """CPU ticks so far per process, with its role, from /proc (Linux): who the shared cores went to."""
    ticks: dict[int, tuple[str, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # Counting from the state field as 0: pgrp is 2, utime 11, stime 12.
        pid, pgrp, used = int(stat.parent.name), int(fields[2]), int(fields[11]) + int(fields[12])
        if pgrp == server_pgid:
            role = "server"
        elif pid == locust_pid:
            role = "locust"
        elif comm.startswith("postgres"):
            role = "postgres"
        else:
            role = "other"
        ticks[pid] = (role, used)
    # Box-wide time no process is charged for: interrupts (loopback traffic), idle, and hypervisor steal.
    idle, iowait, irq, softirq, steal = (
        int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[4:9]
    )
    ticks[-1], ticks[-2], ticks[-3] = ("irq", irq + softirq), ("idle", idle + iowait), ("steal", steal)
    return ticks


def _cpu_share(
    before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], seconds: float
) -> dict[str, float]:
    """Percent of one CPU per role (so 200 is both cores of a 2-CPU box).

    Processes that ended during the window are lost (their ticks leave /proc with them); ones that started
    count in full.
    """
    hz = os.sysconf("SC_CLK_TCK")
    used = dict.fromkeys(("server", "postgres", "locust", "other", "irq", "idle", "steal"), 0)
    for pid, (role, end) in after.items():
        used[role] += end - before.get(pid, (role, 0))[1]
    return {role: round(100 * n / hz / seconds, 1) for role, n in used.items()}


def _load(
    args: argparse.Namespace, base: str, env: dict[str, str], tmp: Path, server: subprocess.Popen[bytes]
) -> dict[str, float]:
    """Run locust to completion; returns the CPU split measured over the steady middle of the run."""
    locust = subprocess.Popen(
        [_bin("locust"), "-f", str(LOCUSTFILE), "--headless", "-u", str(args.users), "-r", str(args.users),
         "-t", f"{args.duration}s", "--host", base, "--csv", str(tmp / "bench"), "--only-summary",
         "--loglevel", "WARNING"],
        env=env,
        cwd=ROOT,
    )  # fmt: skip
    profiler = None
    cpu: dict[str, float] = {}
    try:
        # Skip the ramp-up (users spawning, the token request) and stop before locust starts shutting down.
        warmup = min(3.0, args.duration / 4)
        window = max(1.0, args.duration - warmup - 1.0)
        time.sleep(warmup)
        before, started = _cpu_ticks(server.pid, locust.pid), time.monotonic()
        if args.profile is not None:
            profiler = _start_profiler(
                server.pid, min(args.profile_seconds, int(window)), args.profile.resolve()
            )
        # Poll rather than sleep through it, so a locust that dies at once does not hold the run.
        while locust.poll() is None and time.monotonic() - started < window:
            time.sleep(0.2)
        cpu = _cpu_share(before, _cpu_ticks(server.pid, locust.pid), time.monotonic() - started)
        locust.wait(timeout=args.duration + 60)
        if profiler is not None:
            profiler.wait(timeout=args.profile_seconds + 30)
    finally:
        for child in (locust, profiler):
            if child is not None and child.poll() is None:
                child.terminate()
                with suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=10)
                if child.poll() is None:
                    child.kill()
    return cpu


def _prepare(args: argparse.Namespace, env: dict[str, str], agency_db: str, tmp: Path) -> dict[str, str]:
    """Schema, sandbox residents, a bank client and the residents file: what the locustfile needs."""
    gongyu = _bin("gongyu")
    _run("migrate", [gongyu, "migrate"], env)
    _run(f"seed {args.residents} residents", [gongyu, "sandbox", "seed", "--count", str(args.residents)], env)
    out = _run(
        "register client",
        [
            gongyu,
            "clients",
            "add",
            "--name",
            "Bench Bank",
            "--kind",
            args.kind,
            "--statute",
            args.statute,
            "--json",
        ],
        env,
    )
    client = json.loads(out.strip().splitlines()[-1])
    residents_file = tmp / "residents.txt"
    n = _write_residents(agency_db, residents_file)
    print(f"bench: {n} resident numbers in {residents_file}", file=sys.stderr)
    return {
        "GONGYU_BENCH_CLIENT_ID": str(client["client_id"]),
        "GONGYU_BENCH_CLIENT_SECRET": str(client["client_secret"]),
        "GONGYU_BENCH_RESIDENTS_FILE": str(residents_file),
        "GONGYU_BENCH_DOCUMENT": args.document,
        "GONGYU_BENCH_VIEW": args.view,
        "GONGYU_BENCH_STATUTE": args.statute,
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    db = f"gongyu_bench_{secrets.token_hex(6)}"
    agency_db = f"{db}_agency_mois"
    base = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory(prefix="gongyu-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = {
            **os.environ,
            "GONGYU_DATABASE_URL": f"postgresql+asyncpg://{PG_SERVER}/{db}",
            "GONGYU_VAR_DIR": str(tmp / "var"),
            "GONGYU_LOG_LEVEL": "WARNING",
        }
        env.pop("GONGYU_AGENCY_DATABASE_URLS", None)  # the agency DB must be the derived throwaway one
        created = False
        try:
            _check_port_free(args.port)
            _create_database(db)
            created = True
            print(f"bench: database {db}", file=sys.stderr)
            locust_env = {**env, **_prepare(args, env, agency_db, tmp)}
            log_path = tmp / "server.log"
            with _server(args.port, args.workers, env, log_path) as server:
                _wait_ready(base, server, log_path)
                print(
                    f"bench: server ready at {base}; {args.users} users for {args.duration}s", file=sys.stderr
                )
                cpu = _load(args, base, locust_env, tmp, server)
                if server.poll() is not None:
                    print(
                        f"bench: server died during the run\n{log_path.read_text(errors='replace')}",
                        file=sys.stderr,
                    )
            # The locustfile writes the final numbers at test stop; locust's own CSV lags by up to a second.
            final = tmp / "bench_stats_final.csv"
            stats_csv = final if final.exists() else tmp / "bench_stats.csv"
            failures = tmp / ("bench_failures_final.csv" if final.exists() else "bench_failures.csv")
            lookup, aggregated = _parse_stats(stats_csv)
            # A miss is a finding, not an error: the exit status says only whether the benchmark ran.
            _report(args, lookup, aggregated, failures, cpu)
            return 0
        finally:
            if created:
                dropped = _drop_databases(db)
                print(f"bench: dropped {', '.join(dropped) or 'nothing'}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
