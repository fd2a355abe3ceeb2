"""Attachments and scanned paper of a case, encrypted at rest, each store, view and purge on the record.

What a resident uploads with an application (and what an official scans from paper handed in at the desk) is
as sensitive as the documents the hub shares, and lives longer. So:

- Only PDF, JPEG and PNG are taken, recognised from the content (magic bytes; a picture is also fully decoded
  by Pillow, a PDF must end with its ``%%EOF`` marker), never from the name or the declared type; size caps
  apply before anything is written.
- Each file is encrypted with AES-256-GCM under a key of its own, random per file; that key is stored only
  wrapped (AES key wrap, RFC 3394) by the master key in the hub's key directory. The file id and case id are
  the associated data, so a blob moved under another row does not open. The disk holds noise without the
  key directory; the database holds noise without it too.
- The SHA-256 of the plaintext goes into the case's audit event, written with the row in the caller's
  transaction (``Trail.record``); each view decrypts in memory, checks that hash and is audited; the purge
  at the end of retention deletes the row (and with it the wrapped key: the bytes on disk are unreadable
  from that commit on) and then the file, one audited transaction per file.

Keyed by an opaque case id string: the case table is another package's; the retention comes from the form spec
through the caller, and is kept on the row as ``retain_until``. A case's files are kept for the form's
retention counted from the case's end (completion or withdrawal), not from the upload: while the case is
open ``retain_until`` is NULL (never due, whatever the clock says), and the move that ends the case sets it
for all the case's files in its own transaction (:func:`start_retention`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from sqlalchemy import DateTime, Index, Integer, LargeBinary, MetaData, String, Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit import AuditEvent
from audit.events import ActorKind, utcnow
from audit.models import NAMING
from consent import Actor
from hub.actors import audit_kind
from hub.applications.seal import clean_seal, decode_image, sniff_image
from hub.errors import Problem
from hub.keys import load_application_files_key
from hub.settings import Settings
from hub.uow import Trail

FileKind = Literal["attachment", "scan", "seal"]
FILE_KINDS: Final = ("attachment", "scan", "seal")
MEDIA_TYPES: Final = {"PDF": "application/pdf", "PNG": "image/png", "JPEG": "image/jpeg"}
MAX_FILE_BYTES: Final = 10 * 1024 * 1024
# A page scanned at 300 dpi (A4) is about 8.7 megapixels; A3 at 300 dpi about 17.5.
MAX_IMAGE_PIXELS: Final = 40_000_000
PDF_MAGIC: Final = b"%PDF-"
_NONCE_BYTES: Final = 12


class FilesBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ApplicationFileRow(FilesBase):
    """One stored file of a case. The content is on disk (``<root>/<file_id>``), encrypted; never here."""

    __tablename__ = "application_files"

    file_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    media_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(40))
    subject_commitment: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # NULL while the case is open: the retention runs from the case's end (see the module docstring).
    retain_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_application_files_case_id", "case_id"),
        Index("ix_application_files_retain_until", "retain_until"),
    )


@dataclass(frozen=True)
class FileActor:
    """Who stores or views a file, as the audit log names them (``hub.actors.audit_kind`` gives the kind)."""

    kind: ActorKind
    id: str
    org: str | None = None

    @classmethod
    def of(cls, actor: Actor) -> FileActor:
        """The hub's one mapping from a signed-in caller to the audit log's actor (``hub.actors``)."""
        return cls(audit_kind(actor), actor.id, actor.org or None)


PURGE_ACTOR: Final = FileActor("system", "applications-purge")


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    case_id: str
    kind: str
    media_type: str
    size: int
    sha256: str
    created_at: datetime
    retain_until: datetime | None

    @classmethod
    def of(cls, row: ApplicationFileRow) -> StoredFile:
        return cls(
            row.file_id,
            row.case_id,
            row.kind,
            row.media_type,
            row.size,
            row.sha256,
            row.created_at,
            row.retain_until,
        )


@dataclass(frozen=True)
class OpenedFile:
    file: StoredFile
    content: bytes
    event_id: str


def sniff(data: bytes) -> str:
    """The media type of an upload from its content: PDF, PNG or JPEG, else ``Problem`` 415 (or 413)."""
    if data.startswith(PDF_MAGIC):
        # A renamed executable or a text file does not start with %PDF-; a truncated PDF lacks its end marker.
        if b"%%EOF" not in data[-1024:]:
            raise Problem(415, "file-type-not-allowed", allowed="PDF, PNG, JPEG")
        return MEDIA_TYPES["PDF"]
    kind = sniff_image(data)
    if kind is None:
        raise Problem(415, "file-type-not-allowed", allowed="PDF, PNG, JPEG")
    decode_image(data, max_pixels=MAX_IMAGE_PIXELS)  # really decodes; refuses bombs before decoding
    return MEDIA_TYPES[kind]


def _aad(file_id: str, case_id: str) -> bytes:
    return f"gongyu-application-file|{file_id}|{case_id}".encode()


class AttachmentStore:
    """Store, open and purge a case's files. Works in the caller's session; never commits (the purge's own
    CLI loop commits one file at a time)."""

    def __init__(self, root: Path, master_key: Callable[[], bytes], trail: Trail) -> None:
        self.root = root
        self._load_master_key = master_key  # read at first use: a hub that never stores a file needs no key
        self._master_key: bytes | None = None
        self.trail = trail

    def _master(self) -> bytes:
        if self._master_key is None:
            self._master_key = self._load_master_key()
        return self._master_key

    @classmethod
    def for_hub(cls, settings: Settings, trail: Trail) -> AttachmentStore:
        """Files under ``<var>/applications/files``; the master key from the key directory (made on first use
        outside production, by ``gongyu applications init-keys`` in production)."""
        key_dir, create = settings.effective_key_dir, not settings.is_production
        return cls(
            settings.var_dir / "applications" / "files",
            lambda: load_application_files_key(key_dir, create=create),
            trail,
        )

    def path_of(self, file_id: str) -> Path:
        return self.root / file_id

    async def store(
        self,
        session: AsyncSession,
        *,
        case_id: str,
        kind: FileKind,
        data: bytes,
        actor: FileActor,
        retention_days: int | None,
        request_id: str,
        subject_commitment: str | None = None,
        now: datetime | None = None,
    ) -> StoredFile:
        """Check, encrypt and write one file, and record it with its SHA-256 in the caller's transaction.

        ``retention_days`` None: the file belongs to an open case, kept until :func:`start_retention` sets
        its end when the case ends; a number: kept that many days from now.

        The ciphertext is written before the row: if the transaction then fails, what is left on disk is an
        orphan nobody can read (its key was never committed), which the purge sweeps.
        """
        if kind not in FILE_KINDS:
            raise ValueError(f"unknown file kind {kind!r}")
        if retention_days is not None and retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        if len(data) > MAX_FILE_BYTES:
            raise Problem(413, "file-too-large", limit=MAX_FILE_BYTES)
        media_type = sniff(data)
        now = now or utcnow()
        file_id = str(uuid.uuid4())
        file_key = AESGCM.generate_key(bit_length=256)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + AESGCM(file_key).encrypt(nonce, data, _aad(file_id, case_id))
        digest = hashlib.sha256(data).hexdigest()
        self._write(file_id, sealed)
        row = ApplicationFileRow(
            file_id=file_id,
            case_id=case_id,
            kind=kind,
            media_type=media_type,
            size=len(data),
            sha256=digest,
            wrapped_key=aes_key_wrap(self._master(), file_key),
            subject_commitment=subject_commitment,
            created_by=actor.id,
            created_at=now,
            retain_until=now + timedelta(days=retention_days) if retention_days is not None else None,
        )
        try:
            session.add(row)
            await session.flush()
            await self._record(session, "application_file_store", row, actor, request_id, "stored")
        except BaseException:
            self.path_of(file_id).unlink(missing_ok=True)
            raise
        return StoredFile.of(row)

    async def store_seal(
        self,
        session: AsyncSession,
        *,
        case_id: str,
        data: bytes,
        actor: FileActor,
        retention_days: int | None,
        request_id: str,
        subject_commitment: str | None = None,
    ) -> StoredFile:
        """A proxy's seal image: checked and re-encoded without metadata (``seal.clean_seal``), then stored
        like any file of the case; the hash recorded is the clean PNG's, the bytes the case shows."""
        cleaned = clean_seal(data)
        return await self.store(
            session,
            case_id=case_id,
            kind="seal",
            data=cleaned.png,
            actor=actor,
            retention_days=retention_days,
            request_id=request_id,
            subject_commitment=subject_commitment,
        )

    async def files_of(self, session: AsyncSession, case_id: str) -> list[StoredFile]:
        rows = await session.scalars(
            select(ApplicationFileRow)
            .where(ApplicationFileRow.case_id == case_id)
            .order_by(ApplicationFileRow.created_at, ApplicationFileRow.file_id)
        )
        return [StoredFile.of(row) for row in rows]

    async def open(
        self, session: AsyncSession, file_id: str, *, case_id: str, actor: FileActor, request_id: str
    ) -> OpenedFile:
        """Decrypt one file of ``case_id`` in memory, check its hash, and record the view.

        The caller has checked that ``actor`` may see the case; a file of another case is "not found", as is a
        file already purged.
        """
        row = await session.get(ApplicationFileRow, file_id)
        if row is None or row.case_id != case_id:
            raise Problem(404, "not-found")
        try:
            sealed = self.path_of(file_id).read_bytes()
            file_key = aes_key_unwrap(self._master(), row.wrapped_key)
            content = AESGCM(file_key).decrypt(
                sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _aad(row.file_id, row.case_id)
            )
        except (OSError, InvalidUnwrap, InvalidTag, ValueError) as exc:  # altered, swapped or missing
            raise FileIntegrityError(file_id) from exc
        if hashlib.sha256(content).hexdigest() != row.sha256:
            raise FileIntegrityError(file_id)
        ref = await self._record(session, "application_file_view", row, actor, request_id, "viewed")
        return OpenedFile(StoredFile.of(row), content, ref)

    async def due(self, session: AsyncSession, now: datetime, limit: int = 10_000) -> list[str]:
        """Ids of files whose retention has ended, oldest first (never a file of an open case: NULL)."""
        found = await session.scalars(
            select(ApplicationFileRow.file_id)
            .where(ApplicationFileRow.retain_until <= now)
            .order_by(ApplicationFileRow.retain_until, ApplicationFileRow.file_id)
            .limit(limit)
        )
        return list(found)

    async def purge(self, session: AsyncSession, file_id: str, *, now: datetime, request_id: str) -> bool:
        """Delete one expired file's row with its audit event (the caller commits, then calls :meth:`unlink`).

        False when the file is gone already or not yet due (a concurrent purge, or a changed retention).
        """
        row = await session.get(ApplicationFileRow, file_id)
        if row is None or row.retain_until is None or _aware(row.retain_until) > now:
            return False
        # Conditional, and counted: of two purges racing for one file only the one that deleted it records it.
        deleted = await session.execute(
            delete(ApplicationFileRow)
            .where(ApplicationFileRow.file_id == file_id, ApplicationFileRow.retain_until <= now)
            .execution_options(synchronize_session=False)  # SQLite's naive times would not compare in Python
        )
        if getattr(deleted, "rowcount", 0) != 1:
            return False
        await self._record(session, "application_file_purge", row, PURGE_ACTOR, request_id, "retention_ended")
        return True

    def unlink(self, file_id: str) -> None:
        """Remove a purged file's ciphertext (already unreadable: its wrapped key went with the row)."""
        self.path_of(file_id).unlink(missing_ok=True)

    async def orphans(self, session: AsyncSession, older_than: datetime) -> list[str]:
        """Ciphertexts on disk with no row (a store whose transaction failed), older than ``older_than``."""
        if not self.root.is_dir():
            return []
        cutoff = older_than.timestamp()
        candidates = [
            p.name
            for p in self.root.iterdir()
            if p.is_file() and _is_id(p.name) and p.stat().st_mtime < cutoff
        ]
        if not candidates:
            return []
        known = set(
            await session.scalars(
                select(ApplicationFileRow.file_id).where(ApplicationFileRow.file_id.in_(candidates))
            )
        )
        return [name for name in candidates if name not in known]

    def _write(self, file_id: str, sealed: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path_of(file_id)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(sealed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    async def _record(
        self,
        session: AsyncSession,
        kind: str,
        row: ApplicationFileRow,
        actor: FileActor,
        request_id: str,
        reason: str,
    ) -> str:
        event = AuditEvent(
            kind=kind,
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_org=actor.org,
            subject_commitment=row.subject_commitment,
            view=row.kind,
            # The file and its plaintext hash: anyone holding the file later can prove it is the one recorded.
            fields=(f"file:{row.file_id}", f"sha256:{row.sha256}"),
            basis=f"application:{row.case_id}",
            outcome="ok",
            reason=reason,
            request_id=request_id,
        )
        return (await self.trail.record(session, event)).event_id


async def start_retention(session: AsyncSession, case_id: str, until: datetime) -> int:
    """The case has ended: its files (those still waiting for that) are kept until ``until``; how many.

    Called in the transaction of the move that ends the case, which holds the case's row lock; a file added
    beside it takes the same lock first, so it is either here already or refused as added to a closed case.
    """
    table = cast(Table, ApplicationFileRow.__table__)  # Core: nothing to synchronise
    changed = await session.execute(
        update(table)
        .where(table.c.case_id == case_id, table.c.retain_until.is_(None))
        .values(retain_until=until)
    )
    return int(getattr(changed, "rowcount", 0) or 0)


class FileIntegrityError(RuntimeError):
    """A stored file that does not decrypt or does not match its recorded hash: never served, always loud."""

    def __init__(self, file_id: str) -> None:
        super().__init__(f"application file {file_id} failed its integrity check")


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _is_id(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False
