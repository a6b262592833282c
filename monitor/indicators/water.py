"""Water turbidity per reach, and the inputs of the exceedance rule (SCIENCE.md sections 4, 6).

For every water reach of a concession, per acquisition: the median turbidity (FNU, from
``params.turbidity_index``, its calibration id in the metric name) and the median NDTI over
the reach's clear, persistent-water pixels, each with its pixel count. Persistent water is
wet (``clear_water``) in at least ``params.persistent_fraction`` of a pixel's clear
observations in the baseline window; this keeps shoreline mixed pixels out.

``clear_water`` also keeps water pixels that the quality layer flags (cloud, shadow, cirrus
or their dilation) when their swir16 is dark: that rescues turbid water misread as cloud,
but it rescues shadowed and hazy water too, whose turbidity is biased. So a reach-date is
determinate only with at least ``params.min_water_px`` *unflagged* clear persistent-water
pixels, and flagged-but-rescued pixels join the median only when they are at least as
turbid as the unflagged median of the same reach and date (the misread plume core is the
most turbid water; shadowed water is darker). A reach that is flagged entirely is
indeterminate, with the count of flagged water pixels in the reason.

The exceedance rule is relative, so that the bias of the surface-reflectance proxy cancels:

* ``downstream_minus_upstream``: downstream median minus upstream median on the same date
  (FNU), when both reaches are determinate;
* ``downstream_vs_baseline``: downstream median over the ``params.baseline_quantile`` of
  that reach's own determinate medians before the period.

A date is a *candidate* when the difference exceeds ``diff_limit_fnu`` or the ratio exceeds
``params.baseline_factor``. An episode (:class:`~monitor.indicators.base.ChangeEvent`) is
provisional after one candidate and confirmed after ``params.confirm_k`` candidates on
consecutive determinate dates; a single candidate that the next determinate date does not
repeat is dropped. Compliance, not this module, decides what is an exceedance.

Layout: the per-reach series (persistence, medians, own baseline) are in
:mod:`monitor.indicators.water_series`, the episode rules in
:mod:`monitor.indicators.water_episodes`; this module ties them together.

Pure: one ``dask.compute`` for every reach, then numpy; no file or network I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from monitor import indices
from monitor.concessions import Concession
from monitor.indicators.base import (
    ChangeEvent,
    Confidence,
    IndicatorResult,
    WaterParams,
)
from monitor.indicators.common import (
    as_date,
    measurement_table,
    raster,
    spectral_note,
    spectral_screen,
)
from monitor.indicators.water_episodes import episodes
from monitor.indicators.water_series import (
    MIN_BASELINE_DATES,
    MIN_PIXEL_OBS,
    OwnBaseline,
    load_reaches,
    own_baseline,
    persistence,
    reach_row,
    reach_series,
    why_indeterminate,
)
from monitor.zonal import ZoneMask, pixel_area_ha, zone_masks

__all__ = ["MIN_BASELINE_DATES", "MIN_BASELINE_OBS", "MIN_PIXEL_OBS", "turbidity",
           "turbidity_metric"]

#: Acquisitions before the period needed to use the pre-period as the baseline window for
#: persistent water; with fewer, the whole cube is used (and the notes say so).
MIN_BASELINE_OBS = 5


def turbidity_metric(calibration: str) -> str:
    """Metric name of the per-reach median turbidity for a calibration id."""
    return f"median_turbidity_{calibration}"


def turbidity(
    cube: xr.Dataset,
    concession: Concession,
    period: tuple[date, date],
    params: WaterParams = WaterParams(),  # noqa: B008 (frozen dataclass)
    *,
    buffer_m: float = 500.0,
    diff_limit_fnu: float = 10.0,
) -> IndicatorResult:
    """Per-reach turbidity series and sediment-plume episodes for one concession.

    Parameters
    ----------
    cube
        From :func:`monitor.load_cube` for the concession (numpy- or dask-backed), holding
        the period and, ideally, at least :data:`MIN_BASELINE_OBS` acquisitions before it.
    concession
        The concession; its ``water_reach`` features (role upstream / downstream) are used.
    period
        (start, end), inclusive: the dates reported and searched for episodes.
    params
        Method parameters (SCIENCE.md defaults).
    buffer_m
        Buffer used to derive the zones (the reaches do not depend on it).
    diff_limit_fnu
        Candidate threshold of ``downstream_minus_upstream`` (FNU). The standard holds the
        real limit; this only decides which dates start or extend an episode.

    Returns
    -------
    IndicatorResult
        Measurements per reach and date (``median_turbidity_<calibration>``, ``median_ndti``,
        ``upstream_vs_baseline`` / ``downstream_vs_baseline``), per downstream reach and date
        (``downstream_minus_upstream``, ``exceedance_candidate``), per reach for the
        baseline window (``persistent_water_area``, ``baseline_quantile``); episodes on the
        downstream reaches (zone ``water_reach``, value = largest excess in FNU); rasters
        ``persistent_water`` and ``wet_fraction``.

    Notes
    -----
    Baseline window: every acquisition of the cube before ``period[0]`` when there are at
    least :data:`MIN_BASELINE_OBS`, else the whole cube (persistence then rests on the
    period itself; the notes say so and confidence drops). Several upstream reaches are
    pooled into one reference. Dates where a rule cannot be evaluated (a reach clouded) and
    no other rule exceeds are indeterminate: they neither extend nor break an episode. A
    rule that does not apply to the whole period (no upstream reach; fewer than
    :data:`MIN_BASELINE_DATES` determinate dates before the period, so no own baseline) is
    left out rather than counted as missing. Flagged water pixels are used as described in
    the module docstring.
    """
    start, end = as_date(period[0]), as_date(period[1])
    if end < start:
        raise ValueError(f"{concession.concession_id}: period end {end} is before its start "
                         f"{start}")
    cid = concession.concession_id
    parameters = {**asdict(params), "buffer_m": float(buffer_m),
                  "diff_limit_fnu": float(diff_limit_fnu)}
    spec = indices.get(params.turbidity_index)
    if spec.unit != "FNU":
        raise ValueError(f"params.turbidity_index {params.turbidity_index!r} is not a "
                         "turbidity index (unit FNU); use e.g. 'turbidity_nechad2016_b04'")
    calibration = spec.calibration or spec.id
    notes = [f"Turbidity is a surface-reflectance proxy ({calibration}, computed from "
             "surface rather than water-leaving reflectance): compare reaches with each "
             "other and with their own baseline, not with absolute FNU limits."]
    reaches = [m for m in zone_masks(concession.zones(buffer_m), cube.odc.geobox)
               if m.zone == "water_reach"]
    for r in reaches:
        if r.n_px == 0:
            notes.append(f"Reach {r.zone_id} does not cover any pixel of the cube grid.")
    reaches = [r for r in reaches if r.n_px > 0]
    empty = measurement_table([])
    if not any(r.role == "downstream" for r in reaches):
        notes.append("No downstream water reach on the grid: no episode can be assessed "
                     "(the registry needs water_reach features with role 'downstream').")
    if not reaches:
        return IndicatorResult("turbidity", cid, (start, end), empty, (), {}, parameters,
                               confidence="low", notes=tuple(notes))

    times = cube["time"].values.astype("datetime64[D]")
    dates: list[date] = [t.item() for t in times]
    in_period = (times >= np.datetime64(start)) & (times <= np.datetime64(end))
    pre = times < np.datetime64(start)
    if int(pre.sum()) >= MIN_BASELINE_OBS:
        base, base_kind = pre, "pre-period"
    else:
        base, base_kind = np.ones(times.shape, bool), "whole cube"
    b_idx = np.flatnonzero(base)
    b_start, b_end = dates[int(b_idx[0])], dates[int(b_idx[-1])]
    notes.append(
        f"Persistent water (wet in >= {params.persistent_fraction:.0%} of clear observations) "
        f"from the {base_kind} window {b_start}..{b_end} ({b_idx.size} acquisition(s))"
        + ("." if base_kind == "pre-period" else
           f": fewer than {MIN_BASELINE_OBS} acquisitions precede the period, so the period "
           "itself is part of the baseline."))

    parts, attrs = load_reaches(cube, reaches, params.turbidity_index)
    if "band_substitution" in attrs:
        notes.append(f"Turbidity band substitution: {attrs['band_substitution']}.")
    spectral = spectral_screen(cube)
    if spectral:
        notes.append(spectral_note("lower"))
    persist = [persistence(p["water"], p["clear"], base, params.persistent_fraction)
               for p in parts]
    single = {r.zone_id: reach_series((r.zone_id,), r.n_px, [p], [k[0]],
                                      params.min_water_px)
              for r, p, k in zip(reaches, parts, persist, strict=True)}
    ups = [i for i, r in enumerate(reaches) if r.role == "upstream"]
    upstream = (reach_series(tuple(reaches[i].zone_id for i in ups),
                             sum(reaches[i].n_px for i in ups), [parts[i] for i in ups],
                             [persist[i][0] for i in ups], params.min_water_px)
                if ups else None)
    if len(ups) > 1:
        notes.append(f"Upstream reaches {', '.join(upstream.reach_ids if upstream else ())} "
                     "are pooled into one reference.")

    ha = pixel_area_ha(cube)
    rows: list[dict[str, Any]] = []
    baselines: dict[str, OwnBaseline] = {}
    metric = turbidity_metric(calibration)
    period_idx = np.flatnonzero(in_period)
    for reach, (keep, _wet) in zip(reaches, persist, strict=True):
        s = single[reach.zone_id]
        zid = reach.zone_id
        rows.append(reach_row(cid, zid, "persistent_water_area", b_end, b_start,
                              keep.sum() * ha, "ha", b_idx.size, int(keep.sum()), reach.n_px,
                              "" if keep.any() else "no persistent-water pixel in the baseline "
                              "window"))
        bl = own_baseline(s, pre, params.baseline_quantile, params.min_water_px)
        baselines[zid] = bl
        rows.append(reach_row(cid, zid, "baseline_quantile", b_end, b_start,
                              bl.quantile or np.nan, "FNU", bl.n_dates, s.n_persistent_px,
                              reach.n_px, bl.reason))
        for t in period_idx:
            why = why_indeterminate(s, int(t), params.min_water_px)
            n = int(s.count[t])
            rows.append(reach_row(cid, zid, metric, dates[t], None, s.median[t], "FNU", 1, n,
                                  reach.n_px, why))
            rows.append(reach_row(cid, zid, "median_ndti", dates[t], None, s.ndti[t], "1", 1, n,
                                  reach.n_px, why))
            ratio_why = why or bl.reason
            ratio = s.median[t] / bl.quantile if bl.quantile else np.nan
            rows.append(reach_row(cid, zid, f"{reach.role}_vs_baseline", dates[t], None, ratio,
                                  "1", bl.n_dates, n, reach.n_px, ratio_why))
        if s.n_persistent_px and not (s.count[period_idx] >= params.min_water_px).any():
            notes.append(f"Reach {zid} is indeterminate on every date of the period "
                         "(clouds or too few water pixels).")

    events: list[ChangeEvent] = []
    for reach in reaches:
        if reach.role != "downstream":
            continue
        ev, ev_rows, ev_notes = episodes(
            cid, reach, single[reach.zone_id], upstream, baselines[reach.zone_id], dates,
            period_idx, params, diff_limit_fnu, spectral or base_kind != "pre-period")
        events += ev
        rows += ev_rows
        notes += ev_notes
    if upstream is None:
        notes.append("No upstream reach: the downstream-minus-upstream rule cannot be applied; "
                     "episodes rest on the own-baseline rule alone.")

    rasters = _rasters(cube, reaches, persist)
    confidence: Confidence = "low" if spectral or b_idx.size < MIN_BASELINE_OBS else (
        "medium" if base_kind != "pre-period" else "high")
    measurements = measurement_table(rows)
    return IndicatorResult("turbidity", cid, (start, end), measurements, tuple(events),
                           rasters, parameters, confidence=confidence, notes=tuple(notes))


def _rasters(cube: xr.Dataset, reaches: Sequence[ZoneMask],
             persist: Sequence[tuple[NDArray[np.bool_], NDArray[np.float64]]]
             ) -> dict[str, xr.DataArray]:
    shape = (cube.sizes["y"], cube.sizes["x"])
    keep = np.zeros(shape, bool)
    wet = np.full(shape, np.nan, "float32")
    for reach, (k, w) in zip(reaches, persist, strict=True):
        rows, cols = np.nonzero(reach.mask)
        keep[rows, cols] |= k
        wet[rows, cols] = w
    return {"persistent_water": raster(cube, "persistent_water", keep),
            "wet_fraction": raster(cube, "wet_fraction", wet, units="1")}
