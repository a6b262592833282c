"""The imagery-source contract: one Protocol, scene metadata and canonical band names.

Every source (local folders, static STAC catalogs, STAC APIs, Sentinel Hub) finds scenes
and decodes their raw digital numbers onto a grid it is given; turning digital numbers into
reflectance, building masks and assembling the cube is shared code (``monitor.sources.cube``),
so nothing downstream knows where pixels came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

import xarray as xr
from odc.geo.geobox import GeoBox
from shapely.geometry.base import BaseGeometry

#: Reflectance bands by STAC ``eo:common_name``, in cube order.
REFLECTANCE_BANDS: tuple[str, ...] = ("blue", "green", "red", "nir", "nir08", "swir16", "swir22")

#: Sentinel-2 band ids for each common name (SCIENCE.md section 1).
S2_BAND_IDS: Mapping[str, str] = {
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "nir": "B08",
    "nir08": "B8A",
    "swir16": "B11",
    "swir22": "B12",
    "scl": "SCL",
}

#: Native Sentinel-2 resolution of each asset, metres.
S2_NATIVE_RESOLUTION: Mapping[str, int] = {
    "blue": 10,
    "green": 10,
    "red": 10,
    "nir": 10,
    "nir08": 20,
    "swir16": 20,
    "swir22": 20,
    "scl": 20,
}

#: Landsat 8/9 OLI band numbers for each common name (SCIENCE.md section 1).
LANDSAT_BAND_NUMBERS: Mapping[str, int] = {
    "blue": 2,
    "green": 3,
    "red": 4,
    "nir08": 5,
    "swir16": 6,
    "swir22": 7,
}

QaKind = Literal["scl", "qa_pixel", "spectral_screen"]


@dataclass(frozen=True)
class Scene:
    """One acquisition as a source found it, before any pixel is read.

    Parameters
    ----------
    scene_id
        Product or item id, unique within the source.
    datetime
        Sensing time, timezone-aware UTC.
    platform
        Lower-case platform name (``sentinel-2a``, ``landsat-9``...).
    tile
        MGRS tile (Sentinel-2) or WRS-2 path/row (Landsat).
    collection
        Collection name (``sentinel-2-l2a``, ``landsat-c2l2-sr``).
    provider
        Where the pixels came from (``local``, ``earth-search``, ``sentinel-hub``...).
    assets
        Canonical band name -> file path or URL of that band.
    footprint
        Data footprint in EPSG:4326 (lon/lat), used to skip scenes that miss a concession.
    scale, offset
        Reflectance = DN * scale + offset, for every reflectance band, after the source's
        own knowledge of processing baselines and already-applied offsets.
    nodata
        DN value meaning "no data".
    qa_kind
        Which quality layer masks this scene: SCL, Landsat QA_PIXEL or, when the product has
        none, a spectral screen (lower confidence).
    processing_baseline
        Sentinel-2 processing baseline (``"04.00"``), None for other sensors.
    offset_applied
        True when the source's DN already include the BOA offset (so ``offset`` is the
        raster's own offset and the BOA offset is not added again).
    harmonized
        Sentinel Hub ``harmonizeValues`` setting used, None where not applicable.
    native_grid
        CRS and affine transform of the finest band, when known: a cube in the same CRS
        snaps to it so that nothing is resampled.
    extra
        Any further provenance worth keeping (MTL fields, STAC properties...).
    """

    scene_id: str
    datetime: datetime
    platform: str
    tile: str
    collection: str
    provider: str
    assets: Mapping[str, str]
    footprint: BaseGeometry
    scale: float
    offset: float
    nodata: int = 0
    qa_kind: QaKind = "scl"
    processing_baseline: str | None = None
    offset_applied: bool = False
    harmonized: bool | None = None
    native_grid: tuple[str, tuple[float, ...]] | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SkippedScene:
    """A scene left out of a cube, and why (recorded on the cube's attributes)."""

    scene_id: str
    reason: str


@dataclass(frozen=True)
class SearchResult:
    """Scenes a source found for an area and period, plus those it had to skip."""

    scenes: Sequence[Scene]
    skipped: Sequence[SkippedScene] = ()


@runtime_checkable
class ImagerySource(Protocol):
    """Anything that can find scenes and decode their digital numbers onto a grid."""

    @property
    def name(self) -> str:
        """Short name for provenance (``local:/path``, ``stac:https://...``)."""
        ...

    def search(self, aoi_lonlat: BaseGeometry, start: datetime, end: datetime) -> SearchResult:
        """Find scenes intersecting ``aoi_lonlat`` (EPSG:4326) sensed in ``[start, end]``."""
        ...

    def load_dn(
        self,
        scenes: Sequence[Scene],
        geobox: GeoBox,
        bands: Sequence[str],
        chunks: int,
    ) -> xr.Dataset:
        """Decode raw digital numbers lazily onto ``geobox``.

        Returns a Dataset with dims ``(time, y, x)``, one time step per distinct sensing time
        in ascending order (scenes sharing a time, tiles of one acquisition, are mosaicked),
        one integer variable per requested band that any scene has; pixels outside a scene
        or of a band a scene lacks hold the nodata value.
        """
        ...
