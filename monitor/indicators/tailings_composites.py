"""Composites and surface classes of the tailings indicator (SCIENCE.md section 7).

The composite windows (:func:`composite_windows`: the baseline, then windows of
``params.composite_days`` tiling the period backwards from its end) and, per window, the
median composite of the ``clear_tailings`` observations with its per-pixel classes:
water, vegetation, bare/tailings, other, unknown (too few clear observations), plus the
dust-susceptible surface (:class:`Composite`). :func:`composites` computes every window
with one ``dask.compute``. See :mod:`monitor.indicators.tailings` for the method; it
re-exports :data:`CLASS_CODES` and the dust thresholds. Pure: no file or network I/O.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from monitor import indices
from monitor.indicators.base import TailingsParams
from monitor.indicators.common import as_date, compute

__all__ = ["CLASS_CODES", "DUST_BSI_MIN", "DUST_NDMI_MAX", "DUST_NDVI_MAX", "Composite",
           "Window", "composite_windows", "composites"]

#: Class codes of the ``class_*`` rasters (255: too few clear observations).
CLASS_CODES = {"water": 1, "vegetation": 2, "bare": 3, "other": 4, "unknown": 255}
#: Dust-susceptible surface (Chile, SERNAGEOMIN): NDVI <= 0.20, NDMI <= 0, BSI >= 0.10.
DUST_NDVI_MAX, DUST_NDMI_MAX, DUST_BSI_MIN = 0.20, 0.0, 0.10


@dataclass(frozen=True)
class Window:
    """A composite window: first and last day (inclusive) and its acquisitions."""

    start: date
    end: date
    idx: NDArray[np.intp]


@dataclass(frozen=True)
class Composite:
    """Per-pixel classes of one window's median composite (``known``: enough clear obs)."""

    window: Window
    known: NDArray[np.bool_]
    water: NDArray[np.bool_]
    vegetation: NDArray[np.bool_]
    bare: NDArray[np.bool_]
    dust: NDArray[np.bool_]
    n_obs: NDArray[np.int64]

    def classes(self) -> NDArray[np.uint8]:
        """The class raster, coded by :data:`CLASS_CODES`."""
        out = np.full(self.known.shape, CLASS_CODES["unknown"], np.uint8)
        out[self.known] = CLASS_CODES["other"]
        for name in ("vegetation", "bare", "water"):
            out[getattr(self, name)] = CLASS_CODES[name]
        return out


def composite_windows(times: NDArray[np.datetime64], start: date, end: date,
                      params: TailingsParams, baseline: tuple[date, date] | None
                      ) -> tuple[Window, list[Window], str]:
    """Baseline window, series windows (oldest first) and how the baseline was chosen.

    The series is empty when the period ends before the baseline window does (too little
    history before the period): there is nothing to compare.
    """
    days = timedelta(days=params.composite_days)

    def window(a: date, b: date) -> Window:
        sel = (times >= np.datetime64(a)) & (times <= np.datetime64(b))
        return Window(a, b, np.flatnonzero(sel))

    if baseline is not None:
        base, how = window(as_date(baseline[0]), as_date(baseline[1])), "given"
    else:
        base = window(start - days, start - timedelta(days=1))
        how = "the composite_days before the period"
        if base.idx.size < params.min_clear_obs:
            first = times.min().item()
            base = window(first, first + days - timedelta(days=1))
            how = ("the first composite_days of the cube (too few acquisitions before the "
                   "period)")
    first_day = max(start, base.end + timedelta(days=1))
    series: list[Window] = []  # none when the period ends inside the baseline window
    stop = end
    while stop >= first_day:
        begin = stop - days + timedelta(days=1)
        if (begin - first_day).days < params.composite_days // 2:
            begin = first_day  # a short remainder joins the oldest window
        series.append(window(begin, stop))
        stop = begin - timedelta(days=1)
    return base, series[::-1], how


def composites(cube: xr.Dataset, windows: Sequence[Window], params: TailingsParams
               ) -> list[Composite]:
    """Median composites of the clear-tailings observations of each window: one compute."""
    bands = [b for b in ("blue", "green", "red", "nir", "swir16") if b in cube.data_vars]
    if "nir" not in cube.data_vars and "nir08" in cube.data_vars:
        bands.append("nir08")
    lazy: list[Any] = []
    for w in windows:
        if w.idx.size == 0:
            lazy.append(None)
            continue
        sub = cube.isel(time=w.idx)
        clear = sub["clear_tailings"]
        comp = xr.Dataset({b: sub[b].where(clear).median("time", skipna=True) for b in bands})
        lazy.append((*(indices.compute(n, comp).data for n in ("ndvi", "mndwi", "bsi", "ndmi")),
                     clear.sum("time").data))
    with warnings.catch_warnings():  # pixels never clear in a window: NaN
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        computed = compute(*lazy)
    shape = (cube.sizes["y"], cube.sizes["x"])
    out = []
    for w, arrays in zip(windows, computed, strict=True):
        if arrays is None:
            none = np.zeros(shape, bool)
            out.append(Composite(w, none, none, none, none, none, np.zeros(shape, np.int64)))
            continue
        ndvi, mndwi, bsi, ndmi, count = (np.asarray(a) for a in arrays)
        known = ((count >= params.min_clear_obs) & np.isfinite(ndvi) & np.isfinite(mndwi)
                 & np.isfinite(bsi))
        with np.errstate(invalid="ignore"):
            water = known & (mndwi > params.water_mndwi)
            veg = known & ~water & (ndvi >= params.vegetation_ndvi)
            bare = known & ~water & ~veg & (ndvi < params.bare_ndvi) & (bsi > params.bare_bsi)
            dust = (known & (ndvi <= DUST_NDVI_MAX) & (ndmi <= DUST_NDMI_MAX)
                    & (bsi >= DUST_BSI_MIN))
        out.append(Composite(w, known, water, veg, bare, dust, count.astype(np.int64)))
    return out
