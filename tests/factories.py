"""Raster and registry factories for tests (rio-tiler style: fixtures built in the test)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box, mapping

if TYPE_CHECKING:
    import xarray as xr

    from monitor.concessions import Concession
    from monitor.simulate import Portfolio

import monitor
from monitor.errors import SceneSkippedWarning
from monitor.sources.base import REFLECTANCE_BANDS, S2_NATIVE_RESOLUTION

CRS = "EPSG:32722"
ORIGIN = (600000.0, 9300000.0)  # upper-left corner, metres, on the 60 m S2 grid


def write_cog(path: Path, data: np.ndarray, crs: str | None, transform: object,
              nodata: float | None = 0) -> Path:
    """Write a single-band COG (or a plain GeoTIFF when crs is None)."""
    profile = {"driver": "COG" if crs else "GTiff", "width": data.shape[1],
               "height": data.shape[0], "count": 1, "dtype": data.dtype.name,
               "compress": "deflate"}
    if crs:
        profile.update(crs=crs, transform=transform, blocksize=256)
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def s2_scene(
    root: Path,
    scene_id: str,
    when: datetime,
    reflectance: Mapping[str, np.ndarray] | float,
    *,
    baseline: str = "04.00",
    scl: np.ndarray | int = 4,
    shape: tuple[int, int] = (64, 64),
    platform: str = "sentinel-2a",
    tile: str = "22MCA",
    origin: tuple[float, float] = ORIGIN,
    crs: str = CRS,
    extra: Mapping[str, object] | None = None,
) -> Path:
    """Write one Sentinel-2 L2A scene folder in the project's local format.

    ``reflectance`` is per band (10 m arrays of ``shape``) or one value for every band;
    digital numbers follow the baseline (offset +1000 from 04.00 on). 20 m bands and SCL
    are written at half resolution (every other pixel).
    """
    folder = root / scene_id
    folder.mkdir(parents=True)
    offset = 1000 if tuple(int(p) for p in baseline.split(".")) >= (4, 0) else 0
    for band in REFLECTANCE_BANDS:
        refl = reflectance if isinstance(reflectance, float) else reflectance[band]
        arr = np.broadcast_to(np.asarray(refl, "float64"), shape)
        res = S2_NATIVE_RESOLUTION[band]
        if res == 20:
            arr = arr[::2, ::2]
        dn = np.clip(np.round(arr * 10000) + offset, 1, 65535).astype("uint16")
        write_cog(folder / f"{band}.tif", dn, crs, from_origin(*origin, res, res))
    scl_arr = np.broadcast_to(np.asarray(scl, "uint8"), shape)[::2, ::2].copy()
    write_cog(folder / "scl.tif", scl_arr, crs, from_origin(*origin, 20, 20))
    meta = {"scene_id": scene_id, "datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "platform": platform, "tile": tile, "processing_baseline": baseline,
            "boa_add_offset": -offset, "quantification_value": 10000, "offset_applied": False}
    meta.update(extra or {})
    (folder / "scene.json").write_text(json.dumps(meta))
    return folder


def registry(path: Path, concessions: Mapping[str, Polygon], crs: str = CRS) -> Path:
    """Write a GeoJSON registry with one licence per concession (polygons given in ``crs``)."""
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    features = [
        {"type": "Feature",
         "properties": {"concession_id": cid, "feature_type": "licence", "name": cid},
         "geometry": mapping(shapely.transform(
             geom, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1]))))}
        for cid, geom in concessions.items()
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def inner_box(margin_px: int, shape: tuple[int, int] = (64, 64),
              origin: tuple[float, float] = ORIGIN) -> Polygon:
    """A licence box ``margin_px`` 10 m pixels inside a scene of ``shape``."""
    x0, y0 = origin
    h, w = shape
    return box(x0 + 10 * margin_px, y0 - 10 * (h - margin_px), x0 + 10 * (w - margin_px),
               y0 - 10 * margin_px)


def load_demo_cube(portfolio: Portfolio, concession: Concession,
                   start: str = "2021-06-01", end: str = "2022-12-01") -> xr.Dataset:
    """A demo concession's lazy cube over the whole series (skipped scenes not warned)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SceneSkippedWarning)
        return monitor.load_cube(f"local:{portfolio.scenes_dir}", concession, start, end)


def truth_on_cube(path: str | Path, cube: xr.Dataset) -> np.ndarray:
    """Sample a tile-grid truth raster at the cube's pixel centres (-1 outside the tile)."""
    with rasterio.open(path) as ds:
        data = ds.read(1).astype("int32")
        xs, ys = np.meshgrid(cube.x.values, cube.y.values)
        rows, cols = rasterio.transform.rowcol(ds.transform, xs.ravel(), ys.ravel())
    rows, cols = np.asarray(rows).reshape(xs.shape), np.asarray(cols).reshape(xs.shape)
    inside = (rows >= 0) & (rows < data.shape[0]) & (cols >= 0) & (cols < data.shape[1])
    out = np.full(rows.shape, -1, "int32")
    out[inside] = data[rows[inside], cols[inside]]
    return out
