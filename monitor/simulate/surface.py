"""The land surface: per-pixel cover fractions, their changes over time, and reflectance.

Each 10 m pixel is a linear mixture of cover layers (forest, pasture, canga, soil, tailings,
river, lake, pond) with fractions computed from polygons supersampled 4 x 4, so boundaries
have mixed pixels as in real imagery. Events move fraction from one layer to another from
their onset date on (per pixel, so a growth front can advance over weeks). Inside the demo
block the layers come from :mod:`monitor.simulate.layout`; elsewhere (sizes above 320) the
tile is forest with pasture and canga patches from smooth random fields and the river.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import rasterio.features
from affine import Affine
from numpy.typing import NDArray
from scipy import ndimage
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from monitor.simulate import layout as lay
from monitor.simulate import spectra as sp
from monitor.simulate.fields import F32, WrappedField, periodic_field, smoothstep

EPOCH = date(1970, 1, 1)
SUPERSAMPLE = 4
LAYERS: tuple[str, ...] = ("forest", "pasture", "canga", "soil", "tailings", "river", "lake",
                           "pond")


def epoch_day(d: date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


def fraction_raster(geom: BaseGeometry, r0: int, c0: int, h: int, w: int) -> F32:
    """Area fraction of every 10 m pixel of a window covered by ``geom`` (local metres)."""
    if geom.is_empty or not geom.intersects(box(c0 * 10.0, r0 * 10.0, (c0 + w) * 10.0,
                                                (r0 + h) * 10.0)):
        return np.zeros((h, w), np.float32)
    s = SUPERSAMPLE
    px = 10.0 / s
    fine = rasterio.features.rasterize(
        [(geom, 1)], out_shape=(h * s, w * s),
        transform=Affine(px, 0, c0 * 10.0, 0, px, r0 * 10.0), dtype="uint8")
    out: F32 = fine.reshape(h, s, w, s).mean(axis=(1, 3), dtype=np.float32)
    return out


def centre_mask(geom: BaseGeometry, h: int, w: int, r0: int = 0, c0: int = 0) -> NDArray[np.bool_]:
    """Pixels whose centre lies in ``geom`` (the usual rasterisation rule)."""
    if geom.is_empty:
        return np.zeros((h, w), bool)
    m = rasterio.features.rasterize([(geom, 1)], out_shape=(h, w),
                                    transform=Affine(10.0, 0, c0 * 10.0, 0, 10.0, r0 * 10.0),
                                    dtype="uint8")
    out: NDArray[np.bool_] = m.astype(bool)
    return out


@dataclass
class Transition:
    """Fraction moving from one layer to another from a per-pixel onset (epoch days) on."""

    event_id: str
    concession_id: str
    source: str
    target: str
    fraction: F32
    onset: NDArray[np.int32]  # epoch day per pixel (only meaningful where fraction > 0)


@dataclass
class Block:
    """Cover layers of the 320 x 320 demo block before any event, and the events."""

    static: dict[str, F32]
    transitions: list[Transition]
    river_px: NDArray[np.bool_] = field(default_factory=lambda: np.zeros((0, 0), bool))


def _growth_onsets(source: NDArray[np.bool_], region: F32, start: date, days: int
                   ) -> NDArray[np.int32]:
    """Onset per pixel for a front advancing from ``source`` across ``region`` in ``days``."""
    dist = ndimage.distance_transform_edt(~source)
    inside = region > 0
    dmax = float(dist[inside].max()) if inside.any() else 1.0
    dist = np.minimum(dist, dmax)
    onset: NDArray[np.int32] = (epoch_day(start) + np.rint(dist / dmax * days)).astype(np.int32)
    return onset


def build_block() -> Block:
    """Rasterise the demo block's cover and events (about 0.1 s)."""
    n = lay.BLOCK_PX

    def frac(g: BaseGeometry) -> F32:
        return fraction_raster(g, 0, 0, n, n)

    lake_g = Polygon(lay.PIT_LAKE)
    pits = Polygon(lay.PIT_COMPLIANT).difference(lake_g).union(Polygon(lay.PIT_PLUME))
    tail_before_g = Polygon(lay.TAILINGS_BEFORE)
    pond_before_g = Polygon(lay.POND_BEFORE)
    pond_after_g = Polygon(lay.POND_AFTER).intersection(tail_before_g)
    static: dict[str, F32] = {
        "soil": frac(pits),
        "lake": frac(lake_g),
        "tailings": frac(tail_before_g.difference(pond_before_g)),
        "pond": frac(pond_before_g),
        "river": frac(lay.river_polygon()),
    }
    transitions: list[Transition] = []
    for c in lay.CLEARINGS:
        f = frac(Polygon(c.polygon))
        onset = np.full((n, n), epoch_day(c.onset), np.int32)
        transitions.append(Transition(c.event_id, c.concession_id, "forest", "soil", f, onset))
    growth_g = Polygon(lay.TAILINGS_GROWTH).difference(tail_before_g)
    before_mask = centre_mask(tail_before_g, n, n)
    growth = frac(growth_g)
    transitions.append(Transition(
        "tailings-growth", "demo-tailings", "forest", "tailings", growth,
        _growth_onsets(before_mask, growth, lay.TAILINGS_ONSET, lay.GROWTH_DAYS)))
    pond_growth = frac(pond_after_g.difference(pond_before_g))
    transitions.append(Transition(
        "pond-growth", "demo-tailings", "tailings", "pond", pond_growth,
        _growth_onsets(centre_mask(pond_before_g, n, n), pond_growth, lay.TAILINGS_ONSET,
                       lay.GROWTH_DAYS)))
    return Block(static, transitions, static["river"] > 0)


