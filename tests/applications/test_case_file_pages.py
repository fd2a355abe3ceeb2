"""A case's files on its pages: the applicant's case page and the department's case page list the attachments,
scans and the proxy's seal with links that open them (each opening on the record), and show the seal image;
an official of another department opens none of them."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from PIL import Image

from hub.applications.case_files import CaseFiles
from hub.errors import Problem
from hub.state import HubState
from hub.uow import transaction
from tests.applications.support import PERSONAL, TYPED, official_in, principal, proxy_mandate
from tests.conftest import Backend, audit_rows
from tests.helpers.pages import open_browsers, sign_in

pytestmark = pytest.mark.anyio

FORM = "basic_pension"  # welfare; a proxy may apply with a seal
PDF = b"%PDF-1.7\n1 0 obj\n<< /Lease (monthly rent 500000) >>\nendobj\ntrailer\n<<>>\n%%EOF\n"
LINK = re.compile(r'<li data-file-kind="(\w+)"><a href="([^"]+)">')


def _seal_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def test_case_pages_list_the_files_and_show_the_seal(hub_state: HubState, backend: Backend) -> None:
    resident = await principal(hub_state, "resident1")
    clerk = await official_in(hub_state, "welfare-files", "welfare")
    await official_in(hub_state, "food-files", "food_sanitation")
    files = CaseFiles(hub_state.applications, hub_state.files)
    await proxy_mandate(hub_state, "resident1", "resident2", FORM)
    async with transaction(hub_state.sessions) as session:
        case = await hub_state.applications.submit(
            session, resident, FORM, {**TYPED[FORM], **PERSONAL}, "pages"
        )
        case_id = case.application_id
        await files.attach(session, resident, case_id, "attachment", PDF, "pages-attach")
        await files.attach(session, resident, case_id, "seal", _seal_png(), "pages-seal")
        await files.attach(session, clerk, case_id, "scan", PDF, "pages-scan")

    async with open_browsers(hub_state, backend, 3) as (phone, desk, other):
        assert (await sign_in(phone, "resident1", "resident1-pw")).status_code == 303
        assert (await sign_in(desk, "welfare-files", "welfare-files-pw")).status_code == 303
        assert (await sign_in(other, "food-files", "food-files-pw")).status_code == 303
        for browser, page, base in (
            (phone, f"/me/applications/{case_id}?lang=en", f"/me/applications/{case_id}/files/"),
            (desk, f"/cases/{case_id}?lang=en", f"/cases/{case_id}/files/"),
        ):
            shown = await browser.get(page)
            assert shown.status_code == 200
            assert "Attachments and seal" in shown.text
            links = dict(LINK.findall(shown.text))
            assert set(links) == {"attachment", "seal", "scan"}
            assert all(link.startswith(base) for link in links.values())
            assert f'<img class="seal" src="{links["seal"]}"' in shown.text
            before = len(audit_rows(backend))
            opened = await browser.get(links["attachment"])
            assert opened.status_code == 200 and opened.content == PDF
            assert opened.headers["x-content-type-options"] == "nosniff"
            seal = await browser.get(links["seal"])
            assert seal.status_code == 200 and seal.content.startswith(b"\x89PNG")
            views = [r["kind"] for r in audit_rows(backend)[before:]]
            assert views == ["application_file_view", "application_file_view"]
            # Another department's official is refused every file of the case.
            before = len(audit_rows(backend))
            assert (
                await other.get(links["attachment"].replace("/me/applications/", "/cases/"))
            ).status_code == 403
            assert len(audit_rows(backend)) == before


async def test_a_case_without_files_says_so(hub_state: HubState, backend: Backend) -> None:
    resident = await principal(hub_state, "resident2")
    async with transaction(hub_state.sessions) as session:
        case = await hub_state.applications.submit(
            session, resident, FORM, {**TYPED[FORM], **PERSONAL}, "pages-empty"
        )
    async with open_browsers(hub_state, backend, 1) as (phone,):
        assert (await sign_in(phone, "resident2", "resident2-pw")).status_code == 303
        shown = await phone.get(f"/me/applications/{case.application_id}?lang=en")
        assert shown.status_code == 200 and "No files are attached." in shown.text


async def test_a_seal_needs_a_live_mandate_held_by_the_applicant(
    hub_state: HubState, backend: Backend
) -> None:
    from hub.auth.accounts import create_account

    agent = f"proxy-{uuid.uuid4().hex[:8]}"
    async with transaction(hub_state.sessions) as session:
        await create_account(
            session,
            username=agent,
            password=f"{agent}-pw",
            role="resident",
            display_name="대리인",
            subject_commitment=uuid.uuid4().hex * 2,
        )
    applicant = await principal(hub_state, agent)
    files = CaseFiles(hub_state.applications, hub_state.files)
    async with transaction(hub_state.sessions) as session:
        case = await hub_state.applications.submit(
            session, applicant, FORM, {**TYPED[FORM], **PERSONAL}, "proxy"
        )
    before = len(audit_rows(backend))
    async with transaction(hub_state.sessions) as session:
        with pytest.raises(Problem) as refused:
            await files.attach(session, applicant, case.application_id, "seal", _seal_png(), "proxy-seal-1")
    assert (refused.value.status, refused.value.slug) == (403, "case-forbidden")
    assert refused.value.params == {"reason_code": "no_mandate"}
    assert len(audit_rows(backend)) == before  # nothing stored, nothing recorded

    # A mandate that was revoked does not count; a live one does.
    revoked = await proxy_mandate(hub_state, agent, "resident0", FORM)
    grantor = await principal(hub_state, "resident0")
    async with transaction(hub_state.sessions) as session:
        await hub_state.consent.revoke_mandate(session, grantor, revoked, "test-revoke")
    async with transaction(hub_state.sessions) as session:
        with pytest.raises(Problem):
            await files.attach(session, applicant, case.application_id, "seal", _seal_png(), "proxy-seal-2")
    await proxy_mandate(hub_state, agent, "resident0", FORM)
    async with transaction(hub_state.sessions) as session:
        stored = await files.attach(
            session, applicant, case.application_id, "seal", _seal_png(), "proxy-seal-3"
        )
    assert stored.kind == "seal"


async def test_the_desk_screen_lists_the_submitted_cases_files(hub_state: HubState, backend: Backend) -> None:
    resident = await principal(hub_state, "resident2")
    desk_official = await official_in(hub_state, "welfare-desk", "welfare")
    async with transaction(hub_state.sessions) as session:
        opened, token = await hub_state.form_sessions.open(session, desk_official, FORM, "desk-open")
    async with transaction(hub_state.sessions) as session:
        await hub_state.form_sessions.bind(session, resident, opened.session_id, token, "desk-bind")
    async with transaction(hub_state.sessions) as session:
        case = await hub_state.applications.submit(
            session,
            resident,
            FORM,
            {**TYPED[FORM], **PERSONAL},
            "desk-submit",
            counter_session_id=opened.session_id,
        )
        await CaseFiles(hub_state.applications, hub_state.files).attach(
            session, resident, case.application_id, "attachment", PDF, "desk-attach"
        )
    async with open_browsers(hub_state, backend, 1) as (desk,):
        assert (await sign_in(desk, "welfare-desk", "welfare-desk-pw")).status_code == 303
        screen = await desk.get(f"/counter/forms/{opened.session_id}?lang=en")
        assert screen.status_code == 200
        links = dict(LINK.findall(screen.text))
        assert list(links) == ["attachment"]
        assert links["attachment"].startswith(f"/cases/{case.application_id}/files/")
        assert (await desk.get(links["attachment"])).content == PDF
