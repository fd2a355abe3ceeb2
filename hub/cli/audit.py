"""``gongyu audit``: read, verify, export and prove the audit log from a terminal.

The export goes through ``audit.exports.ExportService``, the same orchestration the API and the auditor
console use: pinned to the latest checkpoint, recorded as an access (committed before the first byte is
written) and delivered with the same signed manifest.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hub.cli.common import console, counted_progress, open_sessions
from hub.settings import Settings, async_url, sync_url

audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)


@audit_app.command("tail")
def audit_tail(
    last: Annotated[int, typer.Option(min=1, max=1000, help="how many of the newest events")] = 10,
) -> None:
    """Show the newest audit events (subjects appear only as keyed commitments)."""
    from rich.table import Table

    from audit import AuditLog

    async def run() -> list[dict[str, Any]]:
        engine, sessions = open_sessions(Settings())
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
        str | None,
        typer.Option(envvar="GONGYU_AUDITOR_TOKEN", help="auditor bearer token, with --url or --tiles"),
    ] = None,
    since_checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--since-checkpoint",
            exists=True,
            dir_okay=False,
            help="a checkpoint you already trust (signed note): check only the leaves after it",
        ),
    ] = None,
    save_checkpoint: Annotated[
        Path | None,
        typer.Option(help="after a clean run, write the latest checkpoint here (trust it next time)"),
    ] = None,
    tiles: Annotated[
        str | None, typer.Option(help="verify a log from its C2SP tiles at this URL prefix instead")
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness",
            help="a witness vkey whose cosignature the checkpoint must carry; repeatable (default: "
            "GONGYU_WITNESSES, or with --url/--tiles the hub's /v1/audit/witnesses)",
        ),
    ] = None,
    quorum: Annotated[
        int | None, typer.Option(min=1, help="valid cosignatures required (default: the hub's, else all)")
    ] = None,
) -> None:
    """Recompute the whole Merkle tree from the stored events and check every checkpoint and node.

    With --since-checkpoint, trust that checkpoint and check only what came after it: the new leaves from
    their rows, and a consistency proof from it to the latest checkpoint (seconds for a day's leaves). With
    --url, check a running hub from outside: the signed checkpoint, and (with an auditor token) that the
    exported events hash to its root. With --tiles, rebuild the tree from the log's tiles alone.
    """
    from audit.checkpoint import verifier_key as make_verifier_key
    from audit.verify import UntrustedCheckpoint, verify_log, verify_since
    from hub.keys import load_keyring

    if url is not None:
        _verify_remote(url, token, verifier_key)
        _witnesses_remote(url, verifier_key, witness, quorum)
        return
    if tiles is not None:
        note = _verify_tiles(tiles, token, verifier_key, save_checkpoint)
        _witnesses_remote(tiles, verifier_key, witness, quorum, note)
        return

    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": async_url(database_url)})
    if verifier_key is None:
        keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
        verifier_key = make_verifier_key(settings.origin, keys.log_key.public_key)

    async def run() -> Any:
        engine, sessions = open_sessions(settings)
        try:
            with counted_progress("verifying leaves") as progress:
                task = progress.add_task("leaves", total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                if trusted_note is not None:
                    return await verify_since(sessions, verifier_key, trusted_note, advance)
                return await verify_log(sessions, verifier_key, advance)
        finally:
            await engine.dispose()

    trusted_note = since_checkpoint.read_text(encoding="utf-8") if since_checkpoint else None
    try:
        report = asyncio.run(run())
    except UntrustedCheckpoint as exc:
        console.print(f"[red]refused:[/] {since_checkpoint} is not a checkpoint of this log: {exc}")
        raise typer.Exit(2) from None
    for finding in report.findings[:200]:
        console.print(
            f"[red]{finding.kind}[/] leaf={finding.leaf_index if finding.leaf_index is not None else '-'}"
            f"  {finding.detail}"
        )
    summary = (
        f"{report.leaves_checked} leaves, {report.nodes_checked} nodes, "
        f"{report.checkpoints_checked} checkpoints (tree size {report.tree_size})"
    )
    if report.trusted_size is not None:
        summary += f"; trusted checkpoint at size {report.trusted_size}, only the leaves after it read"
    if report.ok:
        console.print(f"[green]log verified[/]: {summary}")
        _witnesses_local(settings, witness, quorum)
        if save_checkpoint is not None and report.latest_note is not None:
            save_checkpoint.write_text(report.latest_note, encoding="utf-8")
            console.print(f"latest checkpoint written to {save_checkpoint}")
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
    import hashlib

    from audit import AuditLog, AuditUnavailable
    from audit.export import Exporter, Format, NoCheckpoint
    from audit.exports import ExportService
    from audit.filters import EventFilter
    from audit.service import AuditReader
    from audit.signer import LogSigner
    from hub.errors import Problem
    from hub.keys import load_keyring
    from hub.signing import MANIFEST_TYP, jws_signer
    from hub.uow import transaction

    if fmt not in ("csv", "jsonl"):
        console.print("[red]error:[/] --format must be csv or jsonl")
        raise typer.Exit(2)
    settings = Settings()
    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)

    def utc(moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment

    filters = EventFilter(since=utc(since), until=utc(until), org=org, document_type=document_type, kind=kind)
    export_format: Format = "csv" if fmt == "csv" else "jsonl"

    async def run() -> dict[str, Any]:
        engine, sessions = open_sessions(settings)
        try:
            reader = AuditReader(sessions, LogSigner(settings.origin, keys.log_key.private_key))
            exports = ExportService(reader, AuditLog(sessions), jws_signer(keys.token_key, MANIFEST_TYP))
            # The export's event commits (the unit of work ends) before the first byte is written.
            async with transaction(sessions) as session:
                body = await exports.open(session, filters, export_format, None, Exporter(operator))
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
                async for chunk in body.chunks:
                    handle.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    progress.update(task, completed=written)
            signed = await exports.signed_manifest(filters, export_format, body.tree_size)
            if signed.manifest.sha256 != digest.hexdigest():
                raise RuntimeError("the log changed under the export; run it again")
            return signed.as_dict()
        finally:
            await engine.dispose()

    try:
        signed = asyncio.run(run())
    except NoCheckpoint:
        raise typer.BadParameter("the log has no checkpoint yet; is the hub's integrator running?") from None
    except (AuditUnavailable, Problem):  # the export's event could not be written or committed
        console.print("[red]error:[/] the audit log is unavailable; nothing was exported")
        raise typer.Exit(1) from None
    manifest_path = out.with_name(out.name + ".manifest.json")
    manifest_path.write_text(json.dumps(signed, indent=2, ensure_ascii=False) + "\n")
    console.print(
        f"[green]exported[/] {signed['manifest']['rows']} events to {out} (manifest: {manifest_path})"
    )


def _verify_remote(url: str, token: str | None, verifier_key: str | None) -> None:
    import httpx

    from audit.remote import verify_remote

    try:
        with counted_progress("verifying exported leaves") as progress:
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


def _witnesses_local(settings: Settings, vkeys: list[str] | None, quorum: int | None) -> None:
    """The checkpoint the hub serves must carry the quorum of cosignatures (else exit 1, naming who lacks)."""
    from audit.cosignatures import served_checkpoint
    from audit.witness_check import parse_witnesses

    if not vkeys:
        vkeys = [w.vkey for w in settings.witnesses]
        quorum = quorum or (settings.effective_witness_quorum if vkeys else None)
    if not vkeys:
        return
    ids = [(c.name, c.key_id.hex()) for c in parse_witnesses(vkeys)]

    async def served() -> tuple[int, str] | None:
        engine, sessions = open_sessions(settings)
        try:
            async with sessions() as session:
                return await served_checkpoint(session, ids, quorum or len(ids))
        finally:
            await engine.dispose()

    found = asyncio.run(served())
    _require_witnesses(found[1] if found else None, vkeys, quorum)


def _witnesses_remote(
    base: str, verifier_key: str | None, vkeys: list[str] | None, quorum: int | None, note: str | None = None
) -> None:
    """Check the cosignatures on a running hub's checkpoint; witness keys default to what the hub names."""
    import httpx

    from audit.checkpoint import CheckpointError, verify_checkpoint

    with httpx.Client(base_url=base.rstrip("/"), timeout=30) as http:
        try:
            if not vkeys:
                listed = http.get("/v1/audit/witnesses").raise_for_status().json()
                vkeys = [w["vkey"] for w in listed["witnesses"]]
                quorum = quorum or listed["quorum"]
                if vkeys:
                    console.print("[yellow]note:[/] witness keys from the hub itself: pin them (--witness)")
            if not vkeys:
                return
            key = verifier_key or http.get("/v1/audit/verifier-key").raise_for_status().text.strip()
            if note is None:
                note = http.get("/v1/audit/checkpoint").raise_for_status().text
        except httpx.HTTPError as exc:
            console.print(f"[red]error:[/] could not read the checkpoint's witnesses at {base}: {exc}")
            raise typer.Exit(2) from None
    try:
        verify_checkpoint(note, key)
    except CheckpointError as exc:
        console.print(f"[red]checkpoint: {exc}[/]")
        raise typer.Exit(1) from None
    _require_witnesses(note, vkeys, quorum)


def _require_witnesses(note: str | None, vkeys: list[str], quorum: int | None) -> None:
    from audit.checkpoint import CheckpointError
    from audit.witness_check import check_cosignatures

    if note is None:
        console.print("[red]witnesses: the log has no checkpoint to check[/]")
        raise typer.Exit(1)
    try:
        check = check_cosignatures(note, vkeys, quorum)
    except CheckpointError as exc:
        console.print(f"[red]witnesses: {exc}[/]")
        raise typer.Exit(1) from None
    for problem in check.problems():
        console.print(f"[red]{problem}[/]")
    if not check.ok:
        console.print(f"[red]witness check FAILED[/]: {len(check.valid)} valid, {check.quorum} required")
        raise typer.Exit(1)
    console.print(
        f"[green]witnessed[/]: {len(check.valid)} valid cosignatures (quorum {check.quorum}): "
        + ", ".join(check.valid)
    )


def _verify_tiles(prefix: str, token: str | None, verifier_key: str | None, save: Path | None) -> str | None:
    import httpx

    from audit.remote import verify_tiles

    try:
        with counted_progress("rebuilding the tree from tiles") as progress:
            task = progress.add_task("leaves", total=None)
            report, tiles, note = verify_tiles(
                prefix.rstrip("/"),
                token,
                verifier_key,
                lambda done, total: progress.update(task, completed=done, total=total),
            )
    except httpx.HTTPError as exc:
        console.print(f"[red]error:[/] could not read the tiles at {prefix}: {exc}")
        raise typer.Exit(2) from None
    if not report.key_pinned:
        console.print(
            "[yellow]note:[/] the verifier key came from the hub itself; pin it with --verifier-key"
        )
    for problem in report.problems[:200]:
        console.print(f"[red]{problem}[/]")
    if not report.ok or tiles is None:
        console.print(f"[red]tiles verification FAILED[/]: {len(report.problems)} problem(s)")
        raise typer.Exit(1)
    entries = f", {tiles.entries_checked} entries hashed" if token else " (no --token: entries not read)"
    console.print(
        f"[green]tiles verified[/] at tree size {report.tree_size}: {tiles.leaves_checked} leaf hashes "
        f"from {tiles.tiles_read} tiles rebuild the signed root{entries}"
    )
    if save is not None and note is not None:
        save.write_text(note, encoding="utf-8")
    return note


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
        engine, sessions = open_sessions(settings)
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
