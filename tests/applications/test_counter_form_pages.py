"""The counter application flow through the pages, desk and phone: QR, consent, pre-filled form, submission
seen on the desk, supplementation, completion and the survey; and every new page in six languages."""

from __future__ import annotations

import re

import httpx
import pytest

from hub.state import HubState
from tests.applications.support import official_in
from tests.conftest import Backend, account_bearer, audit_rows
from tests.helpers.pages import CSRF, open_browsers, sign_in

pytestmark = pytest.mark.anyio
LANGS = ("ko", "en", "ja", "zh", "th", "vi")


def csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


async def test_counter_form_session_from_qr_to_survey(hub_state: HubState, backend: Backend) -> None:
    await official_in(hub_state, "resreg-official", "resident_registration")
    async with open_browsers(hub_state, backend, 2) as (desk, phone):
        assert (await sign_in(desk, "resreg-official", "resreg-official-pw")).status_code == 303
        queue = await desk.get("/cases")
        assert queue.status_code == 200
        opened = await desk.post(
            "/counter/forms", data={"csrf": csrf(queue), "form_type": "moving_in_report"}
        )
        assert opened.status_code == 303
        session_url = opened.headers["location"]
        session_id = session_url.split("/")[3].split("?")[0]
        token = session_url.split("t=")[1]
        screen = await desk.get(session_url)
        assert 'class="qr"' in screen.text and 'data-state="waiting"' in screen.text
        status_url = f"/counter/forms/{session_id}/status"
        assert (await desk.get(status_url)).json()["state"] == "waiting"

        # The phone scans the QR code: sign in, the session binds, the consent step shows what fills what.
        link = f"/apply/{session_id}?t={token}"
        assert (await sign_in(phone, "resident0", "resident0-pw", link)).status_code == 303
        bound = await phone.get(link)
        assert bound.status_code == 303
        consent = await phone.get(bound.headers["location"])
        assert consent.status_code == 200
        assert 'name="documents" value="resident_registration_abstract"' in consent.text
        assert "주민등록법 제16조" in consent.text
        assert (await desk.get(status_url)).json()["state"] == "opened"

        start = len(audit_rows(backend))
        prefilled = await phone.post(
            "/me/applications/new/moving_in_report/prefill",
            data={"csrf": csrf(consent), "documents": "resident_registration_abstract"},
        )
        assert prefilled.status_code == 303
        form = await phone.get(prefilled.headers["location"])
        name = backend.residents[0]["name_ko"]
        assert f'value="{name}"' in form.text and 'data-prefilled="applicant_name"' in form.text
        kinds = [r["kind"] for r in audit_rows(backend)[start:]]
        assert kinds == ["application_prefill_consent", "application_prefill"]

        fields = dict(re.findall(r'name="f\.(\w+)"[^>]*?value="([^"]*)"', form.text))
        typed = {
            **{f"f.{k}": v for k, v in fields.items()},
            "f.new_address": "서울특별시 서초구 남부순환로 2584",
            "f.new_postal_code": "06750",
            "f.moved_in_on": "2026-11-20",
            "f.household_status": "new_head",
            "f.movers_count": "1",
            "f.phone": "010-2222-3333",
        }
        missing = await phone.post(
            "/me/applications/new/moving_in_report",
            data={**typed, "f.new_address": "", "csrf": csrf(form), "action": "submit"},
        )
        assert missing.status_code == 422 and 'id="f-new_address-error"' in missing.text
        draft = await phone.post(
            "/me/applications/new/moving_in_report", data={**typed, "csrf": csrf(form), "action": "save"}
        )
        assert draft.status_code == 200 and 'role="status"' in draft.text
        submitted = await phone.post(
            "/me/applications/new/moving_in_report", data={**typed, "csrf": csrf(form), "action": "submit"}
        )
        assert submitted.status_code == 303
        case_url = submitted.headers["location"]
        case_id = case_url.rsplit("/", 1)[1]

        # The desk sees it at once (its page polls this status and reloads).
        assert (await desk.get(status_url)).json() == {"status": "submitted", "state": "submitted"}
        screen = await desk.get(session_url)
        assert f'data-case="{case_id}"' in screen.text and "남부순환로 2584" in screen.text

        async def move(to: str, **extra: str) -> None:
            page = await desk.get(f"/cases/{case_id}")
            assert f'data-move="{to}"' in page.text
            moved = await desk.post(
                f"/cases/{case_id}/transitions", data={"csrf": csrf(page), "to": to, **extra}
            )
            assert moved.status_code == 303, moved.text

        await move("assigned")
        await move("in_review")
        await move("supplementation_requested", note="임대차계약서의 전입일을 확인해 주세요")
        mine = await phone.get(case_url)
        assert "임대차계약서의 전입일을 확인해 주세요" in mine.text
        supplemented = await phone.post(
            f"{case_url}/move",
            data={
                "csrf": csrf(mine),
                "to": "supplemented",
                "note": "전입일 정정",
                "f.moved_in_on": "2026-11-21",
            },
        )
        assert supplemented.status_code == 303
        await move("in_review")
        await move("completed", outcome="approved")
        done = await phone.get(case_url)
        assert 'id="survey-heading"' in done.text and 'data-status="completed"' in done.text
        rated = await phone.post(
            f"{case_url}/rating", data={"csrf": csrf(done), "rating": "5", "comment": "빨라요"}
        )
        assert rated.status_code == 303
        after = await phone.get(case_url)
        assert 'data-rated="5"' in after.text and 'id="survey-heading"' not in after.text
        again = await phone.post(f"{case_url}/rating", data={"csrf": csrf(after), "rating": "1"})
        assert again.status_code == 409

        # Every new page renders in each language (a missing catalog string fails the render).
        for lang in LANGS:
            for browser, path in (
                (phone, "/me/applications"),
                (phone, "/me/applications/new/basic_pension?step=consent"),
                (phone, "/me/applications/new/basic_pension?step=form"),
                (phone, case_url),
                (desk, "/cases"),
                (desk, f"/cases/{case_id}"),
                (desk, session_url.split("?")[0]),
                (phone, "/me"),
                (desk, "/counter"),
            ):
                page = await browser.get(path, params={"lang": lang})
                assert page.status_code == 200, (lang, path, page.text[:300])
                assert f'<html lang="{lang}">' in page.text


