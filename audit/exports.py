"""The export as a use case: pin it to a checkpoint, put it on record, stream it, sign its manifest.

Apart from ``audit.export`` (the rows, CSV/JSONL encoding and manifest arithmetic) because it stands above the
reader: ``AuditReader`` serves exports through ``audit.export``, and this service uses the reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit.export import ExportBody, Exporter, Format, Manifest, NoCheckpoint, export_event
from audit.filters import EventFilter
from audit.log import AuditLog, AuditUnavailable
from audit.proofs import BadRange
from audit.service import AuditReader


@dataclass(frozen=True)
class SignedManifest:
    manifest: Manifest
    jws: str

    def as_dict(self) -> dict[str, Any]:
        """The shape the API answers and the console and CLI write to ``….manifest.json``."""
        return {"manifest": asdict(self.manifest), "jws": self.jws}


class ExportService:
    """Filters in; a pinned, audited body and its signed manifest out.

    ``sign_manifest`` is handed in (the hub signs with its token key) because the audit package holds no hub
    keys. Errors are the package's own: ``NoCheckpoint``, ``BadRange`` (a size beyond the published log)
    and ``AuditUnavailable``; each face turns them into its own answer.
    """

    def __init__(self, reader: AuditReader, log: AuditLog, sign_manifest: Callable[[bytes], str]) -> None:
        self._reader = reader
        self._log = log
        self._sign = sign_manifest

    async def pin(self, tree_size: int | None) -> int:
        """``tree_size``, or the latest checkpoint's when None, checked against the published log."""
        latest = await self._reader.latest_checkpoint()
        if latest is None:
            raise NoCheckpoint("the log has no checkpoint yet")
        size = latest.tree_size if tree_size is None else tree_size
        if not 0 <= size <= latest.tree_size:
            raise BadRange(f"0 <= tree_size <= {latest.tree_size}")
        return size

    async def open(
        self,
        session: AsyncSession,
        filters: EventFilter,
        fmt: Format,
        tree_size: int | None,
        exporter: Exporter,
    ) -> ExportBody:
        """Pin the export and write its audit event in ``session``'s transaction (``append_in``).

        The event commits with the caller's unit of work; the caller sends the body only after that commit.
        ``AuditUnavailable`` if the event could not be written (the caller's transaction is then unusable and
        must be rolled back, releasing nothing).
        """
        size = await self.pin(tree_size)
        event = export_event(filters, fmt, size, exporter.actor_id, exporter.actor_org, exporter.request_id)
        try:
            await self._log.append_in(session, event)
        except Exception as exc:  # any failure means the access is not on record: fail closed
            raise AuditUnavailable(type(exc).__name__) from None
        return ExportBody(size, fmt, filters, self._reader.export_stream(filters, size, fmt))

    async def signed_manifest(
        self, filters: EventFilter, fmt: Format, tree_size: int | None
    ) -> SignedManifest:
        """The manifest of the export with these parameters and the hub's JWS over its canonical bytes.

        Computing it reads the same rows but releases nothing new (the body's hash, not the body), so it is
        not itself an access and writes no event.
        """
        size = await self.pin(tree_size)
        summary = await self._reader.export_manifest(filters, size, fmt)
        return SignedManifest(summary, self._sign(summary.canonical()))
