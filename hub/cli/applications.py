"""``gongyu applications``: the civil applications' housekeeping (retention purge, officials' departments)
and their keys.

The purge goes through ``AttachmentStore.purge``, one file per transaction with its audit event, so an
interrupted run leaves every file either purged and recorded or untouched; it is safe to run again, and two
runs at once purge each file once (the row is locked, then gone). A case's files are due when the form's
retention has run from the case's end (completion or withdrawal); an open case's files have no end date yet
and are never due. The same run forgets filing requests' idempotency keys past their 24 hours.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.applications.files import AttachmentStore
from hub.cli.common import console, counted_progress, open_sessions
from hub.settings import Settings

applications_app = typer.Typer(
    help="Civil applications: retention purge, officials' departments and keys.", no_args_is_help=True
)

# A ciphertext without its row is only swept once it is this old, so a store still in its transaction is
# never mistaken for an orphan.
ORPHAN_GRACE = timedelta(hours=1)


@dataclass
class PurgeReport:
    purged: int = 0
    skipped: int = 0
    orphans: int = 0
    keys: int = 0


async def purge_expired(
    store: AttachmentStore,
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    *,
    dry_run: bool = False,
) -> PurgeReport:
    """Purge every file whose retention ended by ``now`` (each in its own audited transaction), then sweep
    orphaned ciphertexts. Shows a progress bar on stderr."""
    from hub.uow import transaction

    report = PurgeReport()
    async with sessions() as session:
        due = await store.due(session, now)
        orphans = await store.orphans(session, now - ORPHAN_GRACE)
    if dry_run:
        return PurgeReport(skipped=len(due), orphans=len(orphans))
    request_id = f"cli-purge-{uuid.uuid4()}"
    with counted_progress("purging expired application files") as progress:
        task = progress.add_task("purge", total=len(due))
        for file_id in due:
            async with transaction(sessions) as session:
                done = await store.purge(session, file_id, now=now, request_id=request_id)
            if done:
                store.unlink(file_id)  # after the commit: the row (and the wrapped key) is gone for good
                report.purged += 1
            else:
                report.skipped += 1
            progress.advance(task)
    for name in orphans:
        store.unlink(name)
        report.orphans += 1
    from hub.applications.idempotency import forget_expired

    async with transaction(sessions) as session:
        report.keys = await forget_expired(session, now)
    return report


@applications_app.command("purge")
def purge(
    now: Annotated[
        datetime | None, typer.Option(help="purge as of this time (UTC, ISO 8601); default: now")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would be purged, change nothing")
    ] = False,
) -> None:
    """Delete attachments and scans whose retention has ended (counted from their case's completion or
    withdrawal; an open case's files are never due), one audited transaction per file."""
    from audit import AuditLog
    from hub.uow import Trail

    settings = Settings()
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)

    async def run() -> PurgeReport:
        engine, sessions = open_sessions(settings)
        try:
            store = AttachmentStore.for_hub(settings, Trail(AuditLog(sessions)))
            return await purge_expired(store, sessions, moment, dry_run=dry_run)
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    verb = "would purge" if dry_run else "purged"
    count = report.skipped if dry_run else report.purged
    console.print(f"{verb} {count} file(s); {report.orphans} orphaned ciphertext(s) swept")
    summary = {"purged": report.purged, "due": count, "orphans": report.orphans}
    summary["idempotency_keys"] = report.keys
    typer.echo(json.dumps(summary))


@applications_app.command("department")
def department(
    username: Annotated[str, typer.Argument(help="an official's account (role official)")],
    department: Annotated[str, typer.Argument(help="a department some form is handled by, e.g. welfare")],
) -> None:
    """Place an official in a department (they see and move only its cases); an audited change."""
    from hub.applications.departments import place_official

    try:
        account_id = asyncio.run(place_official(Settings(), username, department))
    except LookupError:
        console.print(f"[red]error:[/] no official account named {username!r}")
        raise typer.Exit(1) from None
    except ValueError:
        console.print(f"[red]error:[/] no form is handled by a department named {department!r}")
        raise typer.Exit(1) from None
    console.print(f"{username} ({account_id}) now works in {department}")


@applications_app.command("init-keys")
def init_keys() -> None:
    """Create the attachments' master key in the key directory (kept if it exists; 0600)."""
    from hub.keys import APPLICATION_FILES_KEY_FILE, load_application_files_key

    settings = Settings()
    path = settings.effective_key_dir / APPLICATION_FILES_KEY_FILE
    existed = path.exists()
    load_application_files_key(settings.effective_key_dir, create=True)
    console.print(f"{path}: {'kept' if existed else 'created'}")


@applications_app.command("counter-key")
def counter_key(
    org: Annotated[
        str, typer.Argument(help="the office (an official's organisation) the counter belongs to")
    ],
) -> None:
    """Create (or show) a counter's hand-off key pair and print its public key (JWK) on stdout."""
    from hub.applications.handoff import counter_id_for, counter_jwk
    from hub.keys import load_counter_key

    settings = Settings()
    counter_id = counter_id_for(org)
    private = load_counter_key(settings.effective_key_dir, counter_id, create=True)
    assert private is not None
    jwk = counter_jwk(private)
    console.print(f"counter {counter_id}")
    typer.echo(json.dumps(jwk, indent=2))
