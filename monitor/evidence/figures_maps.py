"""Maps of an evidence package: true colour, NDVI and NDVI change, with the concession drawn.

Every map is drawn on the cube's UTM grid in metres, north up (grid north), with a scale
bar sized from the grid, a north arrow, and the same overlays: the licence, the permitted
footprint, exclusion zones, tailings facilities, water reaches, and the change polygons in
a contrasting colour. Pixels without a clear view are grey and say so in the legend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import matplotlib.patheffects as pe
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath
from mpl_toolkits.axes_grid1.anchored_artists import (  # type: ignore[import-untyped]
    AnchoredSizeBar,
)
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from monitor import indices
from monitor.concessions import Zones
from monitor.evidence.figures_charts import (
    MAP_IN,
    BoolArray,
    Drawn,
    FloatArray,
    day_label,
    new_figure,
)

#: Percentiles of the licence's clear pixels mapped to black and white (true colour).
STRETCH = (2.0, 98.0)
#: Gamma applied after the linear stretch (> 1 brightens the mid-tones of dark forest).
GAMMA = 1.4
NO_DATA = "#b8b8b8"
CHANGE = "#ff2bd6"  # magenta: stands out on green forest, brown soil and blue water
_HALO = [pe.withStroke(linewidth=3.6, foreground="black")]
_NDVI_CMAP = colormaps["YlGn"].with_extremes(bad=NO_DATA)
_DNDVI_CMAP = colormaps["RdBu"].with_extremes(bad=NO_DATA)


@dataclass(frozen=True)
class MapLayers:
    """What every map draws over its raster.

    Attributes
    ----------
    extent
        ``(left, right, bottom, top)`` of the grid in metres (pixel edges).
    licence, zones
        The licence and the analysis zones (concession UTM CRS).
    changes
        ``(event_id, polygons)`` of every change event with a geometry.
    highlight
        Event id of the main event (drawn thicker), or None.
    crs_name
        Name of the grid's CRS (for alternative text).
    """

    extent: tuple[float, float, float, float]
    licence: BaseGeometry
    zones: Zones
    changes: tuple[tuple[str, BaseGeometry], ...]
    highlight: str | None
    crs_name: str


# ------------------------------------------------------------------------------ numbers


def stretch_limits(bands: Sequence[FloatArray], mask: BoolArray) -> list[tuple[float, float]]:
    """One stretch for all bands, so that the colour balance is kept.

    The :data:`STRETCH` percentiles of the finite pixels under ``mask``, pooled over the
    bands (all pixels when none is under ``mask``).
    """
    pooled = [band[mask] for band in bands]
    values = np.concatenate([v[np.isfinite(v)] for v in pooled])
    if values.size == 0:
        values = np.concatenate([b[np.isfinite(b)] for b in bands])
    if values.size == 0:
        return [(0.0, 0.3)] * len(bands)
    lo, hi = (float(v) for v in np.percentile(values, STRETCH))
    return [(lo, max(hi, lo + 1e-6))] * len(bands)


def rgb_image(red: FloatArray, green: FloatArray, blue: FloatArray,
              limits: Sequence[tuple[float, float]]) -> FloatArray:
    """RGBA image in 0..1: linear stretch to ``limits``, then :data:`GAMMA`; NaN grey."""
    out = np.ones((*red.shape, 4))
    for i, (band, (lo, hi)) in enumerate(zip((red, green, blue), limits, strict=True)):
        scaled = np.clip((band - lo) / (hi - lo), 0.0, 1.0) ** (1.0 / GAMMA)
        out[..., i] = np.where(np.isfinite(band), scaled, 0.72)
    return out


def zone_table(values: Mapping[str, FloatArray], areas: Sequence[tuple[str, str, BoolArray]],
               ) -> pd.DataFrame:
    """Per area (zone, event area) and mapped layer: pixels, valid pixels, median, spread."""
    rows = []
    for area, area_id, mask in areas:
        row: dict[str, object] = {"area": area, "area_id": area_id, "n_px": int(mask.sum())}
        for name, grid in values.items():
            v = grid[mask]
            v = v[np.isfinite(v)]
            row[f"{name}_n_valid_px"] = int(v.size)
            for stat, fn in (("median", np.median), ("p10", lambda a: np.percentile(a, 10)),
                             ("p90", lambda a: np.percentile(a, 90))):
                row[f"{name}_{stat}"] = round(float(fn(v)), 6) if v.size else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ drawing


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [p for g in getattr(geom, "geoms", []) for p in _polygons(g)]


def geometry_patch(geom: BaseGeometry, **kwargs: object) -> PathPatch | None:
    """A patch (holes included) of the polygons of ``geom``; None when it has none."""
    paths = []
    for poly in _polygons(geom):
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            codes = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
            codes[0], codes[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
            paths.append(MplPath(xy, codes))
    if not paths:
        return None
    return PathPatch(MplPath.make_compound_path(*paths), **kwargs)


def _outline(ax: Axes, geom: BaseGeometry, colour: str, style: str, width: float) -> bool:
    patch = geometry_patch(geom, facecolor="none", edgecolor=colour, linestyle=style,
                           linewidth=width, path_effects=_HALO, zorder=4)
    if patch is None:
        return False
    ax.add_patch(patch)
    return True


def draw_layers(ax: Axes, layers: MapLayers) -> list[Line2D | Patch]:
    """Draw the concession and the changes; return legend handles for what was drawn."""
    z = layers.zones
    handles: list[Line2D | Patch] = []
    styled = [
        ("licence", layers.licence, "white", "-", 2.0),
        ("permitted footprint", z.permitted_footprint, "#56B4E9", "--", 1.8),
        *[("exclusion zone (no clearing)", g, "#F0E442", "-.", 1.8)
          for g in z.exclusion_zones.values()],
        *[("tailings facility", g, "#E69F00", ":", 2.0) for g in z.tailings_facilities.values()],
        *[("water reach", f.geometry, "#00d0ff", ":", 1.6) for f in z.water_reaches.values()],
    ]
    seen: set[str] = set()
    for label, geom, colour, style, width in styled:
        if _outline(ax, geom, colour, style, width) and label not in seen:
            seen.add(label)
            handles.append(Line2D([], [], color=colour, ls=style, lw=width + 0.6,
                                  path_effects=_HALO, label=label))
    drawn = False
    for event_id, geom in layers.changes:
        main = event_id == layers.highlight
        drawn |= _outline(ax, geom, CHANGE, "-", 2.8 if main else 1.8)
    if drawn:
        handles.append(Line2D([], [], color=CHANGE, lw=3.0, path_effects=_HALO,
                              label="change detected"))
    return handles


def nice_length(width_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^k m) of at most a quarter of ``width_m``."""
    target = max(width_m / 4.0, 1.0)
    power = 10 ** math.floor(math.log10(target))
    return float(max(m * power for m in (1, 2, 5) if m * power <= target))


