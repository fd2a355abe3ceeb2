"""The lookup against its floor, with wrk: ``make bench`` or ``python -m loadtests.bench_wrk`` (issue 17).

On a throwaway PostgreSQL database it seeds the sandbox registry, registers a bank, then measures, one after
the other on the same box: ``gongyu serve --workers 2`` on the statutory path (a resident number under the
bank's statute) and on the consent path (a standing consent, no resident number), then the floor app
(``loadtests.floor``: one SELECT, one durable INSERT, one Ed25519 signature, 2 uvicorn workers). Each is
driven by ``wrk -t2 -c32`` with a Lua script (``wrk_lookup.lua``) that draws a random resident or consent per
request. It prints req/s and p50/p99 of each and the hub/floor ratio, with the target beside it (>= 0.7x, p99
<= 60 ms).

By default each serving worker also integrates the log and delivers the notices, as ``gongyu serve`` does
out of the box (``--background workers``). ``--background processes`` measures the scale-out shape instead:
``gongyu serve --no-integrator`` workers that only serve, with ``gongyu integrator`` and ``gongyu worker`` as
processes of their own on the same box (on 2 cores the extra processes cost more than they spare the event
loops; measured in docs/scaling.md).

wrk costs far less CPU than locust, which on 2 cores took the CPU the server needed; it still shares the box,
and so does everything else running on it: compare the ratio, which both sides pay alike, more than absolute
figures, and repeat a run that looks off. ``--profile DIR`` records a py-spy profile of the hub's workers
during each hub run (``py-spy record --subprocesses``, collapsed stacks for a flame graph).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

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

LUA = Path(__file__).resolve().with_name("wrk_lookup.lua")
RESULT_FILE = ROOT / "var" / "bench-wrk.json"
TARGET_RATIO = 0.7
TARGET_P99_MS = 60.0
MAX_USES = 1000  # the API's ceiling for a standing consent (hub.consents.schemas)
STATUTE = "KR-FTRA-5-2"
DOCUMENT = {"document_type": "resident_registration_abstract", "view": "basic"}


def _cpu_by_group(server_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of the server's process tree and of PostgreSQL's processes (from /proc).

    Read before and after a measurement, the difference says where the box's two cores went: a lookup's cost
    is the hub's Python *and* the database work it asks for, and both share the cores with the load generator.
    """
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[str, int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry.name)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree = {server_pid} if server_pid is not None else set()
    grew = True
    while grew:
        grew = False
        for pid, (_, parent, _) in stats.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    groups = {"server": 0.0, "postgres": 0.0, "wrk": 0.0}  # wrk: from its rusage once it has finished
    for pid, (name, _, cpu) in stats.items():
        if pid in tree:
            groups["server"] += cpu
        elif name == "postgres":
            groups["postgres"] += cpu
    return groups


@dataclass(frozen=True)
class WrkResult:
    """One wrk run, from the Lua script's ``done`` line; ``errors``: 4xx/5xx answers and socket errors."""

    requests: int
    seconds: float
    errors: int
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu_ms_per_request: dict[str, float] | None = None