async def test_a_pre_filled_value_typed_over_is_no_longer_marked_as_from_records(
    hub_state: HubState, backend: Backend
) -> None:
    async with open_browsers(hub_state, backend, 1) as (phone,):
        assert (await sign_in(phone, "resident1", "resident1-pw")).status_code == 303
        consent = await phone.get("/me/applications/new/housing_benefit?step=consent")
        filled = await phone.post(
            "/me/applications/new/housing_benefit/prefill",
            data={"csrf": csrf(consent), "documents": "resident_registration_abstract"},
        )
        form = await phone.get(filled.headers["location"])
        fields = dict(re.findall(r'name="f\.(\w+)"[^>]*?value="([^"]*)"', form.text))
        assert fields["applicant_name"] == backend.residents[1]["name_ko"]
        answers = {
            **{f"f.{k}": v for k, v in fields.items()},
            "f.address": "서울특별시 관악구 다른 주소 1",  # typed over the record's address
            "f.household_size": "2",
            "f.tenure": "rent",
            "f.bank_name": "농협은행",
            "f.account_number": "302-1234-5678-91",
            "f.account_holder": "신청인",
            "f.phone": "010-1234-5678",
        }
        saved = await phone.post(
            "/me/applications/new/housing_benefit", data={**answers, "csrf": csrf(form), "action": "save"}
        )
        assert 'data-prefilled="applicant_name"' in saved.text
        assert 'data-prefilled="address"' not in saved.text
        done = await phone.post(
            "/me/applications/new/housing_benefit", data={**answers, "csrf": csrf(form), "action": "submit"}
        )
        assert done.status_code == 303
        case_id = done.headers["location"].rsplit("/", 1)[1]
    async with open_browsers(hub_state, backend, 1) as (client,):
        case = (
            await client.get(f"/v1/me/applications/{case_id}", headers=account_bearer(hub_state, "resident1"))
        ).json()
    assert case["prefilled"] == {
        "applicant_name": "resident_registration_abstract/basic/name",
        "birth_date": "resident_registration_abstract/basic/birth_date",
    }
    assert case["answers"]["address"] == "서울특별시 관악구 다른 주소 1"
