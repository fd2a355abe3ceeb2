"""Shared fixtures: a migrated, seeded hub on SQLite and on a fresh PostgreSQL database.

PostgreSQL tests never skip: if the server is unreachable the fixture errors, so a CI run without PostgreSQL
fails loudly instead of passing on SQLite alone.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import create_engine, text

from adapters.sandbox import agencies as sandbox_agencies
from adapters.sandbox import mois
from audit import SubjectCommitter
from hub.app import create_app
from hub.auth.accounts import NumberSealer, create_account
from hub.auth.clients import create_client
from hub.db import create_engine as create_async_engine
from hub.db import session_factory
from hub.keys import load_keyring
from hub.migrate import upgrade
from hub.settings import Settings, sync_url
from hub.state import HubState, build_state

PG_ADMIN_URL = "postgresql+psycopg2://root@127.0.0.1:5432/postgres"
SEEDED_RESIDENTS = 400

ISSUE5_AGENCY_STATUTES = ["KR-FRRA-14-1-1", "KR-NTCA-107", "KR-FBTA-81-13-1", "KR-LTCA-5", "KR-EGA-36-2"]
ISSUE5_AGENCY_STATUTES += ["KR-BA-38", "KR-MVMA-7"]

TEST_CLIENTS = [
    {
        "client_id": "test-bank",
        "client_secret": "test-bank-secret",
        "name": "Test Bank",
        "kind": "bank",
        "statutes": ["KR-FTRA-5-2", "KR-RRA-29-2-1"],
        "redirect_uris": ["https://bank.test/callback"],
    },
    {
        "client_id": "test-agency",
        "client_secret": "test-agency-secret",
        "name": "Test Office",
        "kind": "agency",
        # Issue 5 catalog: family registry, national/local tax, health insurance, building/vehicle registers.
        "statutes": ["KR-RRA-29-2-1", *ISSUE5_AGENCY_STATUTES],
    },
]


# The files that take longest (real Chromium, real server processes) run first. `make test` runs
# `pytest -n 2 --dist loadfile`: each worker takes whole files in collection order, so the long ones start at
# once on both workers instead of leaving one worker alone with a two-minute file at the end. The sort is
# stable: files and tests keep their order within a rank.
_LONGEST_FIRST = (
    "tests/browser/test_every_page.py",
    "tests/browser/",
    "tests/credentials/test_verify_page_browser.py",
    "tests/witness/test_witness_browser.py",
    "tests/integration/",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next(
            (i for i, prefix in enumerate(_LONGEST_FIRST) if item.nodeid.startswith(prefix)),
            len(_LONGEST_FIRST),
        )

    items.sort(key=rank)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Backend:
    name: str
    settings: Settings
    residents: list[dict[str, str]]

    def sync_hub_url(self) -> str:
        return sync_url(self.settings.effective_database_url)


def _drop_pg(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _prepare(settings: Settings) -> list[dict[str, str]]:
    upgrade(settings)
    agency_url = sync_url(settings.agency_database_url("mois"))
    mois.ensure_database(agency_url)
    engine = create_engine(agency_url)
    mois.create_schema(engine)
    mois.seed(engine, count=SEEDED_RESIDENTS)
    residents = mois.demo_residents(engine, 5)
    engine.dispose()
    # The other sandbox agencies (issue 5): their own databases, seeded from the same synthetic residents.
    for agency in sandbox_agencies.SEEDERS:
        url = sync_url(settings.agency_database_url(agency))
        sandbox_agencies.seed_database(agency, url, SEEDED_RESIDENTS)

    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)

    async def principals() -> None:
        async_engine = create_async_engine(settings.effective_database_url)
        async with session_factory(async_engine)() as session, session.begin():
            for client in TEST_CLIENTS:
                await create_client(session, **client)
            committer = SubjectCommitter(keys.pepper)
            sealer = NumberSealer(keys.data_key)
            for i, resident in enumerate(residents[:3]):
                number = resident["resident_number"].replace("-", "")
                await create_account(
                    session,
                    username=f"resident{i}",
                    password=f"resident{i}-pw",
                    role="resident",
                    display_name=resident["name_ko"],
                    subject_commitment=committer.commit(number),
                    resident_number_sealed=sealer.seal(number),
                )
            await create_account(
                session,
                username="auditor",
                password="auditor-pw",
                role="auditor",
                display_name="Auditor",
                org="Audit office",
            )
            await create_account(
                session,
                username="official",
                password="official-pw",
                role="official",
                display_name="Official",
                org="Test Office",
            )
        await async_engine.dispose()

    asyncio.run(principals())
    return residents


# No background loops in tests: they write on their own schedule (on SQLite, holding the one write lock a
# test's own SQL may need). Tests that need the integrator or the notification worker drive them.
BACKGROUND_OFF = {"integrator_interval_seconds": 0, "notify_interval_seconds": 0}


@pytest.fixture(scope="session")
def sqlite_backend(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    var = tmp_path_factory.mktemp("gongyu-sqlite")
    settings = Settings(var_dir=var, environment="test", log_json=True, **BACKGROUND_OFF)
    return Backend("sqlite", settings, _prepare(settings))


@pytest.fixture(scope="session")
def postgres_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    name = f"gongyu_test_{secrets.token_hex(4)}"
    var = tmp_path_factory.mktemp("gongyu-pg")
    settings = Settings(
        var_dir=var,
        environment="test",
        database_url=f"postgresql+asyncpg://root@127.0.0.1:5432/{name}",
        **BACKGROUND_OFF,
    )
    try:
        yield Backend("postgres", settings, _prepare(settings))
    finally:
        _drop_pg(name)
        for agency in ("mois", *sandbox_agencies.SEEDERS):
            _drop_pg(f"{name}_agency_{agency}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    fixture_name = "sqlite_backend" if request.param == "sqlite" else "postgres_backend"
    result: Backend = request.getfixturevalue(fixture_name)
    return result


@pytest.fixture
async def hub_state(backend: Backend) -> AsyncIterator[HubState]:
    state = build_state(backend.settings)
    try:
        yield state
    finally:
        await state.close()


@pytest.fixture
async def api(hub_state: HubState, backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(backend.settings, state=hub_state)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client


def bearer(state: HubState, client_id: str = "test-bank") -> dict[str, str]:
    """Mint a token directly (the token endpoint has its own tests) to keep Argon2 out of every test."""
    client = next(c for c in TEST_CLIENTS if c["client_id"] == client_id)
    token = state.tokens.issue(client_id, str(client["kind"]), str(client["name"]), list(client["statutes"]))
    return {"Authorization": f"Bearer {token}"}


def account_bearer(state: HubState, username: str) -> dict[str, str]:
    """A token for a seeded account (resident0, resident1, auditor, official), minted like the login does."""
    engine = create_engine(sync_url(state.settings.effective_database_url))
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT account_id, role, display_name, org, subject_commitment"
                " FROM accounts WHERE username = :u"
            ),
            {"u": username},
        ).one()
    engine.dispose()
    token = state.tokens.issue_account(
        row.account_id, row.role, row.display_name, row.org, row.subject_commitment
    )
    return {"Authorization": f"Bearer {token}"}


def lookup_body(
    resident_number: str,
    document_type: str = "resident_registration_abstract",
    view: str = "basic",
    statute: str = "KR-FTRA-5-2",
) -> dict[str, object]:
    return {
        "document_type": document_type,
        "view": view,
        "subject": {"resident_number": resident_number},
        "purpose": {"code": "loan-screening", "text": "주택담보대출 심사"},
        "basis": {"statute": statute},
    }


def audit_rows(backend: Backend) -> list[dict[str, object]]:
    engine = create_engine(backend.sync_hub_url())
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(text("SELECT * FROM audit_events ORDER BY seq")).mappings()]
    engine.dispose()
    for row in rows:
        if isinstance(row["fields"], str):  # SQLite hands raw JSON text to a textual query
            row["fields"] = json.loads(row["fields"])
    return rows


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
