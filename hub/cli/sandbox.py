"""``gongyu sandbox``: the simulated agencies and their synthetic residents."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

import typer
from sqlalchemy import create_engine, select

from hub.cli.common import counted_progress
from hub.settings import Settings, sync_url

sandbox_app = typer.Typer(help="Simulated agencies with synthetic data.", no_args_is_help=True)


@sandbox_app.command("seed")
def sandbox_seed(
    count: Annotated[
        int | None, typer.Option(help="synthetic residents (default GONGYU_SANDBOX_RESIDENT_COUNT)")
    ] = None,
) -> None:
    """Create and fill the sandbox MOIS registry with deterministic synthetic residents."""
    seed_sandbox(Settings(), count)


def seed_sandbox(settings: Settings, count: int | None = None) -> int:
    from adapters.sandbox import mois

    total = count or settings.sandbox_resident_count
    url = sync_url(settings.agency_database_url("mois"))
    mois.ensure_database(url)
    engine = create_engine(url)
    try:
        mois.create_schema(engine)
        with counted_progress("seeding MOIS registry") as progress:
            task = progress.add_task("residents", total=total)
            seeded = mois.seed(engine, count=total, progress=lambda n: progress.update(task, completed=n))
            progress.update(task, completed=seeded)
    finally:
        engine.dispose()
    # The other agencies hold records about the same synthetic people.
    from adapters.sandbox import agencies

    with counted_progress("seeding {task.description}") as progress:
        for agency in agencies.SEEDERS:
            task = progress.add_task(agency, total=total)
            agencies.seed_database(
                agency,
                sync_url(settings.agency_database_url(agency)),
                count=total,
                progress=lambda n, task=task: progress.update(task, completed=n),  # type: ignore[misc]
            )
            progress.update(task, completed=total)
    return seeded


@dataclass(frozen=True)
class DemoDesk:
    """A demo account the tours sign in with beyond ``DEMO_ACCOUNTS``: an official placed in a department a
    form is handled by, or the demo bank's privacy officer (who answers disputes of the bank's lookups)."""

    username: str
    role: str
    org: str
    department: str | None = None

    @property
    def password(self) -> str:
        # ``official-demo`` as before; published in the README, so refused in production
        return f"{self.username}-demo"


DEMO_OFFICE = "Demo District Office (데모구청)"
# The demo-bank client's name: what the audit log records as the organisation of the bank's lookups.
DEMO_BANK = "Demo Bank (데모은행)"
TOUR_DEPARTMENT = "resident_registration"  # the README's counter tour: `official` files the moving-in report


def demo_desks(departments: Iterable[str]) -> list[DemoDesk]:
    """``official`` in the counter tour's department, ``official-<department>`` in each other one the forms
    name (a new form's department gets its official without code), and ``privacy-bank``."""
    desks = [DemoDesk("official", "official", DEMO_OFFICE, TOUR_DEPARTMENT)]
    for department in sorted(set(departments) - {TOUR_DEPARTMENT}):
        desks.append(
            DemoDesk(f"official-{department.replace('_', '-')}", "official", DEMO_OFFICE, department)
        )
    desks.append(DemoDesk("privacy-bank", "privacy_officer", DEMO_BANK))
    return desks


async def seed_demo_desks(settings: Settings) -> list[DemoDesk]:
    """Create the demo's officials and privacy officer and place each official in their department, so the
    README tours need no manual step. Idempotent: an existing account is kept, and an official already in
    the department is not placed (nor audited) again. Runs after ``seed_demo_principals`` (``official``)."""
    from audit import AuditLog
    from document_specs.forms import load_forms
    from document_specs.loader import load_catalog
    from hub.applications.departments import place
    from hub.applications.repository import department_of
    from hub.applications.service import ApplicationService
    from hub.auth.accounts import NumberSealer, create_account
    from hub.auth.models import AccountRow
    from hub.cli.accounts import DemoRefused
    from hub.cli.common import open_sessions
    from hub.keys import load_keyring
    from hub.uow import Trail, transaction

    if settings.is_production:
        raise DemoRefused("demo accounts cannot be created in production")
    forms = load_forms(load_catalog())
    desks = demo_desks(form.department for form in forms.values())
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    engine, sessions = open_sessions(settings)
    try:
        service = ApplicationService(forms, Trail(AuditLog(sessions)), NumberSealer(keys.data_key))
        async with transaction(sessions) as session:
            have = {
                row.username: row.account_id
                for row in (await session.execute(select(AccountRow.username, AccountRow.account_id)))
            }
            for desk in desks:
                if desk.username not in have:
                    created = await create_account(
                        session,
                        username=desk.username,
                        password=desk.password,
                        role=desk.role,
                        display_name=desk.username,
                        org=desk.org,
                    )
                    have[desk.username] = created.account_id
                if desk.department and await department_of(session, have[desk.username]) != desk.department:
                    await place(session, service, desk.username, desk.department)
    finally:
        await engine.dispose()
    return desks


# The README's proxy tour: resident2 files the food business report for resident1, with resident1's seal.
PROXY_TOUR_FORM = "food_business_report"
PROXY_TOUR_PRINCIPAL = "resident1"
PROXY_TOUR_AGENT = "resident2"


@dataclass(frozen=True)
class DemoMandate:
    mandate_id: str
    principal: str
    agent: str
    document_types: tuple[str, ...]


async def seed_demo_mandate(settings: Settings) -> DemoMandate | None:
    """A live mandate from ``resident1`` to ``resident2`` covering the records the proxy tour's form
    (``food_business_report``) reads, granted the way a resident grants one (``POST /v1/me/mandates``: the
    audited consent path, the agent told), so the README's proxy tour needs no manual step. Idempotent: a
    live mandate between the two that covers the form is kept. None when the demo residents do not exist
    (a demo seeded without the sandbox). Runs after ``seed_demo_principals``."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from audit import AuditLog
    from consent import ConsentService
    from document_specs.forms import load_forms
    from document_specs.loader import load_bundles, load_catalog
    from hub.applications.proxy import held_mandate
    from hub.auth.accounts import NumberSealer
    from hub.auth.models import AccountRow
    from hub.auth.tokens import AccountPrincipal
    from hub.cli.accounts import DemoRefused
    from hub.cli.common import open_sessions
    from hub.consents import ConsentApp
    from hub.consents.schemas import MandateIn
    from hub.keys import load_keyring
    from hub.signing import jws_signer
    from hub.uow import Trail, transaction

    if settings.is_production:
        raise DemoRefused("demo mandates cannot be created in production")
    catalog = load_catalog()
    form = load_forms(catalog)[PROXY_TOUR_FORM]
    documents = tuple(sorted({document_type for document_type, _ in form.prefill_documents()}))
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    engine, sessions = open_sessions(settings)
    try:
        rules = ConsentService(
            sealer=NumberSealer(keys.data_key),
            sign_receipt=jws_signer(keys.token_key, "gongyu-consent-receipt+jws"),
        )
        consents = ConsentApp(
            rules, Trail(AuditLog(sessions)), catalog, load_bundles(catalog), settings.public_url
        )
        async with transaction(sessions) as session:
            rows = {
                row.username: row
                for row in (
                    await session.execute(
                        select(AccountRow).where(
                            AccountRow.username.in_((PROXY_TOUR_PRINCIPAL, PROXY_TOUR_AGENT))
                        )
                    )
                ).scalars()
            }
            grantor, agent = rows.get(PROXY_TOUR_PRINCIPAL), rows.get(PROXY_TOUR_AGENT)
            if grantor is None or agent is None or not grantor.subject_commitment:
                return None
            held = await held_mandate(
                session, agent.account_id, documents, principal_commitment=grantor.subject_commitment
            )
            if held is not None:
                return DemoMandate(held.mandate_id, grantor.username, agent.username, documents)
            principal = AccountPrincipal(
                grantor.account_id,
                grantor.role,
                grantor.display_name,
                grantor.org,
                grantor.subject_commitment,
            )
            body = MandateIn(
                agent_username=agent.username,
                document_types=list(documents),
                expires_at=datetime.now(UTC) + timedelta(days=365),
            )
            granted = await consents.grant_mandate(session, principal, body, f"demo-mandate-{uuid.uuid4()}")
            return DemoMandate(str(granted["mandate_id"]), grantor.username, agent.username, documents)
    finally:
        await engine.dispose()
