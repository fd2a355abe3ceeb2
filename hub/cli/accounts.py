"""``gongyu clients`` and ``gongyu accounts``: who may call the hub, and the demo's principals.

API clients and local accounts are stored only as hashes of their secrets; the secret of a new client is
printed once. The demo's clients and accounts live here too, beside the code that creates them.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Annotated, Any

import typer
from sqlalchemy import select, update

from hub.cli.common import console, open_sessions
from hub.settings import Settings

clients_app = typer.Typer(help="API clients (banks, agencies).", no_args_is_help=True)
accounts_app = typer.Typer(
    help="Local accounts for officials, auditors, privacy officers and residents.", no_args_is_help=True
)


DEMO_CLIENTS: list[dict[str, Any]] = [
    {
        "client_id": "demo-bank",
        "client_secret": "demo-bank-secret",
        "name": "Demo Bank (데모은행)",
        "kind": "bank",
        "statutes": ["KR-FTRA-5-2"],
        # Where the bank-flow walk-through in the README sends residents back to.
        "redirect_uris": ["http://127.0.0.1:9000/callback"],
    },
    {
        "client_id": "demo-agency",
        "client_secret": "demo-agency-secret",
        "name": "Demo District Office (데모구청)",
        "kind": "agency",
        "statutes": [
            *("KR-RRA-29-2-1", "KR-FRRA-14-1-1", "KR-NTCA-107", "KR-FBTA-81-13-1"),
            *("KR-LTCA-5", "KR-EGA-36-2", "KR-BA-38", "KR-MVMA-7"),
        ],
    },
]
DEMO_ACCOUNTS = [
    {
        "username": "official",
        "password": "official-demo",
        "role": "official",
        "display_name": "김민원 주무관",
        "org": "Demo District Office (데모구청)",
    },
    {
        "username": "auditor",
        "password": "auditor-demo",
        "role": "auditor",
        "display_name": "박감사",
        "org": "Gongyu audit office",
    },
]


@clients_app.command("add")
def clients_add(
    name: Annotated[str, typer.Option(help="display name of the client system")],
    kind: Annotated[str, typer.Option(help="bank or agency")],
    statute: Annotated[
        list[str] | None, typer.Option(help="statute code the client may cite (repeat)")
    ] = None,
    org: Annotated[str | None, typer.Option(help="organisation (defaults to the name)")] = None,
    redirect_uri: Annotated[list[str] | None, typer.Option(help="registered redirect URI (repeat)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object for scripts")] = False,
) -> None:
    """Register an API client and print its secret once (it is stored only as a hash)."""
    from hub.auth.clients import create_client

    async def run() -> Any:
        state_engine, sessions = open_sessions(Settings())
        try:
            async with sessions() as session, session.begin():
                return await create_client(
                    session, name=name, kind=kind, org=org, statutes=statute, redirect_uris=redirect_uri
                )
        finally:
            await state_engine.dispose()

    try:
        new = asyncio.run(run())
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "client_id": new.client_id,
                    "client_secret": new.client_secret,
                    "kind": new.kind,
                    "statutes": new.statutes,
                }
            )
        )
    else:
        console.print(f"client_id:     [bold]{new.client_id}[/]")
        console.print(f"client_secret: [bold]{new.client_secret}[/]  (shown once; store it now)")


@clients_app.command("webhook")
def clients_webhook(
    client_id: Annotated[str, typer.Argument(help="the client whose consents the endpoint hears of")],
    url: Annotated[str, typer.Argument(help="where the hub POSTs the signed events (https in production)")],
) -> None:
    """Register (or replace) a client's webhook endpoint and print its signing secret once."""
    from hub.auth.models import ClientRow
    from hub.keys import load_keyring
    from hub.notify import webhooks

    settings = Settings()
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)

    async def run() -> tuple[str, str]:
        engine, sessions = open_sessions(settings)
        try:
            async with sessions() as session, session.begin():
                if await session.get(ClientRow, client_id) is None:
                    raise ValueError(f"no client {client_id!r}")
                row, secret = await webhooks.register(
                    session,
                    keys.data_key,
                    client_id,
                    url,
                    production=settings.is_production,
                    allow_private=settings.webhook_allow_private,
                )
                return row.webhook_id, secret
        finally:
            await engine.dispose()

    try:
        webhook_id, secret = asyncio.run(run())
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(f"webhook_id: [bold]{webhook_id}[/]  ({url})")
    console.print(f"secret:     [bold]{secret}[/]  (shown once; store it now)")
    console.print(f"events:     {', '.join(sorted(webhooks.EVENT_TYPES.values()))}")


