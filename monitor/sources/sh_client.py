"""sentinelhub-py's download client under the project's retry policy (RELIABILITY.md rule 4).

sentinelhub-py retries 5xx and connection errors with long fixed sleeps, reads Retry-After
without a ceiling and, unless ``max_retries`` is set, loops forever on 429 (SOURCES.md
gotcha 4); its token request has no timeout at all. Here its own retries are reduced to one
attempt (:func:`monitor.sources.sh_settings.make_config`) and :class:`BoundedClient`
wraps every request, token fetches included, in one policy:

- at most ``max_attempts`` attempts per request, and nothing after ``total_timeout_s``
  (each attempt's timeout is cut to the time left);
- 5xx, timeouts, dropped or truncated connections and invalid bodies are retried after a
  doubling pause;
- 429 closes a gate shared by every thread of the client until Retry-After has passed, so
  no request is sent before then; a Retry-After beyond the limits fails at once;
- 401/403 are :class:`~monitor.errors.SourceAuthError`, other 4xx
  :class:`~monitor.errors.SourceError`, neither retried;
- exhaustion is :class:`~monitor.errors.SourceUnavailableError` naming the service and what
  failed; the first fatal error stops the other threads' further attempts.

Sessions (tokens) are held per source (:mod:`monitor.sources.sh_session`), not in
sentinelhub-py's class-wide cache (gotcha 5).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import urlparse

import requests
from sentinelhub.config import SHConfig
from sentinelhub.download.models import DownloadRequest, DownloadResponse
from sentinelhub.download.rate_limit import SentinelHubRateLimit
from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient
from sentinelhub.download.session import SentinelHubSession
from sentinelhub.exceptions import DownloadFailedException

from monitor.errors import SourceAuthError, SourceError, SourceUnavailableError
from monitor.sources.retry_after import parse_retry_after
from monitor.sources.sh_session import SessionHolder, TokenError, redact
from monitor.sources.sh_settings import SHSettings

log = logging.getLogger(__name__)

class InvalidResponseError(SourceError):
    """A complete answer that does not decode into what was asked (retried like a 5xx)."""


# --- the policy ------------------------------------------------------------------------------
@dataclass
class ClientStats:
    """What a client did: attempts sent, retries, 429s, failures by cause."""

    attempts: int = 0
    retries: int = 0
    rate_limited: int = 0
    succeeded: int = 0


class _Gate:
    """Closed until a time (a 429's Retry-After); every thread waits for it to open."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open_at = 0.0

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._open_at = max(self._open_at, time.monotonic() + seconds)

    def open_at(self) -> float:
        with self._lock:
            return self._open_at


def _describe(exc: BaseException) -> str:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection dropped mid-answer (truncated body)"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def _server_message(response: requests.Response | None) -> str:
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return redact(response.text[:200])
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        error = error.get("message") or error.get("reason") or error
    return redact(str(error)[:300])


def _label(request: DownloadRequest) -> str:
    if request.extra_params.get("label"):
        return str(request.extra_params["label"])
    path = urlparse(request.url or "").path
    if "/catalog/" in path:
        return f"the Catalog search ({path})"
    return f"the request to {path}"


class BoundedClient(SentinelHubDownloadClient):
    """A ``SentinelHubDownloadClient`` whose every request follows the retry policy.

    Parameters
    ----------
    config
        From :func:`~monitor.sources.sh_settings.make_config` (one attempt per call).
    settings
        The policy's limits.
    sessions
        Where the source keeps its session.
    on_response
        Called in the download thread with each complete answer; raising
        :class:`InvalidResponseError` makes the attempt count as failed (retried).
    """

    def __init__(self, *, config: SHConfig, settings: SHSettings, sessions: SessionHolder,
                 on_response: Callable[[DownloadRequest, DownloadResponse], None] | None = None
                 ) -> None:
        super().__init__(config=config, default_retry_time=settings.backoff_s)
        self.rate_limit = SentinelHubRateLimit(num_processes=1,
                                               minimum_wait_time=settings.min_interval_s)
        self.settings = settings
        self.sessions = sessions
        self.on_response = on_response
        self.stats = ClientStats()
        self._stats_lock = threading.Lock()
        self._gate = _Gate()
        self._abort = threading.Event()
        self._deadline: float | None = None
        self._service = config.sh_base_url

    def __repr__(self) -> str:
        return f"BoundedClient({self._service!r})"

    @contextmanager
    def budget(self) -> Iterator[None]:
        """Everything inside shares one deadline, ``settings.total_timeout_s`` from now."""
        self._deadline = time.monotonic() + self.settings.total_timeout_s
        self._abort.clear()
        try:
            yield
        finally:
            self._deadline = None

    def get_session(self) -> SentinelHubSession:
        """The source's own session (never sentinelhub-py's class-wide cache)."""
        return self.sessions.get()

    def _count(self, **fields: int) -> None:
        with self._stats_lock:
            for name, n in fields.items():
                setattr(self.stats, name, getattr(self.stats, name) + n)

    def _remaining(self) -> float:
        deadline = self._deadline
        if deadline is None:
            return self.settings.total_timeout_s
        return deadline - time.monotonic()

    def _do_download(self, request: DownloadRequest) -> requests.Response:
        """One HTTP exchange, its timeout cut to the time left; a 429 becomes HTTPError."""
        if request.url is None:
            raise SourceError("a Sentinel Hub request without URL; this is a bug")
        headers = self._prepare_headers(request)  # may fetch a token first
        self._wait_gate(_label(request))  # checked last, right before sending
        timeout = max(0.05, min(self.config.download_timeout_seconds, self._remaining()))
        self._count(attempts=1)
        response = requests.request(request.request_type.value, url=request.url,
                                    json=request.post_values, headers=headers, timeout=timeout)
        if response.status_code == requests.codes.too_many_requests:
            response.raise_for_status()
        return response

    def _wait_gate(self, what: str) -> None:
        deadline = time.monotonic() + self._remaining()
        for _ in range(10_000):  # each turn sleeps until the gate opens; bounded by deadline
            open_at = self._gate.open_at()
            now = time.monotonic()
            if now >= open_at:
                return
            if open_at > deadline:
                self._fail(f"Sentinel Hub at {self._service} is rate limiting {what} for longer "
                           f"than the time left ({max(0.0, deadline - now):.0f} s); retry later "
                           "or raise MONITOR_SH_TOTAL_TIMEOUT")
            if self._abort.wait(open_at - now):
                raise SourceUnavailableError(f"{what}: stopped because another request to "
                                             f"{self._service} failed")

    def _execute_download(self, request: DownloadRequest) -> DownloadResponse:
        """Run ``request`` under the retry policy (see the module docstring)."""
        what = _label(request)
        started = time.monotonic()
        reasons: list[str] = []
        for attempt in range(1, self.settings.max_attempts + 1):
            if self._abort.is_set():
                raise SourceUnavailableError(f"{what}: stopped because another request to "
                                             f"{self._service} failed")
            self._wait_gate(what)
            if self._remaining() <= 0:
                break
            if attempt > 1:
                self._count(retries=1)
            wait = min(self.settings.max_backoff_s, self.settings.backoff_s * 2 ** (attempt - 1))
            try:
                return self._attempt(request)
            except requests.HTTPError as exc:  # only 429 reaches here (see _do_download)
                self._count(rate_limited=1)
                header = exc.response.headers.get("Retry-After") if exc.response is not None \
                    else None
                after = parse_retry_after(header, self.settings.retry_after_unit)
                reasons.append(f"rate limited (HTTP 429, Retry-After {header!r})")
                if after is not None:
                    if after > min(self.settings.max_retry_after_s, self._remaining()):
                        self._fail(f"Sentinel Hub at {self._service} asked to wait {after:.0f} s "
                                   f"before {what} (Retry-After), more than allowed "
                                   f"(MONITOR_SH_MAX_RETRY_AFTER, MONITOR_SH_TOTAL_TIMEOUT); "
                                   "retry later")
                    wait = after
                self._gate.hold(wait)
                log.info("%s: rate limited by %s; waiting %.2f s", what, self._service, wait)
                continue
            except TokenError as exc:
                if exc.permanent:
                    self._fail(f"Sentinel Hub authentication failed: {exc.reason}. Check "
                               "SH_CLIENT_ID and SH_CLIENT_SECRET (and SH_TOKEN_URL for "
                               f"{self._service})", auth=True)
                reasons.append(exc.reason)
            except DownloadFailedException as exc:
                cause = exc.request_exception
                response = getattr(cause, "response", None)
                status = response.status_code if response is not None else None
                if response is not None and status is not None and 400 <= status < 500:
                    self._permanent(status, response, what)
                reasons.append(_describe(cause) if cause is not None else "download failed")
            except InvalidResponseError as exc:
                reasons.append(f"invalid answer ({exc})")
            if attempt == self.settings.max_attempts or wait >= self._remaining():
                break
            log.info("%s: attempt %d to %s failed (%s); retrying in %.2f s", what, attempt,
                     self._service, reasons[-1], wait)
            if self._abort.wait(wait):
                break
        self._fail(
            f"Sentinel Hub at {self._service} did not deliver {what}: {len(reasons)} failed "
            f"attempt(s) in {time.monotonic() - started:.1f} s, last: "
            f"{reasons[-1] if reasons else 'no time left'}. The imagery could not be read, so "
            "no verdict is possible; retry later (limits: MONITOR_SH_MAX_ATTEMPTS, "
            "MONITOR_SH_TIMEOUT, MONITOR_SH_TOTAL_TIMEOUT)")

    def _attempt(self, request: DownloadRequest) -> DownloadResponse:
        response: DownloadResponse = super()._execute_download(request)
        if self.on_response is not None:
            self.on_response(request, response)
        self._count(succeeded=1)
        return response

    def _permanent(self, status: int, response: requests.Response, what: str) -> NoReturn:
        message = _server_message(response)
        if status in (401, 403):
            self._fail(f"Sentinel Hub at {self._service} refused {what} (HTTP {status}: "
                       f"{message}); check that SH_CLIENT_ID/SH_CLIENT_SECRET belong to this "
                       "deployment and that the account may use it (quota, collection access)",
                       auth=True)
        self._fail(f"Sentinel Hub at {self._service} rejected {what} (HTTP {status}: "
                   f"{message}); this request will not succeed by retrying", permanent=True)

    def _fail(self, message: str, *, auth: bool = False, permanent: bool = False) -> NoReturn:
        self._abort.set()
        if auth:
            raise SourceAuthError(redact(message)) from None
        if permanent:
            raise SourceError(redact(message)) from None
        raise SourceUnavailableError(redact(message)) from None
