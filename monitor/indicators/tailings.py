"""Tailings footprint: classes from composites, growth, ponds, encroachment (SCIENCE.md s. 7).

Per pixel and composite (median of the ``clear_tailings`` observations of a window of
``params.composite_days``), a class: water (MNDWI > ``water_mndwi``), vegetation (NDVI >=
``vegetation_ndvi``), bare/tailings (NDVI < ``bare_ndvi`` and BSI > ``bare_bsi`` and not
water), other; a pixel with fewer than ``min_clear_obs`` clear observations is unknown.
A pond is water inside a tailings facility; *disturbed* means bare or pond.

Composites: a baseline (``baseline`` when given; else the ``composite_days`` just before
the period when the cube holds at least ``min_clear_obs`` acquisitions there; else the first
``composite_days`` of the cube), then consecutive windows of ``composite_days`` that tile the
period backwards from its end (the oldest may be shorter; none overlaps the baseline). The
last one is the *current* composite.

Per zone (permitted footprint, licence outside footprint, buffer ring, exclusion zones,
tailings facilities, and the whole licence) and composite: bare, pond and dust-susceptible
areas and the disturbed area outside the permitted footprint; against the baseline: the
growth of the disturbed area (connected components of at least ``mmu_ha``), its part
outside the permitted footprint, and the net pond change. Unknown pixels reduce
``n_clear_px``; a zone more than ``max_unknown_fraction`` unknown is indeterminate (the
value then covers the observed part only: a lower bound).

Layout: the composite windows and classes are in
:mod:`monitor.indicators.tailings_composites`; growth patches (minimum mapping unit,
8-connected components) and their polygons come from :mod:`monitor.change_patches`, shared
with the vegetation indicator.

Pure: one ``dask.compute`` for every composite, then numpy, scipy and shapely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from monitor import geometry as geo
from monitor.change_patches import label_components, mmu_pixels, vectorise
from monitor.concessions import Concession
from monitor.indicators.base import (
    ChangeEvent,
    Confidence,
    IndicatorResult,
    TailingsParams,
)
from monitor.indicators.common import (
    as_date,
    measurement_table,
    raster,
    spectral_note,
    spectral_screen,
)
from monitor.indicators.tailings_composites import (
    CLASS_CODES,
    DUST_BSI_MIN,
    DUST_NDMI_MAX,
    DUST_NDVI_MAX,
    Composite,
    composite_windows,
    composites,
)
from monitor.zonal import ZoneMask, burn, pixel_area_ha, zone_masks

__all__ = ["CLASS_CODES", "DUST_BSI_MIN", "DUST_NDMI_MAX", "DUST_NDVI_MAX",
           "MAX_UNKNOWN_FRACTION", "tailings", "vectorise"]

#: A zone with a larger unknown share is indeterminate.
MAX_UNKNOWN_FRACTION = 0.2
#: Zones that get growth events (facilities and the whole licence overlap them).
_EVENT_ZONES = ("permitted_footprint", "licence_outside_footprint", "buffer_ring",
                "exclusion_zone")


def _median_int(values: NDArray[np.int64]) -> int:
    return int(np.median(values)) if values.size else 0


def _unresolved(blind: NDArray[np.bool_], ha: float, mmu_ha: float) -> str:
    """Reason when at least ``mmu_ha`` is disturbed now but was not observed at baseline."""
    area = float(blind.sum()) * ha
    if area < mmu_ha:
        return ""
    return (f"{area:.2f} ha disturbed in the composite had too few clear observations in the "
            "baseline: the growth may be up to that much larger (a lower bound)")


class _Rows:
    """Builds measurement rows, deciding status from the zone's unknown share."""

    def __init__(self, cid: str, ha: float, max_unknown: float) -> None:
        self.cid, self.ha, self.max_unknown = cid, ha, max_unknown
        self.rows: list[dict[str, Any]] = []

    def add(self, zone: ZoneMask, metric: str, day: date, start: date | None, value_px: float,
            known: NDArray[np.bool_], n_obs: NDArray[np.int64], what: str,
            unit: str = "ha", unresolved: str = "") -> None:
        n_total = zone.n_px
        n_known = int((zone.mask & known).sum())
        unknown = 1.0 - n_known / n_total
        reason = ""
        if n_known == 0:
            reason = f"no pixel of the zone has enough clear observations in {what}"
        elif unknown > self.max_unknown:
            reason = (f"{unknown:.0%} of the zone lacks enough clear observations in {what} "
                      f"(> {self.max_unknown:.0%}): the value covers the observed part only "
                      "(a lower bound)")
        reason = reason or unresolved
        value = float("nan") if n_known == 0 else value_px * (self.ha if unit == "ha" else 1.0)
        self.rows.append({
            "concession_id": self.cid, "indicator": "tailings", "zone": zone.zone,
            "zone_id": zone.zone_id, "metric": metric, "date": day, "period_start": start,
            "value": value, "unit": unit, "n_clear_obs": _median_int(n_obs[zone.mask & known]),
            "n_clear_px": n_known, "n_total_px": n_total,
            "status": "indeterminate" if reason else "ok", "reason": reason})