@accounts_app.command("add")
def accounts_add(
    username: Annotated[str, typer.Option()],
    role: Annotated[
        str,
        typer.Option(
            help="official, auditor, privacy_officer (answers disputes of its --org's accesses) or resident"
        ),
    ],
    display_name: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    org: Annotated[str | None, typer.Option()] = None,
    email: Annotated[
        str | None, typer.Option(help="where a resident's notices are e-mailed too (none: inbox only)")
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="language of the account's e-mail notices: ko, en, ja, zh, th, vi")
    ] = None,
) -> None:
    """Create a local account for the web apps (in production, not with a password the demo publishes)."""
    from hub.auth.accounts import create_account

    if Settings().is_production and published_demo_password(password):
        console.print("[red]error:[/] that is a demo password, published in the README; choose another")
        raise typer.Exit(2)

    async def run() -> None:
        engine, sessions = open_sessions(Settings())
        try:
            async with sessions() as session, session.begin():
                await create_account(
                    session,
                    username=username,
                    password=password,
                    role=role,
                    display_name=display_name,
                    org=org,
                    email=email,
                    language=language,
                )
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(f"account [bold]{username}[/] created")


def published_demo_password(password: str) -> bool:
    """One of the demo's passwords (printed by ``gongyu demo``, in the README), ``resident<n>-demo`` too, and
    the demo desks' ``official-<department>-demo`` and ``privacy-bank-demo`` (hub/cli/sandbox.py)."""
    return (
        password in {a["password"] for a in DEMO_ACCOUNTS}
        or re.fullmatch(r"resident\d+-demo", password) is not None
        or re.fullmatch(r"(official-[a-z-]+|privacy-bank)-demo", password) is not None
    )


def demo_mail(index: int) -> tuple[str, str]:
    """The demo resident's address (a ``.test`` domain, which never routes) and notice language.

    The languages differ on purpose (Korean, English, Japanese, ...) so the demo's mail sink shows the
    templates in more than one language.
    """
    languages = ("ko", "en", "ja", "zh", "th", "vi")
    return f"resident{index}@demo.gongyu.test", languages[(index - 1) % len(languages)]


class DemoRefused(RuntimeError):
    """The demo's principals are never created in production (their passwords are published)."""


async def seed_demo_principals(settings: Settings, residents: list[dict[str, str]]) -> None:
    """Create the demo clients and accounts (``gongyu demo``); refused in production whoever calls it."""
    if settings.is_production:
        raise DemoRefused("demo clients and accounts cannot be created in production")
    from audit import SubjectCommitter
    from hub import resident_number
    from hub.auth.accounts import NumberSealer, create_account
    from hub.auth.clients import create_client
    from hub.auth.models import AccountRow, ClientRow
    from hub.keys import load_keyring

    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    engine, sessions = open_sessions(settings)
    try:
        async with sessions() as session, session.begin():
            have_clients = set((await session.execute(select(ClientRow.client_id))).scalars())
            for client in DEMO_CLIENTS:
                if client["client_id"] not in have_clients:
                    await create_client(session, **client)
            have_accounts = set((await session.execute(select(AccountRow.username))).scalars())
            for account in DEMO_ACCOUNTS:
                if account["username"] not in have_accounts:
                    await create_account(session, **account)
            committer, sealer = SubjectCommitter(keys.pepper), NumberSealer(keys.data_key)
            for i, resident in enumerate(residents, start=1):
                username = f"resident{i}"
                email, language = demo_mail(i)
                if username in have_accounts:
                    # A demo set up before accounts had addresses gets its demo address now.
                    await session.execute(
                        update(AccountRow)
                        .where(AccountRow.username == username, AccountRow.email.is_(None))
                        .values(email=email, language=language)
                    )
                    continue
                normalized = resident_number.normalize(resident["resident_number"])
                await create_account(
                    session,
                    username=username,
                    password=f"{username}-demo",
                    role="resident",
                    display_name=resident["name_ko"],
                    subject_commitment=committer.commit(normalized),
                    resident_number_sealed=sealer.seal(normalized),
                    email=email,
                    language=language,
                )
    finally:
        await engine.dispose()
