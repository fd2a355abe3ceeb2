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
    mandate = await proxy_mandate(hub_state, "resident1", "resident2", FORM)
    async with transaction(hub_state.sessions) as session:
        case = await hub_state.applications.submit(
            session, resident, FORM, {**TYPED[FORM], **PERSONAL}, "pages", mandate_id=mandate
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
            assert f'id="case-proxy" data-mandate="{mandate}"' in shown.text
            assert f"Filed by {case.principal_name}&#39;s agent under mandate {mandate[:8]}" in shown.text
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


async def test_a_seal_is_taken_only_under_a_live_mandate_from_the_cases_principal(
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

    async def seal(case_id: str, request_id: str) -> Problem | None:
        async with transaction(hub_state.sessions) as session:
            try:
                await files.attach(session, applicant, case_id, "seal", _seal_png(), request_id)
            except Problem as problem:
                return problem
        return None

    # Not a proxy application: no seal, whatever mandates the applicant holds.
    from_resident0 = await proxy_mandate(hub_state, agent, "resident0", FORM)
    async with transaction(hub_state.sessions) as session:
        own = await hub_state.applications.submit(
            session, applicant, FORM, {**TYPED[FORM], **PERSONAL}, "own"
        )
    refused = await seal(own.application_id, "proxy-seal-0")
    assert refused is not None and refused.params == {"reason_code": "no_proxy"}

    async with transaction(hub_state.sessions) as session:
        case = await hub_state.applications.submit(
            session, applicant, FORM, {**TYPED[FORM], **PERSONAL}, "proxy", mandate_id=from_resident0
        )
    grantor = await principal(hub_state, "resident0")
    assert (case.mandate_id, case.principal_commitment) == (from_resident0, grantor.subject_commitment)
    async with transaction(hub_state.sessions) as session:
        await hub_state.consent.revoke_mandate(session, grantor, from_resident0, "test-revoke")
    # Revoked, and a live mandate from someone else does not stand in for it.
    await proxy_mandate(hub_state, agent, "resident1", FORM)
    before = len(audit_rows(backend))
    refused = await seal(case.application_id, "proxy-seal-1")
    assert refused is not None and (refused.status, refused.slug) == (403, "case-forbidden")
    assert refused.params == {"reason_code": "no_mandate"}
    assert len(audit_rows(backend)) == before  # nothing stored, nothing recorded
    # A new live mandate from the case's principal does.
    await proxy_mandate(hub_state, agent, "resident0", FORM)
    assert await seal(case.application_id, "proxy-seal-2") is None
    async with hub_state.sessions() as session:
        assert [f.kind for f in await hub_state.files.files_of(session, case.application_id)] == ["seal"]


async def test_filing_as_a_proxy_needs_a_live_mandate_the_applicant_holds(
    hub_state: HubState, backend: Backend
) -> None:
    agent = await principal(hub_state, "resident2")
    answers = {**TYPED[FORM], **PERSONAL}
    held = await proxy_mandate(hub_state, "resident2", "resident0", FORM)
    others = await proxy_mandate(hub_state, "resident1", "resident0", FORM)  # held by someone else
    for mandate_id in (others, str(uuid.uuid4())):
        async with transaction(hub_state.sessions) as session:
            with pytest.raises(Problem) as refused:
                await hub_state.applications.submit(session, agent, FORM, answers, "p", mandate_id=mandate_id)
        assert refused.value.params == {"reason_code": "no_mandate"}
    async with transaction(hub_state.sessions) as session:
        with pytest.raises(Problem) as refused:  # a form no proxy may file
            await hub_state.applications.submit(
                session, agent, "childbirth_support", {}, "p", mandate_id=held
            )
    assert refused.value.params == {"reason_code": "no_proxy"}
    async with transaction(hub_state.sessions) as session:
        case = await hub_state.applications.submit(
            session, agent, FORM, answers, "proxy-filed", mandate_id=held
        )
    assert case.principal_name == (await principal(hub_state, "resident0")).display_name
    [received] = [r for r in audit_rows(backend) if r["request_id"] == "proxy-filed"]
    assert (received["kind"], received["basis"]) == ("case_received", f"mandate:{held}")


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
