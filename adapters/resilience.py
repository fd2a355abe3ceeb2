"""Timeouts, bounded retries and a circuit breaker, shared by every adapter kind.

An agency that is down or slow must cost the caller at most its deadline, and an agency that keeps failing
must stop being asked for a while (so the hub neither piles up waiting requests nor hammers a system that is
trying to recover). The rules:

- One overall deadline per fetch (``timeout``), retries and back-off included; each attempt may have a
  shorter one (``attempt_timeout``) so that a retry after a hung attempt still fits.
- Only failures marked ``retryable`` (connection errors, timeouts) are retried, and only for idempotent
  reads; a back-off that would end past the deadline is not slept: the last error is raised instead.
- Circuit breaker: ``closed`` → ``open`` after ``failure_threshold`` consecutive failed fetches; while open,
  fetches fail at once with ``circuit_open``; after a cool-down one trial fetch is let through
  (``half_open``): success closes the circuit, failure opens it for another, longer cool-down.
- The cool-down starts short (``first_cooldown``, 1 s, never above ``cooldown``) and doubles with every
  failed trial up to ``cooldown``; a success resets it. A fixed 30 s cool-down kept the hub refusing lookups
  for 23 s after a 4 s database outage had ended; growing from 1 s, the hub asks again within a few seconds
  of a short outage, while an agency that stays down is still asked only once per ``cooldown``.

Adapters get all of this by subclassing :class:`ResilientAdapter` and implementing ``_fetch_once`` and
``_check_once``; :class:`Resilience` is the same machinery for any other coroutine.
"""

from __future__ import annotations

import asyncio
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from adapters.base import CIRCUIT_OPEN, TIMEOUT, AgencyError, Record

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class ResiliencePolicy:
    timeout: float = 2.0
    attempt_timeout: float | None = None  # None: an attempt may use the whole remaining deadline
    retries: int = 2  # extra attempts after the first one
    backoff: float = 0.05  # first back-off in seconds; doubles per retry, with full jitter
    backoff_max: float = 1.0
    failure_threshold: int = 5
    cooldown: float = 30.0  # the longest the breaker stays open between two trials
    first_cooldown: float = 1.0  # first wait after opening (capped at ``cooldown``), doubled per failed trial

    def __post_init__(self) -> None:
        if self.timeout <= 0 or (self.attempt_timeout is not None and self.attempt_timeout <= 0):
            raise ValueError("timeouts must be positive")
        if self.retries < 0 or self.failure_threshold < 1 or self.cooldown < 0 or self.backoff < 0:
            raise ValueError("retries >= 0, failure_threshold >= 1, cooldown >= 0 and backoff >= 0")
        if self.first_cooldown < 0:
            raise ValueError("first_cooldown >= 0")


class CircuitBreaker:
    """Consecutive-failure breaker with a growing cool-down and a single trial call in the half-open state.

    ``cooldown`` is the cap; the wait after the n-th opening in a row is ``first_cooldown * 2**(n-1)``, capped
    there, so recovery is noticed within about the outage's own length (see the module docstring). Only one
    trial runs at a time: while it is in flight every other caller still fails fast, so a recovering agency
    gets one request rather than the whole backlog.
    """

    def __init__(
        self,
        agency: str,
        threshold: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        first_cooldown: float = 1.0,
    ) -> None:
        self.agency = agency
        self.threshold = threshold
        self.cooldown = cooldown
        self.first_cooldown = min(first_cooldown, cooldown)
        self._clock = clock
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._openings = 0  # times opened since the last success: sets the current wait
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._state == "open" and self._clock() - self._opened_at >= self.current_cooldown:
            return "half_open"
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    @property
    def current_cooldown(self) -> float:
        """How long the breaker stays open this time (0 before it ever opened)."""
        if self._openings == 0:
            return 0.0
        # The exponent is capped so that a dependency down for days cannot overflow the float.
        doublings = min(self._openings - 1, 32)
        return min(self.cooldown, self.first_cooldown * float(2**doublings))

    def is_open(self) -> bool:
        """Open and still cooling down (a half-open breaker is not reported open)."""
        return self.state == "open"

    def acquire(self) -> bool:
        """Let a call through, or raise ``circuit_open``; True when the call is the half-open trial."""
        if self._state == "open":
            if self._clock() - self._opened_at < self.current_cooldown:
                raise AgencyError(self.agency, CIRCUIT_OPEN)
            self._state, self._probing = "half_open", False
        if self._state == "half_open":
            if self._probing:
                raise AgencyError(self.agency, CIRCUIT_OPEN)
            self._probing = True
            return True
        return False

    def success(self) -> None:
        self._state, self._failures, self._openings, self._probing = "closed", 0, 0, False

    def failure(self, trial: bool | None = None) -> None:
        """Count a failed call; ``trial``: was it the half-open trial (None: yes if the breaker is half-open).

        Calls let through while the circuit was still closed may fail after it opened (a burst of concurrent
        lookups against a dead agency): they are counted but neither re-open the circuit nor lengthen its
        cool-down, or one burst would push the wait straight to the cap.
        """
        self._failures += 1
        if trial is None:
            trial = self._state == "half_open"
        if trial or (self._state == "closed" and self._failures >= self.threshold):
            self._state, self._opened_at, self._probing = "open", self._clock(), False
            self._openings += 1

    def release(self, trial: bool = True) -> None:
        """The call ended without a verdict (cancelled): free the half-open trial slot if it held it."""
        if trial:
            self._probing = False


