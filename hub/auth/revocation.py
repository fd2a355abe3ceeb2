"""Signed-out tokens: the ``jti`` of every token given up at sign-out, refused until the token would expire.

Access tokens are self-contained (no database read on the hot path), so signing out cannot delete anything:
the token stays cryptographically valid until ``exp``. Sign-out therefore records its ``jti`` here, and
``TokenService`` refuses a recorded ``jti``. An entry lives only as long as the token could (at most
``token_ttl_seconds``), so the list stays small without any sweeping job.

``MemoryDenyList`` (the default) is per process: with several workers, a token signed out on one would still
be accepted by the others. Set ``GONGYU_RATE_LIMIT_URL`` to a Redis URL and ``RedisDenyList`` shares the list
(the same store the sign-in throttle uses, ``hub.ratelimit``).

The check is synchronous because token verification is synchronous everywhere it is called (request
dependencies and page helpers). Against Redis that is one ``EXISTS`` on a connection kept open,
sub-millisecond on the hub's own network; each worker also remembers the tokens it signed out itself, so those
never need the round trip. If Redis cannot be reached, the check falls back to that local memory and logs it:
refusing every signed-in user while Redis is down would turn a cache outage into a full outage, and a missed
sign-out is bounded by the tokens' short lifetime.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import redis

log = logging.getLogger("gongyu.auth")


class DenyList(Protocol):
    def deny(self, jti: str, expires_at: float) -> None:
        """Refuse ``jti`` until ``expires_at`` (a Unix time)."""

    def is_denied(self, jti: str) -> bool: ...


class MemoryDenyList:
    """This process only: right for one worker (the demo, tests); several workers need ``RedisDenyList``."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()  # tokens are verified on the event loop and, rarely, in worker threads

    def deny(self, jti: str, expires_at: float) -> None:
        now = time.time()
        with self._lock:
            # Sweep on write: a sign-out is rare next to a verification, and entries die with their tokens.
            for stale in [k for k, until in self._until.items() if until <= now]:
                del self._until[stale]
            if expires_at > now:
                self._until[jti] = expires_at

    def is_denied(self, jti: str) -> bool:
        until = self._until.get(jti)
        return until is not None and until > time.time()


class RedisDenyList:
    """Shared by every worker through Redis: one key per signed-out ``jti``, expiring with the token."""

    def __init__(self, url: str, *, prefix: str = "gongyu:denied:") -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self._prefix = prefix
        self._local = MemoryDenyList()

    def deny(self, jti: str, expires_at: float) -> None:
        self._local.deny(jti, expires_at)
        seconds = max(1, int(expires_at - time.time()) + 1)
        # Not swallowed: a sign-out that other workers would not see must not be reported as done.
        self._redis.set(self._prefix + jti, b"1", ex=seconds)

    def is_denied(self, jti: str) -> bool:
        if self._local.is_denied(jti):
            return True
        try:
            return bool(self._redis.exists(self._prefix + jti))
        except redis.RedisError as exc:
            log.warning("sign-out list unreachable", extra={"error_type": type(exc).__name__})
            return False

    def close(self) -> None:
        self._redis.close()


def deny_list_for(url: str | None) -> DenyList:
    """Redis when a rate-limit store is configured (``GONGYU_RATE_LIMIT_URL``), else this process's memory."""
    return RedisDenyList(url) if url else MemoryDenyList()