def add_scale_bar(ax: Axes, extent: tuple[float, float, float, float]) -> float:
    """Scale bar in the lower left, computed from the grid extent; return its length (m)."""
    length = nice_length(extent[1] - extent[0])
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    bar = AnchoredSizeBar(ax.transData, length, label, loc="lower left", pad=0.45,
                          borderpad=0.6, sep=4, frameon=True, color="black",
                          size_vertical=(extent[3] - extent[2]) / 120,
                          fontproperties={"size": 11, "weight": "bold"})
    bar.patch.set_facecolor("white")
    bar.patch.set_alpha(0.85)
    bar.patch.set_edgecolor("none")
    ax.add_artist(bar)
    return length


def add_north_arrow(ax: Axes) -> None:
    """An arrow and an N in the upper right (the grid is north up)."""
    ax.annotate("N", xy=(0.93, 0.965), xytext=(0.93, 0.83), xycoords="axes fraction",
                ha="center", va="center", fontsize=13, fontweight="bold",
                arrowprops={"facecolor": "black", "edgecolor": "white", "width": 5,
                            "headwidth": 15, "headlength": 12},
                bbox={"boxstyle": "circle,pad=0.25", "facecolor": "white", "alpha": 0.85,
                      "edgecolor": "none"})


def _map_axes(title: str, subtitle: str) -> tuple[MplFigure, Axes]:
    fig = new_figure(MAP_IN)
    ax = fig.add_subplot()
    fig.suptitle(title, x=0.02, ha="left", fontsize=13.5, fontweight="bold")
    ax.set_title(subtitle, loc="left", fontsize=10, color="#444444", fontweight="normal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_aspect("equal")
    return fig, ax


def _finish(fig: MplFigure, ax: Axes, layers: MapLayers,
            extra: Sequence[Line2D | Patch] = ()) -> None:
    ax.set_xlim(layers.extent[0], layers.extent[1])
    ax.set_ylim(layers.extent[2], layers.extent[3])
    handles = [*draw_layers(ax, layers), *extra]
    add_scale_bar(ax, layers.extent)
    add_north_arrow(ax)
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=11.5,
               handlelength=2.6)