def tailings(
    cube: xr.Dataset,
    concession: Concession,
    period: tuple[date, date],
    params: TailingsParams = TailingsParams(),  # noqa: B008 (frozen dataclass)
    *,
    baseline: tuple[date, date] | None = None,
    buffer_m: float = 500.0,
    max_unknown_fraction: float = MAX_UNKNOWN_FRACTION,
) -> IndicatorResult:
    """Tailings and pond areas, their growth and encroachment, per facility and zone.

    Parameters
    ----------
    cube
        From :func:`monitor.load_cube` (numpy- or dask-backed) with ``blue green red nir
        swir16`` (``nir08`` stands in for ``nir``) and ``clear_tailings``.
    concession
        The concession (permitted footprint, tailings facilities, exclusion zones).
    period
        (start, end), inclusive. The current composite is its last ``composite_days``.
    params
        Method parameters (SCIENCE.md defaults).
    baseline
        (start, end) of the baseline composite, inclusive; default: see the module notes.
    buffer_m
        Width of the buffer ring (m).
    max_unknown_fraction
        Largest unknown share of a zone for a determinate value.

    Returns
    -------
    IndicatorResult
        Measurements per zone (``zone_id`` = facility id for facilities; zone ``licence``
        for the whole licence). Per composite (``date`` = window end, ``period_start`` =
        window start): ``bare_area``, ``pond_area``, ``dust_susceptible_area``,
        ``disturbed_outside_footprint``. Per series composite against the baseline
        (``period_start`` = baseline end): ``growth_area``,
        ``disturbed_outside_footprint_growth``, ``pond_growth`` (net, may be negative). Events:
        one per zone of growth >= ``mmu_ha`` (footprint, licence outside footprint, buffer
        ring, exclusion zones), with growth polygons. Rasters ``class_baseline``,
        ``class_current``, ``growth``, ``dust_susceptible``.

    Raises
    ------
    ValueError
        If the period ends before it starts.
    monitor.errors.MissingBandError
        If the cube lacks a band the indices need.

    Notes
    -----
    Growth = disturbed in the composite, not disturbed at baseline, known in both, inside
    licence + buffer, in 8-connected components of at least ``mmu_ha``. An event is
    confirmed when its growth (at least ``mmu_ha`` of the zone) is seen in the last two
    composites, the confirmation date being the first composite that repeats the previous
    one; otherwise provisional. Onset is the end of the first composite in which at least
    ``mmu_ha`` of the final growth is seen; ``window`` runs from the end of the composite
    before it (or of the baseline).
    """
    start, end = as_date(period[0]), as_date(period[1])
    cid = concession.concession_id
    if end < start:
        raise ValueError(f"{cid}: period end {end} is before its start {start}")
    times = cube["time"].values.astype("datetime64[D]")
    base_w, series_w, how = composite_windows(times, start, end, params, baseline)
    geobox = cube.odc.geobox
    ha = pixel_area_ha(cube)
    masks = _zone_masks(concession, geobox, buffer_m)
    if not series_w:
        return _no_baseline(concession, (start, end), params, buffer_m, max_unknown_fraction,
                            masks, ha, base_w)
    comps = composites(cube, [base_w, *series_w], params)
    base, series = comps[0], comps[1:]
    cur = series[-1]
    in_aoi = np.asarray(cube["in_aoi"].values, bool)
    footprint, facility = np.zeros(in_aoi.shape, bool), np.zeros(in_aoi.shape, bool)
    for m in masks:
        if m.zone == "permitted_footprint":
            footprint |= m.mask
        elif m.zone == "tailings_facility":
            facility |= m.mask
    outside = in_aoi & ~footprint

    def disturbed(c: Composite) -> NDArray[np.bool_]:
        return c.bare | (c.water & facility)

    min_px = mmu_pixels(params.mmu_ha, ha)
    growth = []
    for c in series:
        raw = base.known & c.known & disturbed(c) & ~disturbed(base) & in_aoi
        labels, n_patches = label_components(raw, min_pixels=min_px)
        growth.append((labels > 0, n_patches))

    rows = _Rows(cid, ha, max_unknown_fraction)
    for c in comps:
        what = f"the composite {c.window.start}..{c.window.end}"
        for z in masks:
            zm = z.mask
            rows.add(z, "bare_area", c.window.end, c.window.start, (zm & c.bare).sum(),
                     c.known, c.n_obs, what)
            rows.add(z, "pond_area", c.window.end, c.window.start,
                     (zm & c.water & facility).sum(), c.known, c.n_obs, what)
            rows.add(z, "dust_susceptible_area", c.window.end, c.window.start,
                     (zm & c.dust).sum(), c.known, c.n_obs, what)
            if z.zone != "permitted_footprint":
                rows.add(z, "disturbed_outside_footprint", c.window.end, c.window.start,
                         (zm & disturbed(c) & outside).sum(), c.known, c.n_obs, what)
    for c, (g, _) in zip(series, growth, strict=True):
        both = base.known & c.known
        what = (f"the baseline {base.window.start}..{base.window.end} or the composite "
                f"{c.window.start}..{c.window.end}")
        n_obs = np.minimum(base.n_obs, c.n_obs)
        blind = c.known & ~base.known & disturbed(c) & in_aoi  # disturbed, baseline unseen
        for z in masks:
            zm = z.mask
            rows.add(z, "growth_area", c.window.end, base.window.end, (zm & g).sum(), both,
                     n_obs, what, unresolved=_unresolved(zm & blind, ha, params.mmu_ha))
            if z.zone != "permitted_footprint":
                rows.add(z, "disturbed_outside_footprint_growth", c.window.end,
                         base.window.end, (zm & g & outside).sum(), both, n_obs, what,
                         unresolved=_unresolved(zm & blind & outside, ha, params.mmu_ha))
            if (zm & facility).any():
                pond_c = (zm & c.water & facility).sum()
                pond_b = (zm & base.water & facility).sum()
                rows.add(z, "pond_growth", c.window.end, base.window.end,
                         float(pond_c) - float(pond_b), both, n_obs, what)

    spectral = spectral_screen(cube)
    events = [e for z in masks if z.zone in _EVENT_ZONES
              for e in _zone_event(cid, z, base, series, growth, disturbed,
                                   {m.zone_id: m.mask for m in masks
                                    if m.zone == "tailings_facility"},
                                   outside, geobox.affine, ha, params.mmu_ha,
                                   max_unknown_fraction, spectral)]
    notes = [
        f"Baseline composite {base_w.start}..{base_w.end} ({base_w.idx.size} acquisitions; "
        f"{how}); current composite {cur.window.start}..{cur.window.end} "
        f"({cur.window.idx.size} acquisitions); {len(series)} composite(s) of "
        f"{params.composite_days} days in the period.",
        "Disturbed = bare/tailings or pond (water inside a tailings facility); growth counts "
        f"8-connected patches of at least {params.mmu_ha} ha within the licence and buffer.",
    ]
    unknown_now = 1.0 - float((cur.known & in_aoi).sum()) / max(int(in_aoi.sum()), 1)
    if unknown_now > max_unknown_fraction:
        notes.append(f"{unknown_now:.0%} of the licence and buffer has fewer than "
                     f"{params.min_clear_obs} clear observations in the current composite "
                     "(clouds, no data or areas outside the scenes).")
    if spectral:
        notes.append(spectral_note("lower"))
    flags: dict[str, Any] = {"flag_values": list(CLASS_CODES.values()),
                             "flag_meanings": " ".join(CLASS_CODES)}
    rasters = {
        "class_baseline": raster(cube, "class_baseline", base.classes(), **flags,
                                 window=f"{base_w.start}/{base_w.end}"),
        "class_current": raster(cube, "class_current", cur.classes(), **flags,
                                window=f"{cur.window.start}/{cur.window.end}"),
        "growth": raster(cube, "growth", growth[-1][0]),
        "dust_susceptible": raster(cube, "dust_susceptible", cur.dust),
    }
    base_unknown = 1.0 - float((base.known & in_aoi).sum()) / max(int(in_aoi.sum()), 1)
    confidence: Confidence = ("low" if spectral or base_unknown > 0.5 or unknown_now > 0.5
                              else "high")
    parameters = {**asdict(params), "buffer_m": float(buffer_m),
                  "max_unknown_fraction": float(max_unknown_fraction),
                  "baseline": [base_w.start.isoformat(), base_w.end.isoformat()]}
    measurements = measurement_table(rows.rows)
    return IndicatorResult("tailings", cid, (start, end), measurements, tuple(events), rasters,
                           parameters, confidence=confidence, notes=tuple(notes))


