"""E-documents through the API on SQLite and PostgreSQL: issue, fetch, verify, revoke, expire, refuse."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import create_engine, text

from document_specs.loader import SpecCatalog, load_catalog
from hub.app import create_app
from hub.issuance import numbers, qr
from hub.state import HubState, build_state
from tests.conftest import Backend, audit_rows, bearer, lookup_body

pytestmark = pytest.mark.anyio
NUMBER = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{4}$")


AGENCY_STATUTE = "KR-RRA-29-2-1"  # the test agency's basis for a resident registration abstract


async def _issue(
    api: httpx.AsyncClient, state: HubState, backend: Backend, index: int = 0, client: str = "test-bank"
) -> dict[str, str]:
    statute = AGENCY_STATUTE if client == "test-agency" else "KR-FTRA-5-2"
    body = lookup_body(backend.residents[index]["resident_number"], statute=statute)
    response = await api.post("/v1/issuances", json=body, headers=bearer(state, client))
    assert response.status_code == 201, response.text
    issued: dict[str, str] = response.json()
    return issued


def _sql(backend: Backend, statement: str, **params: object) -> None:
    engine = create_engine(backend.sync_hub_url())
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


async def test_issue_audits_lookup_and_issuance_and_only_the_requester_gets_the_pdf(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    issued = await _issue(api, hub_state, backend)
    assert NUMBER.match(issued["issuance_number"])
    assert numbers.is_valid(issued["issuance_number"].replace("-", ""))
    assert issued["pdf_url"].endswith(f"/v1/issuances/{issued['issuance_number']}/pdf")
    assert issued["qr_payload"].startswith("GY1:")

    pdf = await api.get(f"/v1/issuances/{issued['issuance_number']}/pdf", headers=bearer(hub_state))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert hashlib.sha256(pdf.content).hexdigest() == issued["pdf_sha256"]
    other = await api.get(
        f"/v1/issuances/{issued['issuance_number']}/pdf", headers=bearer(hub_state, "test-agency")
    )
    assert other.status_code == 404
    assert other.json()["type"] == "/problems/issuance-not-found"

    # The QR payload handed out carries the PDF's hash and verifies against the published keys.
    jwks = (await api.get("/.well-known/gongyu/keys")).json()
    result = qr.verify(issued["qr_payload"], qr.TrustList.from_jwks(jwks), datetime.now(UTC))
    assert result.status == "valid" and result.claims is not None
    assert result.claims.pdf_sha256 is not None and result.claims.pdf_sha256.hex() == issued["pdf_sha256"]
    assert (
        result.claims.fields is not None and result.claims.fields["name"] == backend.residents[0]["name_ko"]
    )

    rows = audit_rows(backend)
    issuance = next(r for r in rows if r["event_id"] == issued["audit"]["event_id"])  # type: ignore[index]
    assert issuance["kind"] == "issuance" and issuance["outcome"] == "ok"
    assert str(issuance["basis"]).startswith("issuance:")
    assert issuance["subject_commitment"] == hub_state.committer.commit(
        backend.residents[0]["resident_number"].replace("-", "")
    )
    assert "name" in issuance["fields"]  # type: ignore[operator]
    lookups = [r for r in rows if r["kind"] == "lookup" and r["request_id"] == issuance["request_id"]]
    assert len(lookups) == 1 and lookups[0]["outcome"] == "ok"


def _check(state: HubState, issued: dict[str, str]) -> str:
    """The check code printed beside the number (what a verifier holding the paper types)."""
    return state.issuance._crypto.check_code(issued["issuance_number"].replace("-", ""))


async def test_verify_by_number_alone_is_status_only_and_not_audited(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    issued = await _issue(api, hub_state, backend, 1)
    before, counted = len(audit_rows(backend)), hub_state.issuance.verify_counts["number_status_only"]
    response = await api.post("/v1/verify", json={"issuance_number": issued["issuance_number"]})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["reason"], answer["method"]) == ("valid", "status_only", "number")
    assert answer["document_type"] == "resident_registration_abstract"
    assert answer["document_title"]["ko"] == "주민등록표 초본" and "issued_at" in answer
    assert not {"content", "pdf_sha256", "revocation_reason", "audit"} & set(answer)
    assert backend.residents[1]["name_ko"] not in response.text
    assert len(audit_rows(backend)) == before, "a status-only answer writes no audit row"
    assert hub_state.issuance.verify_counts["number_status_only"] == counted + 1


async def test_verify_by_number_and_check_code_shows_content_with_titles_and_is_audited(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    issued = await _issue(api, hub_state, backend, 1)
    check = _check(hub_state, issued)
    response = await api.post(
        "/v1/verify", json={"issuance_number": issued["issuance_number"], "check": check}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["method"]) == ("valid", "number")
    assert answer["document_type"] == "resident_registration_abstract"
    assert answer["document_title"]["ko"] == "주민등록표 초본"
    assert answer["content"]["fields"]["name"] == backend.residents[1]["name_ko"]
    assert answer["content"]["titles"]["name"] == {"ko": "성명", "en": "Name"}
    assert answer["pdf_sha256"] == issued["pdf_sha256"]
    event = next(r for r in audit_rows(backend) if r["event_id"] == answer["audit"]["event_id"])
    assert (event["kind"], event["actor_kind"], event["outcome"]) == ("verification", "public", "ok")
    assert event["subject_commitment"] is not None

    # A client that verifies with its token is named in the resident's history.
    named = await api.post(
        "/v1/verify",
        json={"issuance_number": issued["issuance_number"].replace("-", ""), "check": check},
        headers=bearer(hub_state, "test-agency"),
    )
    event = next(r for r in audit_rows(backend) if r["event_id"] == named.json()["audit"]["event_id"])
    assert (event["actor_kind"], event["actor_id"]) == ("client", "test-agency")


async def test_verify_by_qr_payload_and_a_forged_payload(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    issued = await _issue(api, hub_state, backend, 2)
    answer = (await api.post("/v1/verify", json={"qr_payload": issued["qr_payload"]})).json()
    assert (answer["status"], answer["method"]) == ("valid", "qr")
    assert answer["content"]["fields"]["name"] == backend.residents[2]["name_ko"]
    assert answer["issuance_number"] == issued["issuance_number"]

    cose = bytearray(qr.unwrap(issued["qr_payload"]))
    cose[-5] ^= 0xFF  # inside the signature
    forged = qr.wrap(bytes(cose))
    answer = (await api.post("/v1/verify", json={"qr_payload": forged})).json()
    assert answer == {"status": "invalid", "reason": "bad_signature", "method": "qr"}


async def test_revoked_document_shows_revoked_by_number_and_by_qr(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    issued = await _issue(api, hub_state, backend, 3, client="test-agency")
    number = issued["issuance_number"]
    refused = await api.post(
        f"/v1/issuances/{number}/revoke", json={"reason": "x"}, headers=bearer(hub_state)
    )
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/revocation-not-allowed"
    agency = bearer(hub_state, "test-agency")
    revoked = await api.post(f"/v1/issuances/{number}/revoke", json={"reason": "발급 오류"}, headers=agency)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    again = await api.post(f"/v1/issuances/{number}/revoke", json={"reason": "twice"}, headers=agency)
    assert again.status_code == 409

    by_number = (await api.post("/v1/verify", json={"issuance_number": number})).json()
    assert (by_number["status"], by_number["reason"]) == ("revoked", "revoked_status_only")
    assert (
        "revoked_at" in by_number and "revocation_reason" not in by_number
    )  # the reason needs the check code
    checked = {"issuance_number": number, "check": _check(hub_state, issued)}
    with_check = (await api.post("/v1/verify", json=checked)).json()
    assert (with_check["status"], with_check["revocation_reason"]) == ("revoked", "발급 오류")
    assert "content" not in with_check
    by_qr = (await api.post("/v1/verify", json={"qr_payload": issued["qr_payload"]})).json()
    assert (by_qr["status"], by_qr["reason"]) == ("revoked", "revoked")
    event = next(r for r in audit_rows(backend) if r["event_id"] == revoked.json()["audit"]["event_id"])
    assert (event["kind"], event["actor_id"]) == ("revocation", "test-agency")


async def test_only_the_issuing_organisation_may_revoke(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    by_agency = (await _issue(api, hub_state, backend, 4, client="test-agency"))["issuance_number"]
    by_bank = (await _issue(api, hub_state, backend, 2))["issuance_number"]
    other = {
        "Authorization": f"Bearer {hub_state.tokens.issue('other-agency', 'agency', 'Other Office', [])}"
    }
    before = len(audit_rows(backend))
    for number, headers in ((by_agency, other), (by_bank, bearer(hub_state, "test-agency"))):
        refused = await api.post(
            f"/v1/issuances/{number}/revoke", json={"reason": "not ours"}, headers=headers
        )
        assert refused.status_code == 404, refused.text
        assert refused.json()["type"] == "/problems/issuance-not-found"  # as if it did not exist
        assert (await api.post("/v1/verify", json={"issuance_number": number})).json()["status"] == "valid"
    assert len(audit_rows(backend)) == before
    never = numbers.display(numbers.generate())
    unknown = await api.post(f"/v1/issuances/{never}/revoke", json={"reason": "x"}, headers=other)
    assert unknown.status_code == 404 and unknown.json() | {"instance": ""} == refused.json() | {
        "instance": ""
    }
    own = await api.post(
        f"/v1/issuances/{by_agency}/revoke",
        json={"reason": "발급 오류"},
        headers=bearer(hub_state, "test-agency"),
    )
    assert own.status_code == 200, own.text


async def test_unknown_number_reveals_nothing_and_a_wrong_check_digit_is_a_clear_422(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    never_issued = numbers.display(numbers.generate())
    before, counted = len(audit_rows(backend)), hub_state.issuance.verify_counts["number_unknown"]
    answer = (await api.post("/v1/verify", json={"issuance_number": never_issued})).json()
    assert set(answer) == {"status", "reason", "method"}
    assert (answer["status"], answer["reason"]) == ("unknown", "not_on_record")
    assert len(audit_rows(backend)) == before, "an unknown number writes no audit row; it is counted"
    assert hub_state.issuance.verify_counts["number_unknown"] == counted + 1

    digits = never_issued.replace("-", "")
    wrong = numbers.display(digits[:-1] + str((int(digits[-1]) + 3) % 10))
    for lang, word in (("en", "check digit"), ("ko", "검사 숫자")):
        response = await api.post(
            "/v1/verify", json={"issuance_number": wrong}, headers={"Accept-Language": lang}
        )
        assert response.status_code == 422
        problem = response.json()
        assert problem["type"] == "/problems/invalid-issuance-number"
        assert problem["reason"] == "check_digit"
        assert word in problem["detail"]
    short = await api.post("/v1/verify", json={"issuance_number": "1234-5678"})
    assert short.status_code == 422 and short.json()["reason"] == "format"
    both = await api.post("/v1/verify", json={"issuance_number": never_issued, "qr_payload": "GY1:"})
    assert both.status_code == 422


async def test_wrong_check_code_answers_unknown(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    issued = await _issue(api, hub_state, backend, 4)
    code = hub_state.issuance._crypto.check_code(issued["issuance_number"].replace("-", ""))
    good = await api.post("/v1/verify", json={"issuance_number": issued["issuance_number"], "check": code})
    assert good.json()["status"] == "valid"
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    before = len(audit_rows(backend))
    bad = await api.post("/v1/verify", json={"issuance_number": issued["issuance_number"], "check": wrong})
    assert set(bad.json()) == {"status", "reason", "method"} and bad.json()["status"] == "unknown"
    assert len(audit_rows(backend)) == before, "a wrong check code writes no audit row; it is counted"
    assert hub_state.issuance.verify_counts["number_check_mismatch"] >= 1


async def test_after_retention_only_metadata_and_no_pdf(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    issued = await _issue(api, hub_state, backend)
    digits = issued["issuance_number"].replace("-", "")
    _sql(
        backend,
        "UPDATE issuances SET retain_until = :t WHERE number = :n",
        t=datetime.now(UTC) - timedelta(seconds=1),
        n=digits,
    )
    answer = (await api.post("/v1/verify", json={"issuance_number": digits})).json()
    assert (answer["status"], answer["reason"]) == ("expired", "retention_elapsed")
    assert "content" not in answer and answer["document_type"] == "resident_registration_abstract"
    gone = await api.get(f"/v1/issuances/{digits}/pdf", headers=bearer(hub_state))
    assert gone.status_code == 410
    assert await hub_state.issuance.repository.purge_expired(datetime.now(UTC)) >= 1
    row = await hub_state.issuance.repository.get(digits)
    assert row is not None and row.content_enc is None and row.pdf_enc is None
    assert row.pdf_sha256 == issued["pdf_sha256"]


async def test_the_published_keys_carry_document_keys_and_the_ca(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    keys = (await api.get("/.well-known/gongyu/keys")).json()["keys"]
    documents = [k for k in keys if k.get("gongyu_purpose") == "document"]
    assert documents and all(k["alg"] == "ES256" and k["crv"] == "P-256" and "nbf" in k for k in documents)
    assert documents[-1]["kid"] == hub_state.issuance.keys.current().kid_text
    (ca,) = [k for k in keys if k.get("gongyu_purpose") == "document-ca"]
    assert ca["x5c"] and ca["nbf"] < ca["exp"]


@pytest.fixture
async def not_issuable_api(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    catalog = load_catalog()
    specs = {name: catalog[name] for name in catalog}
    specs["resident_registration_abstract"] = specs["resident_registration_abstract"].model_copy(
        update={"issuable": False}
    )
    state = build_state(backend.settings, catalog=SpecCatalog(specs, catalog.sources))
    app = create_app(backend.settings, state=state)
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
                client.headers.update(bearer(state))
                yield client
    finally:
        await state.close()


async def test_only_issuable_documents_are_issued(
    not_issuable_api: httpx.AsyncClient, backend: Backend
) -> None:
    response = await not_issuable_api.post(
        "/v1/issuances", json=lookup_body(backend.residents[0]["resident_number"])
    )
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/document-not-issuable"
    event = next(r for r in audit_rows(backend) if r["event_id"] == response.json()["audit_event_id"])
    assert (event["kind"], event["outcome"], event["reason"]) == ("issuance", "denied", "not_issuable")


async def test_issuance_refusals_come_from_the_audited_lookup(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    body = lookup_body(backend.residents[0]["resident_number"], view="with_address_history")
    response = await api.post("/v1/issuances", json=body, headers=bearer(hub_state))
    assert response.status_code == 403 and response.json()["type"] == "/problems/basis-not-allowed"
    assert "audit_event_id" in response.json()
    unauthenticated = await api.post("/v1/issuances", json=body)
    assert unauthenticated.status_code == 401


async def test_the_verify_page_answers_by_number_and_qr_under_a_strict_csp(
    api: httpx.AsyncClient, hub_state: HubState, backend: Backend
) -> None:
    page = await api.get("/verify", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert '<script src="/static/verify_scan.js" defer></script>' in page.text
    assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None  # no inline script
    assert "<style" not in page.text and " style=" not in page.text
    assert "Verify an e-document" in page.text
    assert "전자문서 진위 확인" in (await api.get("/verify")).text

    issued = await _issue(api, hub_state, backend)
    status_only = await api.post("/verify?lang=ko", data={"issuance_number": issued["issuance_number"]})
    assert status_only.status_code == 200
    assert (
        'data-status="valid"' in status_only.text and backend.residents[0]["name_ko"] not in status_only.text
    )
    typed = {"issuance_number": issued["issuance_number"], "check": _check(hub_state, issued)}
    answer = await api.post("/verify?lang=ko", data=typed)
    assert answer.status_code == 200
    assert 'data-status="valid"' in answer.text and backend.residents[0]["name_ko"] in answer.text
    by_qr = await api.post("/verify?lang=en", data={"qr_payload": issued["qr_payload"]})
    assert 'data-status="valid"' in by_qr.text and "Name" in by_qr.text
    bad = await api.post("/verify?lang=en", data={"issuance_number": "1234-5678-9012-3450"})
    assert bad.status_code == 422 and "check digit" in bad.text
    forged = await api.post("/verify?lang=en", data={"qr_payload": "GY1:<script>alert(1)</script>"})
    assert 'data-status="invalid"' in forged.text and "<script>alert" not in forged.text


def _openssl(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


async def test_the_built_in_tsa_answers_openssl_and_its_token_verifies(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    data = tmp_path / "data.txt"
    data.write_text("공유 time-stamp test\n", encoding="utf-8")
    _openssl(
        [
            "openssl",
            "ts",
            "-query",
            "-data",
            str(data),
            "-sha256",
            "-cert",
            "-out",
            str(tmp_path / "req.tsq"),
        ],
    )
    reply = await api.post(
        "/tsa",
        content=(tmp_path / "req.tsq").read_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
    )
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/timestamp-reply"
    (tmp_path / "reply.tsr").write_bytes(reply.content)
    (ca,) = [k for k in (await api.get("/.well-known/gongyu/keys")).json()["keys"] if "x5c" in k]
    der = base64.b64decode(ca["x5c"][0])
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
    (tmp_path / "ca.pem").write_bytes(pem)
    verified = _openssl(
        [
            "openssl",
            "ts",
            "-verify",
            "-data",
            str(data),
            "-in",
            str(tmp_path / "reply.tsr"),
            "-CAfile",
            str(tmp_path / "ca.pem"),
        ],
    )
    assert "Verification: OK" in verified.stdout, verified.stdout + verified.stderr
    text_reply = _openssl(
        ["openssl", "ts", "-reply", "-in", str(tmp_path / "reply.tsr"), "-text"],
    ).stdout
    assert "Status: Granted." in text_reply and "Policy OID: 2.25." in text_reply

    wrong_type = await api.post("/tsa", content=b"x", headers={"Content-Type": "application/octet-stream"})
    assert wrong_type.status_code == 415
    garbage = await api.post(
        "/tsa", content=b"\x30\x03\x02\x01", headers={"Content-Type": "application/timestamp-query"}
    )
    assert garbage.status_code == 200
    (tmp_path / "bad.tsr").write_bytes(garbage.content)
    status = _openssl(
        ["openssl", "ts", "-reply", "-in", str(tmp_path / "bad.tsr"), "-text"],
    ).stdout
    assert "Status: Rejected." in status


async def test_an_unreachable_external_tsa_issues_nothing(backend: Backend) -> None:
    settings = backend.settings.model_copy(update={"tsa_url": "http://127.0.0.1:9/tsa"})
    state = build_state(settings)
    app = create_app(settings, state=state)
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
                body = lookup_body(backend.residents[0]["resident_number"])
                response = await client.post("/v1/issuances", json=body, headers=bearer(state))
                assert response.status_code == 503, response.text
                assert response.json()["type"] == "/problems/tsa-unavailable"
                assert response.headers["retry-after"] == "10"
    finally:
        await state.close()
    engine = create_engine(backend.sync_hub_url())
    with engine.connect() as conn:
        statuses = {row[0] for row in conn.execute(text("SELECT status FROM issuances"))}
    engine.dispose()
    assert "failed" in statuses and "pending" not in statuses
