"""Planetary Computer asset signing, and keeping the signature out of every log.

Planetary Computer assets live in Azure Blob Storage and are read with a SAS token appended
as a query string. :class:`SasSigner` gets tokens from the SAS API
(``{sas_url}/{account}/{container}``, the planetary-computer package's endpoint, settings
and :class:`~planetary_computer.sas.SASToken` model), with a timeout and the source's
bounded retries (the package's own ``get_token`` has no timeout and retries up to ten
times), caches one token per container until a minute before it expires, and signs hrefs
only at read time: scenes, items, provenance and dask graphs hold unsigned URLs.

Blob hosts (``<account>.blob.core.windows.net/<container>/...``) and path-style blob URLs
(``http://host:port/<account>/<container>/...``, as the Azure storage emulator and
Planetary-Computer-compatible mirrors serve them) are both understood.

GDAL and odc-loader put the URL they read into their own log records and messages
(odc-loader logs ``Failed to load <url>`` at ERROR before re-raising); :func:`install_redaction`
adds a filter to those libraries' loggers that removes query strings from such records.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pydantic
import requests

with warnings.catch_warnings():  # planetary-computer 1.0 still uses pydantic v1 idioms
    warnings.simplefilter("ignore", DeprecationWarning)
    import planetary_computer
    from planetary_computer.sas import SASToken

from monitor.errors import SourceError
from monitor.sources.stac_http import AttemptError, RetryPolicy, call_with_retries, redact

BLOB_DOMAIN = ".blob.core.windows.net"
_SIGNED_FIELDS = {"st", "se", "sp", "sig"}
#: Loggers of the libraries that log the URLs they read.
REDACTED_LOGGERS = ("odc.loader._rio", "odc.loader", "odc.stac", "rasterio", "rasterio._env",
                    "rasterio._err", "rasterio._io", "rasterio._base", "rasterio.env",
                    "rasterio._filepath", "pystac_client.stac_api_io", "urllib3.connectionpool")


def default_sas_url() -> str:
    """``PC_SDK_SAS_URL`` when set, else the planetary-computer package's setting."""
    return (os.environ.get("PC_SDK_SAS_URL")
            or planetary_computer.settings.Settings.get().sas_url
            or planetary_computer.settings.DEFAULT_SAS_TOKEN_ENDPOINT).rstrip("/")


def blob_location(href: str) -> tuple[str, str]:
    """``(account, container)`` of a blob URL (virtual-host or path-style).

    Raises
    ------
    SourceError
        When the URL names no account and container.
    """
    parts = urlsplit(href)
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    if host.endswith(BLOB_DOMAIN) and segments:
        return host.removesuffix(BLOB_DOMAIN), segments[0]
    if len(segments) >= 3:
        return segments[0], segments[1]
    raise SourceError(f"{redact(href)}: not a blob storage URL (<account>.blob.core.windows.net/"
                      "<container>/... or http://host/<account>/<container>/...), so it cannot "
                      "be signed; use flavour=generic if this API's assets need no signing")


class SasSigner:
    """Sign asset hrefs with Planetary Computer SAS tokens (see the module docstring).

    Parameters
    ----------
    sas_url
        Token endpoint, e.g. ``https://planetarycomputer.microsoft.com/api/sas/v1/token``.
    policy
        Retry bounds of token requests.
    timeout_s
        Seconds per token request.
    subscription_key
        Optional Planetary Computer subscription key (default: ``PC_SDK_SUBSCRIPTION_KEY``).
    """

    def __init__(self, sas_url: str, policy: RetryPolicy, timeout_s: float,
                 subscription_key: str | None = None) -> None:
        self.sas_url = sas_url.rstrip("/")
        self.policy = policy
        self.timeout_s = timeout_s
        self._key = subscription_key or os.environ.get("PC_SDK_SUBSCRIPTION_KEY") or None
        self._tokens: dict[tuple[str, str], SASToken] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"SasSigner({redact(self.sas_url)!r}, {len(self._tokens)} cached token(s), "
                f"subscription key {'set' if self._key else 'not set'})")

    def __getstate__(self) -> dict[str, Any]:
        # pickled into dask graphs: no lock, no tokens (a worker fetches its own)
        return {"sas_url": self.sas_url, "policy": self.policy, "timeout_s": self.timeout_s,
                "key": self._key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["sas_url"], state["policy"], state["timeout_s"],  # type: ignore[misc]
                      state["key"])

    def sign(self, href: str) -> str:
        """``href`` with a valid SAS token appended (an already signed href is kept)."""
        if set(parse_qs(urlsplit(href).query)) & _SIGNED_FIELDS:
            return href
        token = self.token(*blob_location(href))
        return str(token.sign(href).href)

    def token(self, account: str, container: str) -> SASToken:
        """A token for ``account/container``, from the cache while it has a minute left."""
        with self._lock:
            cached = self._tokens.get((account, container))
            if cached is not None and cached.ttl() >= 60:
                return cached
            token = self._fetch(account, container)
            self._tokens[(account, container)] = token
            return token

    def _fetch(self, account: str, container: str) -> SASToken:
        url = f"{self.sas_url}/{account}/{container}"
        what = f"Planetary Computer SAS token {redact(url)}"
        headers = {"Ocp-Apim-Subscription-Key": self._key} if self._key else {}

        def attempt() -> SASToken:
            try:
                response = requests.get(url, headers=headers, timeout=self.timeout_s)
            except requests.RequestException as exc:
                raise AttemptError(None, f"{type(exc).__name__}: {exc}") from None
            if response.status_code != 200:
                raise AttemptError(response.status_code, response.text[:200],
                                    response.headers.get("Retry-After"))
            try:
                return SASToken(**response.json())
            except (ValueError, TypeError, pydantic.ValidationError):
                raise SourceError(f"{what}: the answer is not a SAS token; check "
                                  "MONITOR_STAC_SAS_URL / PC_SDK_SAS_URL") from None

        return call_with_retries(attempt, self.policy, what)


class RedactQueryStrings(logging.Filter):
    """Rewrite a log record so that no URL in it keeps its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always keep it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = RedactQueryStrings()
_installing = threading.Lock()
_installed = False


def install_redaction() -> None:
    """Attach the redacting filter to the loggers that log URLs read (idempotent, cheap).

    Called when a STAC source is made and again by the reader before each signed read, so
    that a dask worker process (which never built the source) redacts as well.
    """
    global _installed
    if _installed:
        return
    with _installing:
        names = set(REDACTED_LOGGERS) | {
            name for name in logging.root.manager.loggerDict
            if name.startswith(("rasterio", "odc.loader", "odc.stac"))}
        for name in sorted(names):
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
        _installed = True
