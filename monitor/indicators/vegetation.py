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

Pure and lazy: a dask-backed cube is computed once (``dask.compute`` of every array the
indicator needs); a numpy-backed cube is used as it is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from affine import Affine
from dask.base import compute as dask_compute
from numpy.typing import NDArray
from scipy import ndimage

from monitor import change, indices
from monitor.concessions import Concession
from monitor.errors import MissingBandError, NoImageryError
from monitor.indicators.base import (
    MEASUREMENT_COLUMNS,
    ChangeEvent,
    Confidence,
    IndicatorResult,
    VegetationParams,
)
from monitor.zonal import pixel_area_ha, zone_masks

__all__ = ["ATTRIBUTION_SERIES", "ZONE_PRECEDENCE", "vegetation_loss",
           "vegetation_loss_two_date"]

#: Zones a loss pixel is attributed to, highest precedence first.
ZONE_PRECEDENCE = ("exclusion_zone", "permitted_footprint", "licence_outside_footprint",
                   "buffer_ring")
#: Bands and indices whose before/after medians give the attribution hint.
ATTRIBUTION_SERIES = ("blue", "green", "red", "nbr", "bsi")
_EPOCH = date(1970, 1, 1)
_DEFAULTS = VegetationParams()


@dataclass(frozen=True)
class ZoneGrid:
    """The reporting zones on the cube grid, one code per pixel.

    Attributes
    ----------
    zones
        ``(zone, zone_id)`` in reporting order; ``codes`` index into it.
    codes
        int16 ``(y, x)``: the zone of each AOI pixel by :data:`ZONE_PRECEDENCE`, -1 none.
    pixel_ha
        Area of one pixel (ha).
    transform
        The grid's affine transform.
    """

    zones: tuple[tuple[str, str], ...]
    codes: NDArray[np.int16]
    pixel_ha: float
    transform: Affine


def _zone_grid(concession: Concession, buffer_m: float, cube: xr.Dataset,
               in_aoi: NDArray[np.bool_]) -> ZoneGrid:
    geobox = cube.odc.geobox
    masks = [m for m in zone_masks(concession.zones(buffer_m), geobox)
             if m.zone in ZONE_PRECEDENCE]
    codes = np.full(in_aoi.shape, -1, np.int16)
    for i in sorted(range(len(masks)), key=lambda j: ZONE_PRECEDENCE.index(masks[j].zone)):
        codes[(codes == -1) & masks[i].mask & in_aoi] = i
    return ZoneGrid(tuple((m.zone, m.zone_id) for m in masks), codes, pixel_area_ha(cube),
                    geobox.affine)


def _day(value: float) -> date:
    return _EPOCH + timedelta(days=int(value))


def _hint(part: NDArray[np.bool_], composites: dict[str, tuple[Any, Any]],
          burn_dnbr: float) -> tuple[str, dict[str, float]]:
    """Attribution hint of one event part from before/after medians of its pixels."""
    delta: dict[str, float] = {}  # median over the part's pixels; after - before, but dNBR
    for name, (before, after) in composites.items():
        b, a = np.asarray(before)[part], np.asarray(after)[part]
        diff = indices.dnbr(b, a) if name == "nbr" else a - b  # dNBR = NBR_pre - NBR_post
        diff = diff[np.isfinite(diff)]
        delta[f"d{name}"] = float(np.median(diff)) if diff.size else float("nan")
    out = {k: round(v, 4) for k, v in delta.items()}
    darker = all(delta.get(f"d{b}", np.nan) < 0 for b in ("blue", "green", "red"))
    if delta.get("dnbr", np.nan) >= burn_dnbr and darker:
        return "burn-like", out
    if delta.get("dbsi", np.nan) > 0:
        return "soil-exposure", out
    return "", out


