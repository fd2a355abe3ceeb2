"""How often a caller may try: sign-in throttling with exponential back-off, and per-address request limits.

Two kinds of limit, one store (the ``limits`` package's async storage):

- **Sign-in** (``SignInThrottle``): ``/v1/auth/token`` per client id, ``/v1/auth/login`` and the sign-in page
  per account name, all three per source address. What is counted is failures: after ``per_name`` of them for
  one name or client id (``per_address`` for one address, whatever names it tries) the caller gets 429 with
  ``Retry-After``, and each further failure doubles the wait (exponential back-off, capped). A success clears
  the name's or client's record. At the address a success only does not count: were it to clear the record, an
  attacker holding one account could wipe their address's failures by signing in between guesses.

  An attempt is counted *before* its password is checked and uncounted if it succeeds, so a burst of
  concurrent guesses cannot all slip past a limit that only the finished ones would have reached: of 40
  simultaneous wrong passwords for one name, ``per_name`` are checked, plus at most one probe once the
  back-off has run out; the rest are refused at once, without spending Argon2 on them.

- **Requests** (``RequestLimiter``): the anonymous ``POST /v1/verify`` and the public ``POST /tsa`` are
  limited per source address (a moving window), so neither can be used to burn the hub's CPU. A client that
  verifies with a valid token is counted under its client id instead, with a larger allowance.

The store is this process's memory by default (the demo, tests, one worker) and Redis when
``GONGYU_RATE_LIMIT_URL`` is set, so that several workers share the counts: with memory, each worker would let
an attacker have its own ``per_name`` guesses. The sign-out deny list (``hub.auth.revocation``) follows the
same setting. Names and client ids are stored only as truncated SHA-256 digests, so the store holds no user
names.

Locking a name out is itself a nuisance an attacker can cause (guessing wrong for someone else's name); the
back-off is capped at ``max_backoff`` so the owner waits minutes, not forever, and the per-address limit stops
one address from keeping many names locked.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI, Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from hub.auth.revocation import deny_list_for
from hub.errors import Problem

if TYPE_CHECKING:
    from hub.state import HubState


class Throttled(Problem):
    """429 with ``Retry-After``; the sign-in page catches it to show its own page instead of JSON."""

    def __init__(self, slug: str, retry_after: int) -> None:
        super().__init__(429, slug, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignInPolicy:
    per_name: int = 5  # failures of one account name or one client id before back-off starts
    per_address: int = 20  # failures from one source address, whatever names or clients it tries
    first_backoff: int = 1  # seconds; doubled with each further failure
    max_backoff: int = 900
    window: int = 3600  # a record is forgotten this long after its first failure
    probe_seconds: int = 60  # how long one probe attempt may hold its slot (Argon2 takes milliseconds)

    def backoff(self, excess: int) -> int:
        """The wait after the ``excess``-th failure past the limit (0 for the one that reached it)."""
        return int(min(self.max_backoff, self.first_backoff * 2 ** min(max(excess, 0), 30)))


@dataclass(frozen=True)
class RequestPolicy:
    verify_per_address: str = "30/minute"
    verify_per_client: str = "600/minute"
    tsa_per_address: str = "60/minute"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def client_address(request: Request) -> str:
    """The source address as the server saw it (behind a proxy, run uvicorn with ``--proxy-headers``)."""
    return request.client.host if request.client is not None else "-"


@dataclass
class _Slot:
    """One counted attempt under one key, held until the attempt's outcome is known."""

    key: str
    limit: int
    clears_on_success: bool
    probe: bool = False


class Attempt:
    """A sign-in attempt in progress: call ``succeeded()`` when the credentials were right."""

    def __init__(self, throttle: SignInThrottle, slots: list[_Slot]) -> None:
        self._throttle = throttle
        self._slots = slots
        self.ok = False

    def succeeded(self) -> None:
        self.ok = True


