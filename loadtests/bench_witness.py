"""Witness round trip per checkpoint: the hub's submission to two real witness processes, over HTTP.

    .venv/bin/python -m loadtests.bench_witness --checkpoints 250

Starts two ``gongyu witness serve`` processes on free loopback ports (own keys and state files in a temporary
directory) and a hub database migrated to the latest schema (SQLite in that directory, or a throwaway
PostgreSQL one with ``--postgres``); then for each checkpoint: one audit event, one integration round, and
the timed part, ``submit_latest``:
the consistency proof read from the hub's nodes, both POST /add-checkpoint in parallel (keep-alive), both
cosignatures verified and stored. Prints the median, p90, p99 and max in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/vkey", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"witness on port {port} did not start")


async def _run(args: argparse.Namespace, tmp: Path) -> list[float]:
    from audit import AuditLog
    from audit.checkpoint import verifier_key
    from audit.events import AuditEvent
    from audit.integrator import Integrator
    from audit.service import AuditReader
    from audit.signer import LogSigner
    from audit.witness.keyfile import init_key
    from audit.witness.protocol import cosigner_vkey
    from hub.db import create_engine, session_factory
    from hub.keys import load_keyring
    from hub.migrate import upgrade
    from hub.settings import Settings, WitnessConfig
    from hub.witnessing import Witnessing

    settings = Settings(var_dir=tmp / "var", database_url=args.database_url or "", environment="test")
    upgrade(settings)
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    signer = LogSigner(settings.origin, keys.log_key.private_key)
    log_vkey = verifier_key(settings.origin, keys.log_key.public_key)
    processes, configs = [], []
    try:
        for number in (1, 2):
            key_dir = tmp / f"witness{number}"
            name, private, _ = init_key(key_dir, f"bench{number}.gongyu.local")
            port = _free_port()
            command = [sys.executable, "-m", "hub.cli", "witness", "serve", "--key-dir", str(key_dir)]
            command += ["--state", str(key_dir / "state.db"), "--port", str(port), "--log", log_vkey]
            processes.append(subprocess.Popen(command, stderr=subprocess.DEVNULL))  # noqa: ASYNC220 - set-up
            configs.append(
                WitnessConfig(url=f"http://127.0.0.1:{port}", vkey=cosigner_vkey(name, private.public_key()))
            )
        for config in configs:
            _wait_listening(int(config.url.rsplit(":", 1)[1]))
        engine = create_engine(settings.effective_database_url)
        sessions = session_factory(engine)
        reader = AuditReader(sessions, signer)
        witnessing = Witnessing(sessions, reader, configs, quorum=2)
        integrator = Integrator(sessions, signer)
        audit_log = AuditLog(sessions)
        timings: list[float] = []
        try:
            for i in range(args.checkpoints + args.warmup):
                for _ in range(args.events):
                    await audit_log.append(AuditEvent("bench", "system", "bench", "ok", request_id=str(i)))
                assert (await integrator.integrate_once()).checkpoint_published
                started = time.perf_counter()
                outcome = await witnessing.submit_latest()
                elapsed = (time.perf_counter() - started) * 1000
                if set(outcome.values()) != {"cosigned"}:
                    raise RuntimeError(f"checkpoint {i}: {outcome}")
                if i >= args.warmup:
                    timings.append(elapsed)
        finally:
            await witnessing.close()
            await engine.dispose()
        return timings
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoints", type=int, default=250)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--events", type=int, default=1, help="audit events per checkpoint")
    parser.add_argument(
        "--postgres", action="store_true", help="hub database on PostgreSQL (a throwaway one, dropped after)"
    )
    args = parser.parse_args()
    args.database_url = None
    if args.postgres:
        from loadtests.bench import PG_SERVER, throwaway_run

        with throwaway_run("gongyu-witness-bench-") as (db, tmp_dir):
            args.database_url = f"postgresql+asyncpg://{PG_SERVER}/{db}"
            timings = sorted(asyncio.run(_run(args, tmp_dir)))
    else:
        with tempfile.TemporaryDirectory(prefix="gongyu-witness-bench-") as tmp:
            timings = sorted(asyncio.run(_run(args, Path(tmp))))

    def pct(p: float) -> float:
        return timings[min(len(timings) - 1, int(p * len(timings)))]

    report = {
        "checkpoints": len(timings),
        "witnesses": 2,
        "hub_database": "postgresql" if args.postgres else "sqlite",
        "median_ms": round(statistics.median(timings), 2),
        "p90_ms": round(pct(0.90), 2),
        "p99_ms": round(pct(0.99), 2),
        "max_ms": round(timings[-1], 2),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
