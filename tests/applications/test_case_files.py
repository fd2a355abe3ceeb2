"""A case's files over HTTP: the applicant attaches, the department's official scans, both view (audited);
what is not a PDF, PNG or JPEG by its content is refused with problem+json and nothing is written."""

from __future__ import annotations

import hashlib
import io
import os
import uuid

import httpx
import pytest
from PIL import Image

from hub.state import HubState
from hub.uow import transaction
from tests.applications.support import PERSONAL, TYPED, official_in, principal, proxy_mandate
from tests.conftest import Backend, account_bearer, audit_rows
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

FORM = "basic_pension"  # welfare department; a proxy may apply (seal)
UPLOAD = "/v1/application-files"
PDF = b"%PDF-1.7\n1 0 obj\n<< /Lease (monthly rent 500000) >>\nendobj\ntrailer\n<<>>\n%%EOF\n"


async def _case(state: HubState, username: str = "resident0", mandate_id: str | None = None) -> str:
    resident = await principal(state, username)
    async with transaction(state.sessions) as session:
        row = await state.applications.submit(
            session, resident, FORM, {**TYPED[FORM], **PERSONAL}, "test-files", mandate_id=mandate_id
        )
        return row.application_id


async def _upload(
    api: httpx.AsyncClient,
    headers: dict[str, str],
    case_id: str,
    data: bytes,
    kind: str = "attachment",
    **more: str,
) -> httpx.Response:
    return await api.post(
        UPLOAD,
        params={"application_id": case_id, "kind": kind},
        content=data,
        headers={**headers, "Content-Type": more.get("content_type", "application/octet-stream")},
    )


def _noise_png(side: int = 300) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG")
    return out.getvalue()


async def test_applicant_attaches_and_the_departments_official_views_it_on_the_record(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    case_id = await _case(hub_state)
    resident = account_bearer(hub_state, "resident0")
    created = await _upload(
        api, resident, case_id, PDF, content_type="image/png"
    )  # the declared type is ignored
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["media_type"], body["sha256"]) == ("application/pdf", hashlib.sha256(PDF).hexdigest())
    assert body["retain_until"] is None, "an open case's files wait for its end to start their retention"

    listed = await api.get(f"/v1/me/applications/{case_id}/files", headers=resident)
    assert [f["file_id"] for f in listed.json()["files"]] == [body["file_id"]]

    await official_in(hub_state, "welfare-files", "welfare")
    official = account_bearer(hub_state, "welfare-files")
    seen = await api.get(f"/v1/cases/{case_id}/files/{body['file_id']}", headers=official)
    assert seen.status_code == 200 and seen.content == PDF
    assert seen.headers["content-type"] == "application/pdf" and seen.headers["cache-control"] == "no-store"

    applicant = await principal(hub_state, "resident0")
    events = [r for r in audit_rows(backend) if f"file:{body['file_id']}" in r["fields"]]
    assert [(e["kind"], e["actor_kind"]) for e in events] == [
        ("application_file_store", "resident"),
        ("application_file_view", "official"),
    ]
    assert all(e["subject_commitment"] == applicant.subject_commitment for e in events)
    assert seen.headers["x-audit-event-id"] == events[1]["event_id"]

    scan = await _upload(api, official, case_id, _noise_png(), kind="scan")
    assert scan.status_code == 201, "an official scans paper handed in; over 64 KiB is fine for uploads"
    assert len(_noise_png()) > 64 * 1024


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\0" * 400,
            "application/pdf",
        ),  # setup.exe sent as lease.pdf
        (b"plain text pretending to be a picture\n" * 10, "image/png"),
    ],
    ids=["exe-as-pdf", "text-as-png"],
)
async def test_a_file_of_the_wrong_type_is_refused_with_problem_json_and_not_kept(
    api: httpx.AsyncClient, hub_state: HubState, data: bytes, content_type: str
) -> None:
    case_id = await _case(hub_state)
    resident = account_bearer(hub_state, "resident0")
    refused = await _upload(api, resident, case_id, data, content_type=content_type)
    body = assert_problem(refused, 415, "file-type-not-allowed")
    assert "PDF" in body["detail"]
    english = await api.post(
        UPLOAD,
        params={"application_id": case_id},
        content=data,
        headers={**resident, "Accept-Language": "en", "Content-Type": content_type},
    )
    assert "recognised from their content" in english.json()["detail"]
    listed = await api.get(f"/v1/me/applications/{case_id}/files", headers=resident)
    assert listed.json()["files"] == []


async def test_a_file_over_the_cap_is_refused_before_it_is_read(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    case_id = await _case(hub_state)
    huge = b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024)
    assert_problem(
        await _upload(api, account_bearer(hub_state, "resident0"), case_id, huge), 413, "payload-too-large"
    )


async def test_only_the_people_on_the_case_reach_its_files(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    case_id = await _case(hub_state)
    other_resident = account_bearer(hub_state, "resident1")
    assert_problem(await _upload(api, other_resident, case_id, PDF), 404, "application-not-found")
    listed = await api.get(f"/v1/me/applications/{case_id}/files", headers=other_resident)
    assert_problem(listed, 404, "application-not-found")
    await official_in(hub_state, "tax-files", "local_tax")
    elsewhere = account_bearer(hub_state, "tax-files")
    assert_problem(await api.get(f"/v1/cases/{case_id}/files", headers=elsewhere), 403, "case-forbidden")
    resident = account_bearer(hub_state, "resident0")
    as_scan = await _upload(api, resident, case_id, PDF, kind="scan")
    assert assert_problem(as_scan, 403, "case-forbidden")["detail"]
    missing = await api.get(f"/v1/me/applications/{case_id}/files/{uuid.uuid4()}", headers=resident)
    assert missing.status_code == 404


async def test_a_proxys_seal_is_kept_as_a_clean_png(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    mandate = await proxy_mandate(hub_state, "resident0", "resident1", FORM)  # a seal: a proxy application
    case_id = await _case(hub_state, mandate_id=mandate)
    resident = account_bearer(hub_state, "resident0")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    photo = io.BytesIO()
    Image.new("RGB", (200, 200), (190, 20, 20)).save(photo, format="JPEG", exif=exif.tobytes())
    created = await _upload(api, resident, case_id, photo.getvalue(), kind="seal", content_type="image/jpeg")
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["kind"], body["media_type"]) == ("seal", "image/png")
    seal = await api.get(f"/v1/me/applications/{case_id}/files/{body['file_id']}", headers=resident)
    assert seal.content.startswith(b"\x89PNG") and b"PhoneMaker" not in seal.content
    assert hashlib.sha256(seal.content).hexdigest() == body["sha256"]

    bomb = io.BytesIO()
    Image.new("1", (2600, 2000), 1).save(bomb, format="PNG", optimize=True)
    refused = await _upload(api, resident, case_id, bomb.getvalue(), kind="seal", content_type="image/png")
    assert_problem(refused, 413, "image-too-many-pixels")
