"""Per-reach turbidity series of the water indicator: persistence, medians, own baseline.

For one reach (or the pooled upstream reaches), per acquisition: the median turbidity and
NDTI over the clear, persistent-water pixels, with the pixel counts that decide whether the
reach is determinate on that date (see :mod:`monitor.indicators.water` for the method),
and the reach's own baseline quantile from its determinate medians before the period.
:func:`load_reaches` reads every reach's pixels with one ``dask.compute``; the rest is
numpy. :func:`reach_row` builds the turbidity measurement rows. Pure: no file or network
I/O.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from monitor import indices
from monitor.indicators.common import compute
from monitor.zonal import ZoneMask

__all__ = ["MIN_BASELINE_DATES", "MIN_PIXEL_OBS", "OwnBaseline", "ReachSeries",
           "load_reaches", "own_baseline", "persistence", "reach_row", "reach_series",
           "why_indeterminate"]

#: Determinate pre-period medians a reach needs for its own-baseline quantile.
MIN_BASELINE_DATES = 5
#: Clear observations a pixel needs in the baseline window to be judged persistent (fewer
#: when the window itself has fewer acquisitions).
MIN_PIXEL_OBS = 3


@dataclass(frozen=True)
class ReachSeries:
    """One reach (or the pooled upstream reaches): per-date medians and pixel counts."""

    reach_ids: tuple[str, ...]
    n_total_px: int
    n_persistent_px: int
    median: NDArray[np.float64]  # (T,) turbidity, NaN when indeterminate
    ndti: NDArray[np.float64]  # (T,)
    count: NDArray[np.int64]  # (T,) clear persistent-water pixels used
    n_unflagged: NDArray[np.int64]  # (T,) of which not flagged by the quality layer
    n_rescued: NDArray[np.int64]  # (T,) flagged but kept by the SWIR check (before the test)
    values: NDArray[np.float32]  # (T, P) usable turbidity values, NaN elsewhere


def reach_row(cid: str, zone_id: str, metric: str, day: date, start: date | None,
              value: float, unit: str, n_obs: int, n_px: int, n_total: int,
              reason: str = "") -> dict[str, Any]:
    """One turbidity measurement row of a reach (NaN and indeterminate with a reason)."""
    return {"concession_id": cid, "indicator": "turbidity", "zone": "water_reach",
            "zone_id": zone_id, "metric": metric, "date": day, "period_start": start,
            "value": float(value) if not reason else float("nan"), "unit": unit,
            "n_clear_obs": int(n_obs), "n_clear_px": int(n_px), "n_total_px": int(n_total),
            "status": "indeterminate" if reason else "ok", "reason": reason}


def _nanmedian_rows(values: NDArray[np.float32]) -> NDArray[np.float64]:
    with warnings.catch_warnings():  # a clouded date has an all-NaN row: NaN
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        return np.asarray(np.nanmedian(values.astype("float64"), axis=1), "float64")


def load_reaches(cube: xr.Dataset, reaches: Sequence[ZoneMask], index: str
                 ) -> tuple[list[dict[str, NDArray[Any]]], dict[str, Any]]:
    """Turbidity, NDTI and masks at each reach's pixels, ``(time, pixel)``: one compute."""
    lazy: list[tuple[Any, ...]] = []
    where: list[tuple[NDArray[np.intp], NDArray[np.intp]]] = []
    attrs: dict[str, Any] = {}
    for reach in reaches:
        rows, cols = np.nonzero(reach.mask)
        r0, c0 = int(rows.min()), int(cols.min())
        sub = cube.isel(y=slice(r0, int(rows.max()) + 1), x=slice(c0, int(cols.max()) + 1))
        turb = indices.compute(index, sub)
        attrs = dict(turb.attrs)
        lazy.append((turb.data, indices.compute("ndti", sub).data, sub["clear_water"].data,
                     sub["clear"].data))
        where.append((rows - r0, cols - c0))
    computed = compute(*lazy)
    out = []
    for (turb, ndti, water, clear), (r, c) in zip(computed, where, strict=True):
        out.append({"turb": np.asarray(turb)[:, r, c], "ndti": np.asarray(ndti)[:, r, c],
                    "water": np.asarray(water, bool)[:, r, c],
                    "clear": np.asarray(clear, bool)[:, r, c]})
    return out, attrs


