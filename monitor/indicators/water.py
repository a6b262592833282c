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

Pure: one ``dask.compute`` for every reach, then numpy; no file or network I/O.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from dask.base import compute as dask_compute
from numpy.typing import NDArray

from monitor import indices
from monitor.concessions import Concession
from monitor.indicators.base import (
    MEASUREMENT_COLUMNS,
    ChangeEvent,
    Confidence,
    IndicatorResult,
    WaterParams,
)
from monitor.zonal import ZoneMask, pixel_area_ha, zone_masks

__all__ = ["MIN_BASELINE_DATES", "MIN_BASELINE_OBS", "MIN_PIXEL_OBS", "turbidity",
           "turbidity_metric"]

#: Acquisitions before the period needed to use the pre-period as the baseline window for
#: persistent water; with fewer, the whole cube is used (and the notes say so).
MIN_BASELINE_OBS = 5
#: Determinate pre-period medians a reach needs for its own-baseline quantile.
MIN_BASELINE_DATES = 5
#: Clear observations a pixel needs in the baseline window to be judged persistent (fewer
#: when the window itself has fewer acquisitions).
MIN_PIXEL_OBS = 3


def turbidity_metric(calibration: str) -> str:
    """Metric name of the per-reach median turbidity for a calibration id."""
    return f"median_turbidity_{calibration}"


@dataclass(frozen=True)
class _Series:
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


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _row(cid: str, zone_id: str, metric: str, day: date, start: date | None, value: float,
         unit: str, n_obs: int, n_px: int, n_total: int, reason: str = "") -> dict[str, Any]:
    return {"concession_id": cid, "indicator": "turbidity", "zone": "water_reach",
            "zone_id": zone_id, "metric": metric, "date": day, "period_start": start,
            "value": float(value) if not reason else float("nan"), "unit": unit,
            "n_clear_obs": int(n_obs), "n_clear_px": int(n_px), "n_total_px": int(n_total),
            "status": "indeterminate" if reason else "ok", "reason": reason}


def _nanmedian_rows(values: NDArray[np.float32]) -> NDArray[np.float64]:
    with warnings.catch_warnings():  # a clouded date has an all-NaN row: NaN
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        return np.asarray(np.nanmedian(values.astype("float64"), axis=1), "float64")


