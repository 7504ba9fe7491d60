"""GET gzipped blobs over HTTP with many requests in flight on reused connections.

Software Heritage's bucket answers a GET in ~150-200 ms whatever the blob's size, so
throughput is requests in flight / latency: aiohttp keeps `in_flight` keep-alive
connections busy from one event loop (its C HTTP parser is why: httpx's pure-Python
pool costs several times the CPU per request, and aiohttp is already installed as
datasets' fsspec[http] dependency). A shared limiter spaces requests to
`requests_per_second`; 429 and 5xx answers and dropped connections are retried with
exponential backoff and full jitter, never sooner than a Retry-After asks.
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import random
import time
import zlib

import aiohttp
import yarl


SLEEP_MIN = 0.001  # a request due sooner than this goes now: a timer per request would cost more CPU than the GET


class FetchError(RuntimeError):
    """A blob that cannot be fetched; the message names the blob, the answer and the fix."""


class RateLimiter:
    """At most `per_second` acquisitions per second across every task of the event loop."""

    def __init__(self, per_second: float):
        self.interval, self.next = 1.0 / per_second, 0.0

    async def acquire(self) -> None:
        now = time.monotonic()
        slot = max(self.next, now)
        self.next = slot + self.interval
        if slot - now > SLEEP_MIN:
            await asyncio.sleep(slot - now)


def retry_after_seconds(value: str | None) -> float:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; 0 when absent or unreadable."""
    if not value:
        return 0.0
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return 0.0


class BlobFetcher:
    """`await get(blob_id)`: the blob's decompressed bytes, or None when the server says 404.

    `spec` is a content_fetch config section; `key` its config path, for error messages.
    Use as `async with BlobFetcher(...) as fetcher:` (one session, its connections reused).
    """

    def __init__(self, spec: dict, key: str):
        self.base_url, self.key = spec["base_url"].rstrip("/"), key
        self.retries, self.backoff = spec["retries"], spec["backoff_seconds"]
        self.limiter = RateLimiter(spec["requests_per_second"])
        self.in_flight, self.timeout = spec["in_flight"], spec["timeout_seconds"]
        self.session: aiohttp.ClientSession | None = None
        self.requests = self.bytes = 0  # GETs sent, gzipped bytes received

    async def __aenter__(self) -> "BlobFetcher":
        # auto_decompress off: the bucket's objects are gzip files, whatever Content-Encoding says
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.in_flight, ttl_dns_cache=300),
                                             timeout=aiohttp.ClientTimeout(total=self.timeout), auto_decompress=False)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()

    async def get(self, blob_id: str) -> bytes | None:
        url = yarl.URL(f"{self.base_url}/{blob_id}", encoded=True)  # blob ids are hex: nothing to quote
        last = ""
        for attempt in range(self.retries + 1):
            await self.limiter.acquire()
            self.requests += 1
            try:  # the connector's limit holds requests in flight to `in_flight`
                async with self.session.get(url) as response:
                    if response.status == 200:
                        body = await response.read()
                        self.bytes += len(body)
                        return self._decompress(blob_id, url, body)
                    if response.status == 404:
                        return None
                    if response.status != 429 and response.status < 500:
                        raise FetchError(self._refused(blob_id, url, response.status, response.reason))
                    last = f"{response.status} {response.reason}"
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError) as err:
                last, wait = f"{type(err).__name__}: {err}", 0.0
            if attempt < self.retries:  # a backing-off request holds no connection
                await asyncio.sleep(max(wait, random.uniform(0, self.backoff * 2 ** attempt)))
        raise FetchError(f"blob {blob_id}: GET {url} failed {self.retries + 1} times (last: {last}); the server is "
                         f"overloaded or unreachable from this node: lower {self.key}.requests_per_second or "
                         f"{self.key}.in_flight, or check the network, then rerun (the fetch resumes where it "
                         f"stopped)")

    def _decompress(self, blob_id: str, url: str, body: bytes) -> bytes:
        try:
            return gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as err:
            raise FetchError(f"blob {blob_id}: GET {url} answered 200 but the body is not gzip ({err}); "
                             f"{self.key}.base_url must serve Software Heritage's gzipped content objects "
                             f"(s3://softwareheritage/content/<blob_id>)") from None

    def _refused(self, blob_id: str, url: str, status: int, reason: str | None) -> str:
        if status in (401, 403):
            fix = (f"the bucket refuses this client: bulk use needs Software Heritage's agreement and the "
                   f"credentials or endpoint it grants; set {self.key}.base_url to that endpoint")
        else:
            fix = f"check {self.key}.base_url (the blob URL is <base_url>/<blob_id>)"
        return f"blob {blob_id}: GET {url} answered {status} {reason or ''}; {fix}"
