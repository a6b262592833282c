"""Sentinel-2 L2A from a Sentinel Hub deployment: Catalog search, then Process API per date.

``sentinelhub`` (services.sentinel-hub.com, or ``SH_BASE_URL``), ``sentinelhub:cdse``
(Copernicus Data Space Ecosystem) and ``sentinelhub:https://BASE_URL`` (another deployment)
name the service; credentials and tunables come from the environment
(:mod:`monitor.sources.sh_settings`). :meth:`SentinelHubSource.search` lists acquisitions
with the Catalog (STAC, CQL2 cloud filter, paging bounded by ``MONITOR_SH_MAX_ITEMS``);
:meth:`SentinelHubSource.load_dn` fetches one Process request per acquisition time and grid
tile (:mod:`monitor.sources.sh_requests`), in parallel through one client that follows the
project's retry policy (:mod:`monitor.sources.sh_client`), keeps every answer in a
checksummed cache (:mod:`monitor.sources.cache`) and validates it before it is used, so a
failure is raised there, typed, and never shows up later as missing data.

Radiometry is decided as for every other source, by
:func:`~monitor.sources.radiometry.sentinel2_scaling` from the Catalog's processing baseline:
the Process requests ask for the product's own digital numbers (``harmonizeValues: false``),
so the BOA offset of baselines 04.00+ is applied once, by the cube.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import requests
import xarray as xr
from numpy.typing import NDArray
from odc.geo.geobox import GeoBox
from sentinelhub.api.catalog import SentinelHubCatalog
from sentinelhub.constants import CRS
from sentinelhub.download.models import DownloadRequest, DownloadResponse
from sentinelhub.exceptions import DownloadFailedException, MissingDataInRequestException
from sentinelhub.geometry import Geometry
from shapely.geometry.base import BaseGeometry

from monitor.errors import SourceError, SourceUnavailableError
from monitor.sources.base import S2_BAND_IDS, Scene, SearchResult, SkippedScene
from monitor.sources.cache import ByteCache, cache_key
from monitor.sources.sh_catalog import (
    COLLECTION,
    check_catalog_page,
    s2_l2a_collection,
    scene_from_feature,
)
from monitor.sources.sh_client import BoundedClient, InvalidResponseError
from monitor.sources.sh_requests import (
    PROCESSING,
    Output,
    Planned,
    assemble,
    decode_answer,
    outputs_for,
    process_request,
    split_geobox,
    time_windows,
)
from monitor.sources.sh_session import SessionHolder, register_secret
from monitor.sources.sh_settings import (
    Credentials,
    Deployment,
    SHSettings,
    make_config,
    parse_spec,
)

log = logging.getLogger(__name__)


class SentinelHubSource:
    """Sentinel-2 L2A digital numbers from a Sentinel Hub deployment.

    Parameters
    ----------
    deployment
        Service and token URLs (:func:`~monitor.sources.sh_settings.parse_spec`).
    credentials
        OAuth client (:meth:`~monitor.sources.sh_settings.Credentials.from_env`).
    settings
        Limits, cache folder... (default: from the ``MONITOR_SH_*`` variables).
    """

    def __init__(self, deployment: Deployment, credentials: Credentials,
                 settings: SHSettings | None = None) -> None:
        self.deployment = deployment
        self.settings = settings or SHSettings.from_env()
        register_secret(credentials.secret)
        self._config = make_config(deployment, credentials, self.settings)
        self._sessions = SessionHolder(self._config)
        self._collection = s2_l2a_collection()
        self.cache = ByteCache(self.settings.cache_dir)
        self._scenes: dict[str, Scene] = {}
        #: Counters of the last search or load (requests, retries, cache hits...).
        self.last_stats: dict[str, int] = {}

    @classmethod
    def from_spec(cls, text: str, environ: Mapping[str, str] | None = None) -> SentinelHubSource:
        """Open ``sentinelhub``, ``sentinelhub:cdse`` or ``sentinelhub:URL``.

        Raises
        ------
        SourceAuthError
            When ``SH_CLIENT_ID`` or ``SH_CLIENT_SECRET`` is not set.
        SourceError
            For a malformed spec, URL or ``MONITOR_SH_*`` value.
        """
        deployment = parse_spec(text, environ)
        credentials = Credentials.from_env(environ)
        return cls(deployment, credentials, SHSettings.from_env(environ))

    @property
    def name(self) -> str:
        """Provenance name (the service URL; never a credential)."""
        return f"sentinelhub:{self.deployment.base_url}"

    def __repr__(self) -> str:
        return (f"SentinelHubSource({self.deployment.base_url!r}, deployment="
                f"{self.deployment.name!r}, cache={self.cache!r})")

    @property
    def provider(self) -> str:
        """The ``provider`` recorded on scenes."""
        return {"sentinel-hub": "sentinel-hub", "cdse": "copernicus-data-space"}.get(
            self.deployment.name, f"sentinel-hub:{self.deployment.base_url}")

    def request_parameters(self) -> dict[str, Any]:
        """What every Process request asks for (provenance; no credential)."""
        return {"service": self.deployment.base_url, "collection": COLLECTION,
                "processing": dict(PROCESSING), "units": "DN", "mosaickingOrder": "mostRecent",
                "maxCloudCoverage": self.settings.max_cloud_cover}

    def _client(self, on_response: Any = None) -> BoundedClient:
        return BoundedClient(config=self._config, settings=self.settings,
                             sessions=self._sessions, on_response=on_response)

    # --- search ------------------------------------------------------------------------------
    def search(self, aoi_lonlat: BaseGeometry, start: datetime, end: datetime) -> SearchResult:
        """Acquisitions over ``aoi_lonlat`` sensed in ``[start, end]``, from the Catalog.

        Raises
        ------
        SourceUnavailableError
            When the Catalog fails after bounded retries (never an empty result instead).
        SourceAuthError
            When the credentials are refused.
        SourceError
            For an answer that is not a STAC search result, or too many items.
        """
        catalog = SentinelHubCatalog(config=self._config)
        client = self._client(check_catalog_page)
        catalog.client = client
        limit = self.settings.max_items
        cql = (f"eo:cloud_cover <= {self.settings.max_cloud_cover:g}"
               if self.settings.max_cloud_cover < 100 else None)
        url = f"{self.deployment.base_url}/api/v1/catalog/1.0.0/search"
        with client.budget():
            try:
                found = catalog.search(self._collection, time=(start, end),
                                       geometry=Geometry(aoi_lonlat, CRS.WGS84), filter=cql,
                                       limit=self.settings.page_size)
                features = list(itertools.islice(found, limit + 1))
            except SourceError:
                raise
            except (KeyError, TypeError, ValueError, MissingDataInRequestException) as exc:
                raise SourceError(f"the Catalog at {url} answered something that is not a STAC "
                                  f"search result ({type(exc).__name__}: {exc}); check the "
                                  "base URL") from None
            except (DownloadFailedException, requests.RequestException) as exc:
                raise SourceUnavailableError(f"the Catalog at {url} failed ({type(exc).__name__})"
                                             "; retry later") from None
        if len(features) > limit:
            raise SourceError(f"the Catalog at {url} lists more than {limit} acquisitions for "
                              f"{start:%Y-%m-%d}..{end:%Y-%m-%d}; shorten the period or raise "
                              "MONITOR_SH_MAX_ITEMS")
        scenes: list[Scene] = []
        skipped: list[SkippedScene] = []
        for feature in features:
            result = scene_from_feature(feature, self.deployment.base_url, self.provider,
                                        self.request_parameters())
            if isinstance(result, SkippedScene):
                skipped.append(result)
            elif not result.footprint.intersects(aoi_lonlat):
                skipped.append(SkippedScene(result.scene_id,
                                            "scene footprint does not cover the concession"))
            else:
                scenes.append(result)
                self._scenes[result.scene_id] = result
        scenes.sort(key=lambda s: (s.datetime, s.scene_id))
        self.last_stats = {**asdict(client.stats), "items": len(features)}
        log.info("%s: %d acquisitions in period, %d skipped (%d Catalog requests)", self.name,
                 len(scenes), len(skipped), client.stats.attempts)
        return SearchResult(scenes=scenes, skipped=skipped)

    # --- pixels ------------------------------------------------------------------------------
    def load_dn(self, scenes: Sequence[Scene], geobox: GeoBox, bands: Sequence[str],
                chunks: int) -> xr.Dataset:
        """Fetch, check and decode digital numbers of ``scenes`` onto ``geobox``.

        Every Process answer is downloaded (or read from the cache) and validated here; the
        returned Dataset is dask-backed over arrays already in memory.

        Raises
        ------
        SourceUnavailableError
            When a request fails after bounded retries.
        SourceAuthError
            When the credentials are refused.
        SourceError
            For scenes this source did not find, a grid without EPSG code or not north-up,
            or a request the service rejects.
        """
        missing = [s.scene_id for s in scenes if s.scene_id not in self._scenes]
        if missing:
            raise SourceError(f"scenes {missing} were not found by this source's search; call "
                              "search() first")
        if geobox.crs is None or geobox.crs.epsg is None or not geobox.axis_aligned:
            raise SourceError(f"grid {geobox.crs} is not a north-up grid in an EPSG CRS; "
                              "Sentinel Hub requests need one (use the concession's UTM zone)")
        wanted = [b for b in bands if b in S2_BAND_IDS]
        times = sorted({s.datetime for s in scenes})
        outputs = outputs_for(wanted)
        plans = self._plan(scenes, times, geobox, outputs)
        decoded = self._fetch(plans, outputs)
        return assemble(plans, decoded, times, geobox, wanted, chunks, self.name)

    def _plan(self, scenes: Sequence[Scene], times: list[datetime], geobox: GeoBox,
              outputs: list[Output]) -> list[Planned]:
        tiles = split_geobox(geobox, self.settings.max_tile_px)
        plans: list[Planned] = []
        windows = time_windows(times)
        for ti, when in enumerate(times):
            products = sorted((s.scene_id, s.processing_baseline or "") for s in scenes
                              if s.datetime == when)
            for k, tile in enumerate(tiles):
                request = process_request(self._collection, self._config, windows[ti], tile,
                                          outputs, self.settings.max_cloud_cover)
                label = f"the Process request for {when:%Y-%m-%dT%H:%M:%SZ}" + (
                    f" (tile {k + 1} of {len(tiles)})" if len(tiles) > 1 else "")
                key = cache_key("sentinelhub-process/1", self.deployment.base_url,
                                request.post_values, products)
                request.extra_params = {"label": label, "key": key}
                plans.append(Planned(ti, tile, request, key, label))
        return plans

    def _fetch(self, plans: list[Planned], outputs: list[Output]
               ) -> dict[str, dict[str, NDArray[Any]]]:
        decoded: dict[str, dict[str, NDArray[Any]]] = {}
        todo: list[Planned] = []
        for plan in plans:
            blob = self.cache.get(plan.key)
            if blob is not None:
                try:
                    decoded[plan.key] = decode_answer(blob, outputs, plan.tile)
                    continue
                except InvalidResponseError as exc:
                    log.warning("cached answer for %s does not decode (%s); downloading again",
                                plan.label, exc)
                    self.cache.delete(plan.key)
            todo.append(plan)
        by_request = {id(p.request): p for p in todo}
        lock = threading.Lock()

        def keep(request: DownloadRequest, response: DownloadResponse) -> None:
            plan = by_request[id(request)]
            arrays = decode_answer(response.content, outputs, plan.tile)  # invalid: retried
            self.cache.put(plan.key, response.content)
            with lock:
                decoded[plan.key] = arrays

        client = self._client(keep)
        if todo:
            with client.budget():
                try:
                    client.download([p.request for p in todo],
                                    max_threads=self.settings.max_threads, decode_data=False)
                except SourceError:
                    raise
                except (DownloadFailedException, requests.RequestException) as exc:
                    raise SourceUnavailableError(
                        f"Sentinel Hub at {self.deployment.base_url} failed "
                        f"({type(exc).__name__}); retry later") from None
        absent = [p.label for p in plans if p.key not in decoded]
        if absent:
            raise SourceUnavailableError(f"Sentinel Hub at {self.deployment.base_url} gave no "
                                         f"answer for {absent[0]} ({len(absent)} missing); "
                                         "retry later")
        self.last_stats = {**asdict(client.stats), "requests": len(plans),
                           "from_cache": len(plans) - len(todo), "downloaded": len(todo)}
        log.info("%s: %d Process requests, %d from cache, %d downloaded (%d attempts, %d "
                 "retries, %d rate limited)", self.name, len(plans), len(plans) - len(todo),
                 len(todo), client.stats.attempts, client.stats.retries,
                 client.stats.rate_limited)
        return decoded
