"""Locust load for ``POST /v1/lookups``: a bank looking up resident registration abstracts flat out.

Run by ``loadtests.bench``, which prepares the database, the client and the residents file; it can also be
pointed at any hub by hand::

    GONGYU_BENCH_CLIENT_ID=... GONGYU_BENCH_CLIENT_SECRET=... GONGYU_BENCH_RESIDENTS_FILE=residents.txt \\
        locust -f loadtests/locustfile.py --headless -u 32 -r 32 -t 20s --host http://127.0.0.1:8089

There is no think time: the point is the hub's ceiling, not a realistic bank, so every user sends its next
request as soon as the previous one answers (a closed loop; concurrency is the user count).
"""

from __future__ import annotations

import csv
import os
import random
import time
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlencode

import gevent
import gevent.lock
from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

LOOKUP_NAME = "POST /v1/lookups"
TOKEN_NAME = "POST /v1/auth/token"
# Refresh this long before expiry (tokens live 300 s) so no lookup races the token's last second; short-lived
# tokens refresh at 90% of their life instead.
_REFRESH_MARGIN_SECONDS = 30.0


@cache
def _residents() -> tuple[str, ...]:
    """Read once per process: every user shares the list, and a bad file should stop the run at once."""
    path = os.environ.get("GONGYU_BENCH_RESIDENTS_FILE")
    if not path:
        raise RuntimeError("GONGYU_BENCH_RESIDENTS_FILE must name a file of resident numbers, one a line")
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    numbers = tuple(line.strip() for line in lines if line.strip())
    if not numbers:
        raise RuntimeError(f"{path} holds no resident numbers")
    return numbers


def _credentials() -> tuple[str, str]:
    try:
        return os.environ["GONGYU_BENCH_CLIENT_ID"], os.environ["GONGYU_BENCH_CLIENT_SECRET"]
    except KeyError as exc:
        raise RuntimeError(f"{exc.args[0]} must be set (see loadtests.bench)") from None


def _check_config(**_kwargs: object) -> None:
    """Fail before spawning users, rather than as thousands of identical per-request errors."""
    _residents()
    _credentials()


def _write_final_stats(environment: Environment, **_kwargs: object) -> None:
    """Locust's ``--csv`` files are a snapshot taken every second and not rewritten at the end, so they miss
    up to a second of a short run; write the final numbers, in the same format, beside them."""
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if not prefix:
        return
    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    with open(f"{prefix}_stats_final.csv", "w", newline="", encoding="utf-8") as handle:
        writer.requests_csv(csv.writer(handle))
    with open(f"{prefix}_failures_final.csv", "w", newline="", encoding="utf-8") as handle:
        writer.failures_csv(csv.writer(handle))


events.test_start.add_listener(_check_config)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_write_final_stats)  # type: ignore[no-untyped-call]


class _SharedToken:
    """One access token per process, as a bank's integration caches one per client rather than per connection.

    Per-user tokens would also put one password hash per user on the server at start-up, all at once, which
    is not the path being measured and would smear the first seconds' latencies.
    """

    def __init__(self) -> None:
        self.value: str | None = None
        self.refresh_at = 0.0
        self.lock = gevent.lock.Semaphore()

    def usable(self) -> str | None:
        if self.value is not None and time.monotonic() < self.refresh_at:
            return self.value
        return None

    def discard(self, token: str) -> None:
        # Only the token that was refused: another user may already have fetched a newer one.
        if self.value == token:
            self.value, self.refresh_at = None, 0.0


_TOKEN = _SharedToken()


class BankLookupUser(FastHttpUser):
    wait_time = constant(0)
    # One keep-alive connection per user, as a bank's connection pool would hold.
    concurrency = 1

    def on_start(self) -> None:
        self._token()

    def _token(self) -> str | None:
        token = _TOKEN.usable()
        if token is not None:
            return token
        with _TOKEN.lock:
            # Whoever held the lock before us may have fetched it already.
            return _TOKEN.usable() or self._fetch_token()

    def _fetch_token(self) -> str | None:
        client_id, secret = _credentials()
        # RFC 6749 §2.3.1: form-urlencode each part before the Basic join, as the hub expects.
        auth = (quote(client_id, safe=""), quote(secret, safe=""))
        with self.client.post(
            "/v1/auth/token",
            name=TOKEN_NAME,
            data=urlencode({"grant_type": "client_credentials"}),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            auth=auth,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"token: HTTP {response.status_code}")
                return None
            try:
                body = response.json()
                token, ttl = str(body["access_token"]), float(body.get("expires_in", 300))
            except (ValueError, KeyError, TypeError) as exc:
                response.failure(f"token: unreadable body ({type(exc).__name__})")
                return None
        _TOKEN.value = token
        _TOKEN.refresh_at = time.monotonic() + ttl - min(_REFRESH_MARGIN_SECONDS, ttl / 10)
        return token

    @task
    def lookup(self) -> None:
        token = self._token()
        if token is None:
            # Without a token every lookup would be a 401: back off so the failure count stays honest.
            gevent.sleep(1.0)
            return
        body = {
            "document_type": os.environ.get("GONGYU_BENCH_DOCUMENT", "resident_registration_abstract"),
            "view": os.environ.get("GONGYU_BENCH_VIEW", "basic"),
            "subject": {"resident_number": random.choice(_residents())},
            "purpose": {"code": "loan-screening"},
            "basis": {"statute": os.environ.get("GONGYU_BENCH_STATUTE", "KR-FTRA-5-2")},
        }
        with self.client.post(
            "/v1/lookups",
            name=LOOKUP_NAME,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                response.success()
                return
            detail = ""
            try:
                detail = str(response.json().get("type") or "")
            except Exception:  # a non-JSON error body only loses detail
                detail = ""
            response.failure(f"HTTP {response.status_code} {detail}".strip())
            if response.status_code == 401:
                _TOKEN.discard(token)