def _build_events(cid: str, grid: ZoneGrid, status: NDArray[np.uint8],
                  stats: dict[str, Any], composites: dict[str, tuple[Any, Any]],
                  params: VegetationParams, *, confidence: Confidence, spectral: bool,
                  two_date: bool = False) -> tuple[list[ChangeEvent], NDArray[np.bool_]]:
    """Patches reaching the MMU, split into one event per zone part, with stable ids."""
    min_px = change.mmu_pixels(params.mmu_ha, grid.pixel_ha)
    found: list[tuple[tuple[int, float, int, int], dict[str, Any]]] = []
    confirmed_mask = np.zeros(status.shape, bool)
    for code, name in ((change.CONFIRMED, "confirmed"), (change.PROVISIONAL, "provisional")):
        labels, _ = change.label_components(status == code, min_pixels=min_px)
        if code == change.CONFIRMED:
            confirmed_mask = labels > 0
        for lab, sl in enumerate(ndimage.find_objects(labels), start=1):
            comp = labels[sl] == lab
            codes = grid.codes[sl]
            for z in np.unique(codes[comp]):
                if z < 0:
                    continue
                part = comp & (codes == z)
                fields = _part(part, sl, stats, composites, grid, params, two_date)
                fields.update(status=name, component_px=int(comp.sum()), zone_code=int(z))
                r, c = np.unravel_index(int(np.argmax(part)), part.shape)
                key = (int(z), fields["onset_day"], int(r) + sl[0].start, int(c) + sl[1].start)
                found.append((key, fields))
    events: list[ChangeEvent] = []
    counter: dict[tuple[int, float], int] = {}
    for key, f in sorted(found, key=lambda item: item[0]):
        zone, zone_id = grid.zones[key[0]]
        n = counter[key[:2]] = counter.get(key[:2], 0) + 1
        onset = _day(f["onset_day"])
        conf: Confidence = confidence
        if confidence == "high" and (spectral or f["nonseasonal"] > 0.5):
            conf = "medium"
        details = {"pixels": f["pixels"],
                   "component_area_ha": round(f["component_px"] * grid.pixel_ha, 4),
                   "first_detection_median": f["median_first"].isoformat(),
                   "nonseasonal_baseline_fraction": round(f["nonseasonal"], 3),
                   "method": "two-date dNDVI" if two_date else "seasonal baseline", **f["hint"]}
        events.append(ChangeEvent(
            event_id=f"loss-{zone_id}-{onset:%Y%m%d}-{n}", concession_id=cid,
            indicator="vegetation_loss", zone=zone, zone_id=zone_id, status=f["status"],
            onset=onset, confirmed=f["confirmed"], window=(f["window_start"], onset),
            value=round(f["pixels"] * grid.pixel_ha, 4), unit="ha", n_clear_obs=f["n_obs"],
            confidence=conf, geometry=f["geometry"], attribution=f["attribution"],
            details=details))
    return events, confirmed_mask


def _part(part: NDArray[np.bool_], sl: tuple[slice, ...], stats: dict[str, Any],
          composites: dict[str, tuple[Any, Any]], grid: ZoneGrid, params: VegetationParams,
          two_date: bool) -> dict[str, Any]:
    """Dates, counts, polygon and hint of one zone part of a patch."""
    first = np.asarray(stats["first"])[sl][part]
    onset = float(first.min())
    starts = np.asarray(stats["window_start"])[sl][part][first == onset]
    starts = starts[np.isfinite(starts)]
    confirmed = np.asarray(stats["confirmed"])[sl][part]
    confirmed = confirmed[np.isfinite(confirmed)]
    sub = {k: (np.asarray(b)[sl], np.asarray(a)[sl]) for k, (b, a) in composites.items()}
    attribution, hint = _hint(part, sub, params.burn_dnbr)
    shift = grid.transform * Affine.translation(sl[1].start, sl[0].start)
    return {
        "onset_day": onset, "pixels": int(part.sum()),
        "median_first": _day(float(np.floor(np.median(first)))),
        "window_start": _day(float(starts.min())) if starts.size else None,
        "confirmed": _day(float(confirmed.min())) if confirmed.size else None,
        "n_obs": int(np.median(np.asarray(stats["n_after"])[sl][part])),
        "nonseasonal": 0.0 if two_date else float(np.mean(
            np.asarray(stats["baseline_kind"])[sl][part] == change.NON_SEASONAL)),
        "geometry": change.pixels_to_polygon(part, shift),
        "attribution": attribution, "hint": hint,
    }


