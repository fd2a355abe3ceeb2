"""The department dashboard: its figures equal counts over seeded cases (median and rates included), the
CSV says what the JSON says, and only the department's officials see it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import httpx
import pytest

from hub.applications import dashboard
from hub.state import HubState
from tests.applications.support import official_in
from tests.conftest import account_bearer
from tests.disputes.dashboard_seed import DAY, department_forms, seed

pytestmark = pytest.mark.anyio
SEOUL = ZoneInfo("Asia/Seoul")


async def test_figures_equal_counts_over_the_seeded_cases_and_a_paused_case_is_not_overdue(
    hub_state: HubState,
) -> None:
    seeded = department_forms(hub_state)
    today = datetime.now(SEOUL).date()
    now = datetime.combine(today, time(12, 0), tzinfo=SEOUL).astimezone(UTC)  # noon: "today" is unambiguous
    expected = await seed(hub_state, seeded, now, today)
    async with hub_state.sessions() as session:
        board = await dashboard.build(session, seeded.department, [seeded.form_a, seeded.form_b], now)
    a, b = (
        next(f for f in board.forms if f.form_type == form.type) for form in (seeded.form_a, seeded.form_b)
    )

    assert (a.total, a.open, a.due_soon, a.overdue, a.approved, a.rejected) == (6, 3, 0, 1, 2, 1)
    assert {s: n for s, n in a.by_state.items() if n} == {
        "received": 1,
        "in_review": 1,
        "supplementation_requested": 1,
        "completed": 3,
    }
    assert a.median_processing_seconds == (2 * DAY).total_seconds()  # median of 4, 2 and 1 days
    assert a.supplementation_rate == pytest.approx(2 / 6) and a.supplemented_cases == 2
    assert (a.satisfaction_average, a.ratings) == (3.5, 2)

    assert (b.total, b.open, b.due_soon, b.overdue) == (2, 1, 1, 0)
    assert {s: n for s, n in b.by_state.items() if n} == {"withdrawn": 1, "assigned": 1}
    assert (b.median_processing_seconds, b.supplementation_rate, b.satisfaction_average) == (None, 0.0, None)

    totals = board.totals
    assert (totals.total, totals.open, totals.due_soon, totals.overdue) == (8, 4, 1, 1)
    assert totals.supplementation_rate == 0.25 and totals.satisfaction_average == 3.5
    assert totals.median_processing_seconds == (2 * DAY).total_seconds()

    # Today's counter sessions: submitted after 20 minutes, one still waiting, one expired; not yesterday's.
    submitted, waiting, expired = expected["sessions"]
    assert [s.session_id for s in board.sessions] == [submitted, expired, waiting]  # oldest first
    by_status = {s.status: s.waiting_seconds for s in board.sessions}
    assert by_status == {"submitted": 20 * 60.0, "waiting": 5 * 60.0, "expired": 19 * 60.0}
    assert board.median_waiting_seconds == 20 * 60.0


async def test_json_and_csv_agree_and_only_the_departments_officials_see_them(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    seeded = department_forms(hub_state)
    now = datetime.now(UTC)
    await seed(hub_state, seeded, now, now.astimezone(SEOUL).date())
    official = await official_in(hub_state, f"dash-{seeded.department}", seeded.department)
    headers = account_bearer(hub_state, f"dash-{seeded.department}")
    url = f"/v1/departments/{seeded.department}/dashboard"

    answer = await api.get(url, headers=headers)
    assert answer.status_code == 200, answer.text
    board = answer.json()
    assert board["department"] == seeded.department and board["totals"]["total"] == 8
    assert [f["form_type"] for f in board["forms"]] == sorted([seeded.form_a.type, seeded.form_b.type])

    download = await api.get(f"{url}.csv", headers=headers)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [r["form_type"] for r in rows] == [*(f["form_type"] for f in board["forms"]), "*"]
    for row, figures in zip(rows, [*board["forms"], board["totals"]], strict=True):
        for column in dashboard.CSV_COLUMNS[2:]:
            value = figures["by_state"].get(column, figures.get(column))
            assert row[column] == ("" if value is None else str(value)), (column, row, figures)

    # Another department's official, a resident, or a department that does not exist: refused.
    other = await official_in(hub_state, "dash-other-official", "welfare")
    assert other.account_id != official.account_id
    refused = await api.get(url, headers=account_bearer(hub_state, "dash-other-official"))
    assert refused.status_code == 404 and refused.json()["type"] == "/problems/department-not-found"
    assert (await api.get(url, headers=account_bearer(hub_state, "resident0"))).status_code == 403
    missing = await api.get("/v1/departments/no_such_department/dashboard", headers=headers)
    assert missing.status_code == 404
