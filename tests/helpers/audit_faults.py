"""Making one kind of audit write fail, and reading what the hub's database then holds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text

from audit import AuditEvent, AuditLog, EventRef
from hub.state import HubState
from tests.conftest import Backend, audit_rows


def failing_appends(audit: AuditLog, kind: str) -> dict[str, Callable[..., Awaitable[EventRef | None]]]:
    """Stand-ins for each of ``audit``'s append methods that fail for events of ``kind`` (as if the database
    refused the write) and pass the others through.

    Every way an event is written fails alike: on its own (``append_in``), joined with its notices in the
    caller's transaction (``append_with``), as a unit of work of its own (``append_alone``, the statutory
    lookup's) or with the consent use it records (``append_alone_if``, the consent lookup's on PostgreSQL).
    """
    append_in, append_with, append_alone = audit.append_in, audit.append_with, audit.append_alone
    append_alone_if = audit.append_alone_if

    def refuse(event: AuditEvent) -> None:
        if event.kind == kind:
            raise OSError("disk full")

    async def failing_in(session: Any, event: AuditEvent) -> EventRef:
        refuse(event)
        return await append_in(session, event)

    async def failing_with(executor: Any, event: AuditEvent, companion: Any, params: Any) -> EventRef:
        refuse(event)
        return await append_with(executor, event, companion, params)

    async def failing_alone(event: AuditEvent, companion: Any, params: Any) -> EventRef:
        refuse(event)
        return await append_alone(event, companion, params)

    async def failing_alone_if(event: AuditEvent, guard: Any, companion: Any, params: Any) -> EventRef | None:
        refuse(event)
        return await append_alone_if(event, guard, companion, params)

    return {
        "append_in": failing_in,
        "append_with": failing_with,
        "append_alone": failing_alone,
        "append_alone_if": failing_alone_if,
    }


@contextmanager
def audit_refuses(state: HubState, kind: str) -> Iterator[None]:
    """The audit write of one kind of event fails (as if the database refused it); others go through."""
    stand_ins = failing_appends(state.audit, kind)
    for name, stand_in in stand_ins.items():
        setattr(state.audit, name, stand_in)
    try:
        yield
    finally:
        for name in stand_ins:
            delattr(state.audit, name)  # back to the class's methods


def scalar(backend: Backend, sql: str, **params: Any) -> Any:
    engine = create_engine(backend.sync_hub_url())
    with engine.connect() as conn:
        value = conn.execute(text(sql), params).scalar()
    engine.dispose()
    return value


def events_of(backend: Backend, kind: str) -> list[dict[str, Any]]:
    return [r for r in audit_rows(backend) if r["kind"] == kind]