class Resilience:
    """Deadline, retries and breaker around calls to one agency."""

    def __init__(
        self,
        agency: str,
        policy: ResiliencePolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.agency = agency
        self.policy = policy
        self.breaker = CircuitBreaker(
            agency, policy.failure_threshold, policy.cooldown, clock, first_cooldown=policy.first_cooldown
        )
        self._jitter = jitter

    async def call(self, attempt: Callable[[], Awaitable[T]], *, idempotent: bool = True) -> T:
        trial = self.breaker.acquire()
        verdict = False
        try:
            result = await self._attempts(attempt, idempotent)
        except AgencyError:
            verdict = True
            self.breaker.failure(trial)
            raise
        finally:
            if not verdict:
                self.breaker.release(trial)
        self.breaker.success()
        return result

    async def _attempts(self, attempt: Callable[[], Awaitable[T]], idempotent: bool) -> T:
        loop = asyncio.get_running_loop()
        policy = self.policy
        deadline = loop.time() + policy.timeout
        tries = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AgencyError(self.agency, TIMEOUT, retryable=True)
            per_attempt = min(policy.attempt_timeout or policy.timeout, remaining)
            try:
                async with asyncio.timeout(per_attempt):
                    return await attempt()
            except TimeoutError:
                error = AgencyError(self.agency, TIMEOUT, retryable=True, cause="TimeoutError")
            except AgencyError as exc:
                error = exc
            if not (error.retryable and idempotent) or tries >= policy.retries:
                raise error
            delay = min(policy.backoff_max, policy.backoff * 2**tries) * self._jitter()
            if loop.time() + delay >= deadline:
                raise error
            await asyncio.sleep(delay)
            tries += 1

    async def probe(self, check: Callable[[], Awaitable[None]]) -> None:
        """Readiness: report an open breaker without using its trial slot, else run ``check`` once."""
        if self.breaker.is_open():
            raise AgencyError(self.agency, CIRCUIT_OPEN)
        try:
            async with asyncio.timeout(self.policy.attempt_timeout or self.policy.timeout):
                await check()
        except TimeoutError:
            raise AgencyError(self.agency, TIMEOUT, retryable=True, cause="TimeoutError") from None


class ResilientAdapter(ABC):
    """Adapter base: ``fetch`` and ``check`` run single attempts under the agency's :class:`Resilience`."""

    kind: str

    def __init__(self, name: str, policy: ResiliencePolicy) -> None:
        self.name = name
        self.policy = policy
        self.resilience = Resilience(name, policy)

    @property
    def timeout(self) -> float:
        return self.policy.timeout

    @property
    def breaker(self) -> CircuitBreaker:
        return self.resilience.breaker

    async def fetch(self, query: Mapping[str, Any], subject: str, fields: Collection[str]) -> Record | None:
        return await self.resilience.call(lambda: self._fetch_once(query, subject, fields))

    async def check(self) -> None:
        await self.resilience.probe(self._check_once)

    @abstractmethod
    def validate_query(self, query: Mapping[str, Any]) -> None: ...

    @abstractmethod
    async def _fetch_once(
        self, query: Mapping[str, Any], subject: str, fields: Collection[str]
    ) -> Record | None: ...

    @abstractmethod
    async def _check_once(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...
