"""A case's attachments, scans and seal over HTTP: upload, list, and view (decrypted on the fly, audited).

The upload takes the file itself as the request body (``Content-Type`` is not trusted: the content decides),
at one fixed path so that its body cap (``UPLOAD_CAP``, set in ``hub.app``) can be larger than the 64 KiB of
every other route. The applicant uploads attachments (and a proxy's seal), an official of the handling
department uploads scans of paper; both may list and view. A file of the wrong type or size is refused with
problem+json before anything is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from hub.applications.case_files import CaseFiles
from hub.applications.files import MAX_FILE_BYTES, StoredFile
from hub.auth.tokens import AccountPrincipal
from hub.deps import AccountDep, ResidentDep, SessionDep, StateDep
from hub.errors import Problem
from hub.state import HubState

router = APIRouter(tags=["applications"])

UPLOAD_PATH: Final = "/v1/application-files"
# The file plus nothing: a body over the file cap is refused (413) before it is read.
UPLOAD_CAP: Final = MAX_FILE_BYTES
UUID = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]
_EXTENSIONS: Final = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


class FileOut(BaseModel):
    file_id: str
    application_id: str
    kind: str
    media_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    retain_until: datetime | None  # None while the case is open: the retention runs from its end

    @classmethod
    def of(cls, stored: StoredFile) -> FileOut:
        return cls(
            file_id=stored.file_id,
            application_id=stored.case_id,
            kind=stored.kind,
            media_type=stored.media_type,
            size=stored.size,
            sha256=stored.sha256,
            uploaded_at=stored.created_at,
            retain_until=stored.retain_until,
        )


async def case_party(account: AccountDep) -> AccountPrincipal:
    """Residents and officials; whether this one is on this case is the service's question."""
    if account.role not in ("resident", "official"):
        raise Problem(403, "role-required", role="resident")
    return account


async def current_official(account: AccountDep) -> AccountPrincipal:
    if account.role != "official":
        raise Problem(403, "role-required", role="official")
    return account


PartyDep = Annotated[AccountPrincipal, Depends(case_party)]
OfficialDep = Annotated[AccountPrincipal, Depends(current_official)]


def _case_files(state: HubState) -> CaseFiles:
    return CaseFiles(state.applications, state.files)


def _problems(**codes: str) -> dict[int | str, dict[str, object]]:
    return {
        int(status[1:]): {"description": text, "content": {"application/problem+json": {}}}
        for status, text in codes.items()
    }


@router.post(
    UPLOAD_PATH,
    status_code=201,
    response_model=FileOut,
    responses=_problems(
        s403="not the applicant or an official of the handling department, or a closed case",
        s404="no such application",
        s413="file over the size cap, or a picture over the pixel cap",
        s415="not a PDF, PNG or JPEG by its content",
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in _EXTENSIONS},
        }
    },
)
async def upload(
    request: Request,
    account: PartyDep,
    state: StateDep,
    db: SessionDep,
    application_id: Annotated[str, Query(pattern=r"^[0-9a-f-]{36}$")],
    kind: Annotated[Literal["attachment", "scan", "seal"], Query()] = "attachment",
) -> FileOut:
    """Add a file to a case: the body is the file. Its SHA-256 is in the response and in the audit event."""
    data = await request.body()
    if not data:
        raise Problem(422, "validation-error", errors="body (missing)")
    stored = await _case_files(state).attach(
        db, account, application_id, kind, data, request.state.request_id
    )
    return FileOut.of(stored)


@router.get("/v1/me/applications/{application_id}/files")
async def my_files(
    application_id: UUID, resident: ResidentDep, state: StateDep, db: SessionDep
) -> dict[str, list[FileOut]]:
    """The files of one of my applications (without their content)."""
    files = await _case_files(state).listing(db, resident, application_id)
    return {"files": [FileOut.of(f) for f in files]}


@router.get("/v1/me/applications/{application_id}/files/{file_id}", response_class=Response)
async def my_file(
    application_id: UUID,
    file_id: UUID,
    request: Request,
    resident: ResidentDep,
    state: StateDep,
    db: SessionDep,
) -> Response:
    """One file of my application, decrypted; the view is on the record."""
    return await _content(state, db, resident, application_id, file_id, request)


@router.get("/v1/cases/{application_id}/files")
async def case_files(
    application_id: UUID, official: OfficialDep, state: StateDep, db: SessionDep
) -> dict[str, list[FileOut]]:
    """The files of a case of my department (without their content)."""
    files = await _case_files(state).listing(db, official, application_id)
    return {"files": [FileOut.of(f) for f in files]}


@router.get("/v1/cases/{application_id}/files/{file_id}", response_class=Response)
async def case_file(
    application_id: UUID,
    file_id: UUID,
    request: Request,
    official: OfficialDep,
    state: StateDep,
    db: SessionDep,
) -> Response:
    """One file of a case of my department, decrypted; the view is on the record."""
    return await _content(state, db, official, application_id, file_id, request)


async def _content(
    state: HubState,
    db: SessionDep,
    account: AccountPrincipal,
    application_id: str,
    file_id: str,
    request: Request,
) -> Response:
    opened = await _case_files(state).view(db, account, application_id, file_id, request.state.request_id)
    media = opened.file.media_type
    name = f"{opened.file.kind}-{file_id[:8]}.{_EXTENSIONS.get(media, 'bin')}"
    return Response(
        opened.content,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Audit-Event-Id": opened.event_id,
        },
    )
