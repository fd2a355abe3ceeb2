"""``Idempotency-Key`` on ``POST /v1/me/applications``: a retry of the same body gets the first response again
(status and body) and makes no second case nor a second read of the resident's records; the same key with
another body is refused (422); a duplicate while the first is at work is refused (409) or replayed; keys are
forgotten after 24 hours; a request that fails leaves its key free."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from audit.events import utcnow
from hub.applications import idempotency
from hub.applications.models import ApplicationRow, IdempotencyKeyRow
from hub.state import HubState
from hub.uow import transaction
from tests.applications.support import PERSONAL, TYPED, principal
from tests.conftest import Backend, account_bearer, audit_rows
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

FORM = "basic_pension"
BODY: dict[str, Any] = {
    "form_type": FORM,
    "answers": TYPED[FORM],
    "consent_to_prefill": ["resident_registration_abstract"],
}


async def _cases(state: HubState, username: str) -> int:
    account = await principal(state, username)
    async with state.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(ApplicationRow)
            .where(ApplicationRow.applicant_account_id == account.account_id)
        )
    return int(count or 0)


def _reads(backend: Backend) -> int:
    return sum(1 for r in audit_rows(backend) if r["kind"] == "application_prefill")


async def _post(
    api: httpx.AsyncClient, state: HubState, key: str | None, body: dict[str, Any], user: str = "resident0"
) -> httpx.Response:
    headers = account_bearer(state, user)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await api.post("/v1/me/applications", json=body, headers=headers)


async def test_a_retry_with_the_same_key_and_body_gets_the_same_response_and_no_second_case(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    key = f'"{uuid.uuid4()}"'  # an RFC 8941 sf-string, as the draft writes it
    cases, reads = await _cases(hub_state, "resident0"), _reads(backend)
    first = await _post(api, hub_state, key, BODY)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert _reads(backend) == reads + 1

    again = await _post(api, hub_state, key, {**BODY, "answers": dict(reversed(TYPED[FORM].items()))})
    assert (again.status_code, again.json()) == (201, first.json())  # key order is not a different body
    assert again.headers["idempotent-replayed"] == "true"
    assert await _cases(hub_state, "resident0") == cases + 1
    assert _reads(backend) == reads + 1, "a replay reads no record again"

    # The same key of another account is another request; no key at all is always a new case.
    theirs = await _post(api, hub_state, key, BODY, user="resident1")
    assert theirs.status_code == 201 and theirs.json()["application_id"] != first.json()["application_id"]
    plain = await _post(api, hub_state, None, BODY)
    assert plain.status_code == 201 and plain.json()["application_id"] != first.json()["application_id"]


async def test_the_same_key_with_another_body_is_refused(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    key = str(uuid.uuid4())
    assert (await _post(api, hub_state, key, BODY)).status_code == 201
    cases = await _cases(hub_state, "resident0")
    other = {**BODY, "answers": {**TYPED[FORM], "phone": "010-9999-0000"}}
    refused = await _post(api, hub_state, key, other)
    assert_problem(refused, 422, "idempotency-key-reused")
    assert await _cases(hub_state, "resident0") == cases


async def test_a_malformed_key_is_refused_before_anything_is_read(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    reads = _reads(backend)
    for bad in ("", "x" * 256, 'a"b'):
        headers = {**account_bearer(hub_state, "resident0"), "Idempotency-Key": bad}
        response = await api.post("/v1/me/applications", json=BODY, headers=headers)
        assert_problem(response, 422, "validation-error")
    assert _reads(backend) == reads


async def test_a_failed_request_leaves_its_key_free(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    key = str(uuid.uuid4())
    incomplete = {**BODY, "consent_to_prefill": False}  # the name, birth date and address are missing
    assert_problem(await _post(api, hub_state, key, incomplete), 422, "validation-error")
    fixed = {**incomplete, "answers": {**TYPED[FORM], **PERSONAL}}
    assert (await _post(api, hub_state, key, fixed)).status_code == 201


async def test_a_duplicate_while_the_first_is_at_work_is_refused_and_a_dead_claim_is_taken_over(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    resident = await principal(hub_state, "resident0")
    key = str(uuid.uuid4())
    print_ = idempotency.fingerprint({**BODY, "mandate_id": None}, hub_state.keys.pepper)  # as parsed
    held = await idempotency.claim(hub_state.sessions, resident.account_id, key, print_)
    assert isinstance(held, idempotency.Claim)
    cases = await _cases(hub_state, "resident0")
    busy = await _post(api, hub_state, key, BODY)
    assert_problem(busy, 409, "idempotency-key-in-flight")
    assert busy.headers["retry-after"]
    assert await _cases(hub_state, "resident0") == cases
    # The claim's request died (never finished nor released): after five minutes the key is taken over.
    async with transaction(hub_state.sessions) as session:
        await session.execute(
            update(IdempotencyKeyRow)
            .where(IdempotencyKeyRow.idempotency_key == key)
            .values(created_at=utcnow() - idempotency.STALE_CLAIM - timedelta(seconds=1))
        )
    taken = await _post(api, hub_state, key, BODY)
    assert taken.status_code == 201, taken.text
    assert (await _post(api, hub_state, key, BODY)).json() == taken.json()


async def test_a_key_is_forgotten_after_24_hours(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    key = str(uuid.uuid4())
    first = await _post(api, hub_state, key, BODY)
    async with transaction(hub_state.sessions) as session:
        row = (
            await session.execute(select(IdempotencyKeyRow).where(IdempotencyKeyRow.idempotency_key == key))
        ).scalar_one()
        assert row.expires_at is not None and row.status_code == 201
        row.expires_at = utcnow() - timedelta(seconds=1)
    later = await _post(api, hub_state, key, BODY)
    assert later.status_code == 201 and "idempotent-replayed" not in later.headers
    assert later.json()["application_id"] != first.json()["application_id"]


async def test_two_requests_with_one_key_at_once_make_one_case(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    """On PostgreSQL the two run on two connections at once; the loser is a replay or a 409."""
    key = str(uuid.uuid4())
    cases = await _cases(hub_state, "resident1")
    answers = await asyncio.gather(*(_post(api, hub_state, key, BODY, user="resident1") for _ in range(2)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses in ([201, 201], [201, 409]), [r.text for r in answers]
    made = [r for r in answers if r.status_code == 201]
    assert len({r.json()["application_id"] for r in made}) == 1
    for r in answers:
        if r.status_code == 409:
            assert_problem(r, 409, "idempotency-key-in-flight")
    assert await _cases(hub_state, "resident1") == cases + 1
    settled = await _post(api, hub_state, key, BODY, user="resident1")
    assert settled.json() == made[0].json()
