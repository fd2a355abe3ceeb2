"""The demo's desks and ``gongyu applications department``: after ``gongyu demo``'s seeding every department a
form names has an official placed in it (audited, once), the demo bank has a privacy officer, and an operator
places an official with one command that goes through the same audited code path."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from document_specs.forms import load_forms
from document_specs.loader import load_catalog
from hub.applications.repository import department_of
from hub.auth.models import AccountRow
from hub.cli import app as cli
from hub.cli.accounts import DEMO_CLIENTS, DemoRefused, published_demo_password, seed_demo_principals
from hub.cli.common import open_sessions
from hub.cli.sandbox import seed_demo_desks
from hub.migrate import upgrade
from hub.settings import Settings
from tests.conftest import Backend, audit_rows


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    """A fresh demo database seeded as ``gongyu demo`` seeds it (accounts, then desks), twice."""
    settings = Settings(var_dir=tmp_path_factory.mktemp("demo-desks"), environment="test")
    upgrade(settings)
    asyncio.run(seed_demo_principals(settings, []))
    asyncio.run(seed_demo_desks(settings))
    asyncio.run(seed_demo_desks(settings))  # `gongyu demo` run again on the same directory
    return Backend("sqlite", settings, [])


def _env(backend: Backend) -> dict[str, str]:
    return {"GONGYU_VAR_DIR": str(backend.settings.var_dir), "GONGYU_ENVIRONMENT": "test"}


async def _accounts(settings: Settings) -> dict[str, tuple[str, str | None, str | None]]:
    """username → (role, org, department)."""
    engine, sessions = open_sessions(settings)
    try:
        async with sessions() as session:
            rows = (await session.execute(select(AccountRow))).scalars().all()
            return {
                row.username: (row.role, row.org, await department_of(session, row.account_id))
                for row in rows
            }
    finally:
        await engine.dispose()


def test_every_forms_department_has_a_demo_official_placed_once(demo: Backend) -> None:
    accounts = asyncio.run(_accounts(demo.settings))
    departments = {form.department for form in load_forms(load_catalog()).values()}
    staffed = {dept for role, _, dept in accounts.values() if role == "official" and dept is not None}
    assert staffed == departments
    assert accounts["official"][2] == "resident_registration"  # the README's counter tour
    assert accounts["official-food-sanitation"][2] == "food_sanitation"  # the proxy tour's food report
    placements = [row for row in audit_rows(demo) if row["kind"] == "official_department_set"]
    assert len(placements) == len(departments)  # the second seeding placed nobody again


def test_the_demo_bank_has_a_privacy_officer_of_its_own_organisation(demo: Backend) -> None:
    accounts = asyncio.run(_accounts(demo.settings))
    bank = next(client for client in DEMO_CLIENTS if client["client_id"] == "demo-bank")
    assert accounts["privacy-bank"][:2] == ("privacy_officer", bank["name"])
    assert published_demo_password("privacy-bank-demo")
    assert published_demo_password("official-food-sanitation-demo")
    assert not published_demo_password("a long production password")


def test_department_command_places_an_official_on_the_record(demo: Backend) -> None:
    before = len(audit_rows(demo))
    result = CliRunner().invoke(
        cli, ["applications", "department", "official-welfare", "family_policy"], env=_env(demo)
    )
    assert result.exit_code == 0, result.output
    assert "now works in family_policy" in " ".join(result.output.split())
    assert asyncio.run(_accounts(demo.settings))["official-welfare"][2] == "family_policy"
    events = audit_rows(demo)[before:]
    assert [(row["kind"], row["basis"]) for row in events] == [
        ("official_department_set", "department:family_policy")
    ]
    result = CliRunner().invoke(
        cli, ["applications", "department", "official-welfare", "welfare"], env=_env(demo)
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("username", "department", "message"),
    [
        ("privacy-bank", "welfare", "no official account named 'privacy-bank'"),
        ("nobody", "welfare", "no official account named 'nobody'"),
        ("official", "space_agency", "no form is handled by a department named 'space_agency'"),
    ],
)
def test_department_command_refuses_a_non_official_or_an_unknown_department(
    demo: Backend, username: str, department: str, message: str
) -> None:
    before = len(audit_rows(demo))
    result = CliRunner().invoke(cli, ["applications", "department", username, department], env=_env(demo))
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert len(audit_rows(demo)) == before


def test_accounts_add_help_lists_the_privacy_officer_role() -> None:
    result = CliRunner().invoke(cli, ["accounts", "add", "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert result.exit_code == 0
    assert "privacy_officer" in result.output


def test_demo_desks_are_refused_in_production(tmp_path: Path) -> None:
    with pytest.raises(DemoRefused):
        asyncio.run(seed_demo_desks(Settings(var_dir=tmp_path, environment="production")))