def _load_reaches(cube: xr.Dataset, reaches: Sequence[ZoneMask], index: str
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
    computed = dask_compute(*lazy)  # type: ignore[no-untyped-call]
    out = []
    for (turb, ndti, water, clear), (r, c) in zip(computed, where, strict=True):
        out.append({"turb": np.asarray(turb)[:, r, c], "ndti": np.asarray(ndti)[:, r, c],
                    "water": np.asarray(water, bool)[:, r, c],
                    "clear": np.asarray(clear, bool)[:, r, c]})
    return out, attrs


def _persistence(water: NDArray[np.bool_], clear: NDArray[np.bool_], base: NDArray[np.bool_],
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


def _series(reach_ids: tuple[str, ...], n_total: int, parts: Sequence[dict[str, NDArray[Any]]],
            persistent: Sequence[NDArray[np.bool_]], min_px: int) -> _Series:
    """Per-date medians over clear persistent water (see :func:`turbidity`, Notes)."""
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
    return _Series(reach_ids, n_total, int(sum(int(k.sum()) for k in persistent)),
                   _nanmedian_rows(values), _nanmedian_rows(np.where(usable, ndti, np.nan)),
                   usable.sum(axis=1).astype("int64"), n_unflagged.astype("int64"),
                   rescued.sum(axis=1).astype("int64"), values)


def _why(series: _Series, t: int, min_px: int) -> str:
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
class _Baseline:
    quantile: float | None
    n_dates: int
    reason: str


def _own_baseline(series: _Series, pre: NDArray[np.bool_], q: float, min_px: int) -> _Baseline:
    ok = pre & (series.count >= min_px)
    n = int(ok.sum())
    if n < MIN_BASELINE_DATES:
        return _Baseline(None, n, f"reach {'+'.join(series.reach_ids)} has {n} determinate "
                         f"dates before the period (< {MIN_BASELINE_DATES}): no own baseline")
    value = float(np.quantile(series.median[ok], q))
    if not value > 0:
        return _Baseline(None, n, f"baseline quantile {value:.3g} FNU is not positive")
    return _Baseline(value, n, "")


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
    start, end = _as_date(period[0]), _as_date(period[1])
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
    empty = pd.DataFrame(columns=list(MEASUREMENT_COLUMNS))
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

    parts, attrs = _load_reaches(cube, reaches, params.turbidity_index)
    if "band_substitution" in attrs:
        notes.append(f"Turbidity band substitution: {attrs['band_substitution']}.")
    kinds = {str(k) for k in np.atleast_1d(cube["qa_kind"].values)} if "qa_kind" in cube.coords \
        else set()
    spectral = "spectral_screen" in kinds
    if spectral:
        notes.append("Some acquisitions have no quality band: clouds were screened spectrally "
                     "(lower confidence).")
    persist = [_persistence(p["water"], p["clear"], base, params.persistent_fraction)
               for p in parts]
    single = {r.zone_id: _series((r.zone_id,), r.n_px, [p], [k[0]],
                                  params.min_water_px)
              for r, p, k in zip(reaches, parts, persist, strict=True)}
    ups = [i for i, r in enumerate(reaches) if r.role == "upstream"]
    upstream = (_series(tuple(reaches[i].zone_id for i in ups),
                        sum(reaches[i].n_px for i in ups), [parts[i] for i in ups],
                        [persist[i][0] for i in ups], params.min_water_px) if ups else None)
    if len(ups) > 1:
        notes.append(f"Upstream reaches {', '.join(upstream.reach_ids if upstream else ())} "
                     "are pooled into one reference.")

    ha = pixel_area_ha(cube)
    rows: list[dict[str, Any]] = []
    baselines: dict[str, _Baseline] = {}
    metric = turbidity_metric(calibration)
    period_idx = np.flatnonzero(in_period)
    for reach, (keep, _wet) in zip(reaches, persist, strict=True):
        s = single[reach.zone_id]
        zid = reach.zone_id
        rows.append(_row(cid, zid, "persistent_water_area", b_end, b_start, keep.sum() * ha,
                         "ha", b_idx.size, int(keep.sum()), reach.n_px,
                         "" if keep.any() else "no persistent-water pixel in the baseline "
                         "window"))
        bl = _own_baseline(s, pre, params.baseline_quantile, params.min_water_px)
        baselines[zid] = bl
        rows.append(_row(cid, zid, "baseline_quantile", b_end, b_start, bl.quantile or np.nan,
                         "FNU", bl.n_dates, s.n_persistent_px, reach.n_px, bl.reason))
        for t in period_idx:
            why = _why(s, int(t), params.min_water_px)
            n = int(s.count[t])
            rows.append(_row(cid, zid, metric, dates[t], None, s.median[t], "FNU", 1, n,
                             reach.n_px, why))
            rows.append(_row(cid, zid, "median_ndti", dates[t], None, s.ndti[t], "1", 1, n,
                             reach.n_px, why))
            ratio_why = why or bl.reason
            ratio = s.median[t] / bl.quantile if bl.quantile else np.nan
            rows.append(_row(cid, zid, f"{reach.role}_vs_baseline", dates[t], None, ratio, "1",
                             bl.n_dates, n, reach.n_px, ratio_why))
        if s.n_persistent_px and not (s.count[period_idx] >= params.min_water_px).any():
            notes.append(f"Reach {zid} is indeterminate on every date of the period "
                         "(clouds or too few water pixels).")

    events: list[ChangeEvent] = []
    for reach in reaches:
        if reach.role != "downstream":
            continue
        ev, ev_rows, ev_notes = _episodes(
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
    measurements = pd.DataFrame(rows, columns=list(MEASUREMENT_COLUMNS))
    return IndicatorResult("turbidity", cid, (start, end), measurements, tuple(events),
                           rasters, parameters, confidence=confidence, notes=tuple(notes))


def _episodes(cid: str, reach: ZoneMask, down: _Series, up: _Series | None, bl: _Baseline,
              dates: Sequence[date], period_idx: NDArray[np.intp], params: WaterParams,
              diff_limit: float, weak: bool
              ) -> tuple[list[ChangeEvent], list[dict[str, Any]], list[str]]:
    """Difference and candidate rows of one downstream reach, and its episodes."""
    min_px = params.min_water_px
    zid = reach.zone_id
    up_total = up.n_total_px if up else 0
    rows: list[dict[str, Any]] = []
    # (date, state, excess, detail): state candidate | clear | skip
    steps: list[tuple[date, str, float, dict[str, Any]]] = []
    for t in period_idx:
        day = dates[int(t)]
        d_why = _why(down, int(t), min_px)
        u_why = _why(up, int(t), min_px) if up else "no upstream reach"
        diff = down.median[t] - up.median[t] if up and not (d_why or u_why) else np.nan
        n_px = int(down.count[t]) + (int(up.count[t]) if up else 0)
        rows.append(_row(cid, zid, "downstream_minus_upstream", day, None, diff, "FNU", 1, n_px,
                         reach.n_px + up_total, "; ".join(w for w in (d_why, u_why) if w)))
        ratio = down.median[t] / bl.quantile if bl.quantile and not d_why else np.nan
        diff_hit = bool(np.isfinite(diff) and diff > diff_limit)
        ratio_hit = bool(np.isfinite(ratio) and ratio > params.baseline_factor)
        missing = [why for why, applies, value in
                   ((u_why, up is not None, diff), (bl.reason, bl.quantile is not None, ratio))
                   if applies and not np.isfinite(value)]
        detail = {"date": day.isoformat(), "downstream_fnu": _r(down.median[t]),
                  "upstream_fnu": _r(up.median[t]) if up else None, "difference_fnu": _r(diff),
                  "ratio_to_baseline": _r(ratio),
                  "rules": [n for n, hit in (("difference", diff_hit), ("baseline", ratio_hit))
                            if hit]}
        if d_why:
            state, reason = "skip", d_why
        elif diff_hit or ratio_hit:
            state, reason = "candidate", ""
        elif missing or not (np.isfinite(diff) or np.isfinite(ratio)):
            state = "skip"
            reason = "; ".join(missing) or "neither rule applies (no upstream reach, no baseline)"
        else:
            state, reason = "clear", ""
        value = {"candidate": 1.0, "clear": 0.0}.get(state, np.nan)
        rows.append(_row(cid, zid, "exceedance_candidate", day, None, value, "1", 1,
                         int(down.count[t]), reach.n_px, reason))
        excess = diff if np.isfinite(diff) else (
            down.median[t] - bl.quantile if bl.quantile else np.nan)
        steps.append((day, state, float(excess), detail))
    events, notes = _runs(cid, reach, steps, params.confirm_k, weak)
    return events, rows, notes


def _runs(cid: str, reach: ZoneMask, steps: Sequence[tuple[date, str, float, dict[str, Any]]],
          k: int, weak: bool) -> tuple[list[ChangeEvent], list[str]]:
    """Episodes from the per-date states: provisional after one candidate, confirmed after k."""
    events: list[ChangeEvent] = []
    dropped: list[date] = []
    run: list[tuple[date, float, dict[str, Any]]] = []
    last_clear: date | None = None
    before: date | None = None

    def close(closed_by: date | None) -> None:
        if not run:
            return
        if len(run) < k and closed_by is not None:
            dropped.append(run[0][0])
        else:
            events.append(_event(cid, reach, run, k, before, closed_by, weak))
        run.clear()

    for day, state, excess, detail in steps:
        if state == "candidate":
            if not run:
                before = last_clear
            run.append((day, excess, detail))
        elif state == "clear":
            close(day)
            last_clear = day
    close(None)
    notes = []
    if dropped:
        notes.append(f"Reach {reach.zone_id}: {len(dropped)} isolated candidate date(s) not "
                     f"repeated on the next determinate date were dropped "
                     f"({', '.join(d.isoformat() for d in dropped)}).")
    if not any(s in ("candidate", "clear") for _, s, _, _ in steps):
        notes.append(f"Reach {reach.zone_id}: no determinate date in the period (downstream or "
                     "upstream reach clouded on every date): no episode can be assessed.")
    return events, notes


def _event(cid: str, reach: ZoneMask, run: Sequence[tuple[date, float, dict[str, Any]]], k: int,
           before: date | None, closed_by: date | None, weak: bool) -> ChangeEvent:
    onset = run[0][0]
    confirmed = run[k - 1][0] if len(run) >= k else None
    excess = [e for _, e, _ in run if np.isfinite(e)]
    both_rules = all(d["difference_fnu"] is not None for _, _, d in run)
    confidence: Confidence = ("high" if confirmed and both_rules and not weak else
                              "medium" if confirmed or not weak else "low")
    return ChangeEvent(
        event_id=f"plume-{reach.zone_id}-{onset.isoformat()}",
        concession_id=cid, indicator="turbidity", zone="water_reach", zone_id=reach.zone_id,
        status="confirmed" if confirmed else "provisional", onset=onset, confirmed=confirmed,
        window=(before, onset), value=float(max(excess)) if excess else float("nan"),
        unit="FNU", n_clear_obs=len(run), confidence=confidence,
        details={"dates": [d.isoformat() for d, _, _ in run], "per_date": [d for _, _, d in run],
                 "last_candidate": run[-1][0].isoformat(),
                 "closed_by": closed_by.isoformat() if closed_by else None,
                 "value_basis": "largest downstream-minus-upstream difference (FNU); "
                                "downstream minus its baseline quantile where upstream was "
                                "clouded"})


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
    coords = {"y": cube["y"], "x": cube["x"]}
    return {"persistent_water": xr.DataArray(keep, coords, ("y", "x"), "persistent_water"),
            "wet_fraction": xr.DataArray(wet, coords, ("y", "x"), "wet_fraction",
                                         attrs={"units": "1"})}


def _r(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None