def block_fractions(block: Block, day: date,
                    window: tuple[slice, slice] = (slice(None), slice(None))) -> dict[str, F32]:
    """Cover fractions of (a window of) the demo block on ``day``, forest included."""
    today = epoch_day(day)
    blk = {k: v[window].copy() for k, v in block.static.items()}
    moved_tailings = np.zeros_like(blk["soil"])
    for tr in block.transitions:
        on = tr.fraction[window] * (tr.onset[window] <= today)
        if tr.source == "tailings":
            moved_tailings += on
        blk[tr.target] += on
    blk["tailings"] -= moved_tailings
    total = np.zeros_like(blk["soil"])
    for v in blk.values():
        total += v
    blk["forest"] = np.clip(1.0 - total, 0.0, 1.0).astype(np.float32)
    return blk


class Surface:
    """Cover fractions and surface reflectance of any window of the tile on any date.

    Parameters
    ----------
    rng
        Generator for the static texture and land-cover fields (consumed at construction).
    size
        Tile side in 10 m pixels.
    """

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        self.size = size
        self.block = build_block()
        t1 = periodic_field(rng, 512, beta=2.0, longest_px=200, shortest_px=1.2)
        t2 = periodic_field(rng, 448, beta=2.5, longest_px=120, shortest_px=1.5)
        self._tex_veg = WrappedField(t1, 17, 301)
        self._tex_soil = WrappedField(t2, 211, 5)
        self._gaps = WrappedField(t2, 97, 163, transpose=True)
        self._pasture: WrappedField | None = None
        self._canga: WrappedField | None = None
        self._river_cache: dict[tuple[int, int, int, int], F32 | None] = {}
        if size > lay.BLOCK_PX:
            self._pasture = WrappedField(
                periodic_field(rng, 1024, beta=3.0, longest_px=1024, shortest_px=3), 300, 40,
                stretch=2)
            self._canga = WrappedField(
                periodic_field(rng, 1024, beta=3.0, longest_px=600, shortest_px=3), 70, 500)
        self._river_geom = lay.river_polygon()

    # -- cover --------------------------------------------------------------------------
    def _background(self, r0: int, r1: int, c0: int, c1: int) -> dict[str, F32]:
        h, w = r1 - r0, c1 - c0
        key = (r0, r1, c0, c1)
        if key not in self._river_cache:
            frac = fraction_raster(self._river_geom, r0, c0, h, w)
            self._river_cache[key] = frac if frac.any() else None  # keep memory bounded
        cached = self._river_cache[key]
        river = np.zeros((h, w), np.float32) if cached is None else cached.copy()
        out: dict[str, F32] = {"river": river}
        if self._pasture is not None and self._canga is not None:
            rows = np.arange(r0, r1, dtype=np.int64)
            cols = np.arange(c0, c1, dtype=np.int64)
            # keep the demo block and a 500 m margin around it in forest
            dist = np.maximum(rows[:, None] - lay.BLOCK_PX, cols[None, :] - lay.BLOCK_PX)
            margin = smoothstep(dist.astype(np.float32), 0.0, 50.0)
            free = (1.0 - river) * margin
            pasture = smoothstep(self._pasture.sample(rows, cols), 0.7, 1.1) * free
            canga = smoothstep(self._canga.sample(rows, cols), 1.8, 2.2) * (free - pasture)
            out["pasture"] = pasture.astype(np.float32)
            out["canga"] = canga.astype(np.float32)
        return out

    def fractions(self, r0: int, r1: int, c0: int, c1: int, day: date) -> dict[str, F32]:
        """Cover fractions of the window on ``day`` (layers absent from it are omitted)."""
        h, w = r1 - r0, c1 - c0
        layers = self._background(r0, r1, c0, c1)
        n = lay.BLOCK_PX
        if r0 < n and c0 < n:
            br1, bc1 = min(r1, n), min(c1, n)
            sl = (slice(0, br1 - r0), slice(0, bc1 - c0))
            blk = block_fractions(self.block, day, (slice(r0, br1), slice(c0, bc1)))
            for k, v in blk.items():
                if k == "forest":
                    continue
                full = layers.get(k)
                if full is None:
                    full = np.zeros((h, w), np.float32)
                    layers[k] = full
                full[sl] = v
            for k in ("pasture", "canga"):
                if k in layers:
                    layers[k][sl] = 0.0
        total = np.zeros((h, w), np.float32)
        for v in layers.values():
            total += v
        layers["forest"] = np.clip(1.0 - total, 0.0, 1.0).astype(np.float32)
        return {k: v for k, v in layers.items() if v.any()}

    # -- reflectance --------------------------------------------------------------------
    def reflectance(self, r0: int, r1: int, c0: int, c1: int, day: date,
                    plume: float) -> tuple[F32, dict[str, F32], F32 | None]:
        """Noise-free, cloud-free surface reflectance of the window.

        Parameters
        ----------
        r0, r1, c0, c1
            Window bounds, 10 m pixels.
        day
            Sensing date.
        plume
            Plume strength on that date (0 when there is no plume).

        Returns
        -------
        tuple
            ``(refl, fractions, turbidity)``: reflectance ``(7, h, w)`` float32, the cover
            fractions, and the river's turbid-endmember fraction per pixel (None when the
            window has no river).
        """
        h, w = r1 - r0, c1 - c0
        fr = self.fractions(r0, r1, c0, c1, day)
        rows = np.arange(r0, r1, dtype=np.int64)
        cols = np.arange(c0, c1, dtype=np.int64)
        tex_v = 1.0 + 0.06 * np.clip(self._tex_veg.sample(rows, cols), -2.5, 2.5)
        tex_s = 1.0 + 0.08 * np.clip(self._tex_soil.sample(rows, cols), -2.5, 2.5)
        out = np.zeros((7, h, w), np.float32)
        s_forest = sp.forest_spectrum(day)
        s_pasture = sp.pasture_spectrum(day)
        static = {"canga": (sp.CANGA, tex_s), "soil": (sp.SOIL, tex_s),
                  "tailings": (sp.TAILINGS, 1.0 + 0.5 * (tex_s - 1.0)),
                  "lake": (sp.water_spectrum(sp.LAKE_TURBIDITY), None),
                  "pond": (sp.POND, None)}
        if "forest" in fr:
            gaps = 0.05 * np.clip(self._gaps.sample(rows, cols), 0.0, 3.0)
            fv = fr["forest"] * tex_v
            for b in range(7):
                out[b] += fv * ((1.0 - gaps) * s_forest[b] + gaps * sp.SOIL[b])
        if "pasture" in fr:
            fv = fr["pasture"] * tex_v
            for b in range(7):
                out[b] += fv * s_pasture[b]
        for name, (spec, tex) in static.items():
            if name not in fr:
                continue
            fv = fr[name] if tex is None else fr[name] * tex
            for b in range(7):
                out[b] += fv * spec[b]
        turb: F32 | None = None
        if "river" in fr:
            bg = sp.background_turbidity(day)
            y_m = (rows.astype(np.float64) + 0.5) * 10.0
            wgt = lay.plume_weight(y_m)[:, None] * np.ones((1, w), np.float32)
            turb = (bg + (1.0 - bg) * plume * wgt).astype(np.float32)
            fv = fr["river"]
            for b in range(7):
                out[b] += fv * ((1.0 - turb) * sp.WATER_CLEAR[b] + turb * sp.WATER_TURBID[b])
        return out, fr, turb
