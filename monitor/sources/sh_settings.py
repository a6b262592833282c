"""Configuration of the Sentinel Hub source: deployment, credentials and tunables.

Everything comes from the source spec and the environment, never from a file:

=============================  =============================================================
``SH_CLIENT_ID``               OAuth client id (required)
``SH_CLIENT_SECRET``           OAuth client secret (required; never logged or repeated)
``SH_BASE_URL``                service URL for the plain ``sentinelhub`` spec
``SH_TOKEN_URL``               token URL (required for a custom ``sentinelhub:URL`` whose
                               host is neither Sentinel Hub nor Copernicus Data Space)
``MONITOR_SH_MAX_CLOUD_COVER`` only acquisitions with ``eo:cloud_cover <=`` this (percent;
                               default 100 = no filter)
``MONITOR_SH_TIMEOUT``         seconds one HTTP request may take (default 60)
``MONITOR_SH_MAX_ATTEMPTS``    attempts per request, all causes together (default 4)
``MONITOR_SH_TOTAL_TIMEOUT``   seconds a whole search or load may take, retries and
                               waits included (default 900)
``MONITOR_SH_BACKOFF``         first pause after a failure, seconds; doubled each time
                               (default 2, at most 60)
``MONITOR_SH_MAX_RETRY_AFTER`` longest Retry-After honoured, seconds; a longer one fails at
                               once with "retry later" (default 120)
``MONITOR_SH_RETRY_AFTER_UNIT`` ``ms`` (Sentinel Hub's documented unit, default) or ``s``
``MONITOR_SH_THREADS``         parallel downloads (default 4)
``MONITOR_SH_MIN_INTERVAL``    least seconds between two requests of one load (default
                               0.05, sentinelhub-py's own spacing)
``MONITOR_SH_PAGE_SIZE``       Catalog page size (default 100)
``MONITOR_SH_MAX_ITEMS``       most Catalog items accepted for one search (default 5000)
``MONITOR_SH_MAX_TILE_PX``     largest request side in pixels, 1..2500 (default 2500)
``MONITOR_SH_CACHE_DIR``       response cache folder (default ``$MONITOR_CACHE_DIR/
                               sentinelhub`` or ``~/.cache/concession-monitor/sentinelhub``);
                               ``off`` disables the cache
=============================  =============================================================

``SHConfig(use_defaults=True, ...)`` is built from these, so no sentinelhub-py config file
is read or written (SOURCES.md gotcha 3).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from sentinelhub.config import SHConfig

from monitor.errors import SourceAuthError, SourceError
from monitor.sources.cache import default_cache_dir

ENV_CLIENT_ID = "SH_CLIENT_ID"
ENV_CLIENT_SECRET = "SH_CLIENT_SECRET"
ENV_BASE_URL = "SH_BASE_URL"
ENV_TOKEN_URL = "SH_TOKEN_URL"

SH_BASE_URL = "https://services.sentinel-hub.com"
SH_TOKEN_URL = "https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token"
CDSE_BASE_URL = "https://sh.dataspace.copernicus.eu"
CDSE_TOKEN_URL = ("https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/"
                  "openid-connect/token")
#: Largest width or height of one Process request (Sentinel Hub's limit).
MAX_REQUEST_PX = 2500

_T = TypeVar("_T")


@dataclass(frozen=True)
class Deployment:
    """Where the service is: its base URL and its OAuth token URL."""

    name: str
    base_url: str
    token_url: str


class Credentials:
    """An OAuth client id and secret; the secret never appears in a repr or a string.

    Parameters
    ----------
    client_id, client_secret
        From ``SH_CLIENT_ID`` and ``SH_CLIENT_SECRET``.
    """

    __slots__ = ("_secret", "client_id")

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self._secret = client_secret

    @property
    def secret(self) -> str:
        """The client secret (pass it to the OAuth client only)."""
        return self._secret

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret='***')"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("Credentials are not picklable: read them from the environment in "
                        "each process instead")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read ``SH_CLIENT_ID`` and ``SH_CLIENT_SECRET``.

        Raises
        ------
        SourceAuthError
            When either is unset or empty (naming which).
        """
        env = os.environ if environ is None else environ
        client_id = env.get(ENV_CLIENT_ID, "").strip()
        secret = env.get(ENV_CLIENT_SECRET, "").strip()
        missing = [name for name, value in ((ENV_CLIENT_ID, client_id),
                                            (ENV_CLIENT_SECRET, secret)) if not value]
        if missing:
            raise SourceAuthError(
                f"Sentinel Hub credentials missing: set {' and '.join(missing)} in the "
                "environment (an OAuth client from your Sentinel Hub dashboard, or from the "
                "Copernicus Data Space Ecosystem dashboard for sentinelhub:cdse); never put "
                "them in a config file")
        return cls(client_id, secret)


