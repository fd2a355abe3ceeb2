"""``gongyu``: run, migrate, seed and administer the hub from a terminal."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import create_engine, select

from hub.issuance.cli import doc_app, keys_app
from hub.settings import Settings, async_url, sync_url

app = typer.Typer(help="Gongyu (공유): consent-gated document hub.", no_args_is_help=True)
clients_app = typer.Typer(help="API clients (banks, agencies).", no_args_is_help=True)
sandbox_app = typer.Typer(help="Simulated agencies with synthetic data.", no_args_is_help=True)
accounts_app = typer.Typer(help="Local accounts for officials, auditors and residents.", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(accounts_app, name="accounts")
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
consent_app = typer.Typer(help="Consents and their receipts.", no_args_is_help=True)
app.add_typer(consent_app, name="consent")
app.add_typer(doc_app, name="doc")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
console = Console(stderr=True)

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


@consent_app.command("verify-receipt")
def consent_verify_receipt(
    file: Annotated[Path, typer.Argument(help="file holding the receipt (compact JWS)")],
    jwks: Annotated[
        str | None, typer.Option(help="JWKS file or URL (default: PUBLIC_URL/.well-known/gongyu/keys)")
    ] = None,
) -> None:
    """Check a consent receipt offline against the published keys and print what it attests."""
    import httpx
    import jwt
    from jwt.algorithms import OKPAlgorithm

    source = jwks or f"{Settings().public_url}/.well-known/gongyu/keys"
    try:
        if source.startswith(("http://", "https://")):
            keys = httpx.get(source, timeout=10).raise_for_status().json()["keys"]
        else:
            keys = json.loads(Path(source).read_text())["keys"]
        token = file.read_text().strip()
        kid = jwt.get_unverified_header(token).get("kid")
        jwk = next((k for k in keys if k.get("kid") == kid and k.get("crv") == "Ed25519"), None)
        if jwk is None:
            raise ValueError(f"no published key with kid {kid!r}")
        key = OKPAlgorithm.from_jwk(json.dumps(jwk))
        claims = json.loads(jwt.api_jws.PyJWS().decode(token, key, algorithms=["EdDSA"]))  # type: ignore[arg-type]
    except (OSError, ValueError, KeyError, httpx.HTTPError, jwt.PyJWTError) as exc:
        console.print(f"[red]receipt NOT valid:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"[green]receipt valid[/] (key {kid})")
    typer.echo(json.dumps(claims, indent=2, ensure_ascii=False))


@app.command()
def catalog() -> None:
    """Print the document catalog and bundles as Markdown (the README's table is this output)."""
    from document_specs.loader import load_bundles, load_catalog
    from document_specs.markdown import catalog_markdown

    specs = load_catalog()
    typer.echo(catalog_markdown(specs, load_bundles(specs)), nl=False)


@app.command()
def migrate() -> None:
    """Create or upgrade the hub's database schema (Alembic, to the latest revision)."""
    from hub.migrate import upgrade

    settings = Settings()
    upgrade(settings)
    console.print(
        f"[green]database is at the latest schema[/] ({settings.effective_database_url.split('@')[-1]})"
    )


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
        with Progress(
            TextColumn("[bold]seeding MOIS registry"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("residents", total=total)
            seeded = mois.seed(engine, count=total, progress=lambda n: progress.update(task, completed=n))
            progress.update(task, completed=seeded)
    finally:
        engine.dispose()
    # The other agencies hold records about the same synthetic people.
    from adapters.sandbox import agencies

    with Progress(
        TextColumn("[bold]seeding {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
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
        state_engine, sessions = _sessions(Settings())
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


@accounts_app.command("add")
def accounts_add(
    username: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="official, auditor or resident")],
    display_name: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    org: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a local account for the web apps."""
    from hub.auth.accounts import create_account

    async def run() -> None:
        engine, sessions = _sessions(Settings())
        try:
            async with sessions() as session, session.begin():
                await create_account(
                    session,
                    username=username,
                    password=password,
                    role=role,
                    display_name=display_name,
                    org=org,
                )
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(f"account [bold]{username}[/] created")


def _sessions(settings: Settings) -> Any:
    from hub.db import create_engine as create_async
    from hub.db import session_factory

    engine = create_async(settings.effective_database_url)
    return engine, session_factory(engine)


async def _seed_demo_principals(settings: Settings, residents: list[dict[str, str]]) -> None:
    from audit import SubjectCommitter
    from hub import resident_number
    from hub.auth.accounts import NumberSealer, create_account
    from hub.auth.clients import create_client
    from hub.auth.models import AccountRow, ClientRow
    from hub.keys import load_keyring

    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    engine, sessions = _sessions(settings)
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
                if username in have_accounts:
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
                )
    finally:
        await engine.dispose()


@audit_app.command("tail")
def audit_tail(
    last: Annotated[int, typer.Option(min=1, max=1000, help="how many of the newest events")] = 10,
) -> None:
    """Show the newest audit events (subjects appear only as keyed commitments)."""
    from rich.table import Table

    from audit import AuditLog

    async def run() -> list[dict[str, Any]]:
        engine, sessions = _sessions(Settings())
        try:
            return await AuditLog(sessions).recent(last)
        finally:
            await engine.dispose()

    table = Table("seq", "time (UTC)", "actor", "document / view", "basis", "outcome", "reason", "subject")
    for row in asyncio.run(run()):
        table.add_row(
            str(row["seq"]),
            str(row["occurred_at"])[:19],
            str(row["actor_id"]),
            f"{row['document_type']} / {row['view']}",
            str(row["basis"]),
            str(row["outcome"]),
            str(row["reason"]),
            f"{str(row['subject_commitment'])[:12]}…" if row["subject_commitment"] else "-",
        )
    Console(width=200).print(table)


@audit_app.command("verify")
def audit_verify(
    database_url: Annotated[
        str | None, typer.Option(help="the hub database to check (default: GONGYU_DATABASE_URL / embedded)")
    ] = None,
    verifier_key: Annotated[
        str | None, typer.Option(help="the log's verifier key (default: derived from KEY_DIR's log key)")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="verify a running hub over HTTP instead (public endpoints + export)")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="GONGYU_AUDITOR_TOKEN", help="auditor bearer token, with --url")
    ] = None,
) -> None:
    """Recompute the whole Merkle tree from the stored events and check every checkpoint and node.

    With --url, check a running hub from outside: the signed checkpoint, and (with an auditor token) that the
    exported events hash to its root.
    """
    from audit.checkpoint import verifier_key as make_verifier_key
    from audit.verify import verify_log
    from hub.keys import load_keyring

    if url is not None:
        _verify_remote(url, token, verifier_key)
        return

    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": async_url(database_url)})
    if verifier_key is None:
        keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
        verifier_key = make_verifier_key(settings.origin, keys.log_key.public_key)

    async def run() -> Any:
        engine, sessions = _sessions(settings)
        try:
            with Progress(
                TextColumn("[bold]verifying leaves"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("leaves", total=None)
                return await verify_log(
                    sessions,
                    verifier_key,
                    lambda done, total: progress.update(task, completed=done, total=total),
                )
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    for finding in report.findings[:200]:
        console.print(
            f"[red]{finding.kind}[/] leaf={finding.leaf_index if finding.leaf_index is not None else '-'}"
            f"  {finding.detail}"
        )
    summary = (
        f"{report.leaves_checked} leaves, {report.nodes_checked} nodes, "
        f"{report.checkpoints_checked} checkpoints (tree size {report.tree_size})"
    )
    if report.ok:
        console.print(f"[green]log verified[/]: {summary}")
        return
    console.print(f"[red]log verification FAILED[/]: {len(report.findings)} finding(s); {summary}")
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option(help="file to write the export to")],
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "jsonl",
    since: Annotated[datetime | None, typer.Option("--from", help="from (ISO 8601, UTC if no zone)")] = None,
    until: Annotated[datetime | None, typer.Option("--to", help="until, exclusive")] = None,
    org: Annotated[str | None, typer.Option(help="actor organisation")] = None,
    document_type: Annotated[str | None, typer.Option(help="document type")] = None,
    kind: Annotated[str | None, typer.Option(help="event kind (lookup, export, ...)")] = None,
    operator: Annotated[str, typer.Option(help="who is exporting (recorded in the audit log)")] = "cli",
) -> None:
    """Export events to a file plus a signed manifest (FILE.manifest.json), as the API does."""
    import base64
    import hashlib

    from audit import AuditLog
    from audit.export import ExportFilter, Format, export_event, manifest
    from audit.service import AuditReader
    from audit.signer import LogSigner
    from hub.keys import load_keyring
    from hub.signing import MANIFEST_TYP, jws_signer

    if fmt not in ("csv", "jsonl"):
        console.print("[red]error:[/] --format must be csv or jsonl")
        raise typer.Exit(2)
    settings = Settings()
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)

    def utc(moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment

    filters = ExportFilter(
        since=utc(since), until=utc(until), org=org, document_type=document_type, kind=kind
    )
    export_format: Format = "csv" if fmt == "csv" else "jsonl"

    async def run() -> dict[str, Any]:
        engine, sessions = _sessions(settings)
        try:
            reader = AuditReader(sessions, LogSigner(settings.origin, keys.log_key.private_key))
            latest = await reader.latest_checkpoint()
            if latest is None:
                raise typer.BadParameter("the log has no checkpoint yet; is the hub's integrator running?")
            size = latest.tree_size
            await AuditLog(sessions).append(export_event(filters, export_format, size, operator, None))
            digest, written = hashlib.sha256(), 0
            with (
                out.open("wb") as handle,
                Progress(
                    TextColumn("[bold]exporting"),
                    BarColumn(),
                    TextColumn("{task.completed:,} bytes"),
                    TimeElapsedColumn(),
                    console=console,
                ) as progress,
            ):
                task = progress.add_task("export", total=None)
                async for chunk in reader.export_stream(filters, size, export_format):
                    handle.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    progress.update(task, completed=written)
            summary = await manifest(
                sessions, filters, size, base64.b64encode(latest.root_hash).decode(), export_format
            )
            if summary.sha256 != digest.hexdigest():
                raise RuntimeError("the log changed under the export; run it again")
            signature = jws_signer(keys.token_key, MANIFEST_TYP)(summary.canonical())
            from dataclasses import asdict

            return {"manifest": asdict(summary), "jws": signature}
        finally:
            await engine.dispose()

    signed = asyncio.run(run())
    manifest_path = out.with_name(out.name + ".manifest.json")
    manifest_path.write_text(json.dumps(signed, indent=2, ensure_ascii=False) + "\n")
    console.print(
        f"[green]exported[/] {signed['manifest']['rows']} events to {out} (manifest: {manifest_path})"
    )


def _verify_remote(url: str, token: str | None, verifier_key: str | None) -> None:
    import httpx

    from audit.remote import verify_remote

    try:
        with Progress(
            TextColumn("[bold]verifying exported leaves"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("leaves", total=None)
            report = verify_remote(
                url.rstrip("/"),
                token,
                verifier_key,
                lambda done, total: progress.update(task, completed=done, total=total),
            )
    except httpx.HTTPError as exc:
        console.print(f"[red]error:[/] could not read the log at {url}: {exc}")
        raise typer.Exit(2) from None
    if not report.key_pinned:
        console.print(
            "[yellow]note:[/] the verifier key came from the hub itself; pin it with --verifier-key"
        )
    for problem in report.problems:
        console.print(f"[red]{problem}[/]")
    if not report.ok:
        raise typer.Exit(1)
    what = (
        f"{report.leaves_checked} leaves match"
        if token
        else "signature only (no --token: leaves not checked)"
    )
    console.print(f"[green]checkpoint verified[/] at tree size {report.tree_size}; {what}")


@audit_app.command("seed-synthetic")
def audit_seed_synthetic(
    count: Annotated[int, typer.Option(min=1, max=50_000_000, help="synthetic events to append")] = 1_000_000,
    rebuild_indexes: Annotated[
        bool,
        typer.Option(
            help="PostgreSQL: drop/rebuild event indexes around the load (only on an unused database)"
        ),
    ] = False,
) -> None:
    """Append synthetic, already integrated events (with nodes and signed checkpoints), for benchmarks."""
    from audit.synthetic import seed_with_progress
    from hub.keys import load_keyring

    settings = Settings()
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    size = seed_with_progress(
        sync_url(settings.effective_database_url),
        count,
        settings.origin,
        keys.log_key.private_key,
        console,
        rebuild_indexes=rebuild_indexes,
    )
    console.print(f"[green]seeded[/] {count:,} events (tree size {size:,})")


@audit_app.command("prove")
def audit_prove(
    leaf: Annotated[int, typer.Option(min=0, help="leaf index")],
    tree_size: Annotated[int | None, typer.Option(help="tree size (default: latest checkpoint)")] = None,
) -> None:
    """Print an inclusion proof for one leaf (JSON), checked locally against the latest checkpoint."""
    import base64

    from audit.merkle import leaf_hash, verify_inclusion
    from audit.service import AuditReader, BadRange
    from audit.signer import LogSigner
    from hub.keys import load_keyring

    settings = Settings()
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)

    async def run() -> dict[str, Any]:
        engine, sessions = _sessions(settings)
        try:
            reader = AuditReader(sessions, LogSigner(settings.origin, keys.log_key.private_key))
            latest = await reader.latest_checkpoint()
            size, hashes = await reader.inclusion_proof(leaf, tree_size)
            found = await reader.leaf(leaf)
            assert found is not None and latest is not None
            if size == latest.tree_size:
                verify_inclusion(leaf_hash(found.leaf_bytes), leaf, size, hashes, latest.root_hash)
            return {
                "leaf_index": leaf,
                "tree_size": size,
                "leaf_hash": base64.b64encode(leaf_hash(found.leaf_bytes)).decode(),
                "hashes": [base64.b64encode(h).decode() for h in hashes],
                "checkpoint": latest.note,
            }
        finally:
            await engine.dispose()

    try:
        typer.echo(json.dumps(asyncio.run(run()), indent=2, ensure_ascii=False))
    except BadRange as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


@app.command()
def demo(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="start the server when ready")
    ] = True,
) -> None:
    """Set everything up on the embedded database (keys, schema, sandbox data, demo users) and serve."""
    from adapters.sandbox import mois
    from hub.keys import load_keyring
    from hub.migrate import upgrade

    settings = Settings()
    load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    console.print(f"keys in {settings.effective_key_dir}")
    upgrade(settings)
    seed_sandbox(settings)
    engine = create_engine(sync_url(settings.agency_database_url("mois")))
    try:
        residents = mois.demo_residents(engine, 3)
    finally:
        engine.dispose()
    asyncio.run(_seed_demo_principals(settings, residents))
    from hub.issuance import fonts

    fonts.register()  # the one-time font conversion (~15 s) now, not on the first PDF
    base = f"http://{host}:{port}"
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
    for i, resident in enumerate(residents, start=1):
        console.print(
            f"resident{i} / resident{i}-demo  {resident['name_ko']}  {resident['resident_number']} "
            "(synthetic)"
        )
    if serve_after:
        serve(host=host, port=port, workers=1)


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=32)] = 1,
) -> None:
    """Run the HTTP server (uvicorn); the schema must be migrated first."""
    import uvicorn

    uvicorn.run(
        "hub.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    app()
