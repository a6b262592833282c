"""Assemble the reflectance cube of DESIGN.md from any imagery source.

``load_cube`` finds scenes, collapses duplicates, picks the grid (the concession's UTM at
the sensor's native resolution, cropped to the licence plus a buffer), decodes digital
numbers lazily through the source, turns them into reflectance with each scene's own scale
and offset, and builds per-indicator clear masks. Nothing is computed: the result is
dask-backed until the caller computes it.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
from odc.geo import xy_
from odc.geo.geobox import GeoBox
from odc.geo.geom import Geometry
from odc.geo.xr import rasterize

from monitor.errors import NoImageryError, SceneSkippedWarning, SourceError
from monitor.sources import open_source
from monitor.sources.base import REFLECTANCE_BANDS, ImagerySource, Scene, SkippedScene
from monitor.sources.dedupe import collapse_duplicates, group_by_time
from monitor.sources.radiometry import (
    MaskSet,
    qa_pixel_masks,
    scl_masks,
    spectral_screen_masks,
    to_reflectance,
)

if TYPE_CHECKING:
    from monitor.concessions import Concession

log = logging.getLogger(__name__)

#: Native resolution (m) by sensor family.
NATIVE_RESOLUTION = {"sentinel-2": 10.0, "landsat": 30.0}
#: Default cloud/shadow dilation in pixels at each resolution (SCIENCE.md: 3 at 10 m).
DEFAULT_DILATION = {10.0: 3, 30.0: 1}
MASK_VARIABLES = ("clear", "clear_vegetation", "clear_tailings", "clear_water", "water_flag")


def _as_utc(value: str | date | datetime, *, end: bool) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else \
                date.fromisoformat(value)
        except ValueError:
            raise SourceError(f"date {value!r} is not ISO 8601 (YYYY-MM-DD)") from None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.max if end else time.min)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _family(scene: Scene) -> str:
    return "landsat" if scene.platform.startswith("landsat") else "sentinel-2"


def choose_grid(concession: Concession, scenes: Sequence[Scene], buffer_m: float,
                resolution: float | None, source_grid: tuple[str, tuple[float, ...]] | None
                ) -> GeoBox:
    """The cube grid: the concession's UTM at ``resolution``, covering licence + buffer.

    When the source raster is already in the same CRS at the same resolution, the grid snaps
    to the source's pixel edges so that no resampling happens.
    """
    families = {_family(s) for s in scenes}
    res = resolution or min(NATIVE_RESOLUTION[f] for f in families)
    crs = concession.crs.to_string()
    anchor: Any = xy_(0.0, 0.0)
    if source_grid is not None:
        src_crs, transform = source_grid
        if src_crs == crs and abs(abs(transform[0]) - res) < 1e-9:
            anchor = xy_((transform[2] / res) % 1.0, (transform[5] / res) % 1.0)
    bounds = concession.aoi(buffer_m).bounds
    return GeoBox.from_bbox(bounds, crs, resolution=res, anchor=anchor)


def _per_time(groups: list[list[Scene]], attr: str) -> list[Any]:
    return ["+".join(str(getattr(s, attr)) for s in g) if attr in ("scene_id", "tile")
            else getattr(g[0], attr) for g in groups]


def _masks_for(kind: str, dn: xr.Dataset, refl: dict[str, xr.DataArray], valid: xr.DataArray,
               dilation: int, swir_threshold: float) -> MaskSet:
    green, swir16 = refl["green"], refl["swir16"]
    if kind == "scl":
        return scl_masks(dn["scl"], valid, green, swir16, dilation_px=dilation,
                         swir_threshold=swir_threshold)
    if kind == "qa_pixel":
        return qa_pixel_masks(dn["qa_pixel"], valid, green, swir16, dilation_px=dilation,
                              swir_threshold=swir_threshold)
    return spectral_screen_masks(refl, valid, dilation_px=dilation, swir_threshold=swir_threshold)


def load_cube(
    source: str | Path | ImagerySource,
    concession: Concession,
    start: str | date | datetime,
    end: str | date | datetime,
    bands: Sequence[str] | None = None,
    *,
    buffer_m: float = 500.0,
    resolution: float | None = None,
    chunks: int = 2048,
    dilation_px: int | None = None,
    swir_water_threshold: float = 0.03,
) -> xr.Dataset:
    """Load a concession's reflectance cube for a period.

    Parameters
    ----------
    source
        An :class:`~monitor.sources.base.ImagerySource`, or a spec such as ``local:PATH``.
    concession
        From :func:`monitor.load_concessions`.
    start, end
        Period (inclusive; dates are whole UTC days).
    bands
        Reflectance bands to return (default: every band the scenes have). Bands needed by
        the masks are read either way.
    buffer_m
        Buffer around the licence included in the grid (the standard's buffer ring).
    resolution
        Grid resolution in metres (default: the sensor's native 10 m or 30 m).
    chunks
        Spatial chunk size in pixels (PERFORMANCE.md: about 2048 does best).
    dilation_px
        Cloud/shadow mask dilation (default 3 px at 10 m, 1 px at 30 m).
    swir_water_threshold
        A cloud-flagged pixel still counts as water when swir16 is below this.

    Returns
    -------
    xarray.Dataset
        Dims ``(time, y, x)``; float32 reflectance per band (NaN where masked or missing),
        boolean ``clear``, ``clear_vegetation``, ``clear_tailings``, ``clear_water`` and
        ``water_flag``; per-time coords ``scene_id``, ``platform``, ``tile``,
        ``processing_baseline``, ``offset_applied``, ``scale``, ``offset``, ``qa_kind``; a
        2-D ``in_aoi`` coord (licence + buffer); attrs with provenance, including the
        skipped scenes and why.

    Raises
    ------
    NoImageryError
        When no usable scene covers the concession in the period.
    SourceError
        For unreadable, truncated or ungeoreferenced files (naming them).
    """
    src = open_source(source)
    t0, t1 = _as_utc(start, end=False), _as_utc(end, end=True)
    if t1 < t0:
        raise SourceError(f"period end {t1:%Y-%m-%d} is before its start {t0:%Y-%m-%d}")
    found = src.search(concession.aoi_lonlat(buffer_m), t0, t1)
    scenes, duplicates = collapse_duplicates(found.scenes)
    skipped: list[SkippedScene] = [*found.skipped, *duplicates]
    groups, mixed = group_by_time(scenes)
    skipped.extend(mixed)
    for s in skipped:
        warnings.warn(f"{concession.concession_id}: scene {s.scene_id} skipped: {s.reason}",
                      SceneSkippedWarning, stacklevel=2)
    if not groups:
        raise NoImageryError(
            f"{concession.concession_id}: no usable scene from {src.name} between "
            f"{t0:%Y-%m-%d} and {t1:%Y-%m-%d} ({len(skipped)} skipped); widen the period or "
            "check that the source covers the concession"
        )
    kept = [s for g in groups for s in g]
    geobox = choose_grid(concession, kept, buffer_m, resolution, kept[0].native_grid)
    available = [b for b in REFLECTANCE_BANDS if any(b in s.assets for s in kept)]
    wanted = [b for b in (bands or available) if b in available]
    qa = [q for q in ("scl", "qa_pixel") if any(q in s.assets for s in kept)]
    dn = src.load_dn(kept, geobox, [*available, *qa], chunks)
    if dn.sizes["time"] != len(groups):
        raise SourceError(f"{src.name} returned {dn.sizes['time']} time steps for "
                          f"{len(groups)} acquisitions; this is a bug in the source")
    cube = _assemble(dn, groups, available, wanted, geobox, concession, buffer_m,
                     dilation_px, swir_water_threshold)
    cube.attrs.update({
        "concession_id": concession.concession_id,
        "source": src.name,
        "crs": str(geobox.crs),
        "resolution_m": float(abs(geobox.resolution.x)),
        "buffer_m": float(buffer_m),
        "period": f"{t0:%Y-%m-%d}/{t1:%Y-%m-%d}",
        "skipped_scenes": json.dumps([{"scene_id": s.scene_id, "reason": s.reason}
                                      for s in skipped]),
        "n_scenes": len(kept),
    })
    log.info("%s: cube of %d acquisitions on %s", concession.concession_id, len(groups),
             geobox.shape)
    return cube


def _assemble(dn: xr.Dataset, groups: list[list[Scene]], available: list[str],
              wanted: list[str], geobox: GeoBox, concession: Concession, buffer_m: float,
              dilation_px: int | None, swir_threshold: float) -> xr.Dataset:
    time_dim = "time"
    # provenance keeps the exact (float64) recipe; arithmetic runs in float32
    scale = xr.DataArray(np.array(_per_time(groups, "scale"), "float64"), dims=time_dim)
    offset = xr.DataArray(np.array(_per_time(groups, "offset"), "float64"), dims=time_dim)
    nodata = groups[0][0].nodata
    refl = {b: to_reflectance(dn[b], scale.astype("float32"), offset.astype("float32"), nodata)
            for b in available}
    # Valid: every band the scene has holds data (a band a scene lacks does not count).
    valid = None
    for b in available:
        has = xr.DataArray([any(b in s.assets for s in g) for g in groups], dims=time_dim)
        ok = refl[b].notnull() | ~has
        valid = ok if valid is None else valid & ok
    assert valid is not None
    for b in ("blue", "green", "red", "swir16", "swir22"):
        if b not in refl:  # the masks read these; a band no scene has is all NaN
            refl[b] = xr.full_like(refl[available[0]], np.nan)
    res = float(abs(geobox.resolution.x))
    dilation = DEFAULT_DILATION.get(res, max(1, round(30 / res))) if dilation_px is None \
        else dilation_px
    kinds = _per_time(groups, "qa_kind")
    masks: dict[str, list[xr.DataArray]] = {name: [] for name in MASK_VARIABLES}
    for kind in dict.fromkeys(kinds):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        sel = {time_dim: idx}
        mset = _masks_for(kind, dn.isel(sel), {b: r.isel(sel) for b, r in refl.items()},
                          valid.isel(sel), dilation, swir_threshold)
        for name, arr in zip(MASK_VARIABLES, (mset.clear, mset.vegetation, mset.tailings,
                                              mset.water, mset.water_flag), strict=True):
            masks[name].append(arr)
    data_vars: dict[str, Any] = {b: refl[b] for b in wanted}  # masks may use more bands
    for name, parts in masks.items():
        data_vars[name] = xr.concat(parts, time_dim).sortby(time_dim).astype(bool)
    cube = xr.Dataset(data_vars)
    aoi = Geometry(concession.aoi(buffer_m), crs=concession.crs.to_string())
    cube = cube.assign_coords(
        scene_id=(time_dim, _per_time(groups, "scene_id")),
        platform=(time_dim, _per_time(groups, "platform")),
        tile=(time_dim, _per_time(groups, "tile")),
        collection=(time_dim, _per_time(groups, "collection")),
        processing_baseline=(time_dim, [p or "" for p in _per_time(groups, "processing_baseline")]),
        offset_applied=(time_dim, _per_time(groups, "offset_applied")),
        scale=scale,
        offset=offset,
        qa_kind=(time_dim, kinds),
        in_aoi=(("y", "x"), rasterize(aoi, geobox).values.astype(bool)),
    )
    cube[time_dim].attrs["timezone"] = "UTC"
    for b in wanted:
        cube[b].attrs.update({"units": "1", "long_name": f"{b} surface reflectance"})
    return cube
