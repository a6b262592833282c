"""Configuration of STAC API sources: the spec string, environment variables, flavours.

A source is named ``stac:URL``, optionally followed by ``#option=value&...`` (the fragment
is never sent to the server). Options, then ``MONITOR_STAC_*`` environment variables, then
the defaults decide each setting:

=================  ============================  =========================================
option             environment variable          meaning (default)
=================  ============================  =========================================
collection         MONITOR_STAC_COLLECTION       collection searched (``sentinel-2-l2a``)
flavour            MONITOR_STAC_FLAVOUR          ``earth-search``, ``planetary-computer``
                                                 (assets are SAS-signed) or ``generic``
                                                 (default: from the host, else generic)
max_cloud          MONITOR_STAC_MAX_CLOUD        drop items with ``eo:cloud_cover`` above
                                                 this percentage (default: keep all; the
                                                 per-pixel masks already handle clouds)
max_items          MONITOR_STAC_MAX_ITEMS        more matches than this is an error (1000)
page_size          MONITOR_STAC_PAGE_SIZE        items per search page (100)
timeout            MONITOR_STAC_TIMEOUT          seconds per API request (30)
retries            MONITOR_STAC_RETRIES          retries of a failed API request (3)
backoff            MONITOR_STAC_BACKOFF          first wait between retries, doubling (1 s)
max_retry_after    MONITOR_STAC_MAX_RETRY_AFTER  longest Retry-After honoured (60 s)
read_timeout       MONITOR_STAC_READ_TIMEOUT     GDAL_HTTP_TIMEOUT for pixel reads (60 s)
read_retries       MONITOR_STAC_READ_RETRIES     GDAL_HTTP_MAX_RETRY (3)
read_retry_delay   MONITOR_STAC_READ_RETRY_DELAY GDAL_HTTP_RETRY_DELAY (1 s)
sas_url            MONITOR_STAC_SAS_URL          Planetary Computer SAS token endpoint
                                                 (default: ``PC_SDK_SAS_URL``, then the
                                                 planetary-computer package's default)
=================  ============================  =========================================

The optional Planetary Computer subscription key is read from ``PC_SDK_SUBSCRIPTION_KEY``
(the planetary-computer package's own variable) and is never logged or recorded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from monitor.errors import SourceError

Flavour = Literal["earth-search", "planetary-computer", "generic"]
FLAVOURS: tuple[Flavour, ...] = ("earth-search", "planetary-computer", "generic")
ENV_PREFIX = "MONITOR_STAC_"

#: Short names accepted instead of a URL (``stac:earth-search``).
KNOWN_APIS: Mapping[str, str] = {
    "earth-search": "https://earth-search.aws.element84.com/v1",
    "planetary-computer": "https://planetarycomputer.microsoft.com/api/stac/v1",
}
#: Hosts whose flavour is known.
HOST_FLAVOURS: Mapping[str, Flavour] = {
    "earth-search.aws.element84.com": "earth-search",
    "planetarycomputer.microsoft.com": "planetary-computer",
}


@dataclass(frozen=True)
class StacSettings:
    """Tunables of a STAC API source (see the module docstring for each).

    Attributes
    ----------
    collection, flavour, max_cloud, max_items, page_size
        What is searched and how.
    timeout_s, retries, backoff_s, max_retry_after_s
        API requests: timeout, bounded retries, first backoff, longest Retry-After honoured.
    read_timeout_s, read_retries, read_retry_delay_s
        Pixel reads by GDAL (``GDAL_HTTP_TIMEOUT``, ``GDAL_HTTP_MAX_RETRY``,
        ``GDAL_HTTP_RETRY_DELAY``).
    sas_url
        Planetary Computer SAS token endpoint (None: ``PC_SDK_SAS_URL`` or the default).
    """

    collection: str = "sentinel-2-l2a"
    flavour: Flavour | None = None
    max_cloud: float | None = None
    max_items: int = 1000
    page_size: int = 100
    timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 1.0
    max_retry_after_s: float = 60.0
    read_timeout_s: int = 60
    read_retries: int = 3
    read_retry_delay_s: float = 1.0
    sas_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StacSettings:
        """Defaults overridden by ``MONITOR_STAC_*`` variables of ``environ`` (os.environ)."""
        env = os.environ if environ is None else environ
        found = {name: env[ENV_PREFIX + name.upper()] for name in _PARSERS
                 if env.get(ENV_PREFIX + name.upper(), "").strip()}
        return cls().with_options(found, from_env=True)

    def with_options(self, options: Mapping[str, str], *, from_env: bool = False
                     ) -> StacSettings:
        """These settings with ``options`` (option name -> text) applied.

        Parameters
        ----------
        options
            Option name (``max_cloud``) -> text.
        from_env
            The options came from ``MONITOR_STAC_*`` variables (for error messages).

        Raises
        ------
        SourceError
            For an unknown option or a value that does not parse, naming it.
        """
        changes: dict[str, Any] = {}
        for name, text in options.items():
            parser = _PARSERS.get(name)
            if parser is None:
                raise SourceError(f"unknown STAC source option {name!r}; use one of "
                                  f"{sorted(_PARSERS)} (see the README, 'STAC APIs')")
            field_name, parse = parser
            try:
                changes[field_name] = parse(text.strip())
            except ValueError as exc:
                label = f"{ENV_PREFIX}{name.upper()}" if from_env else f"stac: option {name}"
                raise SourceError(f"{label}={text!r}: {exc}; see the README, 'STAC APIs'"
                                  ) from None
        return replace(self, **changes)

    def describe(self) -> dict[str, object]:
        """Every setting, for logs and provenance (holds no secret)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _number(text: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"must be {'a whole' if kind is int else 'a'} number") from None