def persistence(water: NDArray[np.bool_], clear: NDArray[np.bool_], base: NDArray[np.bool_],
                fraction: float) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Persistent-water pixels and wet fraction over the baseline acquisitions."""
    observed = (water | clear)[base]  # a cloud-flagged pixel kept as water is observed
    n_obs = observed.sum(axis=0)
    n_wet = water[base].sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        wet_fraction = np.where(n_obs > 0, n_wet / np.maximum(n_obs, 1), np.nan)
    need = max(1, min(MIN_PIXEL_OBS, int(base.sum())))
    persistent = (n_obs >= need) & (n_wet >= fraction * n_obs) & (n_wet > 0)
    return persistent, wet_fraction.astype("float64")


def reach_series(reach_ids: tuple[str, ...], n_total: int,
                 parts: Sequence[dict[str, NDArray[Any]]],
                 persistent: Sequence[NDArray[np.bool_]], min_px: int) -> ReachSeries:
    """Per-date medians over clear persistent water (see :mod:`monitor.indicators.water`)."""
    water = np.concatenate([p["water"] & keep[None, :] for p, keep in
                            zip(parts, persistent, strict=True)], axis=1)
    clear = np.concatenate([p["clear"] for p in parts], axis=1)
    turb = np.concatenate([p["turb"] for p in parts], axis=1).astype("float32")
    ndti = np.concatenate([p["ndti"] for p in parts], axis=1).astype("float32")
    water &= np.isfinite(turb)
    unflagged = water & clear
    rescued = water & ~clear  # flagged by the quality layer, kept by the SWIR check
    n_unflagged = unflagged.sum(axis=1)
    centre = _nanmedian_rows(np.where(unflagged, turb, np.float32(np.nan)))
    with np.errstate(invalid="ignore"):
        brighter = rescued & (turb >= centre[:, None])
    usable = (unflagged | brighter) & (n_unflagged >= min_px)[:, None]
    values = np.where(usable, turb, np.float32(np.nan))
    return ReachSeries(reach_ids, n_total, int(sum(int(k.sum()) for k in persistent)),
                   _nanmedian_rows(values), _nanmedian_rows(np.where(usable, ndti, np.nan)),
                   usable.sum(axis=1).astype("int64"), n_unflagged.astype("int64"),
                   rescued.sum(axis=1).astype("int64"), values)


def why_indeterminate(series: ReachSeries, t: int, min_px: int) -> str:
    """Reason a reach is indeterminate on date ``t`` ("" when determinate)."""
    n = int(series.count[t])
    if n >= min_px:
        return ""
    ids = "+".join(series.reach_ids)
    if series.n_persistent_px < min_px:
        return (f"reach {ids} has {series.n_persistent_px} persistent-water pixels "
                f"(< {min_px}) in the baseline window")
    rescued = int(series.n_rescued[t])
    extra = (f", besides {rescued} cloud- or shadow-flagged water pixels that are not used "
             "without unflagged water to compare with") if rescued else ""
    return (f"reach {ids}: {int(series.n_unflagged[t])} clear persistent-water pixels "
            f"(< {min_px}){extra}: cloud or no data")


@dataclass(frozen=True)
class OwnBaseline:
    """A reach's own baseline: the quantile (None without one), its dates and the reason."""

    quantile: float | None
    n_dates: int
    reason: str


def own_baseline(series: ReachSeries, pre: NDArray[np.bool_], q: float,
                 min_px: int) -> OwnBaseline:
    """The ``q`` quantile of the reach's determinate medians before the period."""
    ok = pre & (series.count >= min_px)
    n = int(ok.sum())
    if n < MIN_BASELINE_DATES:
        return OwnBaseline(None, n, f"reach {'+'.join(series.reach_ids)} has {n} determinate "
                         f"dates before the period (< {MIN_BASELINE_DATES}): no own baseline")
    value = float(np.quantile(series.median[ok], q))
    if not value > 0:
        return OwnBaseline(None, n, f"baseline quantile {value:.3g} FNU is not positive")
    return OwnBaseline(value, n, "")