def true_colour_map(rgba: FloatArray, layers: MapLayers, *, title: str,
                    subtitle: str) -> MplFigure:
    """A true-colour image with the concession and the changes drawn."""
    fig, ax = _map_axes(title, subtitle)
    ax.imshow(rgba, extent=layers.extent, origin="upper", interpolation="nearest")
    _finish(fig, ax, layers, [Patch(facecolor="#b8b8b8", label="no data")]
            if bool(np.any(rgba[..., 0] == 0.72)) else [])
    return fig


def index_map(values: FloatArray, layers: MapLayers, *, title: str, subtitle: str,
              label: str, diverging: bool = False, vmax: float = 1.0) -> MplFigure:
    """An index (NDVI) or change (dNDVI, diverging around 0) map with its colour bar."""
    fig, ax = _map_axes(title, subtitle)
    cmap: Colormap = _DNDVI_CMAP if diverging else _NDVI_CMAP
    norm: Normalize = (TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax) if diverging
                       else Normalize(vmin=0.0, vmax=vmax))
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm,
                      extent=layers.extent, origin="upper", interpolation="nearest")
    bar = fig.colorbar(image, ax=ax, shrink=0.82, pad=0.02, extend="both" if diverging
                       else "min")
    bar.set_label(label)
    _finish(fig, ax, layers, [Patch(facecolor=NO_DATA, label="no clear view (cloud, shadow)")])
    return fig


# ------------------------------------------------------------------------------ figures


@dataclass(frozen=True)
class PairView:
    """The before/after pair and what the maps of it need.

    Attributes
    ----------
    cube
        The computed cube.
    before, after
        Time indices of the pair.
    clear_area
        Clear fraction of the scored area (change area, zone or licence) in each image.
    area
        Words for the scored area (``"the change area"``).
    licence_mask
        The licence on the grid (for the stretch and the clear fraction).
    areas
        ``(area, area_id, mask)`` of each zone and the change area, for the CSVs.
    layers
        The overlays.
    place
        The concession's name.
    """

    cube: xr.Dataset
    before: int
    after: int
    clear_area: tuple[float, float]
    area: str
    licence_mask: BoolArray
    areas: Sequence[tuple[str, str, BoolArray]]
    layers: MapLayers
    place: str


def _time_meta(view: PairView, i: int) -> tuple[date, str]:
    cube = view.cube
    day = pd.Timestamp(cube["time"].values[i]).date()
    scene = str(cube["scene_id"].values[i]) if "scene_id" in cube.coords else ""
    return day, scene


def _overlay_words(layers: MapLayers) -> str:
    z = layers.zones
    parts = ["the licence boundary in white"]
    if not z.permitted_footprint.is_empty:
        parts.append("the permitted footprint dashed in light blue")
    if z.exclusion_zones:
        parts.append(f"exclusion zone(s) {', '.join(z.exclusion_zones)} in yellow")
    if z.tailings_facilities:
        parts.append("tailings facilities dotted in orange")
    if z.water_reaches:
        parts.append("river reaches dotted in cyan")
    if layers.changes:
        parts.append(f"{len(layers.changes)} detected change area(s) outlined in magenta")
    return ", ".join(parts)


