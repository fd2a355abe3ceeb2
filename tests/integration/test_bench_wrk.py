"""The wrk runner and the floor app of ``make bench`` (loadtests.bench_wrk, loadtests.floor) still work.

A benchmark nobody runs rots; this drives the real pieces for a second each against a two-resident registry:
wrk with the Lua script, the floor app under uvicorn, and the parsing of wrk's summary. It proves the floor
writes one durable audit row per answered request and that refused requests are counted as errors, not as
throughput.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from adapters.sandbox import mois
from loadtests import bench_wrk
from tests.conftest import PG_ADMIN_URL
from tests.servers import free_port

pytestmark = pytest.mark.postgres

NUMBERS = ("900101-9000001", "900202-0000002")


@pytest.fixture
def registry() -> Iterator[str]:
    """A throwaway database with the registry's tables and two residents; the floor's audit goes there too."""
    name = f"gongyu_wrk_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(f"postgresql+psycopg2://root@127.0.0.1:5432/{name}")
    try:
        mois.metadata.create_all(engine, tables=[mois.households, mois.residents])
        with engine.begin() as conn:
            conn.execute(
                mois.households.insert(),
                [
                    {
                        "household_id": 1,
                        "address": "서울 종로구 1",
                        "postal_code": "03000",
                        "formed_on": date(2020, 1, 1),
                    }
                ],
            )
            conn.execute(
                mois.residents.insert(),
                [
                    {"resident_id": i, "resident_number": n.replace("-", ""), "name_ko": f"가{i}",
                     "name_en": f"Ga {i}", "birth_date": date(1990, 1, 1), "sex": "M" if i == 1 else "F",
                     "household_id": 1, "relation_to_head": "self", "moved_in_on": date(2020, 1, 1)}
                    for i, n in enumerate(NUMBERS, start=1)
                ],
            )  # fmt: skip
        yield name
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_floor_audits_every_answered_request_and_wrk_counts_refusals(registry: str, tmp_path: Path) -> None:
    port = free_port()
    known = bench_wrk.statutory_bodies(list(NUMBERS), tmp_path / "known.jsonl")
    unknown = bench_wrk.statutory_bodies(["900303-9000003"], tmp_path / "unknown.jsonl")
    load = {"duration": 1, "connections": 2, "threads": 1}
    with bench_wrk.floor_server(port, 1, registry, registry, tmp_path / "floor.log") as floor:
        answered = bench_wrk.wrk(f"http://127.0.0.1:{port}/lookup", known, server_pid=floor.pid, **load)
        refused = bench_wrk.wrk(f"http://127.0.0.1:{port}/lookup", unknown, **load)
    assert answered.requests > 0 and answered.errors == 0
    # Where the CPU went: the floor's worker (a child of the uvicorn it was given), PostgreSQL and wrk all
    # worked for the answers; without a server pid the server's share is not measured.
    cpu = answered.cpu_ms_per_request or {}
    assert cpu["server"] > 0 and cpu["postgres"] > 0 and cpu["wrk"] > 0
    assert (refused.cpu_ms_per_request or {})["server"] == 0
    assert answered.requests_per_s > 0 and 0 < answered.p50_ms <= answered.p99_ms <= answered.max_ms
    assert refused.requests > 0 and refused.errors == refused.requests  # 404s are not throughput
    engine = create_engine(f"postgresql+psycopg2://root@127.0.0.1:5432/{registry}")
    try:
        with engine.connect() as conn:
            audited = conn.execute(text("SELECT count(*) FROM floor_audit")).scalar_one()
    finally:
        engine.dispose()
    # wrk counts the answers it read; one in flight when it stopped may be audited without being counted.
    assert answered.requests <= audited <= answered.requests + load["connections"]


def test_runner_refuses_anything_but_loopback(tmp_path: Path) -> None:
    bodies = tmp_path / "b.jsonl"
    bodies.write_text(json.dumps({"x": 1}) + "\n")
    with pytest.raises(SystemExit, match=r"127\.0\.0\.1"):
        bench_wrk.wrk("http://example.org:80/v1/lookups", bodies, duration=1, connections=1, threads=1)