def _zone_masks(concession: Concession, geobox: Any, buffer_m: float) -> list[ZoneMask]:
    """The zones the indicator measures (water reaches aside) plus the whole licence."""
    masks = [m for m in zone_masks(concession.zones(buffer_m), geobox)
             if m.zone != "water_reach"]
    masks.append(ZoneMask("licence", "licence", concession.licence,
                          burn(concession.licence, geobox)))
    return [m for m in masks if m.n_px > 0]


def _no_baseline(concession: Concession, period: tuple[date, date], params: TailingsParams,
                 buffer_m: float, max_unknown_fraction: float, masks: list[ZoneMask],
                 ha: float, base_w: Any) -> IndicatorResult:
    """Every zone indeterminate: the period ends inside the only possible baseline window."""
    start, end = period
    cid = concession.concession_id
    what = (f"a baseline before the period: the only baseline window, {base_w.start}.."
            f"{base_w.end} ({base_w.idx.size} acquisitions), does not end before the period "
            f"does; give a period ending after {base_w.end} or load imagery from the "
            f"{params.composite_days} days before {start}")
    rows = _Rows(cid, ha, max_unknown_fraction)
    for z in masks:
        none = np.zeros(z.mask.shape, bool)
        n_obs = np.zeros(z.mask.shape, np.int64)
        rows.add(z, "growth_area", end, start, 0.0, none, n_obs, what)
        if z.zone != "permitted_footprint":
            rows.add(z, "disturbed_outside_footprint_growth", end, start, 0.0, none, n_obs,
                     what)
        if z.zone == "tailings_facility":
            rows.add(z, "facility_growth_fraction", end, start, 0.0, none, n_obs, what,
                     unit="1")
    parameters = {**asdict(params), "buffer_m": float(buffer_m),
                  "max_unknown_fraction": float(max_unknown_fraction), "baseline": None}
    return IndicatorResult("tailings", cid, (start, end), measurement_table(rows.rows), (),
                           {}, parameters, confidence="low",
                           notes=(f"No tailings assessment: no pixel has {what}.",))


