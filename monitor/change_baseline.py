"""Per-pixel robust baselines of an index series (SCIENCE.md section 5, step 1).

The baseline of a pixel on a date comes from the clear observations of the previous
``baseline_days`` (same-day observations excluded) whose day of year lies within
``doy_window_days`` of the date (circular). When fewer than ``min_baseline_obs`` fall in
that seasonal window, every clear observation of the baseline window is used and the
baseline is *non-seasonal*; with fewer than ``min_baseline_obs`` even then, the date cannot
be tested. Centre = median, spread = ``max(1.4826 * MAD, spread_floor)``.

This module holds the time axis (:func:`epoch_days`), the method parameters the detector
reads (:class:`DetectorSettings`), the row-wise robust statistics the detector of
:mod:`monitor.change` calls date by date, and :func:`baseline_at` (one date, for
inspection and tests). Generic and pure: numpy only, no cubes, bands, zones or files.
:mod:`monitor.change` re-exports every public name listed in ``__all__``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAD_SCALE",
    "NON_SEASONAL",
    "SEASONAL",
    "Baseline",
    "DetectorSettings",
    "baseline_at",
    "epoch_day",
    "epoch_days",
]

FloatArray = npt.NDArray[np.float64]
#: Observation rows: float32 (index values need no more, and sorting halves in time).
Rows = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

#: Baseline kinds (:attr:`monitor.change.Detection.baseline_kind`, :attr:`Baseline.kind`);
#: 0 = no baseline.
SEASONAL, NON_SEASONAL = 1, 2
#: Robust scale factor: 1.4826 * MAD estimates the standard deviation of a normal sample.
MAD_SCALE = 1.4826
_YEAR_DAYS = 365.25


class DetectorSettings(Protocol):
    """What :func:`monitor.change.detect` needs.

    :class:`monitor.indicators.base.VegetationParams` fits.
    """

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


def row_medians(a: Rows) -> FloatArray:
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


def centre_spread(sample: Rows, spread_floor: float) -> tuple[FloatArray, FloatArray]:
    """Median and floored, scaled MAD of each row of ``sample`` (NaN = missing)."""
    centre = row_medians(sample)
    mad = row_medians(np.abs(sample - centre[:, None]).astype(np.float32))
    return centre, np.maximum(MAD_SCALE * mad, spread_floor)


def seasonal_columns(days: FloatArray, day: float, doy_window: float) -> BoolArray:
    """Which of ``days`` lie within ``doy_window`` days of ``day``'s day of year."""
    d = np.mod(days - day, _YEAR_DAYS)
    return np.asarray(np.minimum(d, _YEAR_DAYS - d) <= doy_window)


def baseline_window(days: FloatArray, day: float, baseline_days: float) -> slice:
    """Index range of the baseline window ``[day - baseline_days, day)`` (sorted days)."""
    lo = int(np.searchsorted(days, day - baseline_days, "left"))
    return slice(lo, int(np.searchsorted(days, day, "left")))


def choose_baseline(win: Rows, seas: BoolArray, min_obs: int) -> tuple[BoolArray, BoolArray]:
    """Per row: whether to use the seasonal subset, and whether any baseline exists."""
    n_seas = np.isfinite(win[:, seas]).sum(axis=1)
    seasonal = n_seas >= min_obs
    return seasonal, seasonal | (np.isfinite(win).sum(axis=1) >= min_obs)


def baseline_sample(win: Rows, seas: BoolArray, seasonal: BoolArray) -> Rows:
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
    vals = as_rows(np.asarray(values), None if clear is None else np.asarray(clear), days)
    d = epoch_day(day)
    w = baseline_window(days, d, settings.baseline_days)
    win, seas = vals[:, w], seasonal_columns(days[w], d, settings.doy_window_days)
    seasonal, ok = choose_baseline(win, seas, settings.min_baseline_obs)
    centre, spread = centre_spread(baseline_sample(win, seas, seasonal), settings.spread_floor)
    n_obs = np.where(seasonal, np.isfinite(win[:, seas]).sum(1), np.isfinite(win).sum(1))
    kind = np.where(ok, np.where(seasonal, SEASONAL, NON_SEASONAL), 0).astype(np.int8)
    shape = np.shape(values)[1:]
    return Baseline(centre=np.where(ok, centre, np.nan).reshape(shape),
                    spread=np.where(ok, spread, np.nan).reshape(shape),
                    n_obs=n_obs.astype(np.int64).reshape(shape), kind=kind.reshape(shape))


def as_rows(values: Any, clear: Any, days: FloatArray) -> Rows:
    """``(pixels, time)`` float32 rows with NaN where not clear (checks ``days``)."""
    if values.shape[0] != days.size:
        raise ValueError(f"values have {values.shape[0]} time steps but {days.size} times")
    if np.any(np.diff(days) < 0):
        raise ValueError("times must be in ascending order")
    rows = np.array(values.reshape(days.size, -1).T, dtype=np.float32)
    if clear is not None:
        rows[~np.asarray(clear, bool).reshape(days.size, -1).T] = np.nan
    return rows
