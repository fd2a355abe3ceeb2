"""The resident's history page reads a fixed number of statements, however many entries it shows.

The page hands every entry's leaf to the browser's verifier. It once read each leaf in its own query (N+1);
the page now gets the leaves with the entries. The statements are counted at the engine, on both databases,
for a resident with 5 entries and one with 20 (a full page): the counts must be equal and small.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from audit import AuditEvent
from hub.state import HubState
from hub.web.portal import PAGE_SIZE
from hub.web.session import SESSION_COOKIE

pytestmark = pytest.mark.anyio

# The page's events with the latest checkpoint riding on them, and one read of the Merkle nodes of all the
# page's proofs. (With a query per leaf it was 13 statements for 5 entries and 43 for 20; then 3, the
# checkpoint read on its own.)
STATEMENTS = 2
LEAF = re.compile(r'data-leaf="([^"]+)"')


async def _resident_with_history(state: HubState, entries: int) -> dict[str, str]:
    """A resident of their own (a fresh subject commitment) with ``entries`` integrated history entries,
    signed in to the pages by a session cookie minted as the login mints it."""
    commitment = secrets.token_hex(32)
    start = datetime.now(UTC) - timedelta(hours=1)
    for i in range(entries):
        await state.audit.append(
            AuditEvent(
                kind="lookup",
                actor_kind="client",
                actor_id="test-bank",
                actor_org="Test Bank",
                outcome="ok",
                subject_commitment=commitment,
                document_type="resident_registration_abstract",
                view="basic",
                fields=("name",),
                purpose_code="loan-screening",
                basis="statute:KR-FTRA-5-2",
                occurred_at=start + timedelta(seconds=i),
            )
        )
    await state.integrator.integrate_once()
    token = state.tokens.issue_account(str(uuid.uuid4()), "resident", "이력 시험", None, commitment)
    return {SESSION_COOKIE: token}


@contextmanager
def _counted(state: HubState) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))  # (conn, cursor, statement, parameters, context, executemany)

    event.listen(state.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(state.engine.sync_engine, "before_cursor_execute", record)


async def _history_statements(api: httpx.AsyncClient, state: HubState, entries: int) -> list[str]:
    cookies = await _resident_with_history(state, entries)
    api.cookies.clear()
    api.cookies.update(cookies)
    with _counted(state) as statements:
        page = await api.get("/me/history")
    api.cookies.clear()
    assert page.status_code == 200, page.text
    # Every entry is shown with its proof and its leaf, so the leaves were read (not skipped).
    assert len(LEAF.findall(page.text)) == entries
    return statements


async def test_history_page_statements_do_not_grow_with_its_entries(
    api: httpx.AsyncClient, hub_state: HubState
) -> None:
    assert PAGE_SIZE == 20, "20 entries is one full page"
    few = await _history_statements(api, hub_state, 5)
    full = await _history_statements(api, hub_state, 20)
    assert len(few) == len(full) == STATEMENTS, f"5 entries: {few}\n20 entries: {full}"
