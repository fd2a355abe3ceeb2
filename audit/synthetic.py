"""Bulk synthetic audit log, already integrated, for benchmarks and demos (``gongyu audit seed-synthetic``).

Events look like a busy hub's: about a thousand actors (banks, agencies, district officials) with their
organisations, a couple of hundred thousand residents (as HMAC-like commitments), lookups, issuances,
verifications and consent events with realistic outcomes, purposes and bases, spread over the last 90 days in
append order. They are written exactly as the integrator would leave them: dense leaf indices, leaf hashes
from ``AuditEvent.leaf_bytes()``, every ``audit_nodes`` row (via ``audit.tree.integrate``) and a signed
checkpoint every ``checkpoint_every`` leaves plus one at the final size, so ``audit.verify.verify_log`` passes
on the result. A non-empty log is extended after its last leaf.

PostgreSQL is loaded with ``COPY`` while a pool of worker processes builds and hashes the next chunks (the
event encoding is the expensive part); SQLite gets plain executemany inserts in one transaction. On
PostgreSQL the integrator's advisory lock is held for the whole run, so a running hub integrates nothing in
between and picks up after the seeded leaves.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import multiprocessing
import os
import random
import secrets
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import Connection, Table, create_engine, func, insert, select, text, tuple_
from sqlalchemy.engine import make_url

from audit import tree
from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.events import ActorKind, AuditEvent, Outcome
from audit.integrator import ADVISORY_LOCK_KEY
from audit.merkle import leaf_hash
from audit.models import AuditCheckpointRow, AuditEventRow, AuditNodeRow

__all__ = ["CHECKPOINT_EVERY", "seed_synthetic", "seed_with_progress", "subject_commitment"]

ProgressCallback = Callable[[int, int], None]
CHECKPOINT_EVERY = 100_000
CHUNK = 50_000  # divides CHECKPOINT_EVERY, so checkpoints fall on chunk boundaries
SUBJECTS = 200_000
SPAN = timedelta(days=90)
_POOL_BELOW = 2 * CHUNK  # smaller seeds are built in-process (no worker start-up cost)

_COLUMNS = (
    *("event_id", "leaf_index", "occurred_at", "kind", "actor_kind", "actor_id", "actor_org"),
    *("subject_commitment", "document_type", "view", "fields", "purpose_code", "purpose_text", "basis"),
    *("outcome", "reason", "request_id", "visible_from"),
)


def subject_commitment(i: int) -> str:
    """The ``i``-th synthetic resident's commitment (64 hex digits, like HMAC-SHA256)."""
    return hashlib.sha256(f"gongyu-synthetic-subject-{i}".encode()).hexdigest()


# --------------------------------------------------------------------------- vocabulary

DOCUMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # document type: (views, fields a successful lookup returns)
    "resident_registration_abstract": (
        ("basic", "with_address_history"),
        ("name", "birth_date", "sex", "address", "postal_code", "moved_in_on"),
    ),
    "resident_registration_copy": (("basic", "detailed"), ("name", "address", "household_head", "members")),
    "family_relations_certificate": (("general", "detailed", "specific"), ("name", "birth_date", "family")),
    "basic_certificate": (("general", "detailed"), ("name", "birth_date", "registered_base", "events")),
    "marriage_relations_certificate": (("general", "detailed"), ("name", "spouse", "marriage_date")),
    "health_insurance_eligibility": (("current", "with_history"), ("name", "insured_type", "acquired_on")),
    "income_amount_certificate": (("summary", "detailed"), ("name", "tax_year", "income_total", "tax_paid")),
    "national_tax_payment_certificate": (("basic", "detailed"), ("name", "status", "arrears")),
    "local_tax_payment_certificate": (("basic", "detailed"), ("name", "status", "arrears", "municipality")),
    "building_register": (("basic", "full"), ("address", "owner", "floor_area", "use")),
    "vehicle_registration": (("basic", "full"), ("plate", "owner", "model", "first_registered_on")),
    "business_registration_certificate": (
        ("basic", "full"),
        ("business_name", "representative", "opened_on"),
    ),
}
_DOC_NAMES = tuple(DOCUMENTS)
_DOC_WEIGHTS = (30, 12, 8, 4, 3, 9, 10, 8, 5, 4, 4, 3)
_DOC_POOL = tuple(name for name, weight in zip(_DOC_NAMES, _DOC_WEIGHTS, strict=True) for _ in range(weight))