class SignInThrottle:
    def __init__(self, storage: Storage, policy: SignInPolicy) -> None:
        self._storage = storage
        self.policy = policy

    @asynccontextmanager
    async def attempt(
        self, *, address: str, name: str | None = None, client_id: str | None = None
    ) -> AsyncIterator[Attempt]:
        """Count one attempt (or raise ``Throttled``); inside, check the credentials and mark success.

        Leaving the block without ``succeeded()`` (a wrong password, or any exception, cancellation included)
        counts as a failure, so dropping the connection mid-check does not save an attacker a try.
        """
        wanted: list[_Slot] = []
        if name is not None:
            wanted.append(_Slot(f"signin/name/{_digest(name.casefold())}", self.policy.per_name, True))
        if client_id is not None:
            wanted.append(_Slot(f"signin/client/{_digest(client_id)}", self.policy.per_name, True))
        wanted.append(_Slot(f"signin/addr/{_digest(address)}", self.policy.per_address, False))
        held: list[_Slot] = []
        try:
            for slot in wanted:
                await self._enter(slot)
                held.append(slot)
        except Throttled:
            for slot in held:
                await self._leave(slot, counted=False)
            raise
        attempt = Attempt(self, held)
        try:
            yield attempt
        finally:
            for slot in held:
                if attempt.ok:
                    await self._succeeded(slot)
                else:
                    await self._failed(slot)

    async def _lock_left(self, key: str) -> int:
        if await self._storage.get(f"{key}/lock") <= 0:
            return 0
        return max(1, math.ceil(await self._storage.get_expiry(f"{key}/lock") - time.time()))

    async def _enter(self, slot: _Slot) -> None:
        waiting = await self._lock_left(slot.key)
        if waiting:
            raise Throttled("too-many-attempts", waiting)
        count = await self._storage.incr(f"{slot.key}/count", self.policy.window)
        if count <= slot.limit:
            return
        # Past the limit and the back-off has run out: one attempt (the probe) may try; others wait for it.
        if await self._storage.incr(f"{slot.key}/probe", self.policy.probe_seconds) == 1:
            slot.probe = True
            return
        await self._storage.incr(f"{slot.key}/count", self.policy.window, amount=-1)
        waiting = await self._lock_left(slot.key)
        raise Throttled("too-many-attempts", waiting or self.policy.backoff(count - slot.limit - 1))

    async def _leave(self, slot: _Slot, *, counted: bool) -> None:
        if not counted:
            await self._storage.incr(f"{slot.key}/count", self.policy.window, amount=-1)
        if slot.probe:
            await self._storage.clear(f"{slot.key}/probe")

    async def _succeeded(self, slot: _Slot) -> None:
        if slot.clears_on_success:
            for part in ("count", "lock", "probe"):
                await self._storage.clear(f"{slot.key}/{part}")
        else:
            await self._leave(slot, counted=False)

    async def _failed(self, slot: _Slot) -> None:
        count = await self._storage.get(f"{slot.key}/count")
        if count >= slot.limit:
            # Reset the lock's expiry (an existing key keeps its old one on increment).
            await self._storage.clear(f"{slot.key}/lock")
            await self._storage.incr(f"{slot.key}/lock", self.policy.backoff(count - slot.limit))
        await self._leave(slot, counted=True)


class RequestLimiter:
    """Per-address (or per-client) request rates for the public endpoints, in a moving window."""

    def __init__(self, storage: Storage, policy: RequestPolicy) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self.verify_per_address: RateLimitItem = parse(policy.verify_per_address)
        self.verify_per_client: RateLimitItem = parse(policy.verify_per_client)
        self.tsa_per_address: RateLimitItem = parse(policy.tsa_per_address)

    async def hit(self, item: RateLimitItem, *identifiers: str) -> None:
        """Count one request, or raise ``Throttled`` (``too-many-requests``) with the wait for a free slot."""
        if await self._limiter.hit(item, *identifiers):
            return
        stats = await self._limiter.get_window_stats(item, *identifiers)
        raise Throttled("too-many-requests", max(1, math.ceil(stats.reset_time - time.time())))


class Guard:
    """The sign-in throttle and the request limiter over one store, one per app."""

    def __init__(
        self,
        storage: Storage,
        sign_in: SignInPolicy | None = None,
        requests: RequestPolicy | None = None,
    ) -> None:
        self.storage = storage
        self.sign_in = SignInThrottle(storage, sign_in or SignInPolicy())
        self.requests = RequestLimiter(storage, requests or RequestPolicy())

    @classmethod
    def from_url(
        cls, url: str | None, sign_in: SignInPolicy | None = None, requests: RequestPolicy | None = None
    ) -> Guard:
        """A ``redis://`` or ``rediss://`` URL: a shared store; ``None`` or ``memory://``: this process's."""
        if not url or url == "memory://":
            return cls(MemoryStorage(), sign_in, requests)
        if url.startswith(("redis://", "rediss://")):
            storage = RedisStorage(f"async+{url}", implementation="redispy", key_prefix="gongyu")
            return cls(storage, sign_in, requests)
        raise ValueError("GONGYU_RATE_LIMIT_URL must be a redis:// or rediss:// URL (or memory://)")


def attach(app: FastAPI, state: HubState) -> None:
    """At start-up: the app's ``Guard`` and the tokens' sign-out list, both in the store the settings name."""
    url = state.settings.rate_limit_url
    app.state.guard = Guard.from_url(url)
    state.tokens.denied = deny_list_for(url)


async def get_guard(request: Request) -> Guard:
    guard: Guard | None = getattr(request.app.state, "guard", None)
    if guard is None:  # an app put together without ``attach`` (a bare test app): this process's memory
        guard = request.app.state.guard = Guard.from_url(None)
    return guard


GuardDep = Annotated[Guard, Depends(get_guard)]


async def limit_verify(request: Request, guard: GuardDep) -> None:
    """``POST /v1/verify``: anonymous callers per address; a client with a valid token under its own id.

    An invalid token counts against the address (it would be refused by the route anyway), so sending a
    made-up ``Authorization`` header is no way around the address's limit.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        hub: HubState = request.app.state.hub
        try:
            client_id = hub.tokens.verify(token.strip()).client_id
        except Problem:
            client_id = None
        if client_id is not None:
            await guard.requests.hit(guard.requests.verify_per_client, "verify-client", _digest(client_id))
            return
    await guard.requests.hit(guard.requests.verify_per_address, "verify", _digest(client_address(request)))


async def limit_tsa(request: Request, guard: GuardDep) -> None:
    """``POST /tsa``: per address (the hub's own issuance stamps in-process and is not counted)."""
    await guard.requests.hit(guard.requests.tsa_per_address, "tsa", _digest(client_address(request)))


async def limit_notice_verify(request: Request, guard: GuardDep) -> None:
    """``POST /v1/notices/verify``: per address, so verification codes cannot be guessed by brute force."""
    await guard.requests.hit(guard.requests.verify_per_address, "notice", _digest(client_address(request)))
