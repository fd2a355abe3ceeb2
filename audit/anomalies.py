"""Rules that flag access patterns an auditor should look at.

Each rule is a small pure function over the events of a time range, with parameters an auditor can see and
override per request, so a threshold can be tried before it becomes the default. The rules read only what the
log records (actor, subject commitment, time, outcome, basis): they need no document data.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit import repository
from audit.events import iso
from audit.filters import EventFilter

KST = timezone(timedelta(hours=9), "KST")
MAX_ROWS = 200_000


@dataclass(frozen=True)
class Event:
    seq: int
    at: datetime
    actor_id: str
    actor_org: str | None
    subject: str | None
    outcome: str
    basis: str | None


@dataclass(frozen=True)
class Anomaly:
    rule: str
    actor_id: str
    actor_org: str | None
    first_at: str
    last_at: str
    count: int
    detail: str
    # The numbers behind ``detail`` by name, so a page can say the same in the reader's language.
    figures: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    params: dict[str, float]
    check: Callable[[Sequence[Event], dict[str, float]], list[Anomaly]] = field(repr=False)


def _anomaly(rule: str, events: Sequence[Event], detail: str, **figures: float) -> Anomaly:
    return Anomaly(
        rule,
        events[0].actor_id,
        events[0].actor_org,
        iso(events[0].at),
        iso(events[-1].at),
        len(events),
        detail,
        figures,
    )


def _by_actor(events: Sequence[Event]) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event.actor_id].append(event)
    return grouped


def many_subjects(events: Sequence[Event], params: dict[str, float]) -> list[Anomaly]:
    """One actor looking up many distinct residents within a short window (a fishing expedition)."""
    window, threshold = timedelta(minutes=params["window_minutes"]), int(params["distinct_subjects"])
    found = []
    for actor_events in _by_actor([e for e in events if e.subject]).values():
        recent: deque[Event] = deque()
        counts: dict[str, int] = defaultdict(int)
        for event in actor_events:
            recent.append(event)
            counts[str(event.subject)] += 1
            while event.at - recent[0].at > window:
                old = recent.popleft()
                counts[str(old.subject)] -= 1
                if not counts[str(old.subject)]:
                    del counts[str(old.subject)]
            if len(counts) >= threshold:
                found.append(
                    _anomaly(
                        "many_subjects",
                        list(recent),
                        f"{len(counts)} distinct residents within {params['window_minutes']:g} min",
                        distinct=len(counts),
                        window_minutes=params["window_minutes"],
                    )
                )
                recent.clear()
                counts.clear()
    return found


def off_hours(events: Sequence[Event], params: dict[str, float]) -> list[Anomaly]:
    """Lookups outside office hours (Korean time, weekdays), grouped per actor."""
    start, end = int(params["office_start_hour"]), int(params["office_end_hour"])
    found = []
    for actor_events in _by_actor(events).values():
        outside = [
            e
            for e in actor_events
            if (local := e.at.astimezone(KST)).weekday() >= 5 or not start <= local.hour < end
        ]
        if len(outside) >= int(params["min_events"]):
            found.append(
                _anomaly(
                    "off_hours",
                    outside,
                    f"{len(outside)} lookups outside {start:02d}:00-{end:02d}:00 KST",
                    outside=len(outside),
                    start_hour=start,
                    end_hour=end,
                )
            )
    return found


def denial_burst(events: Sequence[Event], params: dict[str, float]) -> list[Anomaly]:
    """A burst of refusals: probing for what a client may see, or a misconfigured integration."""
    window, threshold = timedelta(minutes=params["window_minutes"]), int(params["denials"])
    found = []
    for actor_events in _by_actor([e for e in events if e.outcome == "denied"]).values():
        recent: deque[Event] = deque()
        for event in actor_events:
            recent.append(event)
            while event.at - recent[0].at > window:
                recent.popleft()
            if len(recent) >= threshold:
                found.append(
                    _anomaly(
                        "denial_burst",
                        list(recent),
                        f"{len(recent)} denials within {params['window_minutes']:g} min",
                        denials=len(recent),
                        window_minutes=params["window_minutes"],
                    )
                )
                recent.clear()
    return found


def statutory_rate(events: Sequence[Event], params: dict[str, float]) -> list[Anomaly]:
    """Statutory lookups in the last hour far above the client's usual hourly rate over the range."""
    found = []
    for actor_events in _by_actor([e for e in events if (e.basis or "").startswith("statute:")]).values():
        end = actor_events[-1].at
        last_hour = [e for e in actor_events if end - e.at <= timedelta(hours=1)]
        span_hours = max(1.0, (end - actor_events[0].at).total_seconds() / 3600)
        usual = (len(actor_events) - len(last_hour)) / max(1.0, span_hours - 1)
        if len(last_hour) >= params["min_events"] and len(last_hour) > params["factor"] * max(usual, 1.0):
            found.append(
                _anomaly(
                    "statutory_rate",
                    last_hour,
                    f"{len(last_hour)} statutory lookups in the last hour vs ~{usual:.1f}/h usually",
                    last_hour=len(last_hour),
                    usual_per_hour=round(usual, 1),
                )
            )
    return found


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(
            "many_subjects",
            many_subjects.__doc__ or "",
            {"window_minutes": 10, "distinct_subjects": 50},
            many_subjects,
        ),
        Rule(
            "off_hours",
            off_hours.__doc__ or "",
            {"office_start_hour": 8, "office_end_hour": 20, "min_events": 1},
            off_hours,
        ),
        Rule("denial_burst", denial_burst.__doc__ or "", {"window_minutes": 5, "denials": 10}, denial_burst),
        Rule("statutory_rate", statutory_rate.__doc__ or "", {"factor": 5, "min_events": 20}, statutory_rate),
    )
}


@dataclass
class AnomalyReport:
    since: str
    until: str
    events_examined: int
    truncated: bool
    anomalies: list[Anomaly]
    params: dict[str, dict[str, float]]


async def find(
    sessions: async_sessionmaker[AsyncSession],
    since: datetime,
    until: datetime,
    overrides: dict[str, dict[str, float]] | None = None,
) -> AnomalyReport:
    overrides = overrides or {}
    params = {name: {**rule.params, **overrides.get(name, {})} for name, rule in RULES.items()}
    lookups = EventFilter(kind="lookup", since=since, until=until)
    async with sessions() as session:
        rows: Sequence[Any] = await repository.events_in_order(session, lookups, MAX_ROWS + 1)
    events = [
        Event(r.seq, _utc(r.occurred_at), r.actor_id, r.actor_org, r.subject_commitment, r.outcome, r.basis)
        for r in rows[:MAX_ROWS]
    ]
    events.sort(key=lambda e: (e.at, e.seq))
    anomalies = [a for name, rule in RULES.items() for a in rule.check(events, params[name])]
    return AnomalyReport(iso(since), iso(until), len(events), len(rows) > MAX_ROWS, anomalies, params)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