def _positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = _number(text, kind)
        if value <= 0:
            raise ValueError("must be a positive number")
        return value
    return parse


def _non_negative_int(text: str) -> int:
    value: int = _number(text, int)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _cloud(text: str) -> float:
    value: float = _number(text, float)
    if not 0 <= value <= 100:
        raise ValueError("must be a percentage between 0 and 100")
    return value


def _flavour(text: str) -> Flavour:
    if text not in FLAVOURS:
        raise ValueError(f"must be one of {list(FLAVOURS)}")
    return text


def _url(text: str) -> str:
    if urlsplit(text).scheme not in ("http", "https"):
        raise ValueError("must be an http(s) URL")
    return text.rstrip("/")


def _text(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


_PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "collection": ("collection", _text),
    "flavour": ("flavour", _flavour),
    "max_cloud": ("max_cloud", _cloud),
    "max_items": ("max_items", _positive(int)),
    "page_size": ("page_size", _positive(int)),
    "timeout": ("timeout_s", _positive(float)),
    "retries": ("retries", _non_negative_int),
    "backoff": ("backoff_s", _positive(float)),
    "max_retry_after": ("max_retry_after_s", _positive(float)),
    "read_timeout": ("read_timeout_s", _positive(int)),
    "read_retries": ("read_retries", _non_negative_int),
    "read_retry_delay": ("read_retry_delay_s", _positive(float)),
    "sas_url": ("sas_url", _url),
}


@dataclass(frozen=True)
class StacSpec:
    """A parsed ``stac:`` spec: the API URL and the options of its fragment."""

    url: str
    options: Mapping[str, str]

    @property
    def host(self) -> str:
        """Host name of the API, lower case."""
        return (urlsplit(self.url).hostname or "").lower()


def parse_spec(text: str) -> StacSpec:
    """Split ``URL#option=value&...`` (or a short name such as ``earth-search``).

    Raises
    ------
    SourceError
        When the text is not an http(s) URL or a known short name.
    """
    base, _, fragment = text.strip().partition("#")
    url = KNOWN_APIS.get(base.lower(), base)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SourceError(f"stac:{text}: give the STAC API's http(s) URL (e.g. "
                          f"stac:{KNOWN_APIS['earth-search']}) or one of {sorted(KNOWN_APIS)}")
    options = dict(parse_qsl(fragment, keep_blank_values=True))
    return StacSpec(url=url.rstrip("/"), options=options)


def flavour_for(host: str, configured: Flavour | None) -> Flavour:
    """The configured flavour, else the one a known host implies, else ``generic``."""
    if configured is not None:
        return configured
    return HOST_FLAVOURS.get(host.lower(), "generic")


def public_url(url: str) -> str:
    """``url`` without user info, query string or fragment (safe for logs and provenance)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