def _zone_rows(cid: str, grid: ZoneGrid, events: list[ChangeEvent], period: tuple[date, date],
               n_clear: NDArray[np.int64], n_baseline: NDArray[Any] | None,
               params: VegetationParams, *, need_obs: int,
               metrics: tuple[str, ...] = ("loss_area", "provisional_area"),
               forced_reason: str = "") -> list[dict[str, Any]]:
    """Measurement rows per zone and metric, indeterminate with a reason when data is short.

    A zone with too few observations is indeterminate with a NaN value, unless loss was
    found there anyway: then the area (a lower bound) is reported with status ``ok``.
    """
    rows: list[dict[str, Any]] = []
    for i, (zone, zone_id) in enumerate(grid.zones):
        px = grid.codes == i
        n_total = int(px.sum())
        obs = n_clear[px]
        median = int(np.floor(np.median(obs))) if n_total else 0
        reason = forced_reason
        if not n_total:
            reason = "the zone has no pixels on the grid"
        elif not reason and median < need_obs:
            reason = (f"too few clear observations: median {median} per pixel in the period "
                      f"(at least {need_obs} needed)")
        elif not reason and n_baseline is not None:
            short = float(np.mean(n_baseline[px] < params.min_baseline_obs))
            if short > 0.5:
                reason = (f"baseline too short: {short:.0%} of the zone's pixels have fewer "
                          f"than {params.min_baseline_obs} clear observations in the "
                          f"{params.baseline_days} days before {period[0]}")
        for metric in metrics:
            status = "confirmed" if metric == "loss_area" else "provisional"
            value = sum(e.value for e in events if e.zone_id == zone_id and e.zone == zone
                        and e.status == status)
            bad = bool(reason) and value == 0
            rows.append({
                "concession_id": cid, "indicator": "vegetation_loss", "zone": zone,
                "zone_id": zone_id, "metric": metric, "date": period[1],
                "period_start": period[0], "value": float("nan") if bad else round(value, 4),
                "unit": "ha", "n_clear_obs": median, "n_clear_px": int((obs > 0).sum()),
                "n_total_px": n_total, "status": "indeterminate" if bad else "ok",
                "reason": reason if bad else ""})
    return rows


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _raster(cube: xr.Dataset, name: str, data: NDArray[Any], **attrs: Any) -> xr.DataArray:
    coords = {k: cube.coords[k] for k in ("y", "x", "spatial_ref") if k in cube.coords}
    return xr.DataArray(data, dims=("y", "x"), coords=coords, name=name, attrs=attrs)