def wrk(
    url: str,
    bodies: Path,
    *,
    token: str = "",
    duration: float,
    connections: int,
    threads: int,
    delay_ms: float = 0,
    server_pid: int | None = None,
) -> WrkResult:
    """Run wrk once against ``url`` (127.0.0.1 only) and parse the script's summary line."""
    if not url.startswith("http://127.0.0.1:"):
        raise SystemExit(f"bench: refusing to load anything but 127.0.0.1 ({url})")
    scheme_host, _, path = url.partition("://")[2].partition("/")
    env = {
        **os.environ,
        "GONGYU_WRK_BODIES": str(bodies),
        "GONGYU_WRK_PATH": "/" + path,
        "GONGYU_WRK_TOKEN": token,
        "GONGYU_WRK_DELAY_MS": str(delay_ms),
    }
    wrk_bin = shutil.which("wrk")
    if wrk_bin is None:
        raise SystemExit("bench: wrk is not installed (Debian package `wrk`)")
    seconds = max(1, round(duration))
    before = _cpu_by_group(server_pid)
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [wrk_bin, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA),
         f"http://{scheme_host}"],
        env=env, capture_output=True, text=True, timeout=seconds + 60, check=False,
    )  # fmt: skip
    after = _cpu_by_group(server_pid)
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk has been waited for: a finished child
    after["wrk"] = before["wrk"] + (wrk_after.ru_utime + wrk_after.ru_stime)
    after["wrk"] -= wrk_before.ru_utime + wrk_before.ru_stime
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"bench: wrk failed (exit {proc.returncode})\n{proc.stdout}\n{proc.stderr}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    took = raw["duration_us"] / 1e6
    errors = sum(
        raw[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    count = max(1, raw["requests"])
    cpu = {group: round(1000 * (after[group] - before[group]) / count, 3) for group in after}
    return WrkResult(
        requests=raw["requests"],
        seconds=round(took, 2),
        errors=errors,
        requests_per_s=round(raw["requests"] / took, 1) if took else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        cpu_ms_per_request=cpu,
    )


def _post_json(url: str, body: object, token: str) -> dict[str, object]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, object] = json.load(response)
    return result


def client_token(base: str, client_id: str, secret: str) -> str:
    """The bank's access token (client credentials), as a bank's integration caches one for all requests."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = urllib.request.Request(
        f"{base}/v1/auth/token",
        data=b"grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.load(response)["access_token"])


def residents_sample(agency_db: str, n: int) -> list[str]:
    """Resident numbers (formatted ``YYMMDD-NNNNNNN``) from the sandbox registry, first ``n`` by id."""
    engine = create_engine(f"postgresql+psycopg2://{PG_SERVER}/{agency_db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT resident_number FROM residents ORDER BY resident_id LIMIT :n"), {"n": n}
            ).scalars()
            numbers = [f"{r[:6]}-{r[6:]}" for r in rows]
    finally:
        engine.dispose()
    if not numbers:
        raise SystemExit(f"bench: the sandbox registry {agency_db} has no residents")
    return numbers


def statutory_bodies(numbers: list[str], path: Path) -> Path:
    lines = [
        json.dumps(
            {**DOCUMENT, "subject": {"resident_number": n},
             "purpose": {"code": "loan-screening", "text": "bench"}, "basis": {"statute": STATUTE}}
        )
        for n in numbers
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def grant_consents(base: str, env: dict[str, str], numbers: list[str], bank_token: str) -> list[str]:
    """One standing consent (``MAX_USES`` uses) per resident, asked by the bank and approved by the resident.

    The accounts and their tokens come from ``loadtests.consent_seed`` (no Argon2 per account); the request
    and the approval go through the API, so the consents are what a bank gets.
    """
    out = _run_input("resident accounts", [sys.executable, "-m", "loadtests.consent_seed"], env, numbers)
    accounts = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    consent_ids = []
    for account in accounts:
        asked = _post_json(
            f"{base}/v1/consent-requests",
            {"documents": [DOCUMENT], "purpose": {"code": "loan-screening", "text": "bench"},
             "mode": "standing", "max_uses": MAX_USES, "redirect_uri": "http://127.0.0.1:9/callback"},
            bank_token,
        )  # fmt: skip
        decided = _post_json(
            f"{base}/v1/me/consent-requests/{asked['request_id']}/approve", {}, str(account["token"])
        )
        consent = decided["consent"]
        assert isinstance(consent, dict)
        consent_ids.append(str(consent["consent_id"]))
    return consent_ids


def consent_bodies(consent_ids: list[str], path: Path) -> Path:
    lines = [
        json.dumps({**DOCUMENT, "purpose": "loan-screening", "basis": {"consent_id": c}}) for c in consent_ids
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run_input(step: str, args: list[str], env: dict[str, str], lines: list[str]) -> str:
    print(f"bench: {step} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(
        args, env=env, cwd=ROOT, input="\n".join(lines) + "\n", capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"bench: {step} failed (exit {proc.returncode})\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@contextmanager
def floor_server(
    port: int, workers: int, hub_db: str, agency_db: str, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The floor app under uvicorn (uvloop, httptools), ready when it answers; its own process group."""
    env = {
        **os.environ,
        "GONGYU_FLOOR_AGENCY_DSN": f"postgresql://{PG_SERVER}/{agency_db}",
        "GONGYU_FLOOR_AUDIT_DSN": f"postgresql://{PG_SERVER}/{hub_db}",
    }
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [_bin("uvicorn"), "loadtests.floor:app", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
         "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"bench: floor app exited\n{log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
                    pass
            except urllib.error.HTTPError:
                break  # it answers (a 404 for this path): up
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("bench: floor app not up after 60 s") from None
                time.sleep(0.25)
        yield proc
    finally:
        _stop(proc)
        log.close()


@contextmanager
def profiling(master_pid: int, seconds: int, out: Path | None) -> Iterator[None]:
    """py-spy over the server's processes while the body runs (nothing when ``out`` is None)."""
    if out is None:
        yield
        return
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    proc = subprocess.Popen(
        [py_spy, "record", "--pid", str(master_pid), "--subprocesses", "--duration", str(seconds),
         "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        try:
            proc.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(f"bench: profile written to {out}", file=sys.stderr)


def _prepare(args: argparse.Namespace, env: dict[str, str], tmp: Path) -> dict[str, str]:
    gongyu = _bin("gongyu")
    _run("migrate", [gongyu, "migrate"], env)
    _run(f"seed {args.residents} residents", [gongyu, "sandbox", "seed", "--count", str(args.residents)], env)
    out = _run(
        "register client",
        [gongyu, "clients", "add", "--name", "Bench Bank", "--kind", "bank", "--statute", STATUTE,
         "--redirect-uri", "http://127.0.0.1:9/callback", "--json"],
        env,
    )  # fmt: skip
    client = json.loads(out.strip().splitlines()[-1])
    return {"client_id": str(client["client_id"]), "secret": str(client["client_secret"])}


@contextmanager
def background_processes(
    env: dict[str, str], tmp: Path, notify: bool, integrate: bool = True
) -> Iterator[None]:
    """``gongyu integrator`` and (unless notifications are off) ``gongyu worker`` beside the hub, each in its
    own process group: the scale-out shape (docs/scaling.md), where the serving workers only serve."""
    commands = [*([["integrator"]] if integrate else []), *([["worker"]] if notify else [])]
    logs = [(tmp / f"{command[0]}.log").open("wb") for command in commands]
    procs = [
        subprocess.Popen(
            [_bin("gongyu"), *command],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for command, log in zip(commands, logs, strict=True)
    ]
    try:
        yield
    finally:
        for proc in procs:
            _stop(proc)
        for log in logs:
            log.close()


def measure(args: argparse.Namespace, tmp: Path, db: str) -> dict[str, WrkResult]:
    """The whole run: hub statutory, hub consent, floor; one after the other on the same database server."""
    agency_db = f"{db}_agency_mois"
    env = {
        **os.environ,
        "GONGYU_DATABASE_URL": f"postgresql+asyncpg://{PG_SERVER}/{db}",
        "GONGYU_VAR_DIR": str(tmp / "var"),
        "GONGYU_LOG_LEVEL": "WARNING",
    }
    env.pop("GONGYU_AGENCY_DATABASE_URLS", None)
    if args.no_notify:
        env["GONGYU_NOTIFY_INTERVAL_SECONDS"] = "0"
    if args.no_integrator:  # diagnostic: the lookups' own cost, the log left unintegrated during the run
        env["GONGYU_INTEGRATOR_INTERVAL_SECONDS"] = "0"
    client = _prepare(args, env, tmp)
    numbers = residents_sample(agency_db, args.sample)
    statutory = statutory_bodies(numbers, tmp / "statutory.jsonl")
    base = f"http://127.0.0.1:{args.port}"
    results: dict[str, WrkResult] = {}
    load = {"duration": args.duration, "connections": args.connections, "threads": args.threads}
    warm = {**load, "duration": args.warmup}
    profile_dir = args.profile.resolve() if args.profile else None
    if profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmp / "server.log"
    serving = env
    if args.background == "processes":  # the workers only serve: the log and the outbox are handled apart
        serving = {**env, "GONGYU_INTEGRATOR_INTERVAL_SECONDS": "0", "GONGYU_NOTIFY_INTERVAL_SECONDS": "0"}
    apart = background_processes(env, tmp, not args.no_notify, not args.no_integrator)
    with (
        _server(args.port, args.workers, serving, log_path) as server,
        apart if args.background == "processes" else nullcontext(),
    ):
        _wait_ready(base, server, log_path)
        token = client_token(base, client["client_id"], client["secret"])
        if "statutory" in args.paths:
            print(f"bench: hub, statutory path, {args.duration}s", file=sys.stderr, flush=True)
            wrk(f"{base}/v1/lookups", statutory, token=token, **warm)
            with profiling(
                server.pid, args.duration, profile_dir / "hub-statutory.txt" if profile_dir else None
            ):
                results["hub statutory"] = wrk(
                    f"{base}/v1/lookups", statutory, token=token, server_pid=server.pid, **load
                )
        if "consent" in args.paths:
            token = client_token(base, client["client_id"], client["secret"])
            ids = grant_consents(base, env, numbers[: args.consents], token)
            bodies = consent_bodies(ids, tmp / "consent.jsonl")
            print(
                f"bench: hub, consent path ({len(ids)} consents), {args.duration}s",
                file=sys.stderr,
                flush=True,
            )
            wrk(f"{base}/v1/lookups", bodies, token=token, **warm)
            with profiling(
                server.pid, args.duration, profile_dir / "hub-consent.txt" if profile_dir else None
            ):
                results["hub consent"] = wrk(
                    f"{base}/v1/lookups", bodies, token=token, server_pid=server.pid, **load
                )
        if server.poll() is not None:
            raise SystemExit(f"bench: the hub died during the run\n{log_path.read_text(errors='replace')}")
    floor_url = f"http://127.0.0.1:{args.floor_port}/lookup"
    with floor_server(args.floor_port, args.workers, db, agency_db, tmp / "floor.log") as floor:
        print(f"bench: floor, {args.duration}s", file=sys.stderr, flush=True)
        wrk(floor_url, statutory, **warm)
        results["floor"] = wrk(floor_url, statutory, server_pid=floor.pid, **load)
    return results


def report(args: argparse.Namespace, results: dict[str, WrkResult]) -> None:
    floor = results["floor"]
    cpus = os.cpu_count() or 0
    print()
    print(
        f"Gongyu lookup vs floor: wrk -t{args.threads} -c{args.connections} -d{args.duration}s, "
        f"{args.workers} workers each, PostgreSQL, {args.sample} residents at random, {cpus} CPUs; "
        f"the hub's integrator and notifications: "
        f"{'gongyu integrator + gongyu worker' if args.background == 'processes' else 'in the workers'}"
        f"{'; integrator OFF' if args.no_integrator else ''}{'; notifications OFF' if args.no_notify else ''}"
    )
    print(f"  {'':15} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}  ratio")
    verdicts = {}
    for name, r in results.items():
        ratio = r.requests_per_s / floor.requests_per_s if floor.requests_per_s else 0.0
        line = f"  {name:15} {r.requests_per_s:8.0f} {r.p50_ms:7.1f} {r.p99_ms:7.1f} {r.errors:7d}"
        if name != "floor":
            ok = ratio >= TARGET_RATIO and r.p99_ms <= TARGET_P99_MS and r.errors == 0
            verdicts[name] = {"ratio": round(ratio, 3), "pass": ok}
            line += (
                f"  {ratio:.2f}x (target >= {TARGET_RATIO}x, p99 <= {TARGET_P99_MS:.0f} ms) "
                f"[{'PASS' if ok else 'MISS'}]"
            )
        print(line)
    print("  CPU ms per request (server processes / PostgreSQL / wrk):")
    for name, r in results.items():
        cpu = r.cpu_ms_per_request or {}
        figures = " ".join(f"{cpu.get(group, 0.0):8.3f}" for group in ("server", "postgres", "wrk"))
        print(f"  {name:15} {figures}")
    RESULT_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULT_FILE.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "config": {k: str(v) for k, v in vars(args).items()},
                "results": {k: asdict(v) for k, v in results.items()},
                "verdicts": verdicts,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"  written to {RESULT_FILE}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_wrk", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load before each")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of the hub and of the floor")
    parser.add_argument("--residents", type=int, default=10_000, help="synthetic residents to seed")
    parser.add_argument("--sample", type=int, default=2000, help="residents drawn at random per request")
    parser.add_argument("--consents", type=int, default=200, help="standing consents for the consent path")
    parser.add_argument("--paths", default="statutory,consent", help="comma-separated: statutory, consent")
    parser.add_argument("--port", type=int, default=8089, help="hub port on 127.0.0.1")
    parser.add_argument("--floor-port", type=int, default=8090, help="floor port on 127.0.0.1")
    parser.add_argument(
        "--no-notify", action="store_true", help="turn the in-process notification worker off"
    )
    parser.add_argument(
        "--no-integrator",
        action="store_true",
        help="leave the audit log unintegrated during the run (diagnostic: the lookups' own cost, without "
        "the log's background work on the same cores)",
    )
    parser.add_argument("--profile", type=Path, default=None, help="directory for py-spy profiles")
    parser.add_argument(
        "--background",
        choices=("processes", "workers"),
        default="workers",
        help="run the audit integrator and the notification delivery inside each serving worker (workers: "
        "`gongyu serve` out of the box) or as `gongyu integrator` and `gongyu worker` beside `gongyu serve "
        "--no-integrator` (processes: the scale-out shape)",
    )
    args = parser.parse_args(argv)
    args.paths = {p.strip() for p in args.paths.split(",") if p.strip()}
    if not args.paths <= {"statutory", "consent"}:
        parser.error("--paths takes statutory and/or consent")
    if min(args.duration, args.warmup, args.connections, args.threads, args.workers, args.sample) < 1:
        parser.error("durations, connections, threads, workers and sample must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with throwaway_run("gongyu-wrk-", args.port, args.floor_port) as (db, tmp):
        report(args, measure(args, tmp, db))
    return 0


if __name__ == "__main__":
    sys.exit(main())