BANK_PURPOSES = (
    ("loan-screening", "주택담보대출 심사"),
    ("account-opening", "계좌 개설 본인확인"),
    ("credit-card", "신용카드 발급 심사"),
    ("kyc-refresh", "고객확인제도(KYC) 재이행"),
    ("jeonse-loan", "전세자금대출 심사"),
)
AGENCY_PURPOSES = (
    ("benefit-eligibility", "기초연금 수급자격 확인"),
    ("tax-assessment", "지방세 부과 자료 확인"),
    ("civil-petition", "민원 처리"),
    ("housing-subsidy", "주거급여 자격 확인"),
    ("vehicle-transfer", "자동차 이전등록 처리"),
)
STATUTES = ("KR-FTRA-5-2", "KR-RRA-29-2-1", "KR-FRRA-14-1-1", "KR-NTCA-107", "KR-LTCA-5", "KR-BA-38")
COVERT_STATUTES = ("KR-CPA-199-2", "KR-CPA-215")  # investigations: disclosure delayed
BANKS = (
    *(
        "KB국민은행",
        "신한은행",
        "하나은행",
        "우리은행",
        "NH농협은행",
        "IBK기업은행",
        "카카오뱅크",
        "토스뱅크",
    ),
    *("케이뱅크", "부산은행", "대구은행", "광주은행", "SC제일은행", "한국씨티은행", "수협은행", "경남은행"),
)
AGENCIES = (
    *("국민연금공단", "국민건강보험공단", "근로복지공단", "한국토지주택공사", "국세청", "행정안전부"),
    *("보건복지부", "한국장학재단", "주택도시보증공사", "서울보증보험"),
)
DISTRICTS = (
    *(
        "종로구청",
        "중구청",
        "용산구청",
        "성동구청",
        "광진구청",
        "마포구청",
        "강남구청",
        "서초구청",
        "송파구청",
    ),
    *("해운대구청", "수성구청", "유성구청", "분당구청", "일산동구청", "전주시 완산구청", "제주시청"),
)
DENIALS = ("no_consent", "statute_not_allowed", "purpose_mismatch", "view_not_allowed")
AGENCY_ERRORS = ("agency_timeout", "agency_unavailable", "agency_bad_response")
INVALID = ("malformed_request", "unknown_view", "malformed_resident_number")


@dataclass(frozen=True)
class _Actor:
    kind: ActorKind
    id: str
    org: str
    client: bool  # a bank/agency API client (else an official at a counter)
    bank: bool


def _actors() -> tuple[_Actor, ...]:
    actors = [
        _Actor("client", f"bank-{i:03d}", f"{BANKS[i % len(BANKS)]} {i // len(BANKS) + 1}지점", True, True)
        for i in range(160)
    ]
    actors += [
        _Actor("client", f"agency-{i:03d}", AGENCIES[i % len(AGENCIES)], True, False) for i in range(40)
    ]
    actors += [
        _Actor("official", f"official-{i:04d}", DISTRICTS[i % len(DISTRICTS)], False, False)
        for i in range(800)
    ]
    return tuple(actors)


ACTORS = _actors()


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class _Chunk:
    seed: int
    number: int  # position among this run's chunks (seeds the chunk's random stream)
    first_leaf: int
    count: int
    offset: int  # events of this run before the chunk
    total: int  # events in this run
    start_us: int  # first event time, microseconds since the epoch
    span_us: int
    postgres: bool


