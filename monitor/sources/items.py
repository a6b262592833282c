"""STAC Items for local files, so every file-based source loads through odc-stac.

Local scene folders (Sentinel-2 COG folders, Landsat Collection 2 scene folders) are described
as in-memory :class:`pystac.Item` objects carrying the projection extension per asset (each
band's own CRS, shape and transform), which odc-stac needs to resample 20 m bands onto a 10 m
grid and crop to a concession without guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import odc.stac
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.geom import box as odc_box
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from monitor.sources.integrity import RasterInfo

PROJECTION_SCHEMA = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
RASTER_SCHEMA = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"


def footprint_lonlat(info: RasterInfo) -> BaseGeometry:
    """The raster's bounds as a polygon in EPSG:4326 (densified, so curved edges hold)."""
    left, bottom, right, top = info.bounds
    step = max(right - left, top - bottom) / 16  # in the raster's own CRS units
    geom = odc_box(left, bottom, right, top, info.crs).to_crs("EPSG:4326", resolution=step)
    return shape(geom.json)


def build_item(
    scene_id: str,
    when: datetime,
    assets: Mapping[str, RasterInfo],
    footprint: BaseGeometry,
    properties: Mapping[str, object],
) -> pystac.Item:
    """Describe one local scene as a STAC Item with per-asset projection metadata.

    Parameters
    ----------
    scene_id
        Item id.
    when
        Sensing time (UTC).
    assets
        Band name -> checked raster header.
    footprint
        Scene footprint in EPSG:4326.
    properties
        Extra item properties (platform, tile, processing baseline...).
    """
    item = pystac.Item(
        id=scene_id,
        geometry=mapping(footprint),
        bbox=list(footprint.bounds),
        datetime=when,
        properties=dict(properties),
        stac_extensions=[PROJECTION_SCHEMA, RASTER_SCHEMA],
    )
    for band, info in assets.items():
        raster_band: dict[str, object] = {"data_type": info.dtype}
        # Files that declare no nodata (EO Browser exports) still use DN 0 for "no data".
        raster_band["nodata"] = info.nodata if info.nodata is not None else 0
        item.add_asset(
            band,
            pystac.Asset(
                href=str(info.path.resolve()),
                media_type=pystac.MediaType.GEOTIFF,
                roles=["data"],
                extra_fields={
                    "proj:code": info.crs if info.crs.startswith("EPSG:") else None,
                    "proj:wkt2": None if info.crs.startswith("EPSG:") else info.crs,
                    "proj:shape": list(info.shape),
                    "proj:transform": list(info.transform),
                    "raster:bands": [raster_band],
                },
            ),
        )
        for key in ("proj:code", "proj:wkt2"):
            if item.assets[band].extra_fields.get(key) is None:
                item.assets[band].extra_fields.pop(key, None)
    return item


#: Quality bands are categorical: never interpolate them.
QA_BANDS = ("scl", "qa_pixel")


def load_items(
    items: list[pystac.Item],
    geobox: GeoBox,
    bands: list[str],
    chunks: int,
    resampling: str = "nearest",
    driver: Any = None,
) -> xr.Dataset:
    """Lazily decode ``bands`` of ``items`` onto ``geobox`` with odc-stac.

    Items with identical timestamps (tiles of one acquisition) are mosaicked into one time
    step. A band absent from some items is loaded as nodata for those items (odc-stac fills
    it); a band absent from every item is left out.

    ``driver`` is an odc-loader reader driver (default: odc-stac's rasterio driver); remote
    sources pass one that signs URLs, sets GDAL's HTTP options in the reading threads and
    turns read failures into typed errors (see :mod:`monitor.sources.stac_read`).
    """
    present = [b for b in bands if any(b in item.assets for item in items)]
    return odc.stac.load(
        items,
        bands=present,
        geobox=geobox,
        chunks={"x": chunks, "y": chunks, "time": 1},
        groupby="time",
        resampling={**{b: "nearest" for b in QA_BANDS}, "*": resampling},
        fail_on_error=True,
        **({} if driver is None else {"driver": driver}),
    )
