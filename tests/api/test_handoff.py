"""The offline hand-off QR: sealed by the hub for one counter, read there once; anything else is refused."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
import zxingcpp
from joserfc import jwe, jws
from joserfc.jwk import ECKey, OKPKey
from PIL import Image

from audit.events import utcnow
from hub.applications import handoff
from hub.state import HubState
from tests.conftest import Backend, account_bearer, audit_rows
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

COUNTER = handoff.counter_id_for("Test Office")  # the seeded official's office
URL = "/v1/counter/handoff/decode"


def _application(padding: int = 0) -> dict[str, Any]:
    return {
        "application_id": str(uuid.uuid4()),
        "form_type": "moving_in_report",
        "answers": {"name": "박유나", "new_address": "서울특별시 서초구 서초대로 " + "1" * padding},
    }


def _scan(pngs: list[bytes]) -> list[str]:
    """What a counter's camera reads: zxing-cpp on each rendered picture."""
    texts = []
    for png in pngs:
        with Image.open(io.BytesIO(png)) as image:
            [found] = zxingcpp.read_barcodes(image.convert("L"))
            texts.append(found.text)
    return texts


async def _decode(api: httpx.AsyncClient, state: HubState, **body: Any) -> httpx.Response:
    return await api.post(URL, json=body, headers=account_bearer(state, "official"))


def _denials(backend: Backend) -> list[str]:
    rows = audit_rows(backend)
    return [r["reason"] for r in rows if r["kind"] == "application_handoff" and r["outcome"] == "denied"]


async def test_round_trip_through_qr_pictures_and_zxing(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    application = _application(padding=1500)  # long enough to need several codes
    sealed = hub_state.handoff.seal(application, COUNTER)
    assert len(sealed.chunks) >= 2
    pngs = handoff.render_pngs(sealed.chunks)
    assert _scan(pngs) == sealed.chunks, "every code reads back exactly"

    shuffled = pngs[:]
    random.Random(7).shuffle(shuffled)  # scanned in any order
    response = await _decode(api, hub_state, images=[base64.b64encode(p).decode() for p in shuffled])

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["application"] == application
    assert (body["jti"], body["counter_id"]) == (sealed.jti, COUNTER)
    [event] = [r for r in audit_rows(backend) if r["event_id"] == body["audit_event_id"]]
    assert (event["kind"], event["outcome"], event["reason"]) == ("application_handoff", "ok", "decoded")
    assert event["basis"] == f"application:{application['application_id']}"
    assert "박유나" not in json.dumps(event, default=str, ensure_ascii=False), "no answer in the log"


async def test_the_same_codes_are_accepted_once(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    sealed = hub_state.handoff.seal(_application(), COUNTER)
    assert (await _decode(api, hub_state, chunks=sealed.chunks)).status_code == 200
    again = await _decode(api, hub_state, chunks=sealed.chunks)
    body = assert_problem(again, 409, "handoff-replayed")
    assert body["reason"] == "replayed"
    assert _denials(backend)[-1] == "replayed"


async def test_an_expired_handoff_is_refused(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    old = hub_state.handoff.seal(_application(), COUNTER, now=utcnow() - timedelta(minutes=11))
    response = await _decode(api, hub_state, chunks=old.chunks)
    assert assert_problem(response, 422, "handoff-expired")["reason"] == "expired"
    assert _denials(backend)[-1] == "expired"


async def test_an_altered_code_is_refused(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    sealed = hub_state.handoff.seal(_application(), COUNTER)
    chunk = sealed.chunks[0]
    at = len(chunk) - 40  # inside the ciphertext
    altered = chunk[:at] + ("A" if chunk[at] != "A" else "B") + chunk[at + 1 :]
    response = await _decode(api, hub_state, chunks=[altered, *sealed.chunks[1:]])
    assert assert_problem(response, 422, "handoff-not-genuine")["reason"] == "not_decryptable"
    assert _denials(backend)[-1] == "not_decryptable"


async def test_a_forgery_encrypted_to_the_counter_but_not_signed_by_the_hub_is_refused(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    public = hub_state.handoff.counter_public_jwk(COUNTER)
    assert public is not None and "d" not in public, "only the public half is published"
    now = int(utcnow().timestamp())
    claims = {
        "iss": hub_state.settings.public_url,
        "aud": f"counter:{COUNTER}",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "app": _application(),
    }
    forger = OKPKey.generate_key("Ed25519")
    signed = jws.serialize_compact(
        {"alg": "Ed25519", "typ": handoff.TYP, "kid": hub_state.keys.token_key.kid},  # claims the hub's kid
        json.dumps(claims).encode(),
        forger,
        algorithms=["Ed25519"],
    )
    token = jwe.encrypt_compact(
        {"alg": "ECDH-ES", "enc": "A256GCM"},
        signed,
        ECKey.import_key(public),
        algorithms=["ECDH-ES", "A256GCM"],
    )
    response = await _decode(api, hub_state, chunks=handoff.split(token))
    assert assert_problem(response, 422, "handoff-not-genuine")["reason"] == "bad_signature"
    assert _denials(backend)[-1] == "bad_signature"


async def test_a_handoff_for_another_counter_does_not_open_here(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    elsewhere = hub_state.handoff.seal(_application(), handoff.counter_id_for("Another Office"))
    response = await _decode(api, hub_state, chunks=elsewhere.chunks)
    assert assert_problem(response, 422, "handoff-not-genuine")["reason"] == "not_decryptable"


async def test_incomplete_or_mixed_codes_are_refused(api: httpx.AsyncClient, hub_state: HubState) -> None:
    one = hub_state.handoff.seal(_application(padding=1500), COUNTER)
    other = hub_state.handoff.seal(_application(padding=1500), COUNTER)
    missing = await _decode(api, hub_state, chunks=one.chunks[:-1])
    assert assert_problem(missing, 422, "handoff-unreadable")["reason"] == "missing_chunks"
    mixed = await _decode(api, hub_state, chunks=[one.chunks[0], *other.chunks[1:]])
    assert assert_problem(mixed, 422, "handoff-unreadable")["reason"] == "mixed_handoffs"
    # Neither attempt used up the hand-off: the complete set still opens.
    assert (await _decode(api, hub_state, chunks=one.chunks)).status_code == 200


async def test_a_picture_that_is_not_an_image_is_refused(api: httpx.AsyncClient, hub_state: HubState) -> None:
    text = base64.b64encode(b"this is a text file called code.png\n" * 4).decode()
    response = await _decode(api, hub_state, images=[text])
    body = assert_problem(response, 415, "file-type-not-allowed")
    assert "PNG" in body["detail"]


async def test_the_counter_key_is_published_without_its_private_half(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    hub_state.handoff.seal(_application(), COUNTER)  # makes sure the key pair exists
    response = await api.get(f"/v1/counter/handoff/keys/{COUNTER}")
    assert response.status_code == 200
    jwk = response.json()
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ECDH-ES", "enc")
    assert "d" not in jwk
    assert (await api.get("/v1/counter/handoff/keys/org-no-such-counter")).status_code == 404


async def test_two_counters_scanning_the_same_codes_at_once_accept_it_once(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    sealed = hub_state.handoff.seal(_application(), COUNTER)
    first, second = await asyncio.gather(
        _decode(api, hub_state, chunks=sealed.chunks), _decode(api, hub_state, chunks=sealed.chunks)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
