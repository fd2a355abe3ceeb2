"""What the REST and SOAP adapters share: one pooled httpx client per agency and a guarded body reader.

The body is read as a stream and abandoned as soon as it passes the size limit (a declared Content-Length
over the limit is refused before reading), redirects are never followed, and every transport failure is
mapped to a stable reason: connection problems to ``unavailable`` and timeouts to ``timeout`` (both
retryable), anything the agency says that we will not read to ``bad_response``. A response that drips slowly
is cut off by the agency's overall deadline (:mod:`adapters.resilience`), whatever its per-read timeout.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from adapters.base import BAD_RESPONSE, TIMEOUT, UNAVAILABLE, AgencyError
from adapters.resilience import ResiliencePolicy, ResilientAdapter

MAX_RESPONSE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    media_type: str  # lower-case type/subtype without parameters
    charset: str | None
    body: bytes


def parse_content_type(header: str | None) -> tuple[str, str | None]:
    if not header:
        return "", None
    media, *params = header.split(";")
    charset = None
    for param in params:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


class HttpAdapter(ResilientAdapter):
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        policy: ResiliencePolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        pool_size: int = 20,
        health_path: str = "/health",
    ) -> None:
        super().__init__(name, policy or ResiliencePolicy())
        per_attempt = self.policy.attempt_timeout or self.policy.timeout
        self.max_response_bytes = max_response_bytes
        self.health_path = health_path
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            transport=transport,
            timeout=httpx.Timeout(per_attempt),
            limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": "gongyu-hub"},
        )

    async def _post(self, path: str, content: bytes, headers: dict[str, str]) -> Answer:
        try:
            async with self.client.stream("POST", path, content=content, headers=headers) as response:
                return await self._read(response)
        except httpx.TimeoutException as exc:
            raise AgencyError(self.name, TIMEOUT, retryable=True, cause=type(exc).__name__) from None
        except httpx.TransportError as exc:  # connect/read/write errors, protocol errors
            raise AgencyError(self.name, UNAVAILABLE, retryable=True, cause=type(exc).__name__) from None
        except httpx.HTTPError as exc:  # decoding errors (e.g. a broken gzip body) and the like
            raise AgencyError(self.name, BAD_RESPONSE, cause=type(exc).__name__) from None

    async def _read(self, response: httpx.Response) -> Answer:
        declared = response.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_response_bytes:
                raise AgencyError(self.name, BAD_RESPONSE, cause="content-length")
        body = bytearray()
        async for chunk in response.aiter_bytes():  # decoded bytes: a compression bomb counts in full
            body += chunk
            if len(body) > self.max_response_bytes:
                raise AgencyError(self.name, BAD_RESPONSE, cause="body-too-large")
        media_type, charset = parse_content_type(response.headers.get("content-type"))
        return Answer(response.status_code, media_type, charset, bytes(body))

    async def _check_once(self) -> None:
        try:
            async with self.client.stream("GET", self.health_path) as streamed:
                response = await self._read(streamed)
        except httpx.TimeoutException as exc:
            raise AgencyError(self.name, TIMEOUT, retryable=True, cause=type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise AgencyError(self.name, UNAVAILABLE, retryable=True, cause=type(exc).__name__) from None
        if response.status != 200:
            raise AgencyError(self.name, UNAVAILABLE, cause=f"http-{response.status}")

    async def close(self) -> None:
        await self.client.aclose()
