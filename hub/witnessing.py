"""The hub's side of c2sp.org/tlog-witness: submit new checkpoints to the witnesses, keep their cosignatures.

After the integrator publishes a checkpoint it calls ``Witnessing.notify`` (which returns at once: the writer
never waits for a witness). This module's own task then submits the newest checkpoint to every configured
witness concurrently, each with a consistency proof from the size that witness last cosigned; a ``409`` with
``text/x.tlog.size`` names the size the witness holds and the submission is retried from there. Only
cosignature lines that verify against the configured witness key are stored (``audit.cosignatures``), and the
public checkpoint (``/v1/audit/checkpoint``, tiles ``/checkpoint``) is then the newest one a quorum cosigned,
with their lines appended to its note.

Checkpoints are coalesced: when several are published while a submission is in flight, only the newest is
submitted next (a witness needs no intermediate sizes). Without a wake-up (another process integrated) the
task still looks for a checkpoint newer than what the witnesses hold every ``poll`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import cosignatures
from audit.checkpoint import CheckpointError, parse_note
from audit.service import AuditReader
from audit.witness.protocol import (
    ADD_CHECKPOINT_PATH,
    SIZE_MEDIA_TYPE,
    Cosigner,
    ProtocolError,
    encode_add_checkpoint,
    parse_cosigner_vkey,
    signature_lines,
    verify_cosignature,
)
from hub.settings import WitnessConfig

log = logging.getLogger("gongyu.witnessing")

MAX_CONFLICT_RETRIES = 2
MAX_BACKOFF = 60.0  # seconds between attempts at a witness that keeps failing


@dataclass(frozen=True)
class WitnessTarget:
    url: str
    cosigner: Cosigner
    vkey: str

    @property
    def id(self) -> cosignatures.WitnessId:
        return (self.cosigner.name, self.cosigner.key_id.hex())


class Witnessing:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        reader: AuditReader,
        witnesses: list[WitnessConfig],
        quorum: int,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._reader = reader
        self.targets = [
            WitnessTarget(w.url.rstrip("/"), parse_cosigner_vkey(w.vkey), w.vkey) for w in witnesses
        ]
        self.quorum = quorum
        self._timeout = timeout
        self._transport = transport
        self._clock = clock
        self._monotonic = monotonic
        # A witness that failed is left alone for 1, 2, 4 ... up to MAX_BACKOFF seconds: a hung one would
        # otherwise hold every round (and the healthy witnesses' cosignatures) for its timeout.
        self._failures: dict[cosignatures.WitnessId, int] = {}
        self._retry_at: dict[cosignatures.WitnessId, float] = {}
        self._client: httpx.AsyncClient | None = None
        self._sizes: dict[cosignatures.WitnessId, int] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.targets)

    @property
    def vkeys(self) -> list[str]:
        return [t.vkey for t in self.targets]

    @property
    def ids(self) -> list[cosignatures.WitnessId]:
        return [t.id for t in self.targets]

    def notify(self, tree_size: int) -> None:
        """The integrator published ``tree_size``: wake the task (never blocks, never raises)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, poll: float = 2.0) -> None:
        """Submit the newest checkpoint when woken (or every ``poll`` s) until ``stop``; errors are logged."""
        while not stop.is_set():
            self._wake.clear()  # before the round: a checkpoint published during it wakes the next one
            try:
                await self.submit_latest()
            except Exception as exc:
                log.warning("witness submission round failed", extra={"error_type": type(exc).__name__})
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({waiter, stopper}, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                stopper.cancel()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # Keep-alive connections, as tlog-witness recommends, for one round trip per checkpoint.
            self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)
        return self._client

    async def _known_sizes(self) -> dict[cosignatures.WitnessId, int]:
        if self._sizes is None:
            async with self._sessions() as session:
                self._sizes = await cosignatures.newest_sizes(session, self.ids)
        return self._sizes

    async def submit_latest(self) -> dict[str, str]:
        """Submit the newest checkpoint to each witness that has not cosigned it; outcome per witness name.

        The witnesses are asked concurrently; a consistency proof is read once per starting size, and the
        cosignatures that verify are stored in one transaction (one commit per checkpoint, not per witness).
        """
        if not self.targets:
            return {}
        async with self._lock:  # one round at a time: a witness's size is read and moved by one submission
            latest = await self._reader.latest_checkpoint()
            if latest is None:
                return {}
            sizes = await self._known_sizes()
            now = self._monotonic()
            due = [
                t
                for t in self.targets
                if sizes.get(t.id, 0) < latest.tree_size and self._retry_at.get(t.id, now) <= now
            ]
            proofs: dict[int, asyncio.Task[tuple[int, list[bytes]]]] = {}

            async def proof(old: int) -> list[bytes]:
                if old in (0, latest.tree_size):
                    return []
                if old not in proofs:
                    proofs[old] = asyncio.ensure_future(self._reader.consistency_proof(old, latest.tree_size))
                return (await proofs[old])[1]

            results = await asyncio.gather(
                *(self._submit(t, latest.tree_size, latest.note, proof) for t in due)
            )
            kept = [(t, line) for t, (_, line) in zip(due, results, strict=True) if line is not None]
            if kept:
                async with self._sessions() as session, session.begin():
                    for target, (line, timestamp) in kept:
                        await cosignatures.store(
                            session, latest.tree_size, target.id, line, timestamp, self._clock()
                        )
                for target, _ in kept:
                    sizes[target.id] = latest.tree_size
            for target, (outcome, _) in zip(due, results, strict=True):
                if outcome == "cosigned":
                    self._failures.pop(target.id, None)
                    self._retry_at.pop(target.id, None)
                else:
                    failures = self._failures[target.id] = self._failures.get(target.id, 0) + 1
                    self._retry_at[target.id] = now + min(MAX_BACKOFF, 2.0 ** (failures - 1))
            return {t.cosigner.name: outcome for t, (outcome, _) in zip(due, results, strict=True)}

    async def _submit(
        self, target: WitnessTarget, size: int, note: str, proof: Callable[[int], Awaitable[list[bytes]]]
    ) -> tuple[str, tuple[str, int] | None]:
        """One witness: POST (again from the size a 409 names); the outcome and the verified line, if any."""
        sizes = await self._known_sizes()
        old = sizes.get(target.id, 0)
        name = target.cosigner.name
        for _ in range(1 + MAX_CONFLICT_RETRIES):
            if old > size:
                log.warning("witness holds a newer size than this checkpoint", extra={"witness": name})
                return "ahead", None
            body = encode_add_checkpoint(old, await proof(old), note)
            try:
                response = await self._http().post(target.url + ADD_CHECKPOINT_PATH, content=body)
            except httpx.HTTPError as exc:
                log.warning("witness unreachable", extra={"witness": name, "error_type": type(exc).__name__})
                return "unreachable", None
            media = response.headers.get("content-type", "").split(";")[0].strip()
            if response.status_code == 409 and media == SIZE_MEDIA_TYPE:
                try:
                    old = int(response.text.strip())
                except ValueError:
                    return "refused 409", None
                sizes[target.id] = old
                continue
            if response.status_code != 200:
                log.warning(
                    "witness refused the checkpoint", extra={"witness": name, "status": response.status_code}
                )
                return f"refused {response.status_code}", None
            line = self._verified_line(target, note, response.content)
            return ("cosigned", line) if line is not None else ("bad cosignature", None)
        return "conflict", None

    @staticmethod
    def _verified_line(target: WitnessTarget, note: str, answer: bytes) -> tuple[str, int] | None:
        """The witness's line for our key and its timestamp if it verifies; other lines are ignored."""
        name = target.cosigner.name
        try:
            body, _ = parse_note(note)
            lines = [
                s for s in signature_lines(answer) if (s.name, s.key_id) == (name, target.cosigner.key_id)
            ]
            if len(lines) != 1:
                raise CheckpointError(f"{len(lines)} cosignature lines by the witness's key")
            timestamp = verify_cosignature(body, lines[0], target.cosigner)
        except (CheckpointError, ProtocolError, UnicodeDecodeError) as exc:
            log.warning(
                "witness answered without a valid cosignature", extra={"witness": name, "error": str(exc)}
            )
            return None
        return lines[0].line(), timestamp

    async def served_checkpoint(self) -> tuple[int, str] | None:
        """What ``/v1/audit/checkpoint`` and the tiles' ``/checkpoint`` serve: size and cosigned note."""
        async with self._sessions() as session:
            return await cosignatures.served_checkpoint(session, self.ids, self.quorum)

    async def cosigned_note(self, tree_size: int, note: str) -> str:
        """``note`` (the checkpoint at ``tree_size``) with the cosignature lines stored for that size."""
        if not self.targets:
            return note
        async with self._sessions() as session:
            return cosignatures.with_lines(note, await cosignatures.lines_at(session, tree_size, self.ids))
