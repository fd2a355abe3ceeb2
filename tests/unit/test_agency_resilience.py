"""Deadline, retries and circuit breaker (adapters/resilience.py), with a fake clock where time matters."""

from __future__ import annotations

import asyncio

import pytest

from adapters.base import AgencyError
from adapters.resilience import CircuitBreaker, Resilience, ResiliencePolicy

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _policy(**overrides: float) -> ResiliencePolicy:
    values = {"timeout": 1.0, "retries": 2, "backoff": 0.01, "failure_threshold": 3, "cooldown": 10.0}
    values.update(overrides)
    return ResiliencePolicy(**values)  # type: ignore[arg-type]


def test_breaker_opens_after_consecutive_failures_and_half_opens_after_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker("x", threshold=3, cooldown=10, clock=clock)
    for _ in range(2):
        breaker.acquire()
        breaker.failure()
    assert breaker.state == "closed"
    breaker.acquire()
    breaker.success()  # a success resets the count
    for _ in range(3):
        breaker.acquire()
        breaker.failure()
    assert breaker.state == "open"
    with pytest.raises(AgencyError) as raised:
        breaker.acquire()
    assert raised.value.reason == "circuit_open"
    clock.now += 10
    assert breaker.state == "half_open"
    breaker.acquire()  # the one trial call
    with pytest.raises(AgencyError):
        breaker.acquire()  # a second caller still fails fast
    breaker.failure()  # trial failed: open for another cool-down
    assert breaker.state == "open"
    clock.now += 10
    breaker.acquire()
    breaker.success()
    assert breaker.state == "closed" and breaker.consecutive_failures == 0


async def test_retryable_failures_are_retried_a_bounded_number_of_times() -> None:
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise AgencyError("x", "unavailable", retryable=True)

    resilience = Resilience("x", _policy())
    with pytest.raises(AgencyError) as raised:
        await resilience.call(refused)
    assert raised.value.reason == "unavailable" and calls == 3


async def test_a_retry_succeeds_and_resets_the_breaker() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise AgencyError("x", "unavailable", retryable=True)
        return "ok"

    resilience = Resilience("x", _policy())
    assert await resilience.call(flaky) == "ok" and calls == 2
    assert resilience.breaker.consecutive_failures == 0


async def test_non_retryable_failures_and_non_idempotent_calls_are_not_retried() -> None:
    calls = 0

    async def bad(retryable: bool) -> None:
        nonlocal calls
        calls += 1
        raise AgencyError("x", "bad_response", retryable=retryable)

    resilience = Resilience("x", _policy())
    with pytest.raises(AgencyError):
        await resilience.call(lambda: bad(False))
    with pytest.raises(AgencyError):
        await resilience.call(lambda: bad(True), idempotent=False)
    assert calls == 2


async def test_hung_attempts_are_retried_within_the_deadline_only() -> None:
    calls = 0

    async def hang() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(30)

    resilience = Resilience("x", _policy(timeout=0.5, attempt_timeout=0.2, backoff=0.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AgencyError) as raised:
        await resilience.call(hang)
    elapsed = loop.time() - started
    assert raised.value.reason == "timeout"
    assert calls == 3 and 0.45 <= elapsed < 0.7  # 0.2 + 0.2 + the 0.1 left, never past 0.5


async def test_backoff_is_never_slept_past_the_deadline() -> None:
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise AgencyError("x", "unavailable", retryable=True)

    resilience = Resilience("x", _policy(timeout=0.1, backoff=5.0, backoff_max=5.0), jitter=lambda: 1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AgencyError):
        await resilience.call(refused)
    assert calls == 1 and loop.time() - started < 0.05


async def test_open_breaker_fails_fast_without_calling_and_probe_reports_it() -> None:
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise AgencyError("x", "unavailable")

    clock = Clock()
    resilience = Resilience("x", _policy(failure_threshold=2), clock=clock)
    for _ in range(2):
        with pytest.raises(AgencyError):
            await resilience.call(refused)
    with pytest.raises(AgencyError) as raised:
        await resilience.call(refused)
    assert raised.value.reason == "circuit_open" and calls == 2

    async def healthy() -> None:
        return None

    with pytest.raises(AgencyError) as probed:
        await resilience.probe(healthy)
    assert probed.value.reason == "circuit_open"
    clock.now += 10
    await resilience.probe(healthy)  # half-open: readiness asks the agency again


async def test_cancellation_frees_the_half_open_trial_slot() -> None:
    clock = Clock()
    resilience = Resilience("x", _policy(failure_threshold=1), clock=clock)

    async def refused() -> None:
        raise AgencyError("x", "unavailable")

    with pytest.raises(AgencyError):
        await resilience.call(refused)
    clock.now += 10

    async def hang() -> None:
        await asyncio.sleep(30)

    task = asyncio.ensure_future(resilience.call(hang))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def fine() -> str:
        return "ok"

    assert await resilience.call(fine) == "ok"


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        ResiliencePolicy(timeout=0)
    with pytest.raises(ValueError):
        ResiliencePolicy(failure_threshold=0)
