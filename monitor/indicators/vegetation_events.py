"""Loss patches to events and zone rows for the vegetation indicator.

The reporting zones on the cube grid (:class:`ZoneGrid`, one zone per pixel by
:data:`ZONE_PRECEDENCE`), the split of each loss patch reaching the minimum mapping unit
into one :class:`~monitor.indicators.base.ChangeEvent` per zone part (dates, counts,
polygon and attribution hint, with stable ids: :func:`build_events`) and the measurement
rows per zone (:func:`zone_rows`). See :mod:`monitor.indicators.vegetation` for the
method, which uses these for both the baseline and the two-date mode. Pure: numpy, scipy
and shapely on computed arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine
from numpy.typing import NDArray
from scipy import ndimage

from monitor import change, indices
from monitor.concessions import Concession
from monitor.indicators.base import ChangeEvent, Confidence, VegetationParams
from monitor.zonal import pixel_area_ha, zone_masks

__all__ = ["ZONE_PRECEDENCE", "ZoneGrid", "build_events", "epoch_date", "zone_grid",
           "zone_rows"]

#: Zones a loss pixel is attributed to, highest precedence first.
ZONE_PRECEDENCE = ("exclusion_zone", "permitted_footprint", "licence_outside_footprint",
                   "buffer_ring")
_EPOCH = date(1970, 1, 1)


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


def zone_grid(concession: Concession, buffer_m: float, cube: xr.Dataset,
              in_aoi: NDArray[np.bool_]) -> ZoneGrid:
    """The concession's reporting zones on the cube grid, restricted to ``in_aoi``."""
    geobox = cube.odc.geobox
    masks = [m for m in zone_masks(concession.zones(buffer_m), geobox)
             if m.zone in ZONE_PRECEDENCE]
    codes = np.full(in_aoi.shape, -1, np.int16)
    for i in sorted(range(len(masks)), key=lambda j: ZONE_PRECEDENCE.index(masks[j].zone)):
        codes[(codes == -1) & masks[i].mask & in_aoi] = i
    return ZoneGrid(tuple((m.zone, m.zone_id) for m in masks), codes, pixel_area_ha(cube),
                    geobox.affine)


def epoch_date(value: float) -> date:
    """The date of a day number since 1970-01-01 (see :func:`monitor.change.epoch_days`)."""
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


def build_events(cid: str, grid: ZoneGrid, status: NDArray[np.uint8],
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
        onset = epoch_date(f["onset_day"])
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
        "median_first": epoch_date(float(np.floor(np.median(first)))),
        "window_start": epoch_date(float(starts.min())) if starts.size else None,
        "confirmed": epoch_date(float(confirmed.min())) if confirmed.size else None,
        "n_obs": int(np.median(np.asarray(stats["n_after"])[sl][part])),
        "nonseasonal": 0.0 if two_date else float(np.mean(
            np.asarray(stats["baseline_kind"])[sl][part] == change.NON_SEASONAL)),
        "geometry": change.pixels_to_polygon(part, shift),
        "attribution": attribution, "hint": hint,
    }


def zone_rows(cid: str, grid: ZoneGrid, events: list[ChangeEvent], period: tuple[date, date],
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
