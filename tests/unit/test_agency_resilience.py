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


def _state(breaker: CircuitBreaker) -> str:
    """The state as a plain string: it changes under the test's feet (the clock), which mypy cannot see."""
    return breaker.state


def test_cooldown_starts_short_grows_while_down_and_resets_after_success() -> None:
    """Issue 16 point 13: the first trial comes after 1 s, not the configured 30 s; each failed trial doubles
    the wait up to the configured cool-down; a success makes the next opening short again."""
    clock = Clock()
    breaker = CircuitBreaker("x", threshold=1, cooldown=30, clock=clock)
    breaker.acquire()
    breaker.failure()
    waits: list[float] = []
    for _ in range(7):
        wait = breaker.current_cooldown
        clock.now += wait - 0.01
        assert _state(breaker) == "open"
        with pytest.raises(AgencyError):
            breaker.acquire()  # not a moment early
        clock.now += 0.01
        assert _state(breaker) == "half_open"
        assert breaker.acquire() is True  # this caller is the trial
        breaker.failure(trial=True)
        waits.append(wait)
    assert waits == [1, 2, 4, 8, 16, 30, 30]
    clock.now += 30
    assert breaker.acquire() is True
    breaker.success()
    assert _state(breaker) == "closed" and breaker.current_cooldown == 0
    breaker.acquire()
    breaker.failure()
    assert breaker.current_cooldown == 1, "short again after a success"


def test_first_cooldown_never_exceeds_the_configured_one() -> None:
    clock = Clock()
    breaker = CircuitBreaker("x", threshold=1, cooldown=0.2, clock=clock)
    breaker.acquire()
    breaker.failure()
    assert breaker.current_cooldown == 0.2
    breaker = CircuitBreaker("x", threshold=1, cooldown=0, clock=clock)
    breaker.acquire()
    breaker.failure()
    assert _state(breaker) == "half_open", "a zero cool-down asks again at once"


def test_a_burst_of_failures_opens_once_and_one_trial_runs_at_a_time() -> None:
    """Calls admitted while closed that fail after the circuit opened neither re-open it nor lengthen the wait
    (or one burst of concurrent lookups would push the cool-down to the cap); half-open admits one trial."""
    clock = Clock()
    breaker = CircuitBreaker("x", threshold=3, cooldown=30, clock=clock)
    admitted = [breaker.acquire() for _ in range(10)]
    assert not any(admitted)
    for trial in admitted:
        breaker.failure(trial)
    assert _state(breaker) == "open" and breaker.current_cooldown == 1
    clock.now += 0.99
    assert _state(breaker) == "open"
    clock.now += 0.01
    assert breaker.acquire() is True
    for _ in range(3):
        with pytest.raises(AgencyError):
            breaker.acquire()  # the trial is in flight: everyone else still fails fast
    breaker.failure(False)  # a straggler from before the opening fails meanwhile: not the trial's verdict
    assert _state(breaker) == "half_open"
    with pytest.raises(AgencyError):
        breaker.acquire()
    breaker.success()
    assert _state(breaker) == "closed"


async def test_resilience_asks_again_after_the_short_cooldown_with_the_default_policy() -> None:
    """With the default 30 s cool-down, a dependency back after 1 s is asked (and answers) 1 s later."""
    clock = Clock()
    up = False
    calls = 0

    async def dependency() -> str:
        nonlocal calls
        calls += 1
        if not up:
            raise AgencyError("x", "unavailable")
        return "ok"

    resilience = Resilience("x", ResiliencePolicy(retries=0), clock=clock)
    for _ in range(5):
        with pytest.raises(AgencyError):
            await resilience.call(dependency)
    assert resilience.breaker.is_open() and calls == 5
    up = True
    with pytest.raises(AgencyError) as raised:
        await resilience.call(dependency)
    assert raised.value.reason == "circuit_open" and calls == 5
    clock.now += 1
    assert await resilience.call(dependency) == "ok"
    assert _state(resilience.breaker) == "closed"
