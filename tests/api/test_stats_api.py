"""Open statistics through the hub: the API, the page's downloads and the page, on SQLite and PostgreSQL.

A day fourteen days back gets 10 lookups from one organisation and 9 from another (organisations of this run
only); the published files show 10 and a suppressed cell, their signed manifest verifies against the hub's
JWKS and fails on an altered file, the page shows the day in six languages, and a range reaching into the
ten-day delay is refused with 400 ``stats-range``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from datetime import UTC, date, datetime, time, timedelta

import httpx
import jwt
import pytest
from jwt.algorithms import OKPAlgorithm

from audit.events import AuditEvent
from audit.stats import DAY_ZONE
from hub import i18n
from hub.state import HubState

pytestmark = pytest.mark.anyio


async def _seed(state: HubState) -> tuple[date, str, str]:
    """A past day with 10 lookups by one organisation and 9 by another, integrated and counted."""
    day = datetime.now(DAY_ZONE).date() - timedelta(days=14)
    token = secrets.token_hex(3)
    ten, nine = f"Stats Bank {token}", f"Stats Office {token}"
    noon = datetime.combine(day, time(12), DAY_ZONE).astimezone(UTC)
    for org, count in ((ten, 10), (nine, 9)):
        for _ in range(count):
            await state.audit.append(
                AuditEvent(
                    kind="lookup",
                    actor_kind="client",
                    actor_id="stats-test",
                    outcome="ok",
                    actor_org=org,
                    document_type="resident_registration_abstract",
                    basis="consent:00000000-0000-0000-0000-000000000000",
                    occurred_at=noon,
                )
            )
    while (await state.integrator.integrate_once()).integrated:
        pass
    refreshed = await state.stats.refresh(since=day, until=day, recount=True)
    assert refreshed.days == [day]
    return day, ten, nine


def _mine(cells: list[dict[str, object]], *orgs: str) -> dict[object, object]:
    return {c["organisation"]: c["lookups"] for c in cells if c["organisation"] in orgs}


async def test_the_files_show_ten_and_suppress_nine_and_their_manifest_verifies(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    day, ten, nine = await _seed(hub_state)
    span = {"from": day.isoformat(), "to": day.isoformat()}
    as_json = await api.get("/v1/stats/lookups", params={**span, "format": "json"})
    assert as_json.status_code == 200, as_json.text
    body = as_json.json()
    assert (body["delay_days"], body["suppressed_below"]) == (10, 10)
    assert _mine(body["cells"], ten, nine) == {ten: 10, nine: None}
    page_file = await api.get("/stats/lookups.json", params=span)
    assert page_file.content == as_json.content  # the page's download is the API's file

    as_csv = await api.get("/stats/lookups.csv", params=span)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {r["organisation"]: r["lookups"] for r in rows if r["organisation"] in (ten, nine)} == {
        ten: "10",
        nine: "<10",
    }

    signed = (await api.get("/v1/stats/lookups/manifest", params={**span, "format": "csv"})).json()
    assert signed == (await api.get("/stats/lookups.manifest.json", params={**span, "format": "csv"})).json()
    manifest = signed["manifest"]
    assert manifest["sha256"] == hashlib.sha256(as_csv.content).hexdigest()
    assert (manifest["size_bytes"], manifest["rows"]) == (len(as_csv.content), len(rows))
    assert manifest["filter"]["from"] == manifest["filter"]["to"] == day.isoformat()
    checkpoint = await hub_state.audit_reader.latest_checkpoint()
    assert checkpoint is not None and 0 < manifest["tree_size"] <= checkpoint.tree_size
    jwks = (await api.get("/.well-known/gongyu/keys")).json()["keys"]
    header = jwt.get_unverified_header(signed["jws"])
    key = OKPAlgorithm.from_jwk(json.dumps(next(k for k in jwks if k["kid"] == header["kid"])))
    payload = jwt.api_jws.PyJWS().decode(signed["jws"], key, algorithms=["EdDSA"])  # type: ignore[arg-type]
    assert json.loads(payload) == manifest
    # An altered file no longer matches the signed hash, and an altered manifest no longer verifies.
    altered = as_csv.content.replace(b",<10\n", b",9\n")  # a reader "recovering" the suppressed cell
    assert altered != as_csv.content and hashlib.sha256(altered).hexdigest() != manifest["sha256"]
    head, _, signature = signed["jws"].split(".")
    forged = {**manifest, "sha256": hashlib.sha256(altered).hexdigest()}
    forged_claims = jwt.utils.base64url_encode(json.dumps(forged).encode()).decode()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.api_jws.PyJWS().decode(f"{head}.{forged_claims}.{signature}", key, algorithms=["EdDSA"])  # type: ignore[arg-type]


async def test_the_stats_page_shows_the_day_in_six_languages(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    day, ten, _ = await _seed(hub_state)
    for lang in i18n.SUPPORTED:
        page = await api.get("/stats", params={"from": day.isoformat(), "to": day.isoformat(), "lang": lang})
        assert page.status_code == 200, page.text
        assert f'<html lang="{lang}">' in page.text
        assert i18n.gettext(lang, "stats", "stats.title").replace("'", "&#39;") in page.text
        assert page.text.count("<svg") == 5 and page.text.count("<table") == 5  # a table beside every chart
        assert ten in page.text
        assert "svg" not in page.headers["content-security-policy"]  # nothing loosened for the charts
    # The page with no range shows the newest published days and links to their files.
    default = await api.get("/stats")
    assert default.status_code == 200 and "/stats/lookups.csv?from=" in default.text


async def test_days_inside_the_delay_are_refused_with_a_problem(api: httpx.AsyncClient) -> None:
    today = datetime.now(DAY_ZONE).date()
    for path in ("/v1/stats/lookups", "/stats/lookups.csv", "/v1/stats/lookups/manifest", "/stats"):
        answer = await api.get(path, params={"to": today.isoformat()}, headers={"Accept-Language": "ko"})
        assert answer.status_code == 400, (path, answer.text)
        problem = answer.json()
        assert problem["type"] == "/problems/stats-range" and "공개" in problem["detail"]
    reversed_range = {
        "from": (today - timedelta(days=20)).isoformat(),
        "to": (today - timedelta(days=30)).isoformat(),
    }
    assert (await api.get("/v1/stats/lookups", params=reversed_range)).status_code == 400
    too_long = {
        "from": (today - timedelta(days=200)).isoformat(),
        "to": (today - timedelta(days=20)).isoformat(),
    }
    assert (await api.get("/v1/stats/lookups", params=too_long)).status_code == 400
    assert (await api.get("/v1/stats/lookups", params={"from": "yesterday"})).status_code == 422
    for edge in ({"to": "0001-01-01"}, {"from": "9999-12-31"}, {"from": "0001-01-01", "to": "9999-12-31"}):
        answer = await api.get("/v1/stats/lookups/manifest", params=edge)
        assert answer.status_code == 400, (edge, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
