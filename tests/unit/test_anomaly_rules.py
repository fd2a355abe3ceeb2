"""Each anomaly rule fires on the pattern it describes and stays quiet on ordinary traffic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from audit.anomalies import RULES, Event

MONDAY_10_KST = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def ev(i: int, minutes: float, actor: str = "bank-1", subject: str | None = None, outcome: str = "ok",
       basis: str = "statute:KR-FTRA-5-2") -> Event:  # fmt: skip
    return Event(
        i, MONDAY_10_KST + timedelta(minutes=minutes), actor, "Bank", subject or f"s{i}", outcome, basis
    )


def run(rule: str, events: list[Event], **params: float) -> list[str]:
    found = RULES[rule].check(events, {**RULES[rule].params, **params})
    return [a.actor_id for a in found]


def test_many_distinct_subjects_in_a_short_window_is_flagged() -> None:
    fishing = [ev(i, i * 0.1) for i in range(60)]
    assert run("many_subjects", fishing) == ["bank-1"]
    slow = [ev(i, i * 1.0) for i in range(60)]  # 60 residents over an hour: 10 per 10 minutes
    assert run("many_subjects", slow) == []
    same_person = [ev(i, i * 0.1, subject="s0") for i in range(60)]
    assert run("many_subjects", same_person) == []


def test_off_hours_lookups_are_flagged_in_korean_time() -> None:
    office = [ev(1, 0), ev(2, 60 * 8)]  # 10:00 and 18:00 KST on a Monday
    assert run("off_hours", office) == []
    night = [ev(3, 60 * 13)]  # 23:00 KST
    assert run("off_hours", office + night) == ["bank-1"]
    saturday = [ev(4, 60 * 24 * 5)]
    assert run("off_hours", saturday, min_events=1) == ["bank-1"]


def test_a_burst_of_denials_is_flagged() -> None:
    burst = [ev(i, i * 0.2, outcome="denied") for i in range(12)]
    assert run("denial_burst", burst) == ["bank-1"]
    assert run("denial_burst", [ev(i, i * 10, outcome="denied") for i in range(12)]) == []


def test_statutory_rate_far_above_usual_is_flagged() -> None:
    usual = [ev(i, i * 60.0) for i in range(24)]  # one an hour for a day
    spike = [ev(100 + i, 24 * 60 + i * 0.5) for i in range(40)]
    assert run("statutory_rate", usual + spike) == ["bank-1"]
    assert run("statutory_rate", usual) == []
