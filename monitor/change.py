"""Change detection on index time series: baselines, flags, confirmation, patches, polygons.

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

Patches: :func:`label_components` (8-neighbour, minimum mapping unit in pixels from
:func:`mmu_pixels`) and :func:`pixels_to_polygon` (pixel rectangles merged with shapely,
placed by the grid's affine transform). :func:`two_date` is the before/after dNDVI rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, Protocol, TypeVar

import dask.array as da
import numpy as np
import numpy.typing as npt
import shapely
import xarray as xr
from affine import Affine
from scipy import ndimage
from shapely import affinity
from shapely.geometry.base import BaseGeometry

__all__ = [
    "CONFIRMED",
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

FloatArray = npt.NDArray[np.float64]
#: Observation rows: float32 (index values need no more, and sorting halves in time).
Rows = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
A = TypeVar("A")

#: Pixel status codes (also the values of :attr:`Detection.status`).
NONE, PROVISIONAL, CONFIRMED = 0, 1, 2
#: Baseline kinds (:attr:`Detection.baseline_kind`, :attr:`Baseline.kind`); 0 = no baseline.
SEASONAL, NON_SEASONAL = 1, 2
#: Robust scale factor: 1.4826 * MAD estimates the standard deviation of a normal sample.
MAD_SCALE = 1.4826
_YEAR_DAYS = 365.25
_FIELDS = ("first_detection", "confirmed", "window_start", "status", "baseline_kind",
           "n_flags", "n_dropped", "n_tests", "n_nonseasonal")


class DetectorSettings(Protocol):
    """What :func:`detect` needs; :class:`monitor.indicators.base.VegetationParams` fits."""

    @property
    def baseline_days(self) -> int: ...  # noqa: D102
    @property
    def doy_window_days(self) -> int: ...  # noqa: D102
    @property
    def min_baseline_obs(self) -> int: ...  # noqa: D102
    @property
    def spread_floor(self) -> float: ...  # noqa: D102
    @property
    def z_threshold(self) -> float: ...  # noqa: D102
    @property
    def min_drop(self) -> float: ...  # noqa: D102
    @property
    def vegetated_centre(self) -> float: ...  # noqa: D102
    @property
    def confirm_k(self) -> int: ...  # noqa: D102
    @property
    def confirm_window_days(self) -> int: ...  # noqa: D102


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


@dataclass(frozen=True)
class Baseline:
    """Robust baseline of one date (arrays of the spatial shape).

    Attributes
    ----------
    centre, spread
        Median and ``max(1.4826 * MAD, spread_floor)``; NaN without a baseline.
    n_obs
        Clear observations behind the baseline.
    kind
        :data:`SEASONAL`, :data:`NON_SEASONAL` or 0 (too few observations).
    """

    centre: FloatArray
    spread: FloatArray
    n_obs: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]


def epoch_days(times: Any) -> FloatArray:
    """Whole days since 1970-01-01 (UTC) of datetime64 values, dates or datetimes (1-D)."""
    if isinstance(times, date | datetime):
        times = [times]
    arr = np.atleast_1d(np.asarray(times))
    if arr.dtype.kind != "M":
        arr = arr.astype("datetime64[D]")
    return np.asarray(arr.astype("datetime64[D]").astype(np.int64), dtype=np.float64)


def epoch_day(value: date | np.datetime64) -> float:
    """Whole days since 1970-01-01 of one date (see :func:`epoch_days`)."""
    return float(epoch_days(value)[0])


# ---------------------------------------------------------------------------------------
# Robust statistics over rows with missing values


def _row_medians(a: Rows) -> FloatArray:
    """Median of each row of ``a`` ignoring NaN (NaN for an empty row), without warnings."""
    if a.shape[1] == 0:
        return np.full(a.shape[0], np.nan)
    s = np.sort(a, axis=1)  # NaN sort last
    n = np.isfinite(a).sum(axis=1)
    lo = np.clip((n - 1) // 2, 0, None)[:, None]
    hi = np.clip(n // 2, 0, a.shape[1] - 1)[:, None]
    lo_v = np.take_along_axis(s, lo, 1)[:, 0].astype(np.float64)
    med = 0.5 * (lo_v + np.take_along_axis(s, hi, 1)[:, 0])
    return np.where(n > 0, med, np.nan)


def _centre_spread(sample: Rows, spread_floor: float) -> tuple[FloatArray, FloatArray]:
    """Median and floored, scaled MAD of each row of ``sample`` (NaN = missing)."""
    centre = _row_medians(sample)
    mad = _row_medians(np.abs(sample - centre[:, None]).astype(np.float32))
    return centre, np.maximum(MAD_SCALE * mad, spread_floor)


def _seasonal_columns(days: FloatArray, day: float, doy_window: float) -> BoolArray:
    """Which of ``days`` lie within ``doy_window`` days of ``day``'s day of year."""
    d = np.mod(days - day, _YEAR_DAYS)
    return np.asarray(np.minimum(d, _YEAR_DAYS - d) <= doy_window)


