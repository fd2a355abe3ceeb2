"""Open statistics: daily counts of lookups, published after a delay with small cells suppressed.

What is counted: every read of a resident's record from its holding agency, i.e. audit events of the kinds in
:data:`LOOKUP_KINDS`, per day (Korean time, :data:`DAY_ZONE`) and per requesting organisation, document type,
basis kind (``consent``, ``statute``, ``mandate``, ``self``, ``other``, ``none``; never the consent id or the
statute code) and outcome. Entries whose disclosure to the resident is delayed are counted like any other: a
cell names no resident and no statute, only a kind of basis.

How it scales: a day is counted once, after it is over (:data:`GRACE` later) and once the latest signed
checkpoint covers every event dated before its end, into ``lookup_stats`` (one row per cell, exact counts)
and ``lookup_stat_days`` (the day is counted, against which tree size). Counting one day is one ``INSERT ...
SELECT ... GROUP BY`` over that day's index range, so a refresh costs one day of the log however long the log
is, and recounting a day replaces its rows (idempotent). Publishing reads only the aggregate.

What is published, decided at read time so that the rules never need a recount:

- only days that ended at least :data:`DELAY` ago (the newest ten days are absent);
- a cell counted below :data:`SUPPRESS_BELOW` is published as suppressed (``"<10"`` in CSV, ``null`` in
  JSON), never as its number; cells with no lookups do not exist;
- no totals. The files hold cell values only, and every sum the page draws (per day, per outcome, per basis
  kind, per document type, per organisation) adds up the published cells only and says how many suppressed
  cells it leaves out. A true total beside a suppressed cell would give the cell away (total minus the shown
  cells), and secondary suppression across four linked dimensions would hide far more than it protects;
  a sum of shown cells is a lower bound that anyone can recompute from the files, so it reveals nothing the
  files do not.

The files are signed like the auditor's exports: the same :class:`audit.export.Manifest` (format, filter,
tree size and root, rows, SHA-256 and size of the body) with the JWS the hub's manifest signer gives
(``audit.exports.SignedManifest``). The tree size is the largest one a published day was counted against, so
anyone holding the log up to that checkpoint can count the same numbers again.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Final, Literal, TypeVar

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import repository, stats_repository
from audit.export import Manifest, csv_cell
from audit.exports import SignedManifest
from audit.stats_models import LookupStatDayRow

StatsFormat = Literal["csv", "json"]
DAY_ZONE: Final = timezone(timedelta(hours=9), "KST")  # the hub serves Korea: a day is a Korean day
DELAY: Final = timedelta(days=10)
SUPPRESS_BELOW: Final = 10
GRACE: Final = timedelta(hours=1)  # a day is counted this long after it ended, when late commits are in
LOOKUP_KINDS: Final = ("lookup", "preview", "application_prefill")
MAX_DAYS: Final = 92  # one download covers at most a quarter: its body is hashed twice (body, manifest)
DEFAULT_DAYS: Final = 7
DATASET: Final = "gongyu-lookups-daily"
KEPT: Final = 64  # manifests and page overviews kept, the least recently made dropped first
CSV_COLUMNS: Final = ("day", "organisation", "document_type", "basis_kind", "outcome", "lookups")
SUPPRESSED_TEXT: Final = f"<{SUPPRESS_BELOW}"


def day_window(day: date) -> tuple[datetime, datetime]:
    """The UTC instants ``[start, end)`` of one Korean day."""
    start = datetime.combine(day, time(0), DAY_ZONE).astimezone(UTC)
    return start, start + timedelta(days=1)


def last_closed_day(now: datetime) -> date:
    """The newest day that ended at least :data:`GRACE` before ``now``."""
    return (now - GRACE).astimezone(DAY_ZONE).date() - timedelta(days=1)


def last_published_day(now: datetime) -> date:
    """The newest day whose every instant lies at least :data:`DELAY` before ``now``."""
    return (now - DELAY).astimezone(DAY_ZONE).date() - timedelta(days=1)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class Cell:
    """One published cell (``lookups`` None: suppressed; organisation or document type None: none)."""

    day: date
    organisation: str | None
    document_type: str | None
    basis_kind: str
    outcome: str
    lookups: int | None


@dataclass(frozen=True)
class Share:
    """One bar of a chart: the sum of the published cells with this value; the suppressed cells left out."""

    value: str
    lookups: int
    suppressed_cells: int


@dataclass(frozen=True)
class Overview:
    """What the page draws for ``[first, last]`` (None when nothing is published yet)."""

    first: date | None
    last: date | None
    by_day: list[Share] = field(default_factory=list)
    by_outcome: list[Share] = field(default_factory=list)
    by_basis_kind: list[Share] = field(default_factory=list)
    by_document_type: list[Share] = field(default_factory=list)
    by_organisation: list[Share] = field(default_factory=list)  # the largest first, at most ``top``
    organisations: int = 0  # how many organisations the window has (the chart shows the top ones)


@dataclass(frozen=True)
class Refreshed:
    """What a refresh counted; ``waiting`` is the first day it left for later (its events not yet covered)."""

    days: list[date]
    lookups: int
    waiting: date | None = None


class NotPublished(ValueError):
    """The days asked for are not (or not yet) published; the message says which range is."""


Clock = Callable[[], datetime]
_Kept = TypeVar("_Kept", SignedManifest, Overview)


class LookupStats:
    """The open statistics' one interface: refresh the aggregate, read what is published, sign the files.

    ``sign`` is the hub's manifest signer (the audit package holds no hub keys), ``known_documents`` the
    catalog's document types (others are counted as ``other``).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sign: Callable[[bytes], str],
        known_documents: Sequence[str] | None = None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._sign = sign
        self._known = sorted(known_documents) if known_documents is not None else None
        self._now = clock
        self._kept: OrderedDict[tuple[object, ...], SignedManifest | Overview] = OrderedDict()

    # -- counting ------------------------------------------------------------------------------------------

    async def refresh(
        self, *, since: date | None = None, until: date | None = None, recount: bool = False
    ) -> Refreshed:
        """Count every closed day not counted yet (from ``since``, default the log's first day).

        ``recount`` counts the days again even if counted (``since``/``until`` bound it). Each day is its own
        transaction under the refresh lock, so two refreshes never count one day at once and an interrupted
        refresh keeps the days it finished. Stops at the first day whose events the latest checkpoint does
        not cover yet, and reports it as ``waiting``.
        """
        now = self._now()
        last = min(last_closed_day(now), until) if until is not None else last_closed_day(now)
        async with self._sessions() as session:
            if since is None:
                oldest = await stats_repository.first_event_time(session)
                if oldest is None:
                    return Refreshed([], 0)
                since = _aware(oldest).astimezone(DAY_ZONE).date()
            done = set() if recount else await stats_repository.counted_days(session, since, last)
            # What the latest checkpoint covers, read once: a day is counted only if all its events are in.
            checkpoint = await repository.latest_checkpoint(session)
            size = checkpoint.tree_size if checkpoint is not None else 0
            pending, uncovered = await repository.pending_summary(session, size)
        blocked_from = _aware(uncovered) if pending and uncovered is not None else None
        counted: list[date] = []
        total = 0
        for day in _days(since, last) if since <= last else []:
            if day in done:
                continue
            start, end = day_window(day)
            if blocked_from is not None and blocked_from < end:
                return Refreshed(counted, total, waiting=day)
            async with self._sessions() as session, session.begin():
                await stats_repository.lock(session)
                if not recount and await stats_repository.counted_days(session, day, day):
                    continue  # another refresh counted it while this one waited for the lock
                lookups, _ = await stats_repository.count_day(
                    session, day, start, end, LOOKUP_KINDS, self._known, size, now
                )
            counted.append(day)
            total += lookups
        return Refreshed(counted, total)

    # -- what is published ---------------------------------------------------------------------------------

    async def published_range(self) -> tuple[date, date] | None:
        """The oldest and newest published days that are counted, or None when none is."""
        newest_allowed = last_published_day(self._now())
        async with self._sessions() as session:
            newest = await stats_repository.newest_counted(session, newest_allowed)
            oldest = await stats_repository.oldest_counted(session)
        if newest is None or oldest is None or oldest > newest:
            return None
        return oldest, newest

    async def resolve(
        self, first: date | None, last: date | None, default_days: int = DEFAULT_DAYS
    ) -> tuple[date, date]:
        """The days a download or page covers: the newest ``default_days`` published ones unless named.

        ``NotPublished`` for a range reaching into the delay, reversed, or longer than :data:`MAX_DAYS`.
        """
        newest_allowed = last_published_day(self._now())
        if last is None:
            published = await self.published_range()
            last = published[1] if published is not None else newest_allowed
        if first is None:
            try:
                first = last - timedelta(days=default_days - 1)
            except OverflowError:  # a "to" in the first days of year 1
                raise NotPublished("from <= to") from None
        if last > newest_allowed:
            raise NotPublished(f"to <= {newest_allowed.isoformat()}")
        if first > last:
            raise NotPublished("from <= to")
        if (last - first).days + 1 > MAX_DAYS:
            raise NotPublished(f"at most {MAX_DAYS} days")
        return first, last

    async def cells(self, first: date, last: date) -> AsyncIterator[list[Cell]]:
        """The published cells, one day at a time (memory holds one day, however long the range)."""
        newest_allowed = last_published_day(self._now())
        for day in _days(first, min(last, newest_allowed)) if first <= last else []:
            async with self._sessions() as session:
                rows = await stats_repository.day_cells(session, day)
            yield [
                Cell(
                    day,
                    row.organisation or None,
                    row.document_type or None,
                    row.basis_kind,
                    row.outcome,
                    row.lookups if row.lookups >= SUPPRESS_BELOW else None,  # suppressed below
                )
                for row in rows
            ]

    async def body(self, first: date, last: date, fmt: StatsFormat) -> AsyncIterator[bytes]:
        """The file's bytes; the same range always gives the same bytes (which the manifest signs)."""
        if fmt == "csv":
            yield _csv_lines([CSV_COLUMNS])
        else:
            head = {
                "dataset": DATASET,
                "from": first.isoformat(),
                "to": last.isoformat(),
                "day_zone": "+09:00",
                "delay_days": DELAY.days,
                "suppressed_below": SUPPRESS_BELOW,
            }
            yield orjson.dumps(head, option=orjson.OPT_SORT_KEYS)[:-1] + b',"cells":['
        started = False
        async for cells in self.cells(first, last):
            if fmt == "csv":
                yield _csv_lines(
                    [
                        (
                            c.day.isoformat(),
                            c.organisation or "",
                            c.document_type or "",
                            c.basis_kind,
                            c.outcome,
                            SUPPRESSED_TEXT if c.lookups is None else str(c.lookups),
                        )
                        for c in cells
                    ]
                )
                continue
            if not cells:
                continue
            encoded = b",\n".join(orjson.dumps(_cell_json(c), option=orjson.OPT_SORT_KEYS) for c in cells)
            yield (b",\n" if started else b"\n") + encoded
            started = True
        if fmt == "json":
            yield b"\n]}\n"

    async def signed_manifest(self, first: date, last: date, fmt: StatsFormat) -> SignedManifest:
        """The manifest of the file for ``[first, last]`` and the hub's JWS over its canonical bytes.

        Making one reads the whole file, so it is kept (see :meth:`_counted`): anyone asking for the same
        manifest again costs one small read.
        """
        counted, key = await self._counted("manifest", first, last, fmt)
        if isinstance(kept := self._kept.get(key), SignedManifest):
            return kept
        digest = hashlib.sha256()
        size = rows = 0
        async for chunk in self.body(first, last, fmt):
            digest.update(chunk)
            size += len(chunk)
            rows += chunk.count(b"\n")
        rows -= 1 if fmt == "csv" else 2  # the header line; JSON's first line and its closing line
        tree_size = max((d.tree_size for d in counted), default=0)
        async with self._sessions() as session:
            checkpoint = await repository.checkpoint_at(session, tree_size) if tree_size else None
        root = base64.b64encode(bytes(checkpoint.root_hash)).decode() if checkpoint is not None else ""
        described: dict[str, str | None] = {
            "dataset": DATASET,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "days_counted": str(len(counted)),
            "day_zone": "+09:00",
            "delay_days": str(DELAY.days),
            "suppressed_below": str(SUPPRESS_BELOW),
        }
        manifest = Manifest(fmt, described, tree_size, root, rows, digest.hexdigest(), size)
        return self._keep(key, SignedManifest(manifest, self._sign(manifest.canonical())))

    async def _counted(self, *what: object) -> tuple[list[LookupStatDayRow], tuple[object, ...]]:
        """The published counted days of ``[first, last]`` (``what[1:3]``) and a key for what is made of them.

        A published day changes only when it is counted again, and the key holds each day's count time,
        totals and tree size, so something kept under it is still right; a recount gives a new key.
        """
        first, last = what[1], what[2]
        assert isinstance(first, date) and isinstance(last, date)
        async with self._sessions() as session:
            counted = list(
                await stats_repository.days(session, first, min(last, last_published_day(self._now())))
            )
        days = tuple((d.day, d.computed_at, d.lookups, d.cells, d.tree_size) for d in counted)
        return counted, (*what, days)

    def _keep(self, key: tuple[object, ...], made: _Kept) -> _Kept:
        self._kept[key] = made
        while len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return made

    async def overview(self, first: date, last: date, top: int = 10) -> Overview:
        """The page's charts over ``[first, last]``: sums of published cells only (see the module doc)."""
        last = min(last, last_published_day(self._now()))
        if first > last:
            return Overview(None, None)
        _, key = await self._counted("overview", first, last, top)
        if isinstance(kept := self._kept.get(key), Overview):
            return kept
        sums: dict[str, list[Share]] = {}
        async with self._sessions() as session:
            for dimension in ("day", *stats_repository.DIMENSIONS):
                found = await stats_repository.shown_sums(session, dimension, first, last, SUPPRESS_BELOW)
                sums[dimension] = [Share(v, s, n) for v, s, n in found]
        organisations = sorted(sums["organisation"], key=lambda s: (-s.lookups, s.value))
        by_day = {s.value: s for s in sums["day"]}
        made = Overview(
            first,
            last,
            by_day=[by_day.get(d.isoformat(), Share(d.isoformat(), 0, 0)) for d in _days(first, last)],
            by_outcome=sorted(sums["outcome"], key=lambda s: (-s.lookups, s.value)),
            by_basis_kind=sorted(sums["basis_kind"], key=lambda s: (-s.lookups, s.value)),
            by_document_type=sorted(sums["document_type"], key=lambda s: (-s.lookups, s.value)),
            by_organisation=organisations[:top],
            organisations=len(organisations),
        )
        return self._keep(key, made)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _cell_json(cell: Cell) -> dict[str, object]:
    return {
        "day": cell.day.isoformat(),
        "organisation": cell.organisation,
        "document_type": cell.document_type,
        "basis_kind": cell.basis_kind,
        "outcome": cell.outcome,
        "lookups": cell.lookups,
    }


def _csv_lines(rows: Sequence[Sequence[str]]) -> bytes:
    """CSV with ``\\n`` line ends; an organisation's name that starts like a formula gets a leading ``'``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return buffer.getvalue().encode()