def _known_token_url(base_url: str) -> str | None:
    host = (urlparse(base_url).hostname or "").lower()
    if host.endswith("sentinel-hub.com"):
        return SH_TOKEN_URL
    if host.endswith("dataspace.copernicus.eu"):
        return CDSE_TOKEN_URL
    return None


def _check_url(url: str, what: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SourceError(f"{what} {url!r} is not an http(s) URL; write it like "
                          "https://services.sentinel-hub.com")
    if parsed.username or parsed.password:
        raise SourceError(f"{what} must not carry credentials; set {ENV_CLIENT_ID} and "
                          f"{ENV_CLIENT_SECRET} instead")
    return url.rstrip("/")


def parse_spec(spec: str, environ: Mapping[str, str] | None = None) -> Deployment:
    """The deployment a ``sentinelhub[:cdse|:URL]`` spec names.

    Raises
    ------
    SourceError
        For a malformed spec or URL, or a custom URL without ``SH_TOKEN_URL``.
    """
    env = os.environ if environ is None else environ
    scheme, _, rest = spec.strip().partition(":")
    if scheme != "sentinelhub":
        raise SourceError(f"{spec!r} is not a Sentinel Hub source spec; use sentinelhub, "
                          "sentinelhub:cdse or sentinelhub:https://BASE_URL")
    token_env = env.get(ENV_TOKEN_URL, "").strip()
    if rest in ("", "sentinelhub", "sentinel-hub"):
        base = env.get(ENV_BASE_URL, "").strip() or SH_BASE_URL
        name = "sentinel-hub"
    elif rest == "cdse":
        base, name = CDSE_BASE_URL, "cdse"
    else:
        base, name = rest, "custom"
    base = _check_url(base, "Sentinel Hub base URL")
    token = token_env or _known_token_url(base)
    if token is None:
        raise SourceError(
            f"no token URL known for the Sentinel Hub deployment at {base}; set {ENV_TOKEN_URL} "
            "to its OAuth token endpoint (e.g. https://HOST/auth/realms/main/protocol/"
            "openid-connect/token)")
    if name == "cdse" and not token_env:
        token = CDSE_TOKEN_URL
    return Deployment(name, base, _check_url(token, ENV_TOKEN_URL))


def _num(env: Mapping[str, str], name: str, default: _T, cast: Callable[[str], _T],
         low: float, high: float) -> _T:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = cast(text)
    except ValueError:
        raise SourceError(f"{name}={text!r} is not a number; unset it or give a value "
                          f"between {low:g} and {high:g}") from None
    if not low <= float(value) <= high:  # type: ignore[arg-type]
        raise SourceError(f"{name}={text!r} is out of range; give a value between {low:g} "
                          f"and {high:g}")
    return value


@dataclass(frozen=True)
class SHSettings:
    """Tunables of the Sentinel Hub source (see the module docstring for the variables).

    Attributes
    ----------
    max_cloud_cover
        Percent; acquisitions above it are not listed or mosaicked (100: no filter).
    timeout_s
        Seconds one HTTP request may take.
    max_attempts
        Attempts per request (first try included), whatever the cause.
    total_timeout_s
        Seconds a whole search or load may take, retries and waits included.
    backoff_s, max_backoff_s
        First pause after a failure (doubled each time) and its ceiling.
    max_retry_after_s
        Longest Retry-After honoured; a longer one fails at once.
    retry_after_unit
        ``"ms"`` (Sentinel Hub documents milliseconds) or ``"s"`` (HTTP's own unit).
    max_threads
        Parallel downloads.
    min_interval_s
        Least time between two requests sent by one client (all threads together).
    page_size, max_items
        Catalog page size, and most items accepted for one search.
    max_tile_px
        Largest width or height of one Process request.
    cache_dir
        Response cache folder, None when the cache is off.
    """

    max_cloud_cover: float = 100.0
    timeout_s: float = 60.0
    max_attempts: int = 4
    total_timeout_s: float = 900.0
    backoff_s: float = 2.0
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 120.0
    retry_after_unit: str = "ms"
    max_threads: int = 4
    min_interval_s: float = 0.05
    page_size: int = 100
    max_items: int = 5000
    max_tile_px: int = MAX_REQUEST_PX
    cache_dir: Path | None = field(default_factory=default_cache_dir)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SHSettings:
        """Read the ``MONITOR_SH_*`` variables (unset ones keep their defaults).

        Raises
        ------
        SourceError
            For a value that is not a number or is out of range (naming the variable).
        """
        env = os.environ if environ is None else environ
        unit = env.get("MONITOR_SH_RETRY_AFTER_UNIT", "ms").strip().lower() or "ms"
        if unit not in ("ms", "s"):
            raise SourceError(f"MONITOR_SH_RETRY_AFTER_UNIT={unit!r}: use ms or s")
        cache_text = env.get("MONITOR_SH_CACHE_DIR", "").strip()
        cache_dir: Path | None
        if cache_text.lower() in ("off", "none", "0", "false"):
            cache_dir = None
        elif cache_text:
            cache_dir = Path(cache_text).expanduser()
        else:
            cache_dir = default_cache_dir(env)
        return cls(
            max_cloud_cover=_num(env, "MONITOR_SH_MAX_CLOUD_COVER", 100.0, float, 0, 100),
            timeout_s=_num(env, "MONITOR_SH_TIMEOUT", 60.0, float, 0.05, 3600),
            max_attempts=_num(env, "MONITOR_SH_MAX_ATTEMPTS", 4, int, 1, 20),
            total_timeout_s=_num(env, "MONITOR_SH_TOTAL_TIMEOUT", 900.0, float, 0.1, 86400),
            backoff_s=_num(env, "MONITOR_SH_BACKOFF", 2.0, float, 0, 600),
            max_backoff_s=_num(env, "MONITOR_SH_MAX_BACKOFF", 60.0, float, 0, 3600),
            max_retry_after_s=_num(env, "MONITOR_SH_MAX_RETRY_AFTER", 120.0, float, 0, 3600),
            retry_after_unit=unit,
            max_threads=_num(env, "MONITOR_SH_THREADS", 4, int, 1, 32),
            min_interval_s=_num(env, "MONITOR_SH_MIN_INTERVAL", 0.05, float, 0, 60),
            page_size=_num(env, "MONITOR_SH_PAGE_SIZE", 100, int, 1, 100),
            max_items=_num(env, "MONITOR_SH_MAX_ITEMS", 5000, int, 1, 100000),
            max_tile_px=_num(env, "MONITOR_SH_MAX_TILE_PX", MAX_REQUEST_PX, int, 1,
                             MAX_REQUEST_PX),
            cache_dir=cache_dir,
        )


def make_config(deployment: Deployment, credentials: Credentials,
                settings: SHSettings) -> SHConfig:
    """An ``SHConfig`` from defaults only (no config file read or written).

    The client's own retries are reduced to a single attempt: the project's retry policy
    (:mod:`monitor.sources.sh_client`) decides every retry and wait instead.
    """
    return SHConfig(
        use_defaults=True,
        sh_client_id=credentials.client_id,
        sh_client_secret=credentials.secret,
        sh_base_url=deployment.base_url,
        sh_token_url=deployment.token_url,
        download_timeout_seconds=settings.timeout_s,
        max_download_attempts=1,
        download_sleep_time=0.0,
        max_retries=1,
        number_of_download_processes=1,
    )
