"""A case's files as the people on the case see them: its applicant and the officials of its department.

``AttachmentStore`` knows files and their encryption but not who may touch which case; this module joins the
two. Whoever may see a case (``ApplicationService.case``: the applicant, or an official placed in its
department) may list and view its files; the applicant adds attachments (and, where the form lets a proxy
apply, the seal image, and only while they hold a live mandate covering the form's records: the seal says
they act for someone), an official adds scans of paper handed in at the desk. The retention is the form
spec's (``retention_days``), counted from the upload, and every event carries the applicant's subject
commitment so that the files show in their access history.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from hub.actors import account_actor
from hub.applications.files import AttachmentStore, FileActor, FileKind, OpenedFile, StoredFile
from hub.applications.lifecycle import FINAL_STATES
from hub.applications.proxy import held_mandate
from hub.applications.service import ApplicationService
from hub.auth.tokens import AccountPrincipal
from hub.errors import Problem

KINDS_BY_ROLE: Final[dict[str, tuple[FileKind, ...]]] = {
    "resident": ("attachment", "seal"),
    "official": ("scan", "attachment"),
}


class CaseFiles:
    def __init__(self, applications: ApplicationService, files: AttachmentStore) -> None:
        self.applications = applications
        self.files = files

    async def attach(
        self,
        session: AsyncSession,
        account: AccountPrincipal,
        application_id: str,
        kind: FileKind,
        data: bytes,
        request_id: str,
    ) -> StoredFile:
        """Add a file to an open case, checked, encrypted and recorded in the caller's transaction.

        The case's row is locked first, like a move's: a file cannot slip in beside the move that closes the
        case (and so miss the start of its retention).
        """
        row = await self.applications.case_locked(session, account, application_id)
        if kind not in KINDS_BY_ROLE.get(account.role, ()):
            raise Problem(403, "case-forbidden", reason_code="file_kind")
        if row.status in FINAL_STATES:
            raise Problem(403, "case-forbidden", reason_code="closed")
        form = self.applications.form(row.form_type)
        actor = FileActor.of(account_actor(account))
        if kind == "seal":
            if not form.proxy_allowed or not row.principal_commitment:
                raise Problem(403, "case-forbidden", reason_code="no_proxy")
            documents = {document_type for document_type, _ in form.prefill_documents()}
            held = await held_mandate(
                session, account.account_id, documents, principal_commitment=row.principal_commitment
            )
            if held is None:
                raise Problem(403, "case-forbidden", reason_code="no_mandate")
            return await self.files.store_seal(
                session,
                case_id=row.application_id,
                data=data,
                actor=actor,
                retention_days=None,  # kept until the case ends, then its retention
                request_id=request_id,
                subject_commitment=row.subject_commitment,
            )
        return await self.files.store(
            session,
            case_id=row.application_id,
            kind=kind,
            data=data,
            actor=actor,
            retention_days=None,  # kept until the case ends, then its retention
            request_id=request_id,
            subject_commitment=row.subject_commitment,
        )

    async def listing(
        self, session: AsyncSession, account: AccountPrincipal, application_id: str
    ) -> list[StoredFile]:
        row, _ = await self.applications.case(session, account, application_id)
        return await self.files.files_of(session, row.application_id)

    async def view(
        self,
        session: AsyncSession,
        account: AccountPrincipal,
        application_id: str,
        file_id: str,
        request_id: str,
    ) -> OpenedFile:
        """Decrypt one file of the case for the caller; the view is an audit event of the transaction."""
        row, _ = await self.applications.case(session, account, application_id)
        return await self.files.open(
            session,
            file_id,
            case_id=row.application_id,
            actor=FileActor.of(account_actor(account)),
            request_id=request_id,
        )
