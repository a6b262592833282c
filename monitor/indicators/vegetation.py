"""Vegetation loss per zone: seasonal-baseline detection, or a before/after pair.

:func:`vegetation_loss` runs :func:`monitor.change.detect` on the NDVI of every clear
vegetation observation up to the period end (``clear_vegetation & in_aoi``); the baseline
uses everything before each date, and only losses whose first detection falls in the
period are reported. Confirmed and provisional pixels become 8-neighbour patches that must
reach the minimum mapping unit as a whole; each patch is then split by zone (precedence
``exclusion_zone > permitted_footprint > licence_outside_footprint > buffer_ring``, since
the licence-outside-footprint geometry contains the exclusion zones) into one
:class:`~monitor.indicators.base.ChangeEvent` per zone part, with its own area.

Each event carries an attribution hint from per-pixel medians of clear observations
before the event window (``baseline_days`` up to the window start) and after the first
detection (``confirm_window_days``), summarised by the median over the event's pixels:
*burn-like* when ``dNBR = NBR_before - NBR_after >= burn_dnbr`` and blue, green and red
all darken, else *soil-exposure* when BSI rises, else ``""``. The differences are in the
event's ``details`` (``dnbr``; ``dblue``, ``dgreen``, ``dred``, ``dbsi`` as after - before).

Measurements per zone: ``loss_area`` (confirmed events) and ``provisional_area`` (ha). A
zone is ``indeterminate`` (NaN value, with the reason) when it has no pixels, when the
median pixel has fewer than ``confirm_k`` clear observations in the period, or when more
than half of its pixels have fewer than ``min_baseline_obs`` clear observations in the
``baseline_days`` before the period; but a loss found there anyway is reported (status
``ok``: the area is then a lower bound).

:func:`vegetation_loss_two_date` compares two acquisitions (dNDVI), low confidence.

Layout: the zone grid, the split of patches into events and the zone rows are in
:mod:`monitor.indicators.vegetation_events`; this module runs the detection and the
two-date comparison.

Pure and lazy: a dask-backed cube is computed once (``dask.compute`` of every array the
indicator needs); a numpy-backed cube is used as it is.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from monitor import change, indices
from monitor.concessions import Concession
from monitor.errors import MissingBandError, NoImageryError
from monitor.indicators.base import (
    Confidence,
    IndicatorResult,
    VegetationParams,
)
from monitor.indicators.common import (
    as_date,
    compute,
    measurement_table,
    raster,
    spectral_note,
    spectral_screen,
)
from monitor.indicators.vegetation_events import (
    ZONE_PRECEDENCE,
    ZoneGrid,
    build_events,
    epoch_date,
    zone_grid,
    zone_rows,
)
from monitor.indicators.vegetation_events import _hint as _hint  # re-exported for tests

__all__ = ["ATTRIBUTION_SERIES", "ZONE_PRECEDENCE", "vegetation_loss",
           "vegetation_loss_two_date"]

#: Bands and indices whose before/after medians give the attribution hint.
ATTRIBUTION_SERIES = ("blue", "green", "red", "nbr", "bsi")
_DEFAULTS = VegetationParams()


def _series(cube: xr.Dataset) -> tuple[dict[str, Any], list[str]]:
    """Lazy (time, y, x) arrays for the attribution hint; names of the missing ones."""
    out: dict[str, Any] = {}
    missing: list[str] = []
    for name in ATTRIBUTION_SERIES:
        try:
            out[name] = (cube[name].data if name in cube.data_vars
                         else indices.compute(name, cube).data)
        except (MissingBandError, KeyError):
            missing.append(name)
    return out, missing


def _result(cube: xr.Dataset, concession: Concession, period: tuple[date, date],
            params: VegetationParams, rows: list[dict[str, Any]], events: Any,
            rasters: dict[str, xr.DataArray], mode: str, confidence: Any,
            notes: list[str]) -> IndicatorResult:
    table = measurement_table(rows)
    return IndicatorResult(indicator="vegetation_loss", concession_id=concession.concession_id,
                           period=period, measurements=table, events=tuple(events),
                           rasters=rasters, parameters=asdict(params), mode=mode,
                           confidence=confidence, notes=tuple(notes))


def vegetation_loss(cube: xr.Dataset, concession: Concession, period: tuple[date, date],
                    params: VegetationParams = _DEFAULTS, *,
                    buffer_m: float = 500.0) -> IndicatorResult:
    """Vegetation loss in a period against each pixel's seasonal baseline.

    Parameters
    ----------
    cube
        Cube of the concession (``monitor.load_cube``) covering the baseline before the
        period (``params.baseline_days``) and the period; numpy- or dask-backed.
    concession
        The concession (its zones are burned onto the cube grid).
    period
        ``(start, end)``, inclusive. Observations after ``end`` are ignored, so a result
        never changes when later imagery arrives.
    params
        Method parameters (SCIENCE.md section 5 defaults).
    buffer_m
        Width of the buffer ring (must match the cube's).

    Returns
    -------
    IndicatorResult
        Measurements per zone: ``loss_area`` (confirmed, ha) and ``provisional_area``
        (ha), each with the median clear observations per pixel in the period and pixel
        counts; events per zone part; rasters ``first_detection`` (days since 1970-01-01,
        NaN none), ``confirmed`` (bool, confirmed patches reaching the MMU),
        ``loss_status`` (0 none, 1 provisional, 2 confirmed; per pixel, before the MMU) and
        ``n_clear_obs``. Mode ``"baseline"``.

    Raises
    ------
    NoImageryError
        If the cube has no acquisition on or before the period end.
    """
    start, end = as_date(period[0]), as_date(period[1])
    if end < start:
        raise ValueError(f"period end {end} is before its start {start}")
    days = change.epoch_days(cube["time"].values)
    keep = np.flatnonzero(days <= change.epoch_day(end))
    if keep.size == 0:
        raise NoImageryError(f"concession {concession.concession_id!r}: the cube has no "
                             f"acquisition on or before {end}; load imagery for the period")
    sub = cube.isel(time=keep)
    days = days[keep]
    times = sub["time"].values
    clear = (sub["clear_vegetation"] & sub["in_aoi"]).data
    ndvi = indices.compute("ndvi", sub).data
    det = change.detect(ndvi, clear, times, params, count_from=start)
    series, missing = _series(sub)
    composites = {name: change.window_medians(
        arr, clear, times, before_end=det.window_start, after_start=det.first_detection,
        before_days=params.baseline_days, after_days=params.confirm_window_days)
        for name, arr in series.items()}
    d0 = change.epoch_day(start)
    in_period = ((days >= d0)[:, None, None])
    before = ((days < d0) & (days >= d0 - params.baseline_days))[:, None, None]
    lazy = {"det": det, "composites": composites,
            "n_period": (clear & in_period).sum(axis=0),
            "n_baseline": (clear & before).sum(axis=0),
            "n_after": (clear & (days[:, None, None] >= det.first_detection[None])).sum(axis=0)}
    (got,) = compute(lazy)
    d: change.Detection[Any] = got["det"]
    in_aoi = np.asarray(sub["in_aoi"].values, bool)
    grid = zone_grid(concession, buffer_m, cube, in_aoi)

    first = np.asarray(d.first_detection)
    reported = np.isfinite(first) & (first >= d0)
    status = np.where(reported, d.status, change.NONE).astype(np.uint8)
    n_period = np.asarray(got["n_period"], np.int64)
    stats = {"first": first, "confirmed": np.asarray(d.confirmed),
             "window_start": np.asarray(d.window_start),
             "baseline_kind": np.asarray(d.baseline_kind), "n_after": got["n_after"]}
    spectral = spectral_screen(sub.isel(time=np.flatnonzero(days >= d0)))
    tests = float(np.sum(d.n_tests))
    nonseasonal = float(np.sum(d.n_nonseasonal)) / tests if tests else 0.0
    confidence: Confidence = "medium" if spectral or nonseasonal > 0.5 else "high"
    events, confirmed_mask = build_events(
        concession.concession_id, grid, status, stats, got["composites"], params,
        confidence=confidence, spectral=spectral)
    rows = zone_rows(concession.concession_id, grid, events, (start, end), n_period,
                     np.asarray(got["n_baseline"]), params, need_obs=params.confirm_k)
    notes = _notes(d, reported, in_aoi, grid, spectral, nonseasonal, missing, start)
    rasters = {
        "first_detection": raster(sub, "first_detection", np.where(reported, first, np.nan),
                                  with_crs=True, units="days since 1970-01-01"),
        "confirmed": raster(sub, "confirmed", confirmed_mask, with_crs=True),
        "loss_status": raster(sub, "loss_status", status, with_crs=True,
                              flag_values=[0, 1, 2],
                              flag_meanings="none provisional confirmed"),
        "n_clear_obs": raster(sub, "n_clear_obs", n_period.astype(np.int32), with_crs=True),
    }
    return _result(cube, concession, (start, end), params, rows, events, rasters, "baseline",
                   confidence, notes)


def _notes(d: change.Detection[Any], reported: NDArray[np.bool_], in_aoi: NDArray[np.bool_],
           grid: ZoneGrid, spectral: bool, nonseasonal: float, missing: list[str],
           start: date) -> list[str]:
    notes = ["The detection date is the first clear observation showing the loss, not the "
             "date of the loss: each event's window brackets it."]
    old = (np.asarray(d.status) == change.CONFIRMED) & ~reported & in_aoi
    if old.any():
        notes.append(f"{old.sum() * grid.pixel_ha:.2f} ha were already confirmed lost before "
                     f"{start} and are not reported for this period.")
    notes.append(f"{int(np.sum(d.n_flags))} pixel flags were raised in the period; "
                 f"{int(np.sum(d.n_dropped))} provisional flags were dropped (not repeated by "
                 "the next clear observation, or not confirmed in time).")
    if spectral:
        notes.append(spectral_note("medium"))
    if nonseasonal > 0.5:
        notes.append(f"{nonseasonal:.0%} of the tests used a non-seasonal baseline (too few "
                     "clear observations in the day-of-year window): medium confidence.")
    if missing:
        notes.append(f"No attribution hint from {', '.join(missing)}: bands missing.")
    return notes


def _nearest(days: NDArray[np.float64], day: float, prefer_later: bool) -> NDArray[np.intp]:
    """Indices of the acquisitions on the acquisition day nearest to ``day``."""
    gap = np.abs(days - day)
    best = np.flatnonzero(gap == gap.min())
    pick = days[best].max() if prefer_later else days[best].min()
    return np.flatnonzero(days == pick)


def _mosaic(values: NDArray[Any], clear: NDArray[np.bool_]) -> tuple[NDArray[Any], Any]:
    """First clear value per pixel over a few same-day acquisitions."""
    idx = np.argmax(clear, axis=0)
    value = np.take_along_axis(values, idx[None], 0)[0]
    return value, clear.any(axis=0)


def vegetation_loss_two_date(cube: xr.Dataset, concession: Concession, before: date,
                             after: date, params: VegetationParams = _DEFAULTS, *,
                             buffer_m: float = 500.0) -> IndicatorResult:
    """Vegetation loss between two acquisitions: ``dNDVI <= params.two_date_dndvi``.

    The acquisitions nearest to ``before`` and ``after`` are compared (same-day scenes are
    mosaicked, first clear wins); pixels must be clear on both and vegetated before
    (NDVI >= ``params.vegetated_centre``). Loss patches below the MMU are dropped. Every
    result and event is low confidence: one "after" image confirms nothing about
    persistence, and there is no seasonal baseline.

    Parameters
    ----------
    cube
        Cube holding both acquisitions.
    concession
        The concession.
    before, after
        Dates of the two images (``before <= after``; equal dates compare an image with
        itself).
    params
        Method parameters.
    buffer_m
        Width of the buffer ring.

    Returns
    -------
    IndicatorResult
        Measurement ``loss_area`` per zone (``n_clear_obs`` = median of 0-2 clear dates per
        pixel), events with status ``confirmed`` (the pair is the regulator's evidence) and
        confidence ``low``, rasters ``dndvi``, ``confirmed`` and ``loss_status``; mode
        ``"two-date"``.
    """
    b, a = as_date(before), as_date(after)
    if a < b:
        raise ValueError(f"the 'after' date {a} is before the 'before' date {b}")
    days = change.epoch_days(cube["time"].values)
    if days.size == 0:
        raise NoImageryError(f"concession {concession.concession_id!r}: the cube is empty")
    ib = _nearest(days, change.epoch_day(b), prefer_later=False)
    ia = _nearest(days, change.epoch_day(a), prefer_later=True)
    sub = cube.isel(time=np.concatenate([ib, ia]))
    series, missing = _series(sub)
    lazy = {"ndvi": indices.compute("ndvi", sub).data, "series": series,
            "clear": (sub["clear_vegetation"] & sub["in_aoi"]).data}
    (got,) = compute(lazy)
    nb = ib.size
    clear = np.asarray(got["clear"], bool)
    ndvi_b, clear_b = _mosaic(got["ndvi"][:nb], clear[:nb])
    ndvi_a, clear_a = _mosaic(got["ndvi"][nb:], clear[nb:])
    dndvi, loss = change.two_date(ndvi_b, ndvi_a, clear_b, clear_a,
                                  threshold=params.two_date_dndvi,
                                  vegetated=params.vegetated_centre)
    day_b, day_a = days[ib[0]], days[ia[0]]
    in_aoi = np.asarray(sub["in_aoi"].values, bool)
    grid = zone_grid(concession, buffer_m, cube, in_aoi)
    status = np.where(loss, change.CONFIRMED, change.NONE).astype(np.uint8)
    n_after = clear_a.astype(np.int64)
    stats = {"first": np.where(loss, day_a, np.nan), "confirmed": np.where(loss, day_a, np.nan),
             "window_start": np.where(loss, day_b, np.nan),
             "baseline_kind": np.zeros(loss.shape), "n_after": n_after}
    composites = {name: (_mosaic(arr[:nb], clear[:nb])[0], _mosaic(arr[nb:], clear[nb:])[0])
                  for name, arr in got["series"].items()}
    events, confirmed_mask = build_events(concession.concession_id, grid, status, stats,
                                         composites, params, confidence="low",
                                         spectral=spectral_screen(sub), two_date=True)
    n_clear = clear_b.astype(np.int64) + clear_a
    period = (b, a)
    same = day_a == day_b and a != b
    rows = zone_rows(concession.concession_id, grid, events, period, n_clear, None, params,
                     need_obs=2, metrics=("loss_area",),
                     forced_reason="before and after resolve to the same acquisition"
                     if same else "")
    notes = [f"Two-date mode: {epoch_date(day_b)} against {epoch_date(day_a)} "
             f"(dNDVI <= {params.two_date_dndvi}); low confidence: no seasonal baseline "
             "and no repeated observation."]
    if missing:
        notes.append(f"No attribution hint from {', '.join(missing)}: bands missing.")
    rasters = {"dndvi": raster(sub, "dndvi", np.asarray(dndvi, np.float32), with_crs=True),
               "confirmed": raster(sub, "confirmed", confirmed_mask, with_crs=True),
               "loss_status": raster(sub, "loss_status", status, with_crs=True)}
    return _result(cube, concession, period, params, rows, events, rasters, "two-date",
                   "low", notes)