def _zone_event(cid: str, zone: ZoneMask, base: Composite, series: Sequence[Composite],
                growth: Sequence[tuple[NDArray[np.bool_], int]], disturbed: Any,
                facilities: dict[str, NDArray[np.bool_]], outside: NDArray[np.bool_],
                affine: Any, ha: float, mmu_ha: float, max_unknown: float,
                spectral: bool) -> list[ChangeEvent]:
    """The growth event of one zone (empty list when its growth is below ``mmu_ha``)."""
    final = growth[-1][0] & zone.mask
    area = float(final.sum()) * ha
    if area < mmu_ha or area == 0.0:
        return []
    seen = [final & disturbed(c) & c.known for c in series]
    seen_ha = [float(s.sum()) * ha for s in seen]
    onset_i = next(i for i, a in enumerate(seen_ha) if a >= mmu_ha)
    held_ha = [0.0] + [float((seen[i] & seen[i - 1]).sum()) * ha for i in range(1, len(seen))]
    confirmed_i = None
    if held_ha[-1] >= mmu_ha:
        confirmed_i = next(i for i, a in enumerate(held_ha) if a >= mmu_ha)
    cur = series[-1]
    onset = series[onset_i].window.end
    before = series[onset_i - 1].window.end if onset_i > 0 else base.window.end
    unknown = 1.0 - float((zone.mask & base.known & cur.known).sum()) / zone.n_px
    blind_ha = float((zone.mask & cur.known & ~base.known & disturbed(cur)).sum()) * ha
    confidence: Confidence = ("low" if unknown > max_unknown or spectral or blind_ha >= mmu_ha
                              else
                              "high" if confirmed_i is not None else "medium")
    _, n_parts = label_components(final)
    geometry = geo.polygonal(vectorise(final, affine).intersection(zone.geometry))
    details = {
        "baseline": [base.window.start.isoformat(), base.window.end.isoformat()],
        "composites": [{"start": c.window.start.isoformat(), "end": c.window.end.isoformat(),
                        "acquisitions": int(c.window.idx.size), "seen_ha": round(a, 4)}
                       for c, a in zip(series, seen_ha, strict=True)],
        "bare_ha": round(float((final & cur.bare).sum()) * ha, 4),
        "pond_ha": round(float((final & cur.water).sum()) * ha, 4),
        "outside_footprint_ha": round(float((final & outside).sum()) * ha, 4),
        "facilities_ha": {fid: round(float((final & m).sum()) * ha, 4)
                          for fid, m in facilities.items() if (final & m).any()},
        "n_patches": int(n_parts),
        "unknown_fraction": round(unknown, 4),
        "disturbed_unseen_at_baseline_ha": round(blind_ha, 4),
    }
    return [ChangeEvent(
        event_id=f"tailings-growth-{zone.zone_id}", concession_id=cid, indicator="tailings",
        zone=zone.zone, zone_id=zone.zone_id,
        status="confirmed" if confirmed_i is not None else "provisional", onset=onset,
        confirmed=series[confirmed_i].window.end if confirmed_i is not None else None,
        window=(before, onset), value=area, unit="ha",
        n_clear_obs=_median_int(cur.n_obs[final]), confidence=confidence, geometry=geometry,
        attribution="", details=details)]
