"""Making one kind of audit write fail, and reading what the hub's database then holds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text

from audit import AuditEvent, EventRef
from hub.state import HubState
from tests.conftest import Backend, audit_rows


@contextmanager
def audit_refuses(state: HubState, kind: str) -> Iterator[None]:
    """The audit write of one kind of event fails (as if the database refused it); others go through."""
    original = state.audit.append_in

    async def failing(session: Any, event: AuditEvent) -> EventRef:
        if event.kind == kind:
            raise OSError("disk full")
        return await original(session, event)

    state.audit.append_in = failing  # type: ignore[method-assign]
    try:
        yield
    finally:
        del state.audit.append_in  # back to the class's method


def scalar(backend: Backend, sql: str, **params: Any) -> Any:
    engine = create_engine(backend.sync_hub_url())
    with engine.connect() as conn:
        value = conn.execute(text(sql), params).scalar()
    engine.dispose()
    return value


def events_of(backend: Backend, kind: str) -> list[dict[str, Any]]:
    return [r for r in audit_rows(backend) if r["kind"] == kind]
