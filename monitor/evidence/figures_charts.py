"""Charts of an evidence package (time series, data availability) and the shared style.

Each ``*_table`` function computes the exact numbers a chart plots, as a DataFrame that is
written next to the PNG as its CSV; each ``*_chart`` function draws such a table on a new
Agg figure (:func:`new_figure`; no pyplot, no global backend switch). Colours are the
Okabe-Ito palette, distinguishable with the common colour-vision deficiencies.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.patches import Patch

from monitor import indices
from monitor.indicators.base import ChangeEvent

#: Resolution of every PNG, dots per inch (fixed: same size and bytes on every run).
DPI = 120
#: Figure sizes in inches: maps, charts and stacked (multi-panel) charts.
MAP_IN = (6.4, 7.2)
CHART_IN = (8.0, 4.6)
TALL_CHART_IN = (8.0, 7.0)
#: Matplotlib settings used while drawing (applied with ``matplotlib.rc_context``).
STYLE: Mapping[Any, Any] = {
    "font.family": "DejaVu Sans", "font.size": 11.5, "axes.titlesize": 13,
    "axes.titleweight": "bold", "axes.titlelocation": "left", "axes.labelsize": 11.5,
    "legend.fontsize": 10.5, "xtick.labelsize": 10.5, "ytick.labelsize": 10.5,
    "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#555555",
    "axes.grid": True, "grid.color": "#e3e3e3", "grid.linewidth": 0.7,
    "figure.facecolor": "white", "savefig.facecolor": "white", "legend.frameon": False,
    "figure.constrained_layout.h_pad": 0.06, "figure.constrained_layout.w_pad": 0.06,
}
INK, MUTED, LIGHT = "#1a1a1a", "#666666", "#d9d9d9"
BLUE, SKY, ORANGE, VERMILION = "#0072B2", "#56B4E9", "#E69F00", "#D55E00"
GREEN, YELLOW, PURPLE = "#009E73", "#F0E442", "#CC79A7"
QA_COLOURS: Mapping[str, str] = {"scl": BLUE, "qa_pixel": GREEN, "spectral_screen": ORANGE}
QA_LABELS: Mapping[str, str] = {"scl": "Sentinel-2 cloud mask (SCL)",
                                "qa_pixel": "Landsat cloud mask (QA_PIXEL)",
                                "spectral_screen": "spectral screen only (no cloud mask)"}
#: Share of an area seen clearly for an acquisition to count as mostly clear.
MOSTLY_CLEAR = 0.8

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Drawn:
    """A drawn figure and what goes with it, before it is written to disk.

    Attributes
    ----------
    figure
        The matplotlib figure (Agg canvas attached).
    table
        The numbers behind it (written as its CSV).
    caption, alt
        Caption for readers; alternative text describing what the image shows.
    kind
        ``"map"`` or ``"chart"`` (the report lays maps out two by two).
    """

    figure: MplFigure
    table: pd.DataFrame
    caption: str
    alt: str
    kind: str = "chart"


def new_figure(size_in: tuple[float, float]) -> MplFigure:
    """A new figure of a fixed size on an Agg canvas (constrained layout, no pyplot)."""
    fig = MplFigure(figsize=size_in, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: MplFigure, path: Path) -> tuple[int, int]:
    """Write ``fig`` as a deterministic PNG (no software tag, no time); return its size."""
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    width, height = fig.canvas.get_width_height()
    return int(width), int(height)


def day_label(day: date | None) -> str:
    """``4 Sep 2022`` (``unknown`` for None)."""
    return "unknown" if day is None else f"{day.day} {day:%b %Y}"


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def as_days(days: Sequence[date]) -> npt.NDArray[np.datetime64]:
    """Dates as a ``datetime64[D]`` array (what matplotlib plots on a date axis)."""
    return np.array([np.datetime64(d.isoformat(), "D") for d in days], dtype="datetime64[D]")


def _num(day: date) -> float:
    return float(mdates.date2num(np.datetime64(day.isoformat(), "D")))  # type: ignore[no-untyped-call]


def mark_period(ax: Axes, period: tuple[date, date], first: date,
                window: tuple[date | None, date] | None = None, *, label: bool = True) -> None:
    """Grey out the history before the checked period; shade an event window."""
    if first < period[0]:
        ax.axvspan(_num(first - timedelta(days=3)), _num(period[0]), color="#f0f0f0", zorder=0,
                   lw=0,
                   label="before the checked period (baseline)" if label else None)
    if window is not None:
        start = window[0] or window[1] - timedelta(days=5)
        ax.axvspan(_num(start), _num(window[1]), color=VERMILION, alpha=0.18, lw=0, zorder=0,
                   label="when it happened (event window)" if label else None)


def _nanmedian_rows(values: FloatArray) -> FloatArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN
        out: FloatArray = np.nanmedian(values, axis=1) if values.shape[1] else np.full(
            values.shape[0], np.nan)
    return out


# ------------------------------------------------------------------------------ tables


def area_series(ndvi: FloatArray, clear: BoolArray, mask: BoolArray) -> tuple[FloatArray,
                                                                              FloatArray]:
    """Per acquisition: median NDVI of the clear pixels of ``mask``, and their count."""
    values = np.where(clear[:, mask], ndvi[:, mask], np.nan)
    return _nanmedian_rows(values), np.isfinite(values).sum(axis=1).astype(np.float64)


def vegetation_table(dates: Sequence[date], scene_ids: Sequence[str], ndvi: FloatArray,
                     clear: BoolArray, event_mask: BoolArray, reference_mask: BoolArray,
                     period: tuple[date, date]) -> pd.DataFrame:
    """Median NDVI of clear pixels per acquisition, in the event area and around it."""
    med_e, n_e = area_series(ndvi, clear, event_mask)
    med_r, n_r = area_series(ndvi, clear, reference_mask)
    return pd.DataFrame({
        "date": [d.isoformat() for d in dates], "scene_id": list(scene_ids),
        "in_period": [period[0] <= d <= period[1] for d in dates],
        "median_ndvi_event_area": med_e, "n_clear_px_event_area": n_e.astype(int),
        "n_px_event_area": int(event_mask.sum()),
        "median_ndvi_surroundings": med_r, "n_clear_px_surroundings": n_r.astype(int),
        "n_px_surroundings": int(reference_mask.sum())})


def availability_table(dates: Sequence[date], meta: Mapping[str, Sequence[str]],
                       n_clear: FloatArray, n_px: int, period: tuple[date, date],
                       skipped: Sequence[Mapping[str, str]],
                       skipped_dates: Sequence[date | None]) -> pd.DataFrame:
    """One row per acquisition (clear fraction of the licence) and per skipped scene."""
    frac = n_clear / n_px if n_px else np.zeros_like(n_clear)
    rows = pd.DataFrame({
        "date": [d.isoformat() for d in dates], "scene_id": list(meta["scene_id"]),
        "platform": list(meta["platform"]), "qa_kind": list(meta["qa_kind"]),
        "processing_baseline": list(meta["processing_baseline"]), "status": "used",
        "in_period": [period[0] <= d <= period[1] for d in dates],
        "clear_fraction": np.round(frac, 6), "n_clear_px": n_clear.astype(int),
        "n_px": n_px, "mostly_clear": frac >= MOSTLY_CLEAR, "reason": ""})
    extra = pd.DataFrame({
        "date": ["" if d is None else d.isoformat() for d in skipped_dates],
        "scene_id": [s.get("scene_id", "") for s in skipped], "platform": "", "qa_kind": "",
        "processing_baseline": "", "status": "skipped",
        "in_period": [d is not None and period[0] <= d <= period[1] for d in skipped_dates],
        "clear_fraction": np.nan, "n_clear_px": 0, "n_px": n_px, "mostly_clear": False,
        "reason": [s.get("reason", "") for s in skipped]})
    return pd.concat([rows, extra], ignore_index=True) if len(extra) else rows


def turbidity_table(measurements: pd.DataFrame, downstream: str, upstream: str | None,
                    limit: float | None) -> pd.DataFrame:
    """Per date: median FNU downstream and upstream, their difference, the limit."""
    m = measurements
    fnu = m[m["metric"].astype(str).str.startswith("median_turbidity_")]
    dates = sorted(set(fnu.loc[fnu["zone_id"] == downstream, "date"]))

    def pick(frame: pd.DataFrame, zone_id: str | None, col: str) -> list[Any]:
        rows = frame[frame["zone_id"] == zone_id].drop_duplicates("date").set_index("date")
        return [rows[col].get(d, np.nan) for d in dates]

    diff = m[m["metric"] == "downstream_minus_upstream"]
    diff_values = np.array(pick(diff, downstream, "value"), float)
    table = pd.DataFrame({
        "date": [d.isoformat() for d in dates], "downstream_reach": downstream,
        "downstream_fnu": pick(fnu, downstream, "value"),
        "downstream_clear_px": pick(fnu, downstream, "n_clear_px"),
        "upstream_reach": upstream or "", "upstream_fnu": pick(fnu, upstream, "value"),
        "upstream_clear_px": pick(fnu, upstream, "n_clear_px"),
        "difference_fnu": diff_values, "limit_fnu": np.nan if limit is None else limit})
    table["downstream_clear_px"] = table["downstream_clear_px"].fillna(0).astype(int)
    table["upstream_clear_px"] = table["upstream_clear_px"].fillna(0).astype(int)
    table["exceeds"] = (np.isfinite(diff_values) & (diff_values > limit)
                        if limit is not None else False)
    return table


def tailings_table(measurements: pd.DataFrame, limits: Mapping[str, float | None]) -> pd.DataFrame:
    """Per composite: bare and pond area of the licence, growth per zone with its limit.

    ``limits`` maps the zone ids that have a growth finding to the finding's limit.
    """
    m = measurements
    keep = ((m["zone_id"] == "licence") & m["metric"].isin(["bare_area", "pond_area"])) | (
        (m["metric"] == "disturbed_outside_footprint_growth") & m["zone_id"].isin(list(limits)))
    rows = m.loc[keep, ["period_start", "date", "zone", "zone_id", "metric", "value", "unit",
                        "n_clear_obs", "n_clear_px", "n_total_px", "status"]].copy()
    rows["limit"] = [limits.get(z) if k != "bare_area" and k != "pond_area" else None
                     for z, k in zip(rows["zone_id"], rows["metric"], strict=True)]
    rows["period_start"] = [str(v) for v in rows["period_start"]]
    rows["date"] = [str(v) for v in rows["date"]]
    return rows.sort_values(["metric", "zone_id", "date"], kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------ charts


def vegetation_chart(table: pd.DataFrame, *, title: str, event_label: str, reference_label: str,
                     period: tuple[date, date], window: tuple[date | None, date] | None,
                     onset: date | None) -> MplFigure:
    """NDVI medians (lines) over clear-pixel counts (bars, second axis)."""
    fig = new_figure(CHART_IN)
    ax = fig.add_subplot()
    dates = [date.fromisoformat(d) for d in table["date"]]
    days = as_days(dates)
    bars = ax.twinx()
    bars.bar(days, table["n_clear_px_event_area"], width=3.0, color="#b7c4d1", lw=0,
             label="clear pixels behind each value (right axis)")
    bars.set_ylabel("clear pixels (count)", color=MUTED)
    bars.tick_params(axis="y", colors=MUTED)
    bars.grid(False)
    bars.spines["right"].set_visible(True)
    bars.set_ylim(0, max(1.0, float(table["n_px_event_area"].max())) * 2.2)
    ax.set_zorder(bars.get_zorder() + 1)
    ax.patch.set_visible(False)
    mark_period(bars, period, dates[0], window)
    ok_r = np.isfinite(table["median_ndvi_surroundings"].to_numpy(float))
    ok_e = np.isfinite(table["median_ndvi_event_area"].to_numpy(float))
    ax.plot(days[ok_r], table["median_ndvi_surroundings"][ok_r], "-o", ms=3.5,
            color=GREEN, lw=1.4, label=reference_label)
    ax.plot(days[ok_e], table["median_ndvi_event_area"][ok_e], "-o", ms=4.5,
            color=VERMILION, lw=2.2, label=event_label)
    if onset is not None:
        ax.axvline(_num(onset), color=VERMILION, lw=1.2, ls="--")
        ax.annotate("first detected", xy=(_num(onset), 1.0), xycoords=("data", "axes fraction"),
                    xytext=(4, -4), textcoords="offset points", va="top",
                    fontsize=10, color=VERMILION)
    ax.set_ylim(-0.1, 1.0)
    ax.set_ylabel("NDVI (median of clear pixels)")
    ax.set_title(title)
    _date_axis(ax)
    lines = ax.get_legend_handles_labels()[0]
    handles = [*lines[::-1], *bars.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=10)
    return fig


def turbidity_chart(table: pd.DataFrame, *, title: str, period: tuple[date, date],
                    window: tuple[date | None, date] | None) -> MplFigure:
    """Downstream and upstream FNU, their difference against the limit, clear pixels."""
    fig = new_figure(TALL_CHART_IN)
    top, mid, low = fig.subplots(3, 1, sharex=True, height_ratios=[3, 3, 1.4])
    dates = [date.fromisoformat(d) for d in table["date"]]
    days = as_days(dates)
    for axis in (top, mid, low):  # no clear water at all still gives a (labelled) chart
        mark_period(axis, period, dates[0] if dates else period[0], window,
                    label=axis is top)
    for col, colour, name in (("upstream_fnu", BLUE, "upstream"),
                              ("downstream_fnu", VERMILION, "downstream")):
        ok = np.isfinite(table[col].to_numpy(float))
        top.plot(days[ok], table[col][ok], "-o", ms=3.5, color=colour, lw=1.6,
                 label=f"{name} reach")
    top.set_ylabel("turbidity, FNU\n(median of clear water)")
    top.set_title(title)
    diff = table["difference_fnu"].to_numpy(float)
    ok = np.isfinite(diff)
    mid.plot(days[ok], diff[ok], "-", color=INK, lw=1.4, label="difference")
    over = ok & table["exceeds"].to_numpy(bool)
    mid.plot(days[over], diff[over], "o", ms=6, color=VERMILION, label="above the limit")
    mid.plot(days[ok & ~over], diff[ok & ~over], "o", ms=3.5, color=INK)
    limits = table["limit_fnu"].dropna().unique()
    for value in limits:
        mid.axhline(float(value), color=VERMILION, ls="--", lw=1.5,
                    label=f"limit {float(value):g} FNU")
    mid.set_ylabel("downstream minus\nupstream, FNU")
    low.bar(days, table["downstream_clear_px"], width=2.2, color=VERMILION, alpha=0.6,
            lw=0, label="clear pixels downstream")
    low.bar(days + np.timedelta64(2, "D"), table["upstream_clear_px"], width=2.2, color=BLUE,
            alpha=0.6, lw=0, label="clear pixels upstream")
    low.set_ylabel("clear water\npixels")
    _date_axis(low)
    handles = [h for axis in (top, mid, low) for h in axis.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=10)
    return fig


def _composite_label(start: str, end: str, baseline: bool) -> str:
    s, e = date.fromisoformat(start), date.fromisoformat(end)
    text = f"{s.day} {s:%b}–{e.day} {e:%b}\n{e.year}"
    return f"{text} (baseline)" if baseline else text


def tailings_chart(table: pd.DataFrame, *, title: str, period: tuple[date, date]) -> MplFigure:
    """Bare and pond area per composite (licence), growth outside the footprint vs limit."""
    fig = new_figure(TALL_CHART_IN)
    top, low = fig.subplots(2, 1, height_ratios=[1, 1])
    comp = table[table["zone_id"] == "licence"]
    spans = sorted(set(zip(comp["period_start"], comp["date"], strict=True)), key=lambda k: k[1])
    ends = [end for _, end in spans]
    names = [_composite_label(s, e, date.fromisoformat(e) < period[0]) for s, e in spans]
    pos = np.arange(len(spans))
    bottom = np.zeros(len(spans))
    for metric, colour, name in (("bare_area", ORANGE, "bare ground / tailings"),
                                 ("pond_area", SKY, "ponds in facilities")):
        rows = comp[comp["metric"] == metric].drop_duplicates("date").set_index("date")
        vals = np.nan_to_num(np.array([float(rows["value"].get(e, np.nan)) for e in ends]))
        partial = np.array([str(rows["status"].get(e, "")) == "indeterminate" for e in ends])
        top.bar(pos, vals, bottom=bottom, color=colour, label=name, edgecolor="white", lw=0.5)
        top.bar(pos[partial], vals[partial], bottom=bottom[partial], color="none",
                hatch="///", edgecolor=MUTED, lw=0)
        bottom += vals
    top.set_xticks(pos, names)
    top.set_ylabel("area inside the licence, ha")
    top.set_title(title)
    top.set_ylim(0, max(1.0, float(bottom.max())) * 1.3)
    handles = [*top.get_legend_handles_labels()[0],
               Patch(facecolor="white", hatch="///", edgecolor=MUTED,
                     label="partly unseen (clouds)")]
    growth = table[table["metric"] == "disturbed_outside_footprint_growth"]
    colours = [VERMILION, PURPLE, BLUE, GREEN]
    for i, (zone_id, rows) in enumerate(growth.groupby("zone_id", sort=True)):
        keep = rows[rows["date"].isin(ends)]
        low.plot([ends.index(d) for d in keep["date"]], keep["value"].astype(float), "-o",
                 color=colours[i % len(colours)], lw=2, ms=6,
                 label=f"growth: {str(zone_id).replace('_', ' ')}")
    for value in growth["limit"].dropna().unique():
        low.axhline(float(value), color=VERMILION, ls="--", lw=1.5,
                    label=f"limit {float(value):g} ha")
    low.set_xticks(pos, names)
    low.set_xlim(-0.6, len(spans) - 0.4)
    low.set_ylim(bottom=0)
    low.set_ylabel("growth outside the\nfootprint since baseline, ha")
    fig.legend(handles=[*handles, *low.get_legend_handles_labels()[0]],
               loc="outside lower center", ncols=3, fontsize=10)
    return fig


def availability_chart(table: pd.DataFrame, *, title: str, period: tuple[date, date]) -> MplFigure:
    """Clear fraction of the licence per acquisition, coloured by cloud-mask kind."""
    fig = new_figure(CHART_IN)
    ax = fig.add_subplot()
    used = table[table["status"] == "used"]
    dates = [date.fromisoformat(d) for d in used["date"]]
    days = as_days(dates)
    mark_period(ax, period, dates[0])
    for kind in sorted(set(used["qa_kind"])):
        sel = (used["qa_kind"] == kind).to_numpy()
        ax.bar(days[sel], used["clear_fraction"][sel] * 100, width=3.2,
               color=QA_COLOURS.get(kind, PURPLE), lw=0, label=QA_LABELS.get(kind, kind))
    ax.axhline(MOSTLY_CLEAR * 100, color=INK, ls=":", lw=1.2,
               label=f"mostly clear ({MOSTLY_CLEAR:.0%})")
    skipped = table[(table["status"] == "skipped") & (table["date"] != "")]
    if len(skipped):
        sdays = as_days([date.fromisoformat(d) for d in skipped["date"]])
        ax.plot(sdays, [104.0] * len(sdays), "x", color=VERMILION, ms=9, mew=2.2,
                label="scene left out (see table)", clip_on=False)
    ax.plot(days, np.full(len(days), -2.5), "|", color=MUTED, ms=7, clip_on=False,
            label="acquisition (no bar: nothing seen)")
    ax.set_ylim(0, 108)
    ax.set_ylabel("licence seen clearly, %")
    ax.set_title(title)
    _date_axis(ax)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2)
    return fig


# ------------------------------------------------------------------------------ figures


def _window_words(event: ChangeEvent | None) -> str:
    if event is None:
        return ""
    return (f" The shaded band is the event window, {day_label(event.window[0])} to "
            f"{day_label(event.window[1])}: the change happened between the last clear view "
            "before it and its first detection.")


def vegetation_figure(cube: xr.Dataset, event_mask: BoolArray, reference_mask: BoolArray, *,
                      area: str, reference: str, period: tuple[date, date],
                      event: ChangeEvent | None, place: str) -> Drawn:
    """NDVI per acquisition in the change area (or licence) and around it, clear pixels."""
    dates = [pd.Timestamp(t).date() for t in cube["time"].values]
    scenes = [str(s) for s in cube["scene_id"].values]
    ndvi = np.asarray(indices.get("ndvi").func(nir=np.asarray(cube["nir"].data, np.float64),
                                               red=np.asarray(cube["red"].data, np.float64)),
                      np.float64)
    clear = np.asarray((cube["clear_vegetation"] & cube["in_aoi"]).data, bool)
    table = vegetation_table(dates, scenes, ndvi, clear, event_mask, reference_mask, period)
    title = (f"Vegetation in {area} and around it" if event is not None
             else f"Vegetation in {area}")
    fig = vegetation_chart(table, title=title, event_label=area, reference_label=reference,
                           period=period, window=None if event is None else event.window,
                           onset=None if event is None else event.onset)
    seen = int((table["n_clear_px_event_area"] > 0).sum())
    caption = (f"Vegetation index (NDVI, median of the clear pixels) of {area} at each of "
               f"the {len(dates)} acquisitions ({seen} with a clear view), against "
               f"{reference}; grey bars give the number of clear pixels behind each value."
               + _window_words(event))
    alt = (f"Line chart of the vegetation index over time at {place}: {area} in red, "
           f"{reference} in green, clear-pixel counts as grey bars"
           + (f"; the red line drops after {day_label(event.window[0])}." if event else "."))
    return Drawn(fig, table, caption, alt)


def turbidity_figure(measurements: pd.DataFrame, downstream: str, upstream: str | None,
                     limit: float | None, *, period: tuple[date, date],
                     event: ChangeEvent | None, place: str) -> Drawn:
    """Downstream/upstream turbidity per date, the difference and the limit."""
    table = turbidity_table(measurements, downstream, upstream, limit)
    fig = turbidity_chart(table, title="River turbidity downstream and upstream of the mine",
                          period=period, window=None if event is None else event.window)
    over = int(table["exceeds"].sum())
    lim = "no limit set" if limit is None else f"the limit of {limit:g} FNU"
    caption = (f"Turbidity (FNU, median of clear water pixels) of the downstream reach "
               f"{downstream} and the upstream reach {upstream or '(none)'} per clear date; "
               f"middle: downstream minus upstream against {lim} ({over} date(s) above); "
               "bottom: clear water pixels behind each value." + _window_words(event))
    alt = (f"Three stacked charts of river turbidity over time at {place}: upstream in blue "
           f"and downstream in orange-red, their difference with a dashed limit line, and "
           f"the clear water pixel counts; {over} dates are above the limit.")
    return Drawn(fig, table, caption, alt)


def tailings_figure(measurements: pd.DataFrame, limits: Mapping[str, float | None], *,
                    period: tuple[date, date], place: str) -> Drawn:
    """Bare/pond areas per composite and growth outside the footprint against the limit."""
    table = tailings_table(measurements, limits)
    fig = tailings_chart(table, title="Bare ground and tailings, per season", period=period)
    caption = ("Top: bare ground/tailings and ponds inside the licence per composite "
               "(median of the clear views of each period); hatched bars were partly "
               "unseen. Bottom: growth of disturbed ground outside the permitted footprint "
               "since the baseline composite, against the limit (dashed).")
    alt = (f"Bar chart of bare-ground and pond areas per season at {place}, and a line chart "
           "of the growth outside the permitted footprint with a dashed limit line.")
    return Drawn(fig, table, caption, alt)


def availability_figure(cube: xr.Dataset, licence_mask: BoolArray, *,
                        period: tuple[date, date], skipped: Sequence[Mapping[str, str]],
                        skipped_dates: Sequence[date | None], place: str) -> Drawn:
    """Clear fraction of the licence per acquisition, by cloud-mask kind, skipped scenes."""
    dates = [pd.Timestamp(t).date() for t in cube["time"].values]
    n_time = len(dates)

    def coord(name: str) -> list[str]:
        return ([str(v) for v in cube[name].values] if name in cube.coords
                else [""] * n_time)

    meta = {k: coord(k) for k in ("scene_id", "platform", "qa_kind", "processing_baseline")}
    n_clear = np.asarray(cube["clear"].data, bool)[:, licence_mask].sum(axis=1)
    table = availability_table(dates, meta, n_clear.astype(np.float64),
                               int(licence_mask.sum()), period, skipped, skipped_dates)
    fig = availability_chart(table, title="How much of the licence each image could see",
                             period=period)
    used = table[table["status"] == "used"]
    good = int(used["mostly_clear"].sum())
    caption = (f"Share of the licence seen clearly (no cloud, shadow or missing data) in each "
               f"of the {len(used)} acquisitions, coloured by the cloud mask used; {good} were "
               f"mostly clear (at least {MOSTLY_CLEAR:.0%}). Grey background: the baseline "
               f"history before the checked period. {len(skipped)} scene(s) were left out.")
    alt = (f"Bar chart of the clear share of the licence of {place} per acquisition date, "
           f"{good} of {len(used)} bars above the {MOSTLY_CLEAR:.0%} line.")
    return Drawn(fig, table, caption, alt)
