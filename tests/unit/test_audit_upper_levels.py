"""The reader's upper tree levels in memory: proofs from them equal the RFC 9162 tree's, and memory is only
ever filled with nodes that check out against the signed root.

The reader holds every node at or above a floor level (``proofs.UpperLevels``) and reads only the nodes below
it. Here the floor is level 2 (span 3, so it rises as the log grows) so that a log of a couple of hundred
leaves has several held levels, is extended at every checkpoint and drops levels as the floor moves up.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from audit import AuditLog
from audit.events import AuditEvent
from audit.integrator import Integrator
from audit.merkle import MemoryTree, leaf_hash, verify_consistency, verify_inclusion
from audit.proofs import UpperLevels
from audit.service import AuditReader
from audit.signer import LogSigner
from hub.db import create_engine, session_factory
from hub.migrate import upgrade
from hub.settings import Settings
from tests.conftest import _drop_pg
from tests.helpers.append_only import lift_append_only

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass
class Log:
    engine: AsyncEngine
    log: AuditLog
    integrator: Integrator
    reader: AuditReader
    appended: int = 0

    async def grow(self, count: int) -> int:
        """Append and integrate ``count`` events; the new published size."""
        for _ in range(count):
            await self.log.append(
                AuditEvent(
                    kind="lookup",
                    actor_kind="client",
                    actor_id="bank-1",
                    outcome="ok",
                    subject_commitment=f"{self.appended:064x}",
                    occurred_at=T0 + timedelta(seconds=self.appended),
                )
            )
            self.appended += 1
        return (await self.integrator.integrate_once()).tree_size

    async def memory(self, size: int) -> MemoryTree:
        leaves = await self.reader.leaves(range(size))
        return MemoryTree([leaf_hash(leaves[i].leaf_bytes) for i in range(size)])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def small_log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Log]:
    name = f"gongyu_t_upper_{secrets.token_hex(4)}"
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'upper.db'}"
        if request.param == "sqlite"
        else f"postgresql+asyncpg://root@127.0.0.1:5432/{name}"
    )
    upgrade(Settings(var_dir=tmp_path, database_url=url))
    engine = create_engine(url)
    sessions = session_factory(engine)
    signer = LogSigner("test.gongyu/log", Ed25519PrivateKey.generate())
    reader = AuditReader(sessions, signer, upper=UpperLevels(floor=2, span=3))
    try:
        yield Log(engine, AuditLog(sessions), Integrator(sessions, signer), reader)
    finally:
        await engine.dispose()
        if request.param == "postgres":
            _drop_pg(name)


async def test_proofs_from_held_upper_levels_equal_the_rfc_trees_as_checkpoints_advance(
    small_log: Log,
) -> None:
    upper = small_log.reader.upper
    previous = 0
    # Sizes 3 .. 200: the held levels are extended at each checkpoint, then the floor rises.
    for batch in (3, 1, 5, 8, 17, 30, 64, 1, 71):
        size = await small_log.grow(batch)
        memory = await small_log.memory(size)
        checkpoint = await small_log.reader.latest_checkpoint()
        assert checkpoint is not None and checkpoint.tree_size == size
        for index in range(size):
            served_size, proof = await small_log.reader.inclusion_proof(index, None)
            assert served_size == size
            assert proof == memory.inclusion_proof(index, size)
            verify_inclusion(memory.leaf_hashes[index], index, size, proof, checkpoint.root_hash)
        lowest = upper.lowest_for(size)
        held = [(level, idx) for level in range(lowest, size.bit_length()) for idx in range(size >> level)]
        assert all(upper.get(node) for node in held), "every node at or above the floor is in memory"
        for older in range(1, size, 7):  # an older tree and a consistency proof to the newest
            index = older // 2
            assert (await small_log.reader.inclusion_proof(index, older))[1] == memory.inclusion_proof(
                index, older
            )
            _, hashes = await small_log.reader.consistency_proof(older, None)
            assert hashes == memory.consistency_proof(older, size)
            verify_consistency(older, size, hashes, memory.root(older), checkpoint.root_hash)
        if previous:
            _, hashes = await small_log.reader.consistency_proof(previous, None)
            assert hashes == memory.consistency_proof(previous, size)
        previous = size
    assert upper.lowest == 5, "at 200 leaves the floor has risen from level 2 to 8 - 3"


async def _set_node(engine: AsyncEngine, level: int, idx: int, digest: bytes) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lift_append_only)  # as a tamperer would have to
        await conn.execute(
            text("UPDATE audit_nodes SET hash = :h WHERE level = :l AND idx = :i"),
            {"h": digest, "l": level, "i": idx},
        )


async def test_an_upper_node_that_does_not_fold_to_the_signed_root_is_not_taken_into_memory(
    small_log: Log, caplog: pytest.LogCaptureFixture
) -> None:
    size = await small_log.grow(40)
    memory = await small_log.memory(size)
    await _set_node(small_log.engine, 3, 1, bytes(32))  # leaves 8..15, held level 3 (floor 3 at size 40)
    with caplog.at_level(logging.ERROR, logger="audit.proofs"):
        _, proof = await small_log.reader.inclusion_proof(0, None)
    assert small_log.reader.upper.size == 0, "nothing held"
    assert "not taken into memory" in caplog.text
    # The proof is what the store says, as without the cache: it names the edited node and does not verify.
    assert proof == [*memory.inclusion_proof(0, size)[:3], bytes(32), *memory.inclusion_proof(0, size)[4:]]
    assert proof != memory.inclusion_proof(0, size)


async def test_held_nodes_are_the_ones_checked_against_the_signed_root(small_log: Log) -> None:
    size = await small_log.grow(40)
    memory = await small_log.memory(size)
    assert (await small_log.reader.inclusion_proof(0, None))[1] == memory.inclusion_proof(0, size)
    assert small_log.reader.upper.size == size
    await _set_node(small_log.engine, 3, 1, bytes(32))  # an edit after the levels were checked and held
    assert (await small_log.reader.inclusion_proof(0, None))[1] == memory.inclusion_proof(0, size)
