"""HTTP for STAC API sources: bounded retries honouring Retry-After, typed errors, redaction.

Every request to a STAC API (landing page, search pages) and to a SAS token endpoint goes
through :func:`call_with_retries`:

- connection errors, timeouts, HTTP 408, 429 and 5xx are retried ``retries`` times, waiting
  ``backoff * 2**n`` seconds, or exactly what ``Retry-After`` asks (seconds or an HTTP date;
  no request is sent before it expires); a Retry-After longer than ``max_retry_after`` ends
  the attempts at once; the last failure becomes :class:`SourceUnavailableError`;
- 401 and 403 become :class:`SourceAuthError` at once, without the server's text (it could
  repeat a credential);
- any other 4xx is permanent (a wrong URL or collection): :class:`SourceError` at once.

URLs in messages and logs pass through :func:`redact`, which drops query strings (SAS
signatures live there) and user info.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO

from monitor.errors import MonitorError, SourceAuthError, SourceError, SourceUnavailableError
from monitor.sources.retry_after import parse_retry_after

log = logging.getLogger(__name__)
T = TypeVar("T")

_URL_QUERY = re.compile(r"(?P<base>(?:https?|/vsicurl/https?)://[^\s?#'\"<>]+)\?[^\s'\"<>]*")
_USERINFO = re.compile(r"(?P<scheme>https?://)[^/\s@'\"]+@")
_SECRET_FIELD = re.compile(r"\b(sig|se|st|skoid|sktid|token|key|signature)=[^&\s'\"]+",
                           re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with URL query strings, user info and ``sig=``-like fields masked.

    Safe for logs, errors and provenance.
    """
    text = _URL_QUERY.sub(r"\g<base>?[redacted]", text)
    text = _USERINFO.sub(r"\g<scheme>", text)
    return _SECRET_FIELD.sub(lambda m: f"{m.group(1)}=[redacted]", text)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of one request.

    Attributes
    ----------
    retries
        Retries after the first attempt.
    backoff_s
        First wait; it doubles after each failure (capped at ``max_retry_after_s``).
    max_retry_after_s
        The longest wait honoured; a server asking for more ends the attempts.
    """

    retries: int = 3
    backoff_s: float = 1.0
    max_retry_after_s: float = 60.0

    def wait_s(self, attempt: int, retry_after: str | None, what: str) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1).

        Raises
        ------
        SourceUnavailableError
            When the server asks for a wait longer than ``max_retry_after_s``.
        """
        backoff = min(self.backoff_s * 2.0 ** (attempt - 1), self.max_retry_after_s)
        asked = parse_retry_after(retry_after)
        if asked is None:
            return backoff
        if asked > self.max_retry_after_s:
            raise SourceUnavailableError(
                f"{what}: the service asked to retry after {asked:.0f} s, longer than the "
                f"{self.max_retry_after_s:g} s allowed (MONITOR_STAC_MAX_RETRY_AFTER); "
                "retry later")
        return asked


class AttemptError(MonitorError):
    """One attempt failed (internal to the retry loop, which turns it into a typed error).

    ``status`` is None for connection errors and timeouts.
    """

    def __init__(self, status: int | None, detail: str, retry_after: str | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


def _permanent(status: int | None) -> bool:
    return status is not None and 400 <= status < 500 and status not in (408, 429)


def call_with_retries(call: Callable[[], T], policy: RetryPolicy, what: str,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call`` until it succeeds, within ``policy`` (see the module docstring).

    Parameters
    ----------
    call
        One attempt; raises :class:`AttemptError` on failure.
    policy
        Retry bounds.
    what
        What is being done, for messages (already redacted).
    sleep
        Waits between attempts (tests may pass a recorder).

    Raises
    ------
    SourceAuthError, SourceError, SourceUnavailableError
        As described in the module docstring.
    """
    attempts = policy.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except AttemptError as failed:
            status, detail = failed.status, redact(failed.detail)[:300]
            if status in (401, 403):
                raise SourceAuthError(
                    f"{what}: HTTP {status}, the service refused access. Public STAC APIs "
                    "need no credentials: check the URL; for Planetary Computer check "
                    "PC_SDK_SUBSCRIPTION_KEY") from None
            if _permanent(status):
                raise SourceError(f"{what}: HTTP {status}: {detail}; this will not succeed "
                                  "on retry: check the URL, collection and options") from None
            reason = f"HTTP {status}" if status is not None else detail
            if attempt == attempts:
                raise SourceUnavailableError(
                    f"{what}: failed {attempts} times (last: {reason}); the service is "
                    "unavailable, retry later (MONITOR_STAC_RETRIES sets the retries)") from None
            wait = policy.wait_s(attempt, failed.retry_after, what)
            log.warning("%s: %s; retry %d of %d in %.1f s", what, reason, attempt,
                        attempts - 1, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


class RetryingStacApiIO(StacApiIO):
    """pystac-client's I/O with :func:`call_with_retries` around every request.

    urllib3's own retries are switched off (they sleep on Retry-After without a bound).

    Parameters
    ----------
    policy
        Retry bounds.
    timeout_s
        Seconds per request (connect and read).
    """

    def __init__(self, policy: RetryPolicy, timeout_s: float) -> None:
        super().__init__(timeout=timeout_s, max_retries=None)
        self.policy = policy
        self._last = threading.local()
        self.session.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last.retry_after = response.headers.get("Retry-After")

    def request(self, href: str, method: str | None = None,
                headers: dict[str, str] | None = None,
                parameters: dict[str, Any] | None = None) -> str:
        """One request with bounded retries; returns the body text."""
        what = f"STAC API {(method or 'GET').upper()} {redact(href)}"

        def attempt() -> str:
            self._last.retry_after = None
            try:
                return str(super(RetryingStacApiIO, self).request(
                    href, method=method, headers=headers, parameters=parameters))
            except APIError as exc:
                raise AttemptError(getattr(exc, "status_code", None), str(exc),
                                    getattr(self._last, "retry_after", None)) from None

        return call_with_retries(attempt, self.policy, what)
