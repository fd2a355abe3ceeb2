"""SD-JWT VCs the resident holds (issue 14, part 3): issue, present fewer fields, verify, revoke.

Each test issues a fresh credential to a seeded resident through ``POST /v1/me/credentials`` (the audited
lookup path) and presents it the way a wallet would (``hub.credentials.holder``, the reference ``sd-jwt``
package), then asks ``POST /v1/credentials/verify``. Attacks that the package would not produce (an altered
disclosure under a fresh key binding, a stale key binding) are built by hand here with the holder's key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.issuer import SDJWTIssuer
from sqlalchemy import select
from typer.testing import CliRunner

from document_specs.loader import SpecCatalog, load_catalog
from hub.app import create_app
from hub.cli import app as cli
from hub.credentials import holder, status_list
from hub.notify.models import OutboxRow
from hub.state import HubState, build_state
from tests.conftest import Backend, account_bearer, audit_rows
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

DOCUMENT = "resident_registration_abstract"
AUDIENCE = "https://landlord.example/verifier"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def issue(
    api: httpx.AsyncClient, state: HubState, key: dict[str, Any], username: str = "resident0"
) -> dict[str, Any]:
    response = await api.post(
        "/v1/me/credentials",
        headers=account_bearer(state, username),
        json={
            "document_type": DOCUMENT,
            "view": "with_address_history",
            "holder_jwk": holder.public_jwk(key),
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def verify(
    api: httpx.AsyncClient, presentation: str, nonce: str, audience: str = AUDIENCE
) -> httpx.Response:
    return await api.post(
        "/v1/credentials/verify", json={"presentation": presentation, "audience": audience, "nonce": nonce}
    )


def key_binding(signed_part: str, key: dict[str, Any], aud: str, nonce: str, iat: int | None = None) -> str:
    """A KB-JWT over ``signed_part`` (issuer JWT and disclosures, each ending in ``~``), as wallets sign."""
    claims = {
        "aud": aud,
        "nonce": nonce,
        "iat": int(time.time()) if iat is None else iat,
        "sd_hash": _b64(hashlib.sha256(signed_part.encode()).digest()),
    }
    private = jwt.PyJWK(key, algorithm="ES256").key
    return jwt.encode(claims, private, algorithm="ES256", headers={"typ": "kb+jwt"})


def disclosure_of(credential: str, name: str) -> str:
    for part in credential.split("~")[1:-1]:
        decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        if len(decoded) == 3 and decoded[1] == name:
            return part
    raise AssertionError(f"no disclosure of {name}")


async def test_a_presentation_with_fewer_fields_verifies_and_reveals_only_those(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    key = holder.keygen()
    issued = await issue(api, hub_state, key)
    credential = issued["credential"]
    assert issued["vct"] == f"urn:gongyu:vct:{DOCUMENT}"
    assert {"name", "address", "address_history"} <= set(issued["disclosable"])
    # Every released field is a disclosure: the issuer-signed payload carries none of them in clear.
    payload = jwt.decode(credential.split("~")[0], options={"verify_signature": False})
    assert not {"name", "address", "address_history"} & set(payload)
    assert payload["cnf"]["jwk"] == holder.public_jwk(key)
    assert payload["status"]["status_list"]["uri"].endswith("/v1/credentials/status-lists/1")
    assert jwt.get_unverified_header(credential.split("~")[0])["typ"] == "dc+sd-jwt"

    nonce = secrets.token_urlsafe(16)
    presentation = holder.present(credential, ["name", "address"], AUDIENCE, nonce, key)
    response = await verify(api, presentation, nonce)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "valid"
    assert body["document_type"] == DOCUMENT
    assert set(body["claims"]) == {"name", "address"}
    assert body["claims"]["name"] and body["claims"]["address"]


async def test_the_cli_holder_presents_only_the_fields_it_is_told_to(
    api: httpx.AsyncClient, hub_state: HubState, tmp_path: Any
) -> None:
    runner = CliRunner()
    key_file = tmp_path / "holder.jwk"
    made = runner.invoke(cli, ["credentials", "holder", "keygen", "--out", str(key_file)])
    assert made.exit_code == 0, made.output
    key = json.loads(key_file.read_text())
    assert json.loads(made.output) == holder.public_jwk(key) and "d" in key
    issued = await issue(api, hub_state, key)
    credential_file = tmp_path / "credential.json"
    credential_file.write_text(json.dumps(issued))
    nonce = secrets.token_urlsafe(16)
    args = ["credentials", "holder", "present", "--credential", str(credential_file), "--key", str(key_file)]
    presented = runner.invoke(cli, [*args, "--aud", AUDIENCE, "--nonce", nonce, "--disclose", "name"])
    assert presented.exit_code == 0, presented.output
    response = await verify(api, presented.output.strip(), nonce)
    assert response.status_code == 200, response.text
    assert set(response.json()["claims"]) == {"name"}
    refused = runner.invoke(cli, [*args, "--aud", AUDIENCE, "--nonce", nonce, "--disclose", "no_such_field"])
    assert refused.exit_code == 2


async def test_an_altered_disclosure_fails_even_under_a_fresh_key_binding(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    key = holder.keygen()
    credential = (await issue(api, hub_state, key))["credential"]
    original = disclosure_of(credential, "address")
    salt, name, _ = json.loads(base64.urlsafe_b64decode(original + "=" * (-len(original) % 4)))
    altered = _b64(json.dumps([salt, name, "서울특별시 종로구 세종대로 1"]).encode())
    signed_part = f"{credential.split('~')[0]}~{altered}~"
    nonce = secrets.token_urlsafe(16)
    presentation = signed_part + key_binding(signed_part, key, AUDIENCE, nonce)
    assert_problem(await verify(api, presentation, nonce), 422, "credential-disclosure-invalid")


async def test_a_credential_signed_by_another_key_fails_the_issuer_signature(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    key = holder.keygen()
    credential = (await issue(api, hub_state, key))["credential"]
    claims = jwt.decode(credential.split("~")[0], options={"verify_signature": False})
    kid = jwt.get_unverified_header(credential.split("~")[0])["kid"]
    status = {"status_list": {k: claims["status"]["status_list"][k] for k in ("idx", "uri")}}
    forged = SDJWTIssuer(
        {**{k: claims[k] for k in ("iss", "iat", "exp", "vct")}, "status": status, SDObj("name"): "Mallory"},
        JWK.generate(kty="EC", crv="P-256"),
        JWK(**holder.public_jwk(key)),
        sign_alg="ES256",
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": kid},
    ).sd_jwt_issuance
    nonce = secrets.token_urlsafe(16)
    presentation = holder.present(forged, ["name"], AUDIENCE, nonce, key)
    assert_problem(await verify(api, presentation, nonce), 422, "credential-signature-invalid")


async def test_a_replayed_key_binding_jwt_fails(api: httpx.AsyncClient, hub_state: HubState) -> None:
    key = holder.keygen()
    credential = (await issue(api, hub_state, key))["credential"]
    nonce = secrets.token_urlsafe(16)
    presentation = holder.present(credential, ["name"], AUDIENCE, nonce, key)
    assert (await verify(api, presentation, nonce)).status_code == 200
    assert_problem(await verify(api, presentation, nonce), 409, "credential-replayed")


async def test_a_key_binding_for_another_audience_or_nonce_or_time_fails(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    key = holder.keygen()
    credential = (await issue(api, hub_state, key))["credential"]
    nonce = secrets.token_urlsafe(16)
    presentation = holder.present(credential, ["name"], AUDIENCE, nonce, key)
    other = await verify(api, presentation, nonce, audience="https://someone-else.example")
    assert_problem(other, 422, "credential-audience-mismatch")
    assert_problem(await verify(api, presentation, "another-nonce"), 422, "credential-nonce-mismatch")
    signed_part = presentation[: presentation.rindex("~") + 1]
    stale = signed_part + key_binding(signed_part, key, AUDIENCE, nonce, iat=int(time.time()) - 3600)
    assert_problem(await verify(api, stale, nonce), 422, "credential-key-binding-stale")
    # A key binding signed by a key other than cnf's is no key binding.
    stranger = signed_part + key_binding(signed_part, holder.keygen(), AUDIENCE, nonce)
    assert_problem(await verify(api, stranger, nonce), 422, "credential-key-binding-invalid")
    # Without a key binding at all (an SD-JWT alone): refused, a bearer credential is not accepted.
    assert_problem(await verify(api, signed_part, nonce), 422, "credential-key-binding-invalid")
    # The refusals consumed nothing: the genuine presentation still verifies once.
    assert (await verify(api, presentation, nonce)).status_code == 200


async def test_a_revoked_credential_is_reported_revoked_and_its_status_bit_is_set(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    key = holder.keygen()
    issued = await issue(api, hub_state, key)
    idx = issued["status"]["status_list"]["idx"]
    uri = issued["status"]["status_list"]["uri"]
    mine = account_bearer(hub_state, "resident0")
    revoked = await api.post(f"/v1/me/credentials/{issued['credential_id']}/revoke", headers=mine)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    event = next(
        r
        for r in audit_rows(backend)
        if r["basis"] == f"credential:{issued['credential_id']}" and r["kind"] == "credential_revocation"
    )
    assert event["actor_kind"] == "resident" and event["outcome"] == "ok"
    assert_problem(
        await api.post(f"/v1/me/credentials/{issued['credential_id']}/revoke", headers=mine),
        409,
        "credential-already-revoked",
    )

    # The public status list says so, signed with the key the issuer metadata publishes.
    token = (await api.get(uri.removeprefix(hub_state.settings.public_url))).text
    jwks = (await api.get("/.well-known/jwt-vc-issuer")).json()["jwks"]["keys"]
    combined = (await api.get("/.well-known/gongyu/keys")).json()["keys"]
    assert [k for k in combined if k.get("gongyu_purpose") == "credential-issuer"] == jwks
    public = jwt.PyJWK(jwks[0], algorithm="ES256").key
    assert jwt.get_unverified_header(token)["typ"] == "statuslist+jwt"
    assert status_list.status_at(status_list.read(token, uri, public), idx) == status_list.INVALID

    nonce = secrets.token_urlsafe(16)
    response = await verify(api, holder.present(issued["credential"], ["name"], AUDIENCE, nonce, key), nonce)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "revoked"
    assert "claims" not in response.json()


async def test_issuance_is_audited_after_its_audited_lookup(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    issued = await issue(api, hub_state, holder.keygen())
    rows = audit_rows(backend)
    event = next(r for r in rows if r["event_id"] == issued["audit"]["event_id"])
    assert event["kind"] == "credential_issuance" and event["outcome"] == "ok"
    assert event["actor_kind"] == "resident" and event["basis"] == f"credential:{issued['credential_id']}"
    assert event["document_type"] == DOCUMENT and "address_history" in event["fields"]
    lookup = next(r for r in rows if r["request_id"] == event["request_id"] and r["kind"] == "lookup")
    assert lookup["basis"] == "self" and lookup["purpose_code"] == "credential-issuance"
    assert lookup["subject_commitment"] == event["subject_commitment"]
    assert lookup["seq"] < event["seq"]
    listed = await api.get("/v1/me/credentials", headers=account_bearer(hub_state, "resident0"))
    assert issued["credential_id"] in {c["credential_id"] for c in listed.json()["credentials"]}
    # The resident hears of it (a credential they did not ask for would be the sign of a taken account).
    async with hub_state.sessions() as session:
        notices = (
            await session.scalars(select(OutboxRow).where(OutboxRow.event_id == event["event_id"]))
        ).all()
    assert [(n.kind, n.channel) for n in notices] == [("credential_issuance", "inbox")]


async def test_a_document_that_is_not_issuable_is_refused_on_the_record_without_a_lookup(
    backend: Backend,
) -> None:
    catalog = load_catalog()
    specs = {name: catalog[name] for name in catalog}
    specs[DOCUMENT] = specs[DOCUMENT].model_copy(update={"issuable": False})
    state = build_state(backend.settings, catalog=SpecCatalog(specs, catalog.sources))
    try:
        async with LifespanManager(create_app(backend.settings, state=state)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
                response = await client.post(
                    "/v1/me/credentials",
                    headers=account_bearer(state, "resident0"),
                    json={
                        "document_type": DOCUMENT,
                        "view": "basic",
                        "holder_jwk": holder.public_jwk(holder.keygen()),
                    },
                )
    finally:
        await state.close()
    body = assert_problem(response, 422, "document-not-issuable")
    rows = audit_rows(backend)
    event = next(r for r in rows if r["event_id"] == body["audit_event_id"])
    assert (event["kind"], event["outcome"], event["reason"]) == (
        "credential_issuance",
        "denied",
        "not_issuable",
    )
    assert not [r for r in rows if r["request_id"] == event["request_id"] and r["kind"] == "lookup"]


async def test_another_resident_cannot_revoke_or_see_my_credential(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    key = holder.keygen()
    issued = await issue(api, hub_state, key)
    other = account_bearer(hub_state, "resident1")
    response = await api.post(f"/v1/me/credentials/{issued['credential_id']}/revoke", headers=other)
    assert_problem(response, 404, "credential-not-found")
    listed = (await api.get("/v1/me/credentials", headers=other)).json()["credentials"]
    assert issued["credential_id"] not in {c["credential_id"] for c in listed}
    nonce = secrets.token_urlsafe(16)
    still = await verify(api, holder.present(issued["credential"], ["name"], AUDIENCE, nonce, key), nonce)
    assert still.json()["status"] == "valid"


async def test_a_private_or_foreign_holder_key_is_refused_before_anything_is_read(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    before = len(audit_rows(backend))
    headers = account_bearer(hub_state, "resident0")
    for jwk in (
        holder.keygen(),
        {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
        {"kty": "EC", "crv": "P-256"},
    ):
        response = await api.post(
            "/v1/me/credentials",
            headers=headers,
            json={"document_type": DOCUMENT, "view": "basic", "holder_jwk": jwk},
        )
        assert_problem(response, 422, "credential-holder-key-invalid")
    assert len(audit_rows(backend)) == before


async def test_garbage_and_deeply_nested_presentations_are_refused_not_500(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    key = holder.keygen()
    credential = (await issue(api, hub_state, key))["credential"]
    issuer_jwt = credential.split("~")[0]
    nested = _b64(b"[" * 30_000)  # a disclosure the JSON parser cannot follow to its end
    for text in ("no tildes here", "a.b.c~", f"{issuer_jwt}~{nested}~x.y.z", f"{issuer_jwt}~%%%~x.y.z"):
        response = await verify(api, text, "n")
        assert response.status_code == 422, (text[:40], response.text)
        assert response.json()["type"].startswith("/problems/credential-")


def test_status_list_bits_are_least_significant_first_and_round_trip() -> None:
    # draft-ietf-oauth-status-list, the 1-bit example: statuses 1,0,0,1,1,1,0,1, 1,1,0,0,0,1,0,1
    example = status_list.decode("eNrbuRgAAhcBXQ", max_bytes=2)
    assert example == bytes([0xB9, 0xA3])
    assert [status_list.status_at(example, i) for i in range(16)] == [
        1,
        0,
        0,
        1,
        1,
        1,
        0,
        1,
        1,
        1,
        0,
        0,
        0,
        1,
        0,
        1,
    ]
    array = status_list.decode(status_list.encode({0, 7, 8, status_list.SIZE - 1}))
    assert [i for i in range(status_list.SIZE) if status_list.status_at(array, i)] == [
        0,
        7,
        8,
        status_list.SIZE - 1,
    ]
    with pytest.raises(status_list.StatusListError):
        status_list.decode(status_list.encode(set()), max_bytes=100)  # inflates past the cap