def true_colour_figures(view: PairView) -> list[tuple[str, Drawn]]:
    """Before and after true-colour maps, stretched alike from the licence's clear pixels."""
    cube, pair = view.cube, [view.before, view.after]
    bands = [np.asarray(cube[b].isel(time=pair).data, np.float64)
             for b in ("red", "green", "blue")]
    clear = np.asarray(cube["clear"].isel(time=pair).data, bool) & view.licence_mask[None]
    limits = stretch_limits(bands, clear)
    out = []
    for k, role in enumerate(("before", "after")):
        day, scene = _time_meta(view, pair[k])
        lic = float(clear[k].sum() / max(1, int(view.licence_mask.sum())))
        rgba = rgb_image(bands[0][k], bands[1][k], bands[2][k], limits)
        fig = true_colour_map(rgba, view.layers, title=f"{role.capitalize()}: {day_label(day)}",
                              subtitle=f"{scene}\ntrue colour · {view.clear_area[k]:.0%} of "
                                       f"{view.area} and {lic:.0%} of the licence clear")
        table = pd.DataFrame({
            "role": role, "date": day.isoformat(), "scene_id": scene,
            "band": ["red", "green", "blue"], "stretch_low": [round(v[0], 6) for v in limits],
            "stretch_high": [round(v[1], 6) for v in limits],
            "stretch_percentiles": f"{STRETCH[0]:g}-{STRETCH[1]:g}", "gamma": GAMMA,
            "clear_fraction_area": round(view.clear_area[k], 6), "area": view.area,
            "clear_fraction_licence": round(lic, 6)})
        when = ("the last mostly clear view before the change" if role == "before"
                else "the first mostly clear view after it was detected")
        caption = (f"{role.capitalize()}, {day_label(day)} ({when}): the satellite image in "
                   f"natural colours, {view.clear_area[k]:.0%} of {view.area} seen clearly. "
                   "Colours are stretched identically in both images so they can be compared.")
        alt = (f"True-colour satellite image of {view.place} on {day_label(day)} ({role} the "
               f"change), north up, with {_overlay_words(view.layers)}.")
        out.append((f"{role}_true_colour", Drawn(fig, table, caption, alt, "map")))
    return out


def ndvi_figures(view: PairView, dndvi_range: float) -> list[tuple[str, Drawn]]:
    """NDVI of the pair (clear pixels only) and its change, with per-zone numbers."""
    cube, pair = view.cube, [view.before, view.after]
    red = np.asarray(cube["red"].isel(time=pair).data, np.float64)
    nir = np.asarray(cube["nir"].isel(time=pair).data, np.float64)
    clear = np.asarray(cube["clear"].isel(time=pair).data, bool)
    ndvi = np.where(clear, indices.get("ndvi").func(nir=nir, red=red), np.nan)
    out = []
    for k, role in enumerate(("before", "after")):
        day, scene = _time_meta(view, pair[k])
        fig = index_map(ndvi[k], view.layers, title=f"Vegetation {role}: {day_label(day)}",
                        subtitle=f"{scene}\nNDVI, clear pixels only",
                        label="NDVI (0 bare ground or water, 1 dense vegetation)")
        table = zone_table({"ndvi": ndvi[k]}, view.areas)
        table.insert(0, "date", day.isoformat())
        table["colour_scale_min"], table["colour_scale_max"] = 0.0, 1.0
        caption = (f"Vegetation index (NDVI) {role} the change, {day_label(day)}: darker green "
                   "is denser vegetation; grey pixels had no clear view.")
        alt = (f"Map of the vegetation index of {view.place} on {day_label(day)}, green where "
               f"vegetated, with {_overlay_words(view.layers)}.")
        out.append((f"ndvi_{role}", Drawn(fig, table, caption, alt, "map")))
    d0, d1 = (_time_meta(view, i)[0] for i in pair)
    change = ndvi[1] - ndvi[0]
    fig = index_map(change, view.layers, title="Vegetation change",
                    subtitle=f"NDVI {day_label(d1)} minus {day_label(d0)}, clear on both",
                    label="NDVI change: red = vegetation lost, blue = gained",
                    diverging=True, vmax=dndvi_range)
    table = zone_table({"dndvi": change}, view.areas)
    table.insert(0, "after", d1.isoformat())
    table.insert(0, "before", d0.isoformat())
    table["colour_scale_min"], table["colour_scale_max"] = -dndvi_range, dndvi_range
    caption = (f"Change of the vegetation index between {day_label(d0)} and {day_label(d1)}: "
               "red is vegetation lost, blue vegetation gained, white no change; the detected "
               "change areas are outlined in magenta.")
    alt = (f"Map of vegetation change at {view.place} between {day_label(d0)} and "
           f"{day_label(d1)}, red where vegetation was lost, with "
           f"{_overlay_words(view.layers)}.")
    out.append(("ndvi_change", Drawn(fig, table, caption, alt, "map")))
    return out
