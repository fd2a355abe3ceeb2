"""``gongyu serve``, ``demo``, ``migrate`` and ``catalog``: set the hub up and run it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import MutableMapping
from typing import Annotated

import typer
from sqlalchemy import create_engine

from hub.cli.accounts import DEMO_ACCOUNTS, DEMO_CLIENTS, seed_demo_principals
from hub.cli.common import console
from hub.cli.sandbox import seed_demo_desks, seed_demo_mandate, seed_sandbox
from hub.settings import Settings, sync_url


def catalog() -> None:
    """Print the document catalog and bundles as Markdown (the README's table is this output)."""
    from document_specs.loader import load_bundles, load_catalog
    from document_specs.markdown import catalog_markdown

    specs = load_catalog()
    typer.echo(catalog_markdown(specs, load_bundles(specs)), nl=False)


def migrate() -> None:
    """Create or upgrade the hub's database schema (Alembic, to the latest revision)."""
    from hub.migrate import upgrade

    settings = Settings()
    upgrade(settings)
    console.print(
        f"[green]database is at the latest schema[/] ({settings.effective_database_url.split('@')[-1]})"
    )


def demo_public_url(host: str, port: int, environ: MutableMapping[str, str]) -> str:
    """The URL the demo's links are written with (mail, approve_url, the sandbox agencies' base URLs).

    ``GONGYU_PUBLIC_URL`` wins when set; otherwise the address the demo listens on, so that ``--port 8123``
    mails links to :8123 rather than to the default :8000. A wildcard listen address is reached through
    loopback. It is put in ``environ`` because the served app (``hub.app:create_app``, built by uvicorn)
    reads its settings from the environment.
    """
    if environ.get("GONGYU_PUBLIC_URL"):
        return environ["GONGYU_PUBLIC_URL"]
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - mapped to loopback, not bound
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
    environ["GONGYU_PUBLIC_URL"] = url
    return url


def demo(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="start the server when ready")
    ] = True,
    witnesses: Annotated[
        bool, typer.Option("--witnesses/--no-witnesses", help="start two witnesses that cosign checkpoints")
    ] = True,
) -> None:
    """Set everything up on the embedded database (keys, schema, sandbox data, demo users) and serve.

    Refused in production: it creates accounts and clients whose passwords are printed here and in the
    README, and fills agency databases with synthetic residents.
    """
    from adapters.sandbox import mois
    from hub.keys import load_keyring
    from hub.migrate import upgrade

    public_url = demo_public_url(host, port, os.environ)
    settings = Settings()
    if settings.is_production:
        console.print(
            "[red]error:[/] `gongyu demo` is refused in production (GONGYU_ENVIRONMENT=production): it "
            "creates accounts and clients with published passwords. Use `gongyu keys init`, "
            "`gongyu migrate`, `gongyu clients add` and `gongyu accounts add`."
        )
        raise typer.Exit(2)
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    console.print(f"keys in {settings.effective_key_dir}")
    upgrade(settings)
    seed_sandbox(settings)
    engine = create_engine(sync_url(settings.agency_database_url("mois")))
    try:
        residents = mois.demo_residents(engine, 3)
    finally:
        engine.dispose()
    asyncio.run(seed_demo_principals(settings, residents))
    desks = asyncio.run(seed_demo_desks(settings))  # officials in the forms' departments, a privacy officer
    mandate = asyncio.run(seed_demo_mandate(settings))  # the README's proxy tour: resident2 for resident1
    from hub.issuance import fonts

    fonts.warm()  # the one-time font conversions (~25 s on a new machine) now, not on the first PDFs
    base = public_url.rstrip("/")
    console.rule("[bold]Gongyu demo")
    console.print(
        f"API docs:   {base}/docs\nReadiness:  {base}/readyz\nKeys:       {base}/.well-known/gongyu/keys"
    )
    for client in DEMO_CLIENTS:
        console.print(
            f"client {client['client_id']} / {client['client_secret']}  (statutes: "
            f"{', '.join(client['statutes'])})"
        )
    for account in DEMO_ACCOUNTS:
        console.print(f"account {account['username']} / {account['password']}  ({account['role']})")
    for desk in desks:
        where = desk.department or desk.org
        console.print(f"account {desk.username} / {desk.password}  ({desk.role}, {where})")
    for i, resident in enumerate(residents, start=1):
        console.print(
            f"resident{i} / resident{i}-demo  {resident['name_ko']}  {resident['resident_number']} "
            "(synthetic)"
        )
    if mandate is not None:
        console.print(
            f"mandate {mandate.mandate_id}  {mandate.principal} -> {mandate.agent} "
            f"({', '.join(mandate.document_types)}; the proxy tour)"
        )
    if serve_after:
        from hub.notify.mail import MaildirSink

        # The demo's mail host: an SMTP server in this process keeping every notice under var/mail/ (a
        # Maildir, listed at /dev/mail), unless GONGYU_SMTP_URL names a real one.
        sink = None
        if not settings.smtp_url:
            sink = MaildirSink(settings.mail_dir)
            sink.start()
            os.environ["GONGYU_SMTP_URL"] = sink.url
            console.print(f"Mail:       {base}/dev/mail  (stored in {settings.mail_dir}/, SMTP {sink.url})")
        # Two independent witnesses in their own processes, cosigning every checkpoint (hub/cli/witness.py).
        from audit.checkpoint import verifier_key
        from hub.cli.witness import start_demo_witnesses, stop_demo_witnesses

        log_vkey = verifier_key(settings.origin, keys.log_key.public_key)
        witnessing = start_demo_witnesses(settings.var_dir, log_vkey, port) if witnesses else []
        try:
            serve(host=host, port=port, workers=1)
        finally:
            stop_demo_witnesses(witnessing)
            if sink is not None:
                sink.stop()


def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=32)] = 1,
    integrate: Annotated[
        bool,
        typer.Option(
            "--integrator/--no-integrator",
            help="integrate the audit log in each worker (off where `gongyu integrator` runs)",
        ),
    ] = True,
) -> None:
    """Run the HTTP server (uvicorn); the schema must be migrated first."""
    import uvicorn

    if not integrate:
        # The workers are built by uvicorn from the environment (hub.app:create_app): say it there.
        os.environ["GONGYU_INTEGRATOR_INTERVAL_SECONDS"] = "0"

    uvicorn.run(
        "hub.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
    )