def _uuid4(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _events(chunk: _Chunk) -> Iterator[AuditEvent]:
    rng = random.Random(f"{chunk.seed}:{chunk.first_leaf}")
    step = max(1, chunk.span_us // max(1, chunk.total))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    subjects = _subjects()
    for i in range(chunk.count):
        g = chunk.offset + i
        moment = epoch + timedelta(
            microseconds=chunk.start_us + g * chunk.span_us // chunk.total + rng.randrange(step)
        )
        actor = ACTORS[int(len(ACTORS) * rng.random() ** 1.5)]
        subject: str | None = subjects[int(SUBJECTS * rng.random() ** 1.2)]
        document: str | None = rng.choice(_DOC_POOL)
        views, doc_fields = DOCUMENTS[document or ""]
        view: str | None = rng.choice(views)
        purposes = BANK_PURPOSES if actor.bank else AGENCY_PURPOSES
        purpose_code: str | None
        purpose_text: str | None
        purpose_code, purpose_text = rng.choice(purposes)
        r = rng.random()
        outcome: Outcome
        if r < 0.88:
            outcome, reason = "ok", "allowed"
        elif r < 0.93:
            outcome, reason = "denied", rng.choice(DENIALS)
        elif r < 0.96:
            outcome, reason = "not_found", "subject_not_found"
        elif r < 0.98:
            outcome, reason = "agency_error", rng.choice(AGENCY_ERRORS)
        else:
            outcome, reason = "invalid", rng.choice(INVALID)
        if actor.bank or rng.random() < 0.3:
            basis: str | None = f"consent:{rng.getrandbits(64):016x}"
        else:
            basis = f"statute:{rng.choice(STATUTES)}"
        visible_from = None
        k = rng.random()
        kind = "lookup"
        if k < 0.06:
            kind = "issuance"
        elif k < 0.10:
            # Verification of an issuance number, often by the public.
            kind = "verification"
            basis = f"issuance:{_uuid4(rng)}"
            purpose_code = purpose_text = None
            if rng.random() < 0.5:
                actor = _Actor("public", "public", "", False, False)
            if outcome != "ok":
                outcome, reason = "not_found", "unknown_number"
                subject = document = view = None
        elif k < 0.105:
            kind = "revocation"
        elif k < 0.112 and actor.client:
            kind = rng.choice(("consent_approve", "consent_use", "consent_revoke"))
        elif actor.kind == "official" and k < 0.116:
            # A covert investigation: in the log now, shown to the resident only later.
            basis = f"statute:{rng.choice(COVERT_STATUTES)}"
            visible_from = moment + timedelta(days=180)
        fields = doc_fields[: 2 + rng.randrange(len(doc_fields) - 1)] if outcome == "ok" else ()
        yield AuditEvent(
            kind=kind,
            actor_kind=actor.kind,
            actor_id=actor.id,
            outcome=outcome,
            actor_org=actor.org or None,
            subject_commitment=subject,
            document_type=document,
            view=view,
            fields=fields,
            purpose_code=purpose_code,
            purpose_text=purpose_text,
            basis=basis,
            reason=reason,
            request_id=f"req-{rng.getrandbits(64):016x}",
            visible_from=visible_from,
            occurred_at=moment,
            event_id=_uuid4(rng),
        )


@functools.cache
def _subjects() -> tuple[str, ...]:
    return tuple(subject_commitment(i) for i in range(SUBJECTS))


def _copy_safe(value: str) -> bool:
    return not any(ch in value for ch in "\\\t\n\r")


# Every string an event holds comes from the vocabulary above or is hex/uuid/decimal, so COPY text needs no
# escaping; checked once here rather than per value.
assert all(
    _copy_safe(word)
    for word in (
        *_DOC_NAMES, *(v for views, fields in DOCUMENTS.values() for v in (*views, *fields)),
        *(w for pair in (*BANK_PURPOSES, *AGENCY_PURPOSES) for w in pair), *STATUTES, *COVERT_STATUTES,
        *BANKS, *AGENCIES, *DISTRICTS, *DENIALS, *AGENCY_ERRORS, *INVALID,
    )
)  # fmt: skip


@functools.cache
def _fields_json(fields: tuple[str, ...]) -> str:
    return json.dumps(list(fields), ensure_ascii=False, separators=(",", ":"))


def _pg_time(moment: datetime | None) -> str:
    return "\\N" if moment is None else moment.isoformat()


def _build(chunk: _Chunk) -> tuple[bytes | list[dict[str, Any]], bytes]:
    """The chunk's rows (COPY text for PostgreSQL, dicts for SQLite) and its leaf hashes, concatenated."""
    hashes = bytearray()
    lines: list[str] = []
    dicts: list[dict[str, Any]] = []
    for i, event in enumerate(_events(chunk)):
        hashes += leaf_hash(event.leaf_bytes())
        leaf = chunk.first_leaf + i
        if chunk.postgres:
            null = "\\N"
            cells = (
                event.event_id, str(leaf), _pg_time(event.occurred_at), event.kind, event.actor_kind,
                event.actor_id, event.actor_org or null, event.subject_commitment or null,
                event.document_type or null, event.view or null, _fields_json(event.fields),
                event.purpose_code or null, event.purpose_text or null, event.basis or null,
                event.outcome, event.reason or null, event.request_id or null, _pg_time(event.visible_from),
            )  # fmt: skip
            lines.append("\t".join(cells))
        else:
            row = {c: getattr(event, c) for c in _COLUMNS if c not in ("leaf_index", "fields")}
            dicts.append({**row, "leaf_index": leaf, "fields": list(event.fields)})
    if chunk.postgres:
        return ("\n".join(lines) + "\n").encode("utf-8") if lines else b"", bytes(hashes)
    return dicts, bytes(hashes)


def _chunks(seed: int, first_leaf: int, count: int, now: datetime, postgres: bool) -> list[_Chunk]:
    """Chunks end on multiples of CHUNK (absolute leaf positions), so checkpoints land on boundaries."""
    start_us = int(((now - SPAN) - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    span_us = int(SPAN / timedelta(microseconds=1))
    chunks, leaf, number = [], first_leaf, 0
    end = first_leaf + count
    while leaf < end:
        stop = min(end, (leaf // CHUNK + 1) * CHUNK)
        chunks.append(
            _Chunk(seed, number, leaf, stop - leaf, leaf - first_leaf, count, start_us, span_us, postgres)
        )
        leaf, number = stop, number + 1
    return chunks


def _produce(
    chunks: Sequence[_Chunk], workers: int
) -> Iterator[tuple[_Chunk, bytes | list[dict[str, Any]], bytes]]:
    """Chunks in order; with ``workers`` > 0 built by a process pool a bounded few chunks ahead."""
    if workers <= 0 or len(chunks) * CHUNK < _POOL_BELOW:
        for chunk in chunks:
            yield (chunk, *_build(chunk))
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        window: deque[tuple[_Chunk, Future[tuple[bytes | list[dict[str, Any]], bytes]]]] = deque()
        pending = iter(chunks)
        for chunk in pending:
            window.append((chunk, pool.submit(_build, chunk)))
            if len(window) >= workers + 2:
                break
        while window:
            chunk, future = window.popleft()
            rows, hashes = future.result()
            nxt = next(pending, None)
            if nxt is not None:
                window.append((nxt, pool.submit(_build, nxt)))
            yield chunk, rows, hashes


# --------------------------------------------------------------------------- loading


class _Tree:
    """The right edge of the log, kept in memory while chunks are appended."""

    def __init__(self, size: int, edge: dict[tree.NodeId, bytes]) -> None:
        self.size = size
        self.edge = edge

    def append(self, hashes: bytes) -> dict[tree.NodeId, bytes]:
        leaves = [hashes[i : i + 32] for i in range(0, len(hashes), 32)]
        created = tree.integrate(self.size, leaves, self._read)
        known = {**self.edge, **created}
        self.size += len(leaves)
        self.edge = {n: known[n] for n in tree.range_nodes(0, self.size)}
        return created

    def _read(self, ids: Any) -> dict[tree.NodeId, bytes]:
        return {i: self.edge[i] for i in ids if i in self.edge}

    def root(self) -> bytes:
        return tree.root(self.size, self._read)


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _sync(url: str) -> str:
    parsed = make_url(url)
    driver = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql+psycopg2"}.get(
        parsed.drivername
    )
    return parsed.set(drivername=driver or parsed.drivername).render_as_string(hide_password=False)


def _load_edge(conn: Connection, size: int) -> dict[tree.NodeId, bytes]:
    ids = tree.range_nodes(0, size)
    if not ids:
        return {}
    nodes = AuditNodeRow.__table__
    rows = conn.execute(
        select(nodes.c.level, nodes.c.idx, nodes.c.hash).where(tuple_(nodes.c.level, nodes.c.idx).in_(ids))
    ).all()
    found = {(int(level), int(idx)): bytes(digest) for level, idx, digest in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise LookupError(f"the existing log lacks tree nodes {missing[:3]}; run the integrator first")
    return found


def seed_synthetic(
    sync_database_url: str,
    count: int,
    signer_key_name: str,
    private_key: Ed25519PrivateKey,
    progress: ProgressCallback | None = None,
    *,
    seed: int | None = None,
    checkpoint_every: int = CHECKPOINT_EVERY,
    workers: int | None = None,
    rebuild_indexes: bool = False,
) -> int:
    """Append ``count`` integrated synthetic events to a migrated hub database; returns the new tree size.

    The same ``seed`` and log size give the same events (the default seed is random, so reruns append new
    events). ``signer_key_name`` is the log's origin (also its key name), ``private_key`` its checkpoint key.
    ``checkpoint_every`` must be a multiple of 50,000 (checkpoints fall on chunk boundaries) except that a
    final checkpoint is always published at the new size.

    ``rebuild_indexes`` (PostgreSQL, for a database nobody else is using, e.g. a benchmark's): drop the event
    table's secondary indexes and unique constraints for the load and rebuild them afterwards, several
    times faster than maintaining them row by row. The table is analyzed at the end either way.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    if checkpoint_every <= 0 or checkpoint_every % CHUNK:
        raise ValueError(f"checkpoint_every must be a positive multiple of {CHUNK}")
    url = _sync(sync_database_url)
    postgres = make_url(url).drivername.startswith("postgresql")
    workers = (os.cpu_count() or 1) if workers is None else workers
    seed = secrets.randbits(64) if seed is None else seed
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if postgres:
                # Session-level: the integrator's per-round try-lock fails until we are done.
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                events = _table(AuditEventRow)
                highest = conn.execute(select(func.max(events.c.leaf_index))).scalar_one_or_none()
                size = 0 if highest is None else int(highest) + 1
                state = _Tree(size, _load_edge(conn, size))
                deferred = _drop_indexes(conn) if postgres and rebuild_indexes else []
                if postgres:
                    conn.commit()
                now = datetime.now(UTC)
                chunks = _chunks(seed, size, count, now, postgres)
                done = 0
                for chunk, rows, hashes in _produce(chunks, workers):
                    created = state.append(hashes)
                    if postgres:
                        assert isinstance(rows, bytes)
                        _copy(conn, rows, created)
                    else:
                        assert isinstance(rows, list)
                        conn.execute(insert(events), rows)
                        conn.execute(
                            insert(_table(AuditNodeRow)),
                            [{"level": lv, "idx": ix, "hash": h} for (lv, ix), h in created.items()],
                        )
                    done += chunk.count
                    if state.size % checkpoint_every == 0 or done == count:
                        root = state.root()
                        note = sign_checkpoint(
                            Checkpoint(signer_key_name, state.size, root), signer_key_name, private_key
                        )
                        conn.execute(
                            insert(_table(AuditCheckpointRow)).values(
                                tree_size=state.size, root_hash=root, note=note, created_at=datetime.now(UTC)
                            )
                        )
                    if postgres:
                        conn.commit()
                    if progress:
                        progress(done, count)
                if not postgres:
                    conn.commit()
                return state.size
            finally:
                if postgres:
                    conn.rollback()
                    _restore_indexes(conn, deferred)
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
                    conn.commit()
    finally:
        engine.dispose()


def _drop_indexes(conn: Connection) -> list[str]:
    """Drop ``audit_events``' unique constraints and secondary indexes; returns the DDL that restores them."""
    constraints = conn.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'audit_events'::regclass AND contype = 'u'"
        )
    ).all()
    indexes = conn.execute(
        text(
            "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid"
            " WHERE x.indrelid = 'audit_events'::regclass AND NOT x.indisprimary"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)"
        )
    ).all()
    restore = []
    for name, definition in constraints:
        conn.execute(text(f'ALTER TABLE audit_events DROP CONSTRAINT "{name}"'))
        restore.append(f'ALTER TABLE audit_events ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        conn.execute(text(f'DROP INDEX "{name}"'))
        restore.append(definition)
    return restore


def _restore_indexes(conn: Connection, restore: list[str]) -> None:
    conn.execute(text("SET maintenance_work_mem = '512MB'"))
    for statement in restore:
        conn.execute(text(statement))
    conn.commit()
    conn.execute(text("ANALYZE audit_events"))
    conn.execute(text("ANALYZE audit_nodes"))
    conn.commit()


def _copy(conn: Connection, rows: bytes, created: dict[tree.NodeId, bytes]) -> None:
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor() as cursor:
        cursor.copy_expert(f"COPY audit_events ({', '.join(_COLUMNS)}) FROM STDIN", io.BytesIO(rows))
        nodes = "".join(f"{lv}\t{ix}\t\\\\x{h.hex()}\n" for (lv, ix), h in created.items())
        cursor.copy_expert("COPY audit_nodes (level, idx, hash) FROM STDIN", io.BytesIO(nodes.encode()))


def seed_with_progress(
    sync_database_url: str,
    count: int,
    origin: str,
    private_key: Ed25519PrivateKey,
    console: Console | None = None,
    *,
    rebuild_indexes: bool = False,
) -> int:
    """``seed_synthetic`` with a progress bar: the body of ``gongyu audit seed-synthetic``."""
    columns = (
        TextColumn("[bold]seeding audit events"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console or Console(stderr=True)) as bar:
        task = bar.add_task("events", total=count)
        return seed_synthetic(
            sync_database_url,
            count,
            origin,
            private_key,
            lambda done, _total: bar.update(task, completed=done),
            rebuild_indexes=rebuild_indexes,
        )
