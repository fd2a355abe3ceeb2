"""Placing an official in a department: ``gongyu applications department USERNAME DEPARTMENT``.

An official sees and moves only the cases of their department (``official_departments``, owned here). The
placement is an operator's act, recorded in the audit log like any other change. ``place_official`` is the
one code path: the ``gongyu`` command, ``gongyu demo`` and ``python -m hub.applications.departments`` (kept
for scripts written before the command existed) all go through it.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditLog
from hub.applications.service import ApplicationService
from hub.auth.accounts import NumberSealer
from hub.auth.models import AccountRow
from hub.keys import load_keyring
from hub.settings import Settings
from hub.uow import Trail, transaction


async def place(session: AsyncSession, service: ApplicationService, username: str, department: str) -> str:
    """Place the official ``username`` in ``department``; its account id (``LookupError``: none)."""
    found = (
        await session.execute(select(AccountRow).where(AccountRow.username == username))
    ).scalar_one_or_none()
    if found is None or found.role != "official":
        raise LookupError(username)
    if department not in {form.department for form in service.forms.values()}:
        raise ValueError(department)
    await service.set_department(session, found.account_id, department, f"cli-{uuid.uuid4().hex[:12]}")
    return found.account_id


async def place_official(settings: Settings, username: str, department: str) -> str:
    """Place ``username`` in ``department`` in one audited transaction of its own; the account id.

    ``LookupError``: no official of that name; ``ValueError``: no form is handled by that department.
    """
    from document_specs.forms import load_forms
    from document_specs.loader import load_catalog
    from hub.cli.common import open_sessions

    keys = load_keyring(settings.effective_key_dir, settings.effective_pepper_file)
    engine, sessions = open_sessions(settings)
    try:
        service = ApplicationService(
            load_forms(load_catalog()), Trail(AuditLog(sessions)), NumberSealer(keys.data_key)
        )
        async with transaction(sessions) as session:
            return await place(session, service, username, department)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m hub.applications.departments USERNAME DEPARTMENT", file=sys.stderr)
        return 2
    try:
        account_id = asyncio.run(place_official(Settings(), args[0], args[1]))
    except LookupError:
        print(f"no official account named {args[0]!r}", file=sys.stderr)
        return 1
    except ValueError:
        print(f"no form is handled by a department named {args[1]!r}", file=sys.stderr)
        return 1
    print(f"{args[0]} ({account_id}) now works in {args[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