def _window(days: FloatArray, day: float, baseline_days: float) -> slice:
    """Index range of the baseline window ``[day - baseline_days, day)`` (sorted days)."""
    lo = int(np.searchsorted(days, day - baseline_days, "left"))
    return slice(lo, int(np.searchsorted(days, day, "left")))


def _choose(win: Rows, seas: BoolArray, min_obs: int) -> tuple[BoolArray, BoolArray]:
    """Per row: whether to use the seasonal subset, and whether any baseline exists."""
    n_seas = np.isfinite(win[:, seas]).sum(axis=1)
    seasonal = n_seas >= min_obs
    return seasonal, seasonal | (np.isfinite(win).sum(axis=1) >= min_obs)


def _sample(win: Rows, seas: BoolArray, seasonal: BoolArray) -> Rows:
    """The baseline sample per row: seasonal columns only where ``seasonal``."""
    return np.where(seasonal[:, None] & ~seas[None, :], np.nan, win)


def baseline_at(values: Any, clear: Any, times: Any, day: date | np.datetime64,
                settings: DetectorSettings) -> Baseline:
    """The baseline of every pixel for one date (numpy; for inspection and tests).

    Parameters
    ----------
    values, clear
        ``(time, ...)`` series and its clear mask (None: every finite value is clear).
    times
        Acquisition times, ascending.
    day
        The date whose baseline is wanted (its own observations are excluded).
    settings
        Method parameters (:class:`DetectorSettings`).

    Returns
    -------
    Baseline
    """
    days = epoch_days(times)
    vals = _as_rows(np.asarray(values), None if clear is None else np.asarray(clear), days)
    d = epoch_day(day)
    w = _window(days, d, settings.baseline_days)
    win, seas = vals[:, w], _seasonal_columns(days[w], d, settings.doy_window_days)
    seasonal, ok = _choose(win, seas, settings.min_baseline_obs)
    centre, spread = _centre_spread(_sample(win, seas, seasonal), settings.spread_floor)
    n_obs = np.where(seasonal, np.isfinite(win[:, seas]).sum(1), np.isfinite(win).sum(1))
    kind = np.where(ok, np.where(seasonal, SEASONAL, NON_SEASONAL), 0).astype(np.int8)
    shape = np.shape(values)[1:]
    return Baseline(centre=np.where(ok, centre, np.nan).reshape(shape),
                    spread=np.where(ok, spread, np.nan).reshape(shape),
                    n_obs=n_obs.astype(np.int64).reshape(shape), kind=kind.reshape(shape))


def _as_rows(values: Any, clear: Any, days: FloatArray) -> Rows:
    """``(pixels, time)`` float32 rows with NaN where not clear (checks ``days``)."""
    if values.shape[0] != days.size:
        raise ValueError(f"values have {values.shape[0]} time steps but {days.size} times")
    if np.any(np.diff(days) < 0):
        raise ValueError("times must be in ascending order")
    rows = np.array(values.reshape(days.size, -1).T, dtype=np.float32)
    if clear is not None:
        rows[~np.asarray(clear, bool).reshape(days.size, -1).T] = np.nan
    return rows


# ---------------------------------------------------------------------------------------
# The detector


