"""STAC API sources (Earth Search, Planetary Computer, any STAC API with item search).

:class:`StacApiSource` searches with pystac-client and decodes pixels with odc-stac:

- search: ``collections``, ``intersects`` (the concession plus buffer), ``datetime``, paging
  (``page_size`` per page, at most ``max_items``: more matches is an error, never a silent
  cut), an optional ``eo:cloud_cover`` limit sent as ``query`` or CQL2 ``filter``, whichever
  the API conforms to; every request with bounded retries (:mod:`.stac_http`);
- items become scenes through :func:`monitor.sources.catalog.scene_from_item`, which decides
  the radiometry once (Earth Search ``raster:bands`` scale 0.0001 / offset -0.1 as the whole
  recipe; Planetary Computer by processing baseline); the cube applies it, nothing else does;
- pixels: :func:`monitor.sources.items.load_items` with :class:`.stac_read.GuardedRioDriver`
  (GDAL HTTP options in the reading threads, Planetary Computer signing at read time, typed
  errors naming the URL).

Configuration: ``stac:URL#option=value&...`` and ``MONITOR_STAC_*`` variables, see
:mod:`monitor.sources.stac_config`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pystac
import xarray as xr
from odc.geo.geobox import GeoBox
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
from pystac_client.exceptions import APIError
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from monitor.errors import SourceError
from monitor.sources.base import Scene, SearchResult, SkippedScene
from monitor.sources.catalog import scene_from_item
from monitor.sources.items import load_items
from monitor.sources.stac_config import (
    Flavour,
    StacSettings,
    flavour_for,
    parse_spec,
    public_url,
)
from monitor.sources.stac_http import RetryingStacApiIO, RetryPolicy, redact
from monitor.sources.stac_read import GuardedRioDriver, canonical_item, gdal_options, native_grid
from monitor.sources.stac_signing import SasSigner, default_sas_url, install_redaction

log = logging.getLogger(__name__)


def _utc(value: datetime) -> str:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StacApiSource:
    """Scenes from a STAC API (see the module docstring).

    Parameters
    ----------
    url
        The API's landing page, e.g. ``https://earth-search.aws.element84.com/v1``.
    settings
        Tunables (default: :meth:`StacSettings.from_env`).

    Raises
    ------
    SourceError
        For an invalid URL or settings.
    """

    def __init__(self, url: str, settings: StacSettings | None = None) -> None:
        self.url = parse_spec(url).url
        self.settings = settings if settings is not None else StacSettings.from_env()
        self.flavour: Flavour = flavour_for(parse_spec(url).host, self.settings.flavour)
        self.policy = RetryPolicy(self.settings.retries, self.settings.backoff_s,
                                  self.settings.max_retry_after_s)
        self._signer: SasSigner | None = None
        if self.flavour == "planetary-computer":
            self._signer = SasSigner(self.settings.sas_url or default_sas_url(), self.policy,
                                     self.settings.timeout_s)
        self._client: Client | None = None
        self._items: dict[str, pystac.Item] = {}
        install_redaction()

    @classmethod
    def from_spec(cls, spec: str) -> StacApiSource:
        """Open ``URL#option=value&...`` (the part after ``stac:``), options over env vars.

        Raises
        ------
        SourceError
            For an invalid URL, unknown option or unparsable value.
        """
        parsed = parse_spec(spec)
        settings = StacSettings.from_env().with_options(parsed.options)
        return cls(parsed.url, settings)

    @property
    def name(self) -> str:
        """Provenance name: ``stac:URL#collection=...`` (never a query string or secret)."""
        options = [f"collection={self.settings.collection}"]
        if self.flavour != flavour_for(parse_spec(self.url).host, None):
            options.append(f"flavour={self.flavour}")
        if self.settings.max_cloud is not None:
            options.append(f"max_cloud={self.settings.max_cloud:g}")
        return f"stac:{public_url(self.url)}#{'&'.join(options)}"

    @property
    def provider(self) -> str:
        """Provider recorded on each scene (``earth-search``, ``planetary-computer``...)."""
        return self.flavour if self.flavour != "generic" else f"stac:{public_url(self.url)}"

    def __repr__(self) -> str:
        return f"StacApiSource({self.name!r}, flavour={self.flavour!r})"

    def _open(self) -> Client:
        if self._client is None:
            io = RetryingStacApiIO(self.policy, self.settings.timeout_s)
            try:
                self._client = Client.open(self.url, stac_io=io, timeout=self.settings.timeout_s)
            except (APIError, pystac.STACError, ValueError, KeyError) as exc:
                raise SourceError(f"{public_url(self.url)} is not a STAC API landing page "
                                  f"({redact(str(exc))[:200]}); check the URL") from None
        return self._client

    def _search_args(self, client: Client, aoi: BaseGeometry, start: datetime,
                     end: datetime) -> dict[str, Any]:
        args: dict[str, Any] = {
            "collections": [self.settings.collection], "intersects": mapping(aoi),
            "datetime": f"{_utc(start)}/{_utc(end)}", "limit": self.settings.page_size,
            "max_items": self.settings.max_items + 1,
        }
        cloud = self.settings.max_cloud
        if cloud is not None and client.conforms_to(ConformanceClasses.QUERY):
            args["query"] = {"eo:cloud_cover": {"lte": cloud}}
        elif cloud is not None and client.conforms_to(ConformanceClasses.FILTER):
            args["filter"] = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, cloud]}
            args["filter_lang"] = "cql2-json"
        return args

    def search(self, aoi_lonlat: BaseGeometry, start: datetime, end: datetime) -> SearchResult:
        """Find items of the collection over ``aoi_lonlat`` sensed in ``[start, end]``.

        Items the monitor cannot use (no band asset, undecidable radiometry), items above
        ``max_cloud`` that the API did not filter, and items whose footprint misses the area
        are returned as skipped, with the reason.

        Raises
        ------
        SourceUnavailableError
            When the API keeps failing after bounded retries.
        SourceAuthError
            When the API refuses access.
        SourceError
            For a permanent error (wrong URL or collection) or more than ``max_items``.
        """
        client = self._open()
        args = self._search_args(client, aoi_lonlat, start, end)
        where = f"{public_url(self.url)} collection {self.settings.collection!r}"
        try:
            items = list(client.search(**args).items())
        except (APIError, pystac.STACError, NotImplementedError, ValueError) as exc:
            raise SourceError(f"{where}: search failed ({redact(str(exc))[:200]})") from None
        if len(items) > self.settings.max_items:
            raise SourceError(
                f"{where}: more than {self.settings.max_items} items between {start:%Y-%m-%d} "
                f"and {end:%Y-%m-%d}; shorten the period or raise MONITOR_STAC_MAX_ITEMS")
        scenes: list[Scene] = []
        skipped: list[SkippedScene] = []
        for item in items:
            scene, reason = self._scene(item, aoi_lonlat)
            if scene is None:
                skipped.append(SkippedScene(item.id, reason))
            else:
                scenes.append(scene)
        scenes.sort(key=lambda s: (s.datetime, s.scene_id))
        log.info("%s: %d items, %d scenes kept, %d skipped", self.name, len(items),
                 len(scenes), len(skipped))
        return SearchResult(scenes=scenes, skipped=skipped)

    def _scene(self, item: pystac.Item, aoi: BaseGeometry) -> tuple[Scene | None, str]:
        try:
            scene = scene_from_item(item, provider=self.provider)
        except SourceError as exc:
            log.warning("%s: item %s skipped: %s", self.name, item.id, exc)
            return None, f"unusable STAC item: {exc}"
        cloud = item.properties.get("eo:cloud_cover")
        limit = self.settings.max_cloud
        if limit is not None and cloud is not None and float(cloud) > limit:
            return None, f"eo:cloud_cover {float(cloud):g} above max_cloud {limit:g}"
        if not scene.footprint.intersects(aoi):
            return None, "scene footprint does not cover the concession"
        extra = dict(scene.extra)
        if cloud is not None:
            extra["cloud_cover"] = str(cloud)
        scene = replace(scene, native_grid=native_grid(item), extra=extra)
        self._items[scene.scene_id] = canonical_item(item)
        return scene, ""

    def load_dn(self, scenes: Sequence[Scene], geobox: GeoBox, bands: Sequence[str],
                chunks: int) -> xr.Dataset:
        """Decode digital numbers of ``scenes`` onto ``geobox`` (lazy, dask-backed).

        Reads happen when the result is computed; a failed read then raises
        :class:`~monitor.errors.SourceUnavailableError` (or ``SourceAuthError``) naming the
        URL, never a partially filled array.

        Raises
        ------
        SourceError
            When a scene was not found by this source's :meth:`search`.
        """
        missing = [s.scene_id for s in scenes if s.scene_id not in self._items]
        if missing:
            raise SourceError(f"scenes {missing} were not found by this source's search; call "
                              "search() first")
        signer = self._signer
        driver = GuardedRioDriver(gdal_options(self.settings),
                                  sign=None if signer is None else signer.sign)
        items = [self._items[s.scene_id] for s in scenes]
        return load_items(items, geobox, list(bands), chunks, driver=driver)
