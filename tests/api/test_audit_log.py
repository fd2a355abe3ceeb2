"""The verifiable log: checkpoints, proofs and leaves over HTTP, checked with our own RFC 9162 code."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from audit import AuditEvent
from audit.checkpoint import parse_verifier_key, verify_checkpoint
from audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from hub.state import HubState
from tests.conftest import Backend, account_bearer, bearer, lookup_body

pytestmark = pytest.mark.anyio


async def _lookups(api: httpx.AsyncClient, state: HubState, number: str, n: int = 3) -> list[str]:
    ids = []
    for _ in range(n):
        response = await api.post("/v1/lookups", json=lookup_body(number), headers=bearer(state))
        assert response.status_code == 200, response.text
        ids.append(response.json()["audit"]["event_id"])
    return ids


async def _checkpoint(api: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    key = (await api.get("/v1/audit/verifier-key")).text.strip()
    note = await api.get("/v1/audit/checkpoint")
    assert note.status_code == 200 and note.headers["content-type"].startswith("text/plain")
    return verify_checkpoint(note.text, key), key


async def test_checkpoint_is_a_signed_note_that_verifies_with_the_published_key(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    await _lookups(api, hub_state, backend.residents[0]["resident_number"])
    result = await hub_state.integrator.integrate_once()
    assert result.checkpoint_published and result.tree_size >= 3
    checkpoint, key = await _checkpoint(api)
    assert checkpoint.size == result.tree_size
    assert checkpoint.origin == backend.settings.origin
    name, key_id, _ = parse_verifier_key(key)
    assert name == backend.settings.origin and len(key_id) == 4
    jwks = (await api.get("/.well-known/gongyu/keys")).json()["keys"]
    assert any(k.get("gongyu_verifier_key") == key for k in jwks)


async def test_every_leaf_is_provably_included_and_its_bytes_hash_to_the_leaf(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    await _lookups(api, hub_state, backend.residents[0]["resident_number"], 2)
    await hub_state.integrator.integrate_once()
    checkpoint, _ = await _checkpoint(api)
    auditor = account_bearer(hub_state, "auditor")
    for index in sorted({0, checkpoint.size // 2, checkpoint.size - 1}):
        leaf = await api.get(f"/v1/audit/leaves/{index}", headers=auditor)
        assert leaf.status_code == 200
        # As the auditor: a leaf with a delayed disclosure (other tests append some) is withheld from others.
        params = {"leaf_index": index}
        proof = (await api.get("/v1/audit/proof/inclusion", params=params, headers=auditor)).json()
        assert proof["tree_size"] == checkpoint.size
        hashes = [base64.b64decode(h) for h in proof["hashes"]]
        verify_inclusion(leaf_hash(leaf.content), index, checkpoint.size, hashes, checkpoint.root_hash)


async def test_consistency_between_two_checkpoints_verifies(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    await _lookups(api, hub_state, backend.residents[0]["resident_number"], 1)
    await hub_state.integrator.integrate_once()
    older, _ = await _checkpoint(api)
    await _lookups(api, hub_state, backend.residents[1]["resident_number"], 3)
    await hub_state.integrator.integrate_once()
    newer, _ = await _checkpoint(api)
    proof = (
        await api.get("/v1/audit/proof/consistency", params={"first": older.size, "second": newer.size})
    ).json()
    verify_consistency(
        older.size,
        newer.size,
        [base64.b64decode(h) for h in proof["hashes"]],
        older.root_hash,
        newer.root_hash,
    )


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/audit/proof/inclusion", {"leaf_index": -1}),
        ("/v1/audit/proof/inclusion", {"leaf_index": 10**9}),
        ("/v1/audit/proof/inclusion", {"leaf_index": 0, "tree_size": 10**9}),
        ("/v1/audit/proof/consistency", {"first": 0, "second": 1}),
        ("/v1/audit/proof/consistency", {"first": 5, "second": 2}),
        ("/v1/audit/proof/consistency", {"first": 1, "second": 10**9}),
    ],
)
async def test_bad_proof_ranges_are_400_problems(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend, path: str, params: dict[str, int]
) -> None:
    await _lookups(api, hub_state, backend.residents[0]["resident_number"], 1)
    await hub_state.integrator.integrate_once()
    response = await api.get(path, params=params)
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/bad-range"


async def test_resident_history_lists_only_their_own_entries_with_verifying_proofs(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    mine = await _lookups(api, hub_state, backend.residents[0]["resident_number"], 2)
    theirs = await _lookups(api, hub_state, backend.residents[1]["resident_number"], 2)
    await hub_state.integrator.integrate_once()
    response = await api.get("/v1/me/access-log", headers=account_bearer(hub_state, "resident0"))
    assert response.status_code == 200, response.text
    page = response.json()
    ids = {e["event_id"] for e in page["entries"]}
    assert set(mine) <= ids or page["next_cursor"], "newest entries come first"
    assert not ids & set(theirs)
    checkpoint = verify_checkpoint(page["checkpoint"], page["verifier_key"])
    for entry in page["entries"]:
        assert "actor_id" not in entry["actor"], "the individual official's id is for auditors only"
        proof = [base64.b64decode(h) for h in entry["inclusion_proof"]["hashes"]]
        verify_inclusion(
            base64.b64decode(entry["leaf_hash"]),
            entry["leaf_index"],
            checkpoint.size,
            proof,
            checkpoint.root_hash,
        )


async def test_history_pages_with_a_cursor_without_repeats(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    await _lookups(api, hub_state, backend.residents[0]["resident_number"], 5)
    headers = account_bearer(hub_state, "resident0")
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/me/access-log", params=params, headers=headers)).json()
        seen.extend(e["event_id"] for e in page["entries"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) >= 5
    bad = await api.get("/v1/me/access-log", params={"cursor": "!!!"}, headers=headers)
    assert bad.status_code == 400


async def test_a_resident_cannot_read_another_residents_leaf(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    await _lookups(api, hub_state, backend.residents[1]["resident_number"], 1)
    await hub_state.integrator.integrate_once()
    size = (await hub_state.audit_reader.latest_checkpoint()).tree_size  # type: ignore[union-attr]
    theirs = account_bearer(hub_state, "resident1")
    mine = account_bearer(hub_state, "resident0")
    assert (await api.get(f"/v1/audit/leaves/{size - 1}", headers=theirs)).status_code == 200
    denied = await api.get(f"/v1/audit/leaves/{size - 1}", headers=mine)
    assert denied.status_code == 404
    assert (await api.get(f"/v1/audit/leaves/{size - 1}")).status_code == 401
    official = await api.get(f"/v1/audit/leaves/{size - 1}", headers=account_bearer(hub_state, "official"))
    assert official.status_code == 404
    assert (
        await api.get("/v1/me/access-log", headers=account_bearer(hub_state, "auditor"))
    ).status_code == 403
    assert (await api.get("/v1/me/access-log", headers=bearer(hub_state))).status_code == 401


async def test_entries_with_a_future_visible_from_are_withheld(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    # A covert statutory lookup: in the log from the start, disclosed to the resident only later.
    commitment = hub_state.committer.commit(backend.residents[0]["resident_number"].replace("-", ""))
    covert = AuditEvent(
        kind="lookup",
        actor_kind="client",
        actor_id="test-agency",
        actor_org="Test Office",
        outcome="ok",
        subject_commitment=commitment,
        basis="statute:KR-RRA-29-2-1",
        visible_from=datetime.now(UTC) + timedelta(days=30),
    )
    event_id = (await hub_state.audit.append(covert)).event_id
    await hub_state.integrator.integrate_once()
    page = (
        await api.get(
            "/v1/me/access-log", params={"limit": 100}, headers=account_bearer(hub_state, "resident0")
        )
    ).json()
    assert event_id not in {e["event_id"] for e in page["entries"]}


async def test_login_issues_an_account_token(api: httpx.AsyncClient) -> None:
    ok = await api.post("/v1/auth/login", json={"username": "resident0", "password": "resident0-pw"})
    assert ok.status_code == 200 and ok.json()["role"] == "resident"
    page = await api.get(
        "/v1/me/access-log", headers={"Authorization": f"Bearer {ok.json()['access_token']}"}
    )
    assert page.status_code == 200
    bad = await api.post("/v1/auth/login", json={"username": "resident0", "password": "nope"})
    assert bad.status_code == 401 and bad.json()["type"] == "/problems/invalid-credentials"
    # Account tokens are not client tokens: they cannot look documents up.
    lookup = await api.post(
        "/v1/lookups",
        json=lookup_body("900101-9000001"),
        headers={"Authorization": f"Bearer {ok.json()['access_token']}"},
    )
    assert lookup.status_code == 401


def test_leaf_hash_is_sha256_of_zero_and_canonical_json() -> None:
    assert leaf_hash(b'{"a":1}') == hashlib.sha256(b'\x00{"a":1}').digest()