def _detect_numpy(values: Any, clear: Any, *, days: FloatArray, cfg: tuple[float, ...],
                  count_from: float, seasonal_only: bool = False) -> FloatArray:
    """Run the detector on in-memory arrays; returns ``(len(_FIELDS), ...)`` float64."""
    (baseline_days, doy_window, min_obs, floor, z_thr, min_drop, veg, k, window) = cfg
    shape = values.shape[1:]
    v = _as_rows(values, clear, days)
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
            w = _window(days, day, baseline_days)
            win, seas = usable[cols, w], _seasonal_columns(days[w], day, doy_window)
            seasonal, testable = _choose(win, seas, int(min_obs))
            if seasonal_only:
                testable = seasonal
            x = v[cols, t].astype(np.float64)
            top = np.fmax.reduce(win, axis=1) if win.shape[1] else np.full(cols.size, np.nan)
            # the median never exceeds the maximum: only these rows can possibly flag
            cand = np.flatnonzero(testable & (x <= top - min_drop + 1e-9) & (top >= veg))
            flag = np.zeros(cols.size, bool)
            if cand.size:
                centre, spread = _centre_spread(
                    _sample(win[cand], seas, seasonal[cand]), floor)
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
    rows = _as_rows(values, clear, days)
    b_end, a_start = np.ravel(before_end), np.ravel(after_start)
    out = np.full((2, rows.shape[0]), np.nan)
    for i, (lo, hi) in enumerate(((b_end - before_days, b_end), (a_start, a_start + after_days))):
        px = np.flatnonzero(np.isfinite(lo) & np.isfinite(hi))
        if px.size:
            inside = (days[None, :] >= lo[px, None]) & (days[None, :] <= hi[px, None])
            out[i, px] = _row_medians(np.where(inside, rows[px], np.nan))
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


# ---------------------------------------------------------------------------------------
# Patches and polygons


def mmu_pixels(mmu_ha: float, pixel_area_ha: float) -> int:
    """Smallest number of pixels whose area reaches the minimum mapping unit (>= 1)."""
    if pixel_area_ha <= 0:
        raise ValueError(f"pixel area must be positive, got {pixel_area_ha} ha")
    return max(1, math.ceil(mmu_ha / pixel_area_ha - 1e-9))


def label_components(mask: Any, *, min_pixels: int = 1) -> tuple[npt.NDArray[np.int32], int]:
    """8-neighbour connected components of a 2-D mask, dropping those below ``min_pixels``.

    Returns
    -------
    tuple
        ``(labels, n)``: int32 labels 1..n (0 = background) numbered in raster order of
        each component's first pixel (north to south, then west to east), and ``n``.
    """
    labels, n = ndimage.label(np.asarray(mask, bool), structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_pixels
    keep[0] = False
    remap = np.zeros(n + 1, np.int32)
    remap[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return remap[labels], int(keep.sum())


def pixels_to_polygon(mask: Any, transform: Affine) -> BaseGeometry:
    """The union of a 2-D mask's pixels as a (multi)polygon in the grid's CRS.

    Each row's runs of True become one rectangle in pixel space; shapely merges them,
    the grid's affine transform places them, and collinear vertices are removed.

    Parameters
    ----------
    mask
        Boolean ``(row, col)`` array.
    transform
        The grid's affine transform (pixel corner at ``(col, row)`` -> map x, y).

    Returns
    -------
    shapely geometry
        Polygon or MultiPolygon (empty when the mask is).
    """
    m = np.asarray(mask, bool)
    padded = np.zeros((m.shape[0], m.shape[1] + 2), np.int8)
    padded[:, 1:-1] = m
    edges = np.diff(padded, axis=1)
    r0, c0 = np.nonzero(edges == 1)
    _, c1 = np.nonzero(edges == -1)
    if r0.size == 0:
        return shapely.Polygon()
    # nonzero scans row by row, so run starts and ends pair up in order
    boxes = shapely.box(c0, r0, c1, r0 + 1)
    merged = shapely.union_all(boxes)
    t = transform
    placed = affinity.affine_transform(merged, [t.a, t.b, t.d, t.e, t.c, t.f])
    return shapely.simplify(placed, 0.0)
