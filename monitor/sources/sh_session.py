"""Sentinel Hub sessions (OAuth tokens) and keeping secrets out of log records.

:class:`SessionHolder` keeps one lazily created, self-refreshing session per source instead
of sentinelhub-py's class-wide cache keyed by client id and URL (SOURCES.md gotcha 5), so a
client id used with two secrets never shares a token; the session is created inside the
retry policy of :class:`~monitor.sources.sh_client.BoundedClient`. sentinelhub-py's token
request has no timeout; :class:`_TimedSession` adds one and turns failures into
:class:`TokenError` without the secret.

requests-oauthlib logs the token request body (with ``client_secret``) and the token at
DEBUG level: :class:`RedactingFilter` on those loggers rewrites such records.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any
from urllib.parse import quote_plus

import requests
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error
from requests_oauthlib import OAuth2Session
from sentinelhub.config import SHConfig
from sentinelhub.constants import SHConstants
from sentinelhub.download.models import DownloadRequest
from sentinelhub.download.session import SentinelHubSession

from monitor.errors import SourceError

# --- secrets out of logs ------------------------------------------------------------------
_KNOWN_SECRETS: set[str] = set()
_PATTERNS = (
    re.compile(r"(client_secret=)[^&\s'\"]+"),
    re.compile(r"((?:access_token|refresh_token|id_token|client_secret)['\"]?\s*[:=]\s*['\"]?)"
               r"[^'\"&,}\s]+"),
    re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+"),
)
#: Loggers of the OAuth and HTTP stack that may print request bodies, headers or tokens.
SCRUBBED_LOGGERS = (
    "requests_oauthlib.oauth2_session", "requests_oauthlib.oauth2_auth",
    "oauthlib.oauth2.rfc6749.clients.base", "oauthlib.oauth2.rfc6749.parameters",
    "urllib3.connectionpool", "sentinelhub.download.client",
    "sentinelhub.download.sentinelhub_client", "sentinelhub.download.session",
    "sentinelhub.download.handlers", "monitor.sources.sh_client", __name__,
)


def redact(text: str) -> str:
    """``text`` with client secrets, bearer tokens and registered secrets replaced by ***."""
    for secret in list(_KNOWN_SECRETS):
        text = text.replace(secret, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


def register_secret(secret: str) -> None:
    """Remember a secret (and its URL-encoded form) so that log records never show it."""
    if len(secret) >= 4:
        _KNOWN_SECRETS.update({secret, quote_plus(secret)})


class RedactingFilter(logging.Filter):
    """Rewrites a log record whose text holds a secret or a token (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace secrets in ``record``'s message; always keep the record."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactingFilter` to :data:`SCRUBBED_LOGGERS` (idempotent)."""
    for name in SCRUBBED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


install_log_redaction()


# --- sessions -------------------------------------------------------------------------------
class TokenError(SourceError):
    """A token request failed; ``permanent`` when retrying cannot help (bad credentials).

    Raised inside :class:`~monitor.sources.sh_client.BoundedClient`'s retries, which turn
    it into :class:`~monitor.errors.SourceAuthError` or
    :class:`~monitor.errors.SourceUnavailableError`.
    """

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


class _TimedSession(SentinelHubSession):
    """A session whose token request has a timeout and reports errors without secrets."""

    def _fetch_token(self, request: DownloadRequest) -> dict[str, Any]:
        try:
            with OAuth2Session(client=BackendApplicationClient(
                    client_id=self.config.sh_client_id)) as oauth:
                oauth.register_compliance_hook("access_token_response", self._compliance_hook)
                token: dict[str, Any] = oauth.fetch_token(
                    token_url=request.url, client_id=self.config.sh_client_id,
                    client_secret=self.config.sh_client_secret,
                    headers={**self.DEFAULT_HEADERS, **SHConstants.HEADERS},
                    include_client_id=True, timeout=self.config.download_timeout_seconds)
                return token
        except OAuth2Error as exc:
            if exc.error == "insecure_transport":
                raise TokenError(f"the token URL {request.url} is not https:// (OAuth 2 "
                                 "requires TLS)", permanent=True) from None
            detail = redact(f"{exc.error}: {exc.description or ''}".strip(": "))
            raise TokenError(f"the token endpoint rejected the client ({detail})",
                             permanent=True) from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            raise TokenError(f"the token endpoint answered HTTP {status}",
                             permanent=400 <= status < 500 and status != 429) from None
        except requests.RequestException as exc:
            raise TokenError(f"the token endpoint failed ({type(exc).__name__})",
                             permanent=False) from None
        except ValueError:  # a garbled (e.g. cut) token answer
            raise TokenError("the token endpoint's answer is not a token",
                             permanent=False) from None


class SessionHolder:
    """One lazily created, self-refreshing session per source (created inside the retries)."""

    def __init__(self, config: SHConfig) -> None:
        self._config = config
        self._session: SentinelHubSession | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SessionHolder({self._config.sh_base_url!r})"

    def get(self) -> SentinelHubSession:
        """The session, fetching a token the first time."""
        with self._lock:
            if self._session is None:
                self._session = _TimedSession(config=self._config)
            return self._session