def _spectral_screen(cube: xr.Dataset) -> bool:
    if "qa_kind" not in cube.coords:
        return False
    kinds = np.atleast_1d(cube["qa_kind"].values)
    return any(str(k) == "spectral_screen" for k in kinds)


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
    table = pd.DataFrame(rows, columns=list(MEASUREMENT_COLUMNS))
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
    start, end = _as_date(period[0]), _as_date(period[1])
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
    (got,) = dask_compute(lazy)  # type: ignore[no-untyped-call]
    d: change.Detection[Any] = got["det"]
    in_aoi = np.asarray(sub["in_aoi"].values, bool)
    grid = _zone_grid(concession, buffer_m, cube, in_aoi)

    first = np.asarray(d.first_detection)
    reported = np.isfinite(first) & (first >= d0)
    status = np.where(reported, d.status, change.NONE).astype(np.uint8)
    n_period = np.asarray(got["n_period"], np.int64)
    stats = {"first": first, "confirmed": np.asarray(d.confirmed),
             "window_start": np.asarray(d.window_start),
             "baseline_kind": np.asarray(d.baseline_kind), "n_after": got["n_after"]}
    spectral = _spectral_screen(sub.isel(time=np.flatnonzero(days >= d0)))
    tests = float(np.sum(d.n_tests))
    nonseasonal = float(np.sum(d.n_nonseasonal)) / tests if tests else 0.0
    confidence: Confidence = "medium" if spectral or nonseasonal > 0.5 else "high"
    events, confirmed_mask = _build_events(
        concession.concession_id, grid, status, stats, got["composites"], params,
        confidence=confidence, spectral=spectral)
    rows = _zone_rows(concession.concession_id, grid, events, (start, end), n_period,
                      np.asarray(got["n_baseline"]), params, need_obs=params.confirm_k)
    notes = _notes(d, reported, in_aoi, grid, spectral, nonseasonal, missing, start)
    rasters = {
        "first_detection": _raster(sub, "first_detection", np.where(reported, first, np.nan),
                                   units="days since 1970-01-01"),
        "confirmed": _raster(sub, "confirmed", confirmed_mask),
        "loss_status": _raster(sub, "loss_status", status,
                               flag_values=[0, 1, 2],
                               flag_meanings="none provisional confirmed"),
        "n_clear_obs": _raster(sub, "n_clear_obs", n_period.astype(np.int32)),
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
        notes.append("Some acquisitions have no quality band: clouds were screened "
                     "spectrally (medium confidence).")
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
    b, a = _as_date(before), _as_date(after)
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
    (got,) = dask_compute(lazy)  # type: ignore[no-untyped-call]
    nb = ib.size
    clear = np.asarray(got["clear"], bool)
    ndvi_b, clear_b = _mosaic(got["ndvi"][:nb], clear[:nb])
    ndvi_a, clear_a = _mosaic(got["ndvi"][nb:], clear[nb:])
    dndvi, loss = change.two_date(ndvi_b, ndvi_a, clear_b, clear_a,
                                  threshold=params.two_date_dndvi,
                                  vegetated=params.vegetated_centre)
    day_b, day_a = days[ib[0]], days[ia[0]]
    in_aoi = np.asarray(sub["in_aoi"].values, bool)
    grid = _zone_grid(concession, buffer_m, cube, in_aoi)
    status = np.where(loss, change.CONFIRMED, change.NONE).astype(np.uint8)
    n_after = clear_a.astype(np.int64)
    stats = {"first": np.where(loss, day_a, np.nan), "confirmed": np.where(loss, day_a, np.nan),
             "window_start": np.where(loss, day_b, np.nan),
             "baseline_kind": np.zeros(loss.shape), "n_after": n_after}
    composites = {name: (_mosaic(arr[:nb], clear[:nb])[0], _mosaic(arr[nb:], clear[nb:])[0])
                  for name, arr in got["series"].items()}
    events, confirmed_mask = _build_events(concession.concession_id, grid, status, stats,
                                          composites, params, confidence="low",
                                          spectral=_spectral_screen(sub), two_date=True)
    n_clear = clear_b.astype(np.int64) + clear_a
    period = (b, a)
    same = day_a == day_b and a != b
    rows = _zone_rows(concession.concession_id, grid, events, period, n_clear, None, params,
                      need_obs=2, metrics=("loss_area",),
                      forced_reason="before and after resolve to the same acquisition"
                      if same else "")
    notes = [f"Two-date mode: {_day(day_b)} against {_day(day_a)} "
             f"(dNDVI <= {params.two_date_dndvi}); low confidence: no seasonal baseline "
             "and no repeated observation."]
    if missing:
        notes.append(f"No attribution hint from {', '.join(missing)}: bands missing.")
    rasters = {"dndvi": _raster(sub, "dndvi", np.asarray(dndvi, np.float32)),
               "confirmed": _raster(sub, "confirmed", confirmed_mask),
               "loss_status": _raster(sub, "loss_status", status)}
    return _result(cube, concession, period, params, rows, events, rasters, "two-date",
                   "low", notes)
