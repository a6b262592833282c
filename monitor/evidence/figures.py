"""Figures of an evidence package, picked and drawn from the result of a check.

:func:`make_figures` draws, from a :class:`~monitor.checking.CheckResult` (its computed
cube, concession, findings and change events):

* ``before_true_colour`` / ``after_true_colour``: the best clear pair around the main event
  (:func:`pick_before_after`), licence, footprint, zones and change polygons drawn;
* ``ndvi_before`` / ``ndvi_after`` / ``ndvi_change``: the vegetation index of the same
  pair and its difference (diverging, centred on 0), loss polygons outlined;
* ``timeseries_<indicator>``: one per indicator with a finding (NDVI of the change area
  with its clear-pixel counts; downstream and upstream turbidity against the limit;
  tailings areas per composite against the limit);
* ``data_availability``: the clear share of the licence per acquisition, by cloud-mask
  kind, with the scenes that were left out.

Every PNG has a fixed size and no time or software tag (re-running gives the same bytes)
and a CSV with the numbers plotted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr
from shapely.geometry.base import BaseGeometry

from monitor.checking import CheckResult
from monitor.concessions import Concession, Zones
from monitor.errors import EvidenceError
from monitor.evidence import figures_charts as charts
from monitor.evidence import figures_maps as maps
from monitor.evidence.figures_charts import MOSTLY_CLEAR, BoolArray, Drawn, FloatArray
from monitor.findings import SEVERITIES, Finding
from monitor.indicators.base import ChangeEvent
from monitor.zonal import burn, zone_masks

__all__ = ["MOSTLY_CLEAR", "PAIR_SEARCH_DAYS", "Figure", "draw_figures", "licence_clear_fraction",
           "main_event", "main_finding", "make_figures", "pick_before_after", "scene_date"]

#: Days searched before the event window and after the onset for the before/after pair.
PAIR_SEARCH_DAYS = 90
#: Fixed half-range of the NDVI-change colour scale (comparable between reports).
DNDVI_RANGE = 0.8
_ZONE_WORDS = {"permitted_footprint": "permitted footprint",
               "licence_outside_footprint": "licence outside the footprint",
               "buffer_ring": "buffer ring", "licence": "licence"}


@dataclass(frozen=True)
class Figure:
    """One figure of an evidence package.

    Attributes
    ----------
    name
        Stable name (``before_true_colour``, ``timeseries_turbidity``...).
    path
        The PNG.
    csv
        The CSV with the numbers behind it.
    caption, alt
        Caption for readers; alternative text describing the image.
    kind
        ``"map"`` or ``"chart"``.
    size
        ``(width, height)`` of the PNG in pixels.
    """

    name: str
    path: Path
    csv: Path
    caption: str
    alt: str
    kind: str = "chart"
    size: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class _Pair:
    before: int
    after: int
    fractions: FloatArray
    area: str
    event: ChangeEvent | None


# ------------------------------------------------------------------------ selection


def _rank(f: Finding) -> tuple[int, int, float, float]:
    value = f.value or 0.0
    ratio = value / f.limit if f.limit else (math.inf if value > 0 else 0.0)
    severity = SEVERITIES.index(f.severity) + 1 if f.severity else 0
    return severity, int(f.zone == "exclusion_zone"), ratio, value


def exceedances(result: CheckResult) -> list[Finding]:
    """Exceedance findings, worst first (severity, exclusion zone, ratio to limit, value)."""
    found = [f for f in result.findings if f.outcome == "exceedance"]
    return sorted(found, key=_rank, reverse=True)


def main_finding(result: CheckResult) -> Finding | None:
    """The worst exceedance finding (what the report's verdict is about), None if none."""
    worst = exceedances(result)
    return worst[0] if worst else None


def _events(result: CheckResult, indicator: str | None = None) -> list[ChangeEvent]:
    return [e for r in result.results for e in r.events
            if indicator is None or e.indicator == indicator]


def main_event(result: CheckResult, indicator: str | None = None) -> ChangeEvent | None:
    """The event of the worst exceedance finding that has one, else the largest event.

    Parameters
    ----------
    result
        A check result.
    indicator
        Only consider this indicator's findings and events.
    """
    events = _events(result, indicator)
    by_id: dict[tuple[str, str], ChangeEvent] = {(e.indicator, e.event_id): e for e in events}
    for f in exceedances(result):
        if f.event_id and (f.indicator, f.event_id) in by_id:
            return by_id[(f.indicator, f.event_id)]
    if not events:
        return None
    return max(events, key=lambda e: (e.geometry is not None and e.unit == "ha",
                                      e.status == "confirmed", e.value))


def _require(result: CheckResult) -> tuple[xr.Dataset, Concession]:
    if result.cube is None or result.concession is None:
        raise EvidenceError(f"concession {result.concession_id!r}: the check result has no "
                            "cube or concession; draw figures from monitor.check(...)")
    if result.cube.sizes.get("time", 0) == 0:
        raise EvidenceError(f"concession {result.concession_id!r}: the cube holds no "
                            "acquisition; widen the period")
    return result.cube, result.concession


def _dates(cube: xr.Dataset) -> list[date]:
    return [pd.Timestamp(t).date() for t in cube["time"].values]


def _zones(cube: xr.Dataset, concession: Concession) -> Zones:
    return concession.zones(float(cube.attrs.get("buffer_m", 500.0)))


def _mask(geometry: BaseGeometry, cube: xr.Dataset) -> BoolArray:
    geobox = cube.odc.geobox
    mask = burn(geometry, geobox)
    if not mask.any() and not geometry.is_empty:  # smaller than a pixel: take its cover
        mask = burn(geometry.buffer(abs(float(geobox.resolution.x))), geobox)
    return mask


def _zone_geometry(zones: Zones, zone: str, zone_id: str) -> BaseGeometry | None:
    if zone == "exclusion_zone":
        return zones.exclusion_zones.get(zone_id)
    if zone == "tailings_facility":
        return zones.tailings_facilities.get(zone_id)
    if zone == "water_reach":
        reach = zones.water_reaches.get(zone_id)
        return None if reach is None else reach.geometry
    geom: BaseGeometry | None = getattr(zones, zone, None)
    return geom


def zone_words(zone: str, zone_id: str) -> str:
    """Plain words for a zone: ``exclusion zone app-1``, ``buffer ring``..."""
    if zone in _ZONE_WORDS:
        return _ZONE_WORDS[zone]
    return f"{zone.replace('_', ' ')} {zone_id}"


def _event_area(cube: xr.Dataset, concession: Concession,
                event: ChangeEvent | None) -> tuple[BaseGeometry, str]:
    if event is None:
        return concession.licence, "the licence"
    if event.geometry is not None and not event.geometry.is_empty:
        return event.geometry, "the change area"
    geom = _zone_geometry(_zones(cube, concession), event.zone, event.zone_id)
    if geom is not None and not geom.is_empty:
        return geom, f"the {zone_words(event.zone, event.zone_id)}"
    return concession.licence, "the licence"


def clear_fraction(cube: xr.Dataset, mask: BoolArray) -> FloatArray:
    """Per acquisition, the share of the ``mask`` pixels that are clear."""
    clear = np.asarray(cube["clear"].data)[:, mask]
    out: FloatArray = (clear.mean(axis=1) if clear.shape[1]
                       else np.zeros(clear.shape[0], np.float64))
    return out


def licence_clear_fraction(result: CheckResult) -> FloatArray:
    """Per acquisition of ``result.cube``, the share of the licence seen clearly."""
    cube, concession = _require(result)
    return clear_fraction(cube, _mask(concession.licence, cube))


def _choose(candidates: Sequence[int], frac: FloatArray, dates: Sequence[date], anchor: date,
            min_clear: float) -> int | None:
    if not candidates:
        return None
    good = [i for i in candidates if frac[i] >= min_clear]
    if good:
        return min(good, key=lambda i: (abs((dates[i] - anchor).days), -frac[i], i))
    return max(candidates, key=lambda i: (frac[i], -abs((dates[i] - anchor).days), -i))


def _seen_by(event: ChangeEvent) -> date:
    """When most of the event shows: the median first detection of its pixels, if recorded.

    The onset is the first flagged observation of the earliest pixel; a patch cleared over
    weeks shows only a sliver then.
    """
    text = event.details.get("first_detection_median")
    try:
        median = date.fromisoformat(str(text)) if text else None
    except ValueError:
        median = None
    return max(event.onset, median) if median is not None else event.onset


def _pair(result: CheckResult, search_days: int, min_clear: float) -> _Pair | None:
    cube, concession = _require(result)
    dates = _dates(cube)
    event = main_event(result)
    geometry, area = _event_area(cube, concession, event)
    frac = clear_fraction(cube, _mask(geometry, cube))
    span = timedelta(days=search_days)
    if event is not None:
        start = event.window[0] or event.onset - timedelta(days=1)
        seen = _seen_by(event)
        before = ([i for i, d in enumerate(dates) if start - span <= d <= start]
                  or [i for i, d in enumerate(dates) if d < event.onset])
        after = ([i for i, d in enumerate(dates) if seen <= d <= seen + span]
                 or [i for i, d in enumerate(dates) if d >= event.onset])
        b = _choose(before, frac, dates, start, min_clear)
        a = _choose(after, frac, dates, seen, min_clear)
    else:
        lo, hi = result.period
        inside = [i for i, d in enumerate(dates) if lo <= d <= hi] or list(range(len(dates)))
        good = [i for i in inside if frac[i] >= min_clear]
        if len(good) >= 2:
            b, a = good[0], good[-1]
        else:
            third = max(1, len(inside) // 3)
            b = max(inside[:third], key=lambda i: (frac[i], -i))
            a = max(inside[-third:], key=lambda i: (frac[i], i))
    if b is None or a is None or b == a:
        return None
    return _Pair(b, a, frac, area, event)


def pick_before_after(result: CheckResult, *, search_days: int = PAIR_SEARCH_DAYS,
                      min_clear: float = MOSTLY_CLEAR) -> tuple[int, int] | None:
    """Pick the before/after acquisitions that show the main event best.

    The main event is the event of the worst exceedance finding, else the largest event
    (:func:`main_event`). Its area (change polygons; the zone for turbidity; else the
    licence) is scored per acquisition by its clear fraction. "Before" is chosen among the
    acquisitions up to ``search_days`` before the event window's start, "after" among
    those up to ``search_days`` after the onset (the first detection; for a patch whose
    pixels were detected over weeks, their median first-detection date, so that most of
    the change shows): the one closest in time among those at least ``min_clear`` clear,
    else the clearest. Without any event, the first and the last mostly clear
    acquisitions of the checked period.

    Parameters
    ----------
    result
        The result of :func:`monitor.check` (with its cube and concession).
    search_days
        How far from the event to look.
    min_clear
        Clear fraction an acquisition needs to count as mostly clear.

    Returns
    -------
    tuple of int or None
        Time indices ``(before, after)`` into ``result.cube``; None when no two distinct
        acquisitions qualify.

    Raises
    ------
    EvidenceError
        If the result carries no cube or concession, or the cube is empty.
    """
    pair = _pair(result, search_days, min_clear)
    return None if pair is None else (pair.before, pair.after)


def scene_date(scene_id: str) -> date | None:
    """Acquisition date in a Sentinel-2 or Landsat scene id, None when there is none."""
    match = re.search(r"_(\d{8})(?:T\d{6}|_)", scene_id)
    if match is None:
        return None
    try:
        return date(int(match[1][:4]), int(match[1][4:6]), int(match[1][6:]))
    except ValueError:
        return None


# ------------------------------------------------------------------------ drawing


def _layers(cube: xr.Dataset, concession: Concession, highlight: str | None,
            events: Sequence[ChangeEvent]) -> maps.MapLayers:
    gb = cube.odc.geobox
    left, bottom, right, top = gb.extent.boundingbox
    changes = tuple((e.event_id, e.geometry) for e in events
                    if e.geometry is not None and not e.geometry.is_empty)
    return maps.MapLayers((float(left), float(right), float(bottom), float(top)),
                          concession.licence, _zones(cube, concession), changes, highlight,
                          str(concession.crs.name))


def _areas(cube: xr.Dataset, concession: Concession,
           event: ChangeEvent | None) -> list[tuple[str, str, BoolArray]]:
    areas = [("licence", "licence", _mask(concession.licence, cube))]
    areas += [(m.zone, m.zone_id, m.mask)
              for m in zone_masks(_zones(cube, concession), cube.odc.geobox)]
    if event is not None and event.geometry is not None and not event.geometry.is_empty:
        areas.append(("change_area", event.event_id, _mask(event.geometry, cube)))
    return areas


def _vegetation(result: CheckResult, cube: xr.Dataset,
                concession: Concession) -> Drawn | None:
    if not {"red", "nir", "clear_vegetation", "in_aoi"} <= set(cube.variables):
        return None
    event = main_event(result, "vegetation_loss")
    lic = _mask(concession.licence, cube)
    if event is None or event.geometry is None or event.geometry.is_empty:
        ring = _mask(_zones(cube, concession).buffer_ring, cube)
        return charts.vegetation_figure(cube, lic, ring, area="the licence",
                                        reference="the buffer ring around it",
                                        period=result.period, event=None,
                                        place=concession.name)
    zone = _zone_geometry(_zones(cube, concession), event.zone, event.zone_id)
    around = zone.difference(event.geometry) if zone is not None else concession.licence
    area = f"the change area ({event.value:g} ha)"
    return charts.vegetation_figure(
        cube, _mask(event.geometry, cube), _mask(around, cube), area=area,
        reference=f"the rest of the {zone_words(event.zone, event.zone_id)}",
        period=result.period, event=event, place=concession.name)


def _turbidity(result: CheckResult, cube: xr.Dataset, concession: Concession,
               measurements: pd.DataFrame) -> Drawn | None:
    reaches = _zones(cube, concession).water_reaches
    down = [k for k, f in reaches.items() if f.role == "downstream"]
    up = [k for k, f in reaches.items() if f.role == "upstream"]
    worst = [f for f in exceedances(result) if f.indicator == "turbidity"]
    ids = [f.zone_id for f in worst if f.zone_id in down] + down
    if not ids or measurements.empty:
        return None
    found = [f for f in result.findings if f.indicator == "turbidity" and f.zone_id == ids[0]
             and f.limit is not None and f.unit == "FNU"]
    found.sort(key=lambda f: f.details.get("criterion") != "downstream_minus_upstream")
    return charts.turbidity_figure(measurements, ids[0], up[0] if up else None,
                                   found[0].limit if found else None, period=result.period,
                                   event=main_event(result, "turbidity"), place=concession.name)


def _tailings(result: CheckResult, concession: Concession,
              measurements: pd.DataFrame) -> Drawn | None:
    if measurements.empty:
        return None
    limits = {f.zone_id: f.limit for f in result.findings if f.indicator == "tailings"
              and f.details.get("rule") == "disturbed_outside_footprint_growth"}
    return charts.tailings_figure(measurements, limits, period=result.period,
                                  place=concession.name)


def draw_figures(result: CheckResult) -> list[tuple[str, Drawn]]:
    """Draw every figure of a check in memory, as a package would hold them.

    Parameters
    ----------
    result
        The result of :func:`monitor.check` (with its cube and concession).

    Returns
    -------
    list of (name, Drawn)
        In reading order: before/after true colour, NDVI maps, one time series per
        indicator with findings, data availability. Each :class:`Drawn` carries the
        matplotlib figure (``display(drawn.figure)`` in a notebook) and the table of its
        numbers.

    Raises
    ------
    EvidenceError
        If the result carries no cube or concession, or the cube is empty.
    """
    with matplotlib.rc_context(dict(charts.STYLE)):
        return _draw_all(result)


def _draw_all(result: CheckResult) -> list[tuple[str, Drawn]]:
    cube, concession = _require(result)
    pair = _pair(result, PAIR_SEARCH_DAYS, MOSTLY_CLEAR)
    event = pair.event if pair is not None else main_event(result)
    out: list[tuple[str, Drawn]] = []
    lic = _mask(concession.licence, cube)
    if pair is not None and {"red", "green", "blue", "nir", "clear"} <= set(cube.variables):
        view = maps.PairView(
            cube, pair.before, pair.after,
            (float(pair.fractions[pair.before]), float(pair.fractions[pair.after])),
            pair.area, lic, _areas(cube, concession, event),
            _layers(cube, concession, None if event is None else event.event_id,
                    _events(result)), concession.name)
        out += maps.true_colour_figures(view)
        out += maps.ndvi_figures(view, DNDVI_RANGE)
    indicators = {f.indicator for f in result.findings}
    for res in result.results:
        if res.indicator not in indicators:
            continue
        drawn = (_vegetation(result, cube, concession) if res.indicator == "vegetation_loss"
                 else _turbidity(result, cube, concession, res.measurements)
                 if res.indicator == "turbidity"
                 else _tailings(result, concession, res.measurements))
        if drawn is not None:
            out.append((f"timeseries_{res.indicator}", drawn))
    skipped = [dict(s) for s in result.skipped_scenes]
    out.append(("data_availability", charts.availability_figure(
        cube, lic, period=result.period, skipped=skipped,
        skipped_dates=[scene_date(s.get("scene_id", "")) for s in skipped],
        place=concession.name)))
    return out


# ------------------------------------------------------------------------ make figures


def make_figures(result: CheckResult, figures_dir: Path, stats_dir: Path) -> list[Figure]:
    """Draw every figure of a check into ``figures_dir`` and its numbers into ``stats_dir``.

    Parameters
    ----------
    result
        The result of :func:`monitor.check` (with its cube and concession).
    figures_dir, stats_dir
        Output folders (created when missing); files are ``<name>.png`` and
        ``<name>.csv``.

    Returns
    -------
    list of Figure
        In reading order: before/after true colour, NDVI maps, time series, availability.

    Raises
    ------
    EvidenceError
        If the result carries no cube or concession, or the cube is empty.
    """
    _require(result)
    figures_dir.mkdir(parents=True, exist_ok=True)
    stats_dir.mkdir(parents=True, exist_ok=True)
    out: list[Figure] = []
    with matplotlib.rc_context(dict(charts.STYLE)):
        for name, drawn in _draw_all(result):
            path, csv = figures_dir / f"{name}.png", stats_dir / f"{name}.csv"
            size = charts.save_png(drawn.figure, path)
            drawn.table.to_csv(csv, index=False, lineterminator="\n")
            out.append(Figure(name, path, csv, drawn.caption, drawn.alt, drawn.kind, size))
    return out
