"""Change detection on index time series: flags, confirmation, event windows, two dates.

Generic and pure: the functions take an NDVI-like series ``values`` of shape ``(time, ...)``
(numpy or dask), a boolean ``clear`` mask of the same shape and the acquisition ``times``;
nothing here knows about cubes, bands, zones or files. SCIENCE.md section 5 is the method:

1. **Baseline** per pixel and date from the clear observations of the previous
   ``baseline_days`` (same-day observations excluded) whose day of year lies within
   ``doy_window_days`` of the date (circular). When fewer than ``min_baseline_obs`` fall in
   that seasonal window, every clear observation of the baseline window is used and the
   baseline is *non-seasonal*; with fewer than ``min_baseline_obs`` even then, the date
   cannot be tested. Centre = median, spread = ``max(1.4826 * MAD, spread_floor)``.
   Observations that were flagged never enter a later baseline, so that a loss does not
   become its own baseline.
2. **Flag** a clear observation when ``z = (x - centre) / spread <= z_threshold`` and
   ``drop = centre - x >= min_drop`` and ``centre >= vegetated_centre``.
3. **Confirm** per pixel: one flag makes it *provisional*; ``confirm_k`` flagged clear
   observations in a row, the last within ``confirm_window_days`` of the first, make it
   *confirmed* (final). A clear, tested observation that does not repeat the flag drops
   the provisional flag; cloudy observations are skipped and never break a run. A run
   that outlives the window restarts at the new flag. A second clear observation on the
   same day (overlapping tiles of one pass) counts neither way.

:func:`detect` returns per-pixel dates as float days since 1970-01-01 (NaN for none).
Numpy in, numpy out; dask in, lazy dask out (:func:`dask.array.map_blocks` over spatial
chunks with the whole series in each block, so nothing is computed here).
:func:`window_medians` composites clear observations around each pixel's event window
(attribution), and :func:`two_date` is the before/after dNDVI rule.

Layout: this module is the detector (the per-pixel state machine of steps 2 and 3). The
baselines of step 1 (:func:`baseline_at`, :func:`epoch_days`, :class:`DetectorSettings`)
live in :mod:`monitor.change_baseline`; patches and polygons (:func:`label_components`,
8-neighbour, minimum mapping unit in pixels from :func:`mmu_pixels`, and
:func:`pixels_to_polygon`) in :mod:`monitor.change_patches`. Both are re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

import dask.array as da
import numpy as np
import numpy.typing as npt
import xarray as xr

from monitor.change_baseline import (
    MAD_SCALE,
    NON_SEASONAL,
    SEASONAL,
    Baseline,
    BoolArray,
    DetectorSettings,
    FloatArray,
    as_rows,
    baseline_at,
    baseline_sample,
    baseline_window,
    centre_spread,
    choose_baseline,
    epoch_day,
    epoch_days,
    row_medians,
    seasonal_columns,
)
from monitor.change_patches import label_components, mmu_pixels, pixels_to_polygon

__all__ = [
    "CONFIRMED",
    "MAD_SCALE",
    "NONE",
    "NON_SEASONAL",
    "PROVISIONAL",
    "SEASONAL",
    "Baseline",
    "Detection",
    "DetectorSettings",
    "baseline_at",
    "detect",
    "epoch_day",
    "epoch_days",
    "label_components",
    "mmu_pixels",
    "pixels_to_polygon",
    "two_date",
    "window_medians",
]

A = TypeVar("A")

#: Pixel status codes (also the values of :attr:`Detection.status`).
NONE, PROVISIONAL, CONFIRMED = 0, 1, 2
_FIELDS = ("first_detection", "confirmed", "window_start", "status", "baseline_kind",
           "n_flags", "n_dropped", "n_tests", "n_nonseasonal")


@dataclass(frozen=True)
class Detection(Generic[A]):
    """Per-pixel outcome of :func:`detect` (arrays of the input's spatial shape, float64).

    Attributes
    ----------
    first_detection
        Day (since 1970-01-01) of the first flag of the current run; NaN when none.
    confirmed
        Day of the confirming observation; NaN unless confirmed.
    window_start
        Day of the last clear observation before the first flag (the event window is
        ``(window_start, first_detection]``); NaN when none.
    status
        :data:`NONE`, :data:`PROVISIONAL` or :data:`CONFIRMED` at the end of the series.
    baseline_kind
        :data:`SEASONAL` or :data:`NON_SEASONAL` baseline at the first detection, else 0.
    n_flags, n_dropped
        Provisional flags raised, and provisional flags dropped (not repeated, or expired),
        on or after ``count_from``.
    n_tests, n_nonseasonal
        Clear observations on or after ``count_from`` that had a baseline, and how many of
        those baselines were non-seasonal.
    """

    first_detection: A
    confirmed: A
    window_start: A
    status: A
    baseline_kind: A
    n_flags: A
    n_dropped: A
    n_tests: A
    n_nonseasonal: A


# ---------------------------------------------------------------------------------------
# The detector


def _detect_numpy(values: Any, clear: Any, *, days: FloatArray, cfg: tuple[float, ...],
                  count_from: float, seasonal_only: bool = False) -> FloatArray:
    """Run the detector on in-memory arrays; returns ``(len(_FIELDS), ...)`` float64."""
    (baseline_days, doy_window, min_obs, floor, z_thr, min_drop, veg, k, window) = cfg
    shape = values.shape[1:]
    v = as_rows(values, clear, days)
    ok = np.isfinite(v)
    usable = v.copy()  # baseline sample: flagged observations are removed as we go
    n_px = v.shape[0]
    out = {name: np.zeros(n_px) for name in _FIELDS}
    for name in ("first_detection", "confirmed", "window_start"):
        out[name][:] = np.nan
    status, run = out["status"], np.zeros(n_px, np.int64)
    last_clear = np.full(n_px, np.nan)
    for t, day in enumerate(days):
        cols = np.flatnonzero(ok[:, t] & (status != CONFIRMED))
        if cols.size:
            w = baseline_window(days, day, baseline_days)
            win, seas = usable[cols, w], seasonal_columns(days[w], day, doy_window)
            seasonal, testable = choose_baseline(win, seas, int(min_obs))
            if seasonal_only:
                testable = seasonal
            x = v[cols, t].astype(np.float64)
            top = np.fmax.reduce(win, axis=1) if win.shape[1] else np.full(cols.size, np.nan)
            # the median never exceeds the maximum: only these rows can possibly flag
            cand = np.flatnonzero(testable & (x <= top - min_drop + 1e-9) & (top >= veg))
            flag = np.zeros(cols.size, bool)
            if cand.size:
                centre, spread = centre_spread(
                    baseline_sample(win[cand], seas, seasonal[cand]), floor)
                xc = x[cand]
                flag[cand] = (((xc - centre) / spread <= z_thr) & (centre - xc >= min_drop)
                              & (centre >= veg))
            # a second clear observation on the same day (overlapping tiles of one pass)
            # is not a new look at the ground: it neither confirms nor drops a flag
            testable = testable & (last_clear[cols] != day)
            counted = day >= count_from
            if counted:
                out["n_tests"][cols] += testable
                out["n_nonseasonal"][cols] += testable & ~seasonal
            _advance(out, run, cols[testable], flag[testable], seasonal[testable],
                     day=day, last_clear=last_clear, k=int(k), window=window, counted=counted)
            usable[cols[flag], t] = np.nan
        last_clear[ok[:, t]] = day
    return np.stack([out[name].reshape(shape) for name in _FIELDS])


def _advance(out: dict[str, FloatArray], run: npt.NDArray[np.int64], cols: npt.NDArray[Any],
             flag: BoolArray, seasonal: BoolArray, *, day: float, last_clear: FloatArray,
             k: int, window: float, counted: bool) -> None:
    """Advance the per-pixel state machine by one tested clear observation."""
    status, first = out["status"], out["first_detection"]
    st = status[cols]
    provisional = st == PROVISIONAL
    cont = provisional & flag & (day - first[cols] <= window)
    expired = provisional & flag & ~cont
    dropped = provisional & ~flag
    new = ((st == NONE) & flag) | expired
    if counted:
        out["n_dropped"][cols] += dropped | expired
        out["n_flags"][cols] += new
    gone = cols[dropped]
    status[gone], run[gone] = NONE, 0
    for name in ("first_detection", "window_start", "baseline_kind"):
        out[name][gone] = np.nan if name != "baseline_kind" else 0
    born = cols[new]
    status[born], run[born], first[born] = PROVISIONAL, 1, day
    out["window_start"][born] = last_clear[born]
    out["baseline_kind"][born] = np.where(seasonal[new], SEASONAL, NON_SEASONAL)
    run[cols[cont]] += 1
    done = cols[(new | cont)]
    done = done[run[done] >= k]
    status[done], out["confirmed"][done] = CONFIRMED, day


def _settings_tuple(s: DetectorSettings) -> tuple[float, ...]:
    if s.confirm_k < 1 or s.min_baseline_obs < 1 or s.spread_floor <= 0:
        raise ValueError("confirm_k and min_baseline_obs must be >= 1 and spread_floor > 0, "
                         f"got {s.confirm_k}, {s.min_baseline_obs}, {s.spread_floor}")
    return (float(s.baseline_days), float(s.doy_window_days), float(s.min_baseline_obs),
            float(s.spread_floor), float(s.z_threshold), float(s.min_drop),
            float(s.vegetated_centre), float(s.confirm_k), float(s.confirm_window_days))


def _is_dask(*arrays: Any) -> bool:
    return any(isinstance(a, da.Array) for a in arrays)


def _unwrap(x: Any) -> Any:
    """The numpy or dask array behind an xarray object (never computed here)."""
    return x.data if isinstance(x, xr.DataArray) else x


def _lazy(x: Any, chunks: Any) -> Any:
    """``x`` as a dask array with ``chunks``."""
    return da.asarray(x).rechunk(chunks)  # type: ignore[no-untyped-call]


def _map_blocks(func: Any, *arrays: Any, chunks: Any, **kwargs: Any) -> Any:
    """:func:`dask.array.map_blocks` to float64 blocks of the given chunks."""
    return da.map_blocks(func, *arrays, dtype=np.float64,  # type: ignore[no-untyped-call]
                         chunks=chunks, meta=np.empty((0,) * len(chunks)), **kwargs)


def detect(values: Any, clear: Any, times: Any, settings: DetectorSettings, *,
           count_from: date | np.datetime64 | None = None,
           seasonal_only: bool = False) -> Detection[Any]:
    """Detect vegetation-loss-like drops in a ``(time, ...)`` series, pixel by pixel.

    Parameters
    ----------
    values
        Index series (e.g. NDVI), numpy or dask (or an xarray object wrapping one), shape
        ``(time, ...)``. NaN = missing.
    clear
        Boolean mask of the same shape (True = usable observation), or None to use every
        finite value. Restrict it to the area of interest before calling.
    times
        Acquisition times (datetime64 or dates), ascending; only the day counts.
    settings
        Method parameters, e.g. :class:`monitor.indicators.base.VegetationParams`.
    count_from
        Counters (``n_flags``, ``n_dropped``, ``n_tests``, ``n_nonseasonal``) only count
        observations on or after this day (default: all). Detection always runs over the
        whole series, so that a change older than ``count_from`` is found at its own date.
    seasonal_only
        Test only against seasonal baselines (no non-seasonal fallback). Off by default
        (SCIENCE.md's method); where winters differ strongly from summers (snow,
        deciduous canopies) the fallback compares winter with summer, see the notes in
        ``tests/test_vegetation.py`` on the Slovenia series.

    Returns
    -------
    Detection
        Numpy arrays for numpy input; lazy dask arrays (one task per spatial chunk, the
        time axis rechunked to one block) when ``values`` or ``clear`` is a dask array.

    Raises
    ------
    ValueError
        If the times are not ascending or do not match the series, or the settings are
        impossible.
    """
    cfg = _settings_tuple(settings)
    values, clear = _unwrap(values), _unwrap(clear)
    days = epoch_days(times)
    start = -math.inf if count_from is None else epoch_day(count_from)
    if _is_dask(values, clear):
        v = _lazy(values, {0: -1})
        c = _lazy(np.isfinite(v) if clear is None else clear, v.chunks)
        stack = _map_blocks(_detect_numpy, v, c, days=days, cfg=cfg, count_from=start,
                            seasonal_only=seasonal_only,
                            chunks=((len(_FIELDS),), *v.chunks[1:]))
    else:
        values = np.asarray(values)
        stack = _detect_numpy(values, None if clear is None else np.asarray(clear), days=days,
                              cfg=cfg, count_from=start, seasonal_only=seasonal_only)
    return Detection(*(stack[i] for i in range(len(_FIELDS))))


# ---------------------------------------------------------------------------------------
# Composites around an event window (attribution)


def _window_medians_numpy(values: Any, clear: Any, before_end: Any, after_start: Any, *,
                          days: FloatArray, before_days: float,
                          after_days: float) -> FloatArray:
    shape = values.shape[1:]
    rows = as_rows(values, clear, days)
    b_end, a_start = np.ravel(before_end), np.ravel(after_start)
    out = np.full((2, rows.shape[0]), np.nan)
    for i, (lo, hi) in enumerate(((b_end - before_days, b_end), (a_start, a_start + after_days))):
        px = np.flatnonzero(np.isfinite(lo) & np.isfinite(hi))
        if px.size:
            inside = (days[None, :] >= lo[px, None]) & (days[None, :] <= hi[px, None])
            out[i, px] = row_medians(np.where(inside, rows[px], np.nan))
    return out.reshape((2, *shape))


def window_medians(values: Any, clear: Any, times: Any, *, before_end: Any, after_start: Any,
                   before_days: float, after_days: float) -> tuple[Any, Any]:
    """Per-pixel medians of clear observations before and after an event window.

    Parameters
    ----------
    values, clear, times
        As for :func:`detect`.
    before_end, after_start
        Per-pixel days since 1970-01-01 (spatial shape; NaN = skip the pixel), e.g.
        :attr:`Detection.window_start` and :attr:`Detection.first_detection`.
    before_days, after_days
        The "before" composite takes ``[before_end - before_days, before_end]``, the
        "after" one ``[after_start, after_start + after_days]`` (days, inclusive).

    Returns
    -------
    tuple
        ``(before, after)`` medians, NaN without observations; numpy or lazy dask like
        the input.
    """
    values, clear = _unwrap(values), _unwrap(clear)
    before_end, after_start = _unwrap(before_end), _unwrap(after_start)
    days = epoch_days(times)
    kw: dict[str, Any] = {"days": days, "before_days": float(before_days),
                          "after_days": float(after_days)}
    if _is_dask(values, clear, before_end, after_start):
        v = _lazy(values, {0: -1})
        spatial = ((1,), *v.chunks[1:])
        c = _lazy(clear, v.chunks)
        b = _lazy(_lazy(before_end, v.chunks[1:])[None], spatial)
        a = _lazy(_lazy(after_start, v.chunks[1:])[None], spatial)
        stack = _map_blocks(lambda vv, cc, bb, aa: _window_medians_numpy(
            vv, cc, bb[0], aa[0], **kw), v, c, b, a, chunks=((2,), *v.chunks[1:]))
    else:
        stack = _window_medians_numpy(np.asarray(values), np.asarray(clear),
                                      np.asarray(before_end), np.asarray(after_start), **kw)
    return stack[0], stack[1]


# ---------------------------------------------------------------------------------------
# Two-date mode


def two_date(before: A, after: A, clear_before: Any, clear_after: Any, *, threshold: float,
             vegetated: float) -> tuple[A, A]:
    """Before/after rule: ``dNDVI = after - before <= threshold`` on vegetated pixels.

    Parameters
    ----------
    before, after
        Index values of the two dates (numpy or dask, same shape).
    clear_before, clear_after
        Clear masks of the two dates.
    threshold
        dNDVI at or below which a pixel is lost (SCIENCE.md default -0.3).
    vegetated
        Minimum ``before`` value for a pixel to count as vegetated (default 0.4).

    Returns
    -------
    tuple
        ``(dndvi, loss)``: the difference (NaN unless clear on both dates) and the boolean
        loss mask, of the input's array type.
    """
    both = clear_before & clear_after
    with np.errstate(invalid="ignore"):
        dndvi = np.where(both, after - before, np.nan)  # type: ignore[operator]
        loss = both & (dndvi <= threshold) & (before >= vegetated)  # type: ignore[operator]
    return dndvi, loss  # type: ignore[return-value]
