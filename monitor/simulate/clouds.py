"""Clouds, cloud shadows, thin cirrus and the cloud edges that SCL misses.

Per date a :class:`Weather` is drawn from a tropical climatology (dry season mostly clear,
rainy season mostly cloudy). Clouds are blobs of a smooth random field above a threshold;
Sen2Cor-like flags are made at 20 m (a 20 m SCL pixel is cloud when any of its 10 m pixels
is); outside the flags, *some* cloud edges carry a ring of haze that SCL misses:

- the ring is 1-3 pixels wide (10 m pixels, Euclidean distance from the SCL-flagged cloud
  upsampled to 10 m), its width varies along the edge, and on about a quarter of the cloudy
  dates there is no ring at all;
- ring pixels are hazy (cloud opacity from ~0.3 next to the flag down to ~0.05 at the
  outer edge) and SCL labels them by their spectra (4 vegetation, 5 not vegetated, 6 water);
- cloud shadows are the cloud cores displaced by a fixed sun/view offset; shadows are
  flagged SCL 3 at 20 m, with a missed penumbra of up to 2 pixels (10 m) on some edges.

A disk of radius 3 pixels (or a 7 x 7 square) around SCL {3, 8, 9} therefore catches every
missed pixel; a 4-connected dilation by 3 iterations misses the diagonal corners.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, special

from monitor.simulate.fields import (
    F32,
    WrappedField,
    block_any,
    block_mean,
    periodic_field,
    upsample2,
)
from monitor.simulate.spectra import wetness

BoolA = NDArray[np.bool_]

#: Cloud shadow displacement from its cloud, 10 m pixels (rows south, cols east): the
#: morning sun of ~10:00 local solar time in the north-east, cumulus at ~1 km.
SHADOW_OFFSET_PX: tuple[int, int] = (18, -42)
#: Halo (10 m pixels, even) around a window so rings near its edges are right.
HALO = 4
#: Largest width of a missed cloud-edge ring and of a missed shadow penumbra (10 m px).
MAX_RING_PX = 3
MAX_PENUMBRA_PX = 2
#: Quantiles of the ring-width field giving widths 0, 1, 2, 3 px.
_RING_QUANTILES = (0.35, 0.65, 0.85)


@dataclass(frozen=True)
class CloudBases:
    """The precomputed periodic fields every date's weather is sampled from."""

    blobs_a: F32
    blobs_b: F32
    ring: F32
    cirrus: F32

    @classmethod
    def make(cls, rng: np.random.Generator) -> CloudBases:
        """Draw the base fields (about 0.1 s)."""
        return cls(
            blobs_a=periodic_field(rng, 512, beta=3.0, longest_px=420, shortest_px=5),
            blobs_b=periodic_field(rng, 448, beta=3.0, longest_px=300, shortest_px=4),
            ring=periodic_field(rng, 384, beta=3.0, longest_px=160, shortest_px=8),
            cirrus=periodic_field(rng, 512, beta=3.5, longest_px=512, shortest_px=16),
        )


@dataclass(frozen=True)
class Weather:
    """One date's cloud situation (drawn once per date, used for every window)."""

    regime: str
    target_cover: float
    threshold: float
    blob_a: WrappedField
    blob_b: WrappedField
    weights: tuple[float, float]
    ring: WrappedField
    ring_cuts: tuple[float, float, float]
    ring_alpha: float
    cirrus: WrappedField | None
    cirrus_threshold: float
    brightness: float
    haze: float
    tailings_false_cloud: bool
    saturated_per_mpx: int

    @property
    def has_clouds(self) -> bool:
        """True when any cloud can appear."""
        return math.isfinite(self.threshold)

    def field(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> F32:
        """Cloud field (unit variance) at global pixel coordinates."""
        wa, wb = self.weights
        out: F32 = self.blob_a.sample(rows, cols) * np.float32(wa)
        out += self.blob_b.sample(rows, cols) * np.float32(wb)
        return out


def _wrap(rng: np.random.Generator, data: F32, stretch: int = 1) -> WrappedField:
    n = data.shape[0]
    return WrappedField(data, int(rng.integers(n)), int(rng.integers(n)),
                        bool(rng.integers(2)), stretch)


def draw_weather(seed: int, day: date, bases: CloudBases, max_cover: float | None = None
                 ) -> Weather:
    """Draw the weather of ``day`` (depends only on ``seed`` and the date).

    Climatology: the probability of a nearly clear date falls from ~0.6 in the dry season
    to ~0.05 at the height of the rains, the probability of an overcast date rises from
    ~0.02 to ~0.35; over a year about 30 % of dates are nearly clear.

    Parameters
    ----------
    seed
        Portfolio seed.
    day
        Sensing date.
    bases
        Base fields.
    max_cover
        Cap on the target cloud cover (used to keep a few event dates observable).
    """
    rng = np.random.default_rng([seed, 11, day.toordinal()])
    w = wetness(day)
    p_clear = 0.62 - 0.57 * w
    p_overcast = 0.02 + 0.33 * w
    u = rng.random()
    if u < p_clear:
        regime = "clear"
        cover = 0.0 if rng.random() < 0.5 else float(rng.uniform(0.001, 0.02))
    elif u < p_clear + p_overcast:
        regime = "overcast"
        cover = float(rng.uniform(0.88, 0.995))
    else:
        regime = "partly"
        cover = float(rng.uniform(0.04, 0.45 + 0.4 * w))
    if max_cover is not None and cover > max_cover:
        cover = max_cover
        regime = "clear" if cover <= 0.02 else "partly"
    threshold = float(special.ndtri(1.0 - cover)) if cover > 0 else math.inf
    angle = float(rng.uniform(0.0, math.pi / 2))
    weights = (math.cos(angle), math.sin(angle))
    blob_a = _wrap(rng, bases.blobs_a)
    blob_b = _wrap(rng, bases.blobs_b)
    ring = _wrap(rng, bases.ring)
    if rng.random() < 0.25:
        cuts = (math.inf, math.inf, math.inf)  # no missed edges on this date
    else:
        q1, q2, q3 = (float(special.ndtri(q)) for q in _RING_QUANTILES)
        cuts = (q1, q2, q3)
    ring_alpha = float(rng.uniform(0.18, 0.32))
    cirrus = _wrap(rng, bases.cirrus, stretch=2) if rng.random() < 0.10 + 0.2 * w else None
    cirrus_threshold = float(rng.uniform(0.2, 1.4))
    brightness = float(1.0 + 0.012 * rng.standard_normal())
    haze = float(abs(0.003 * rng.standard_normal()))
    tailings_false_cloud = bool(rng.random() < 0.08)
    saturated = int(rng.integers(2, 8)) if rng.random() < 0.08 else 0
    return Weather(regime, cover, threshold, blob_a, blob_b, weights, ring, cuts,
                   ring_alpha, cirrus, cirrus_threshold, brightness, haze,
                   tailings_false_cloud, saturated)


@dataclass
class Atmosphere:
    """Cloud, shadow and cirrus state of one window (10 m arrays unless noted)."""

    alpha: F32  # cloud opacity 0..1 (cores, 20 m padding and missed rings)
    core: BoolA  # opaque cloud core (true cloud)
    missed_ring: BoolA  # hazy pixels outside the SCL flags
    cloud20: BoolA  # SCL cloud flag (8 or 9), 20 m
    high20: BoolA  # SCL 9 rather than 8, 20 m
    beta: F32  # shadow strength 0..1 (core and penumbra)
    shadow: BoolA  # true shadow (core), 10 m
    missed_penumbra: BoolA
    shadow20: BoolA  # SCL 3, 20 m (not under a cloud flag)
    cirrus_alpha: F32 | None
    cirrus20: BoolA  # SCL 10, 20 m


def _ring(flag10: BoolA, widths: NDArray[np.int8]) -> tuple[BoolA, F32]:
    """Pixels outside ``flag10`` within their ring width; returns mask and distance (px)."""
    if not flag10.any() or not (widths > 0).any():
        return np.zeros(flag10.shape, bool), np.zeros(flag10.shape, np.float32)
    dist = ndimage.distance_transform_edt(~flag10).astype(np.float32)
    ring = (~flag10) & (dist <= widths)
    return ring, dist


def _ring_widths(weather: Weather, rows: NDArray[np.int64], cols: NDArray[np.int64],
                 cap: int) -> NDArray[np.int8]:
    g = weather.ring.sample(rows, cols)
    widths = np.searchsorted(np.asarray(weather.ring_cuts, np.float32), g).astype(np.int8)
    np.minimum(widths, cap, out=widths)
    return widths


def atmosphere(weather: Weather, r0: int, r1: int, c0: int, c1: int, size: int) -> Atmosphere:
    """Compute the clouds of the window ``[r0:r1, c0:c1]`` (10 m pixels, even bounds).

    ``size`` is the tile side: flags beyond the tile edge grow no missed ring, so every
    missed pixel is within reach of a flag of the same scene.
    """
    h, w = r1 - r0, c1 - c0
    shape10 = (h, w)
    shape20 = (h // 2, w // 2)
    alpha = np.zeros(shape10, np.float32)
    beta = np.zeros(shape10, np.float32)
    core = np.zeros(shape10, bool)
    shadow = np.zeros(shape10, bool)
    missed = np.zeros(shape10, bool)
    penumbra = np.zeros(shape10, bool)
    cloud20 = np.zeros(shape20, bool)
    high20 = np.zeros(shape20, bool)
    shadow20 = np.zeros(shape20, bool)
    crop = (slice(HALO, HALO + h), slice(HALO, HALO + w))
    if weather.has_clouds:
        rows = np.arange(r0 - HALO, r1 + HALO, dtype=np.int64)
        cols = np.arange(c0 - HALO, c1 + HALO, dtype=np.int64)
        t = np.float32(weather.threshold)
        f = weather.field(rows, cols)
        core_h = f > t
        flag20_h = block_any(core_h)
        flag10_h = upsample2(flag20_h)
        inside = ((rows >= 0) & (rows < size))[:, None] & ((cols >= 0) & (cols < size))[None, :]
        a_h = np.where(core_h, 0.55 + 0.45 * np.clip((f - t) / 0.5, 0, 1), 0).astype(np.float32)
        a_h[flag10_h & ~core_h] = weather.ring_alpha
        widths = _ring_widths(weather, rows, cols, MAX_RING_PX)
        ring_h, dist = _ring(flag10_h & inside, widths)
        if ring_h.any():
            wf = np.maximum(widths, 1).astype(np.float32)
            a_ring = weather.ring_alpha * (1.0 - (dist - 1.0) / wf)
            a_h[ring_h] = a_ring[ring_h]
        alpha = a_h[crop]
        core = core_h[crop]
        missed = ring_h[crop]
        cloud20 = flag20_h[HALO // 2: HALO // 2 + h // 2, HALO // 2: HALO // 2 + w // 2]
        core_alpha20 = block_mean(np.where(core_h, a_h, 0).astype(np.float32))
        high20 = (core_alpha20 >= 0.75)[HALO // 2: HALO // 2 + h // 2,
                                          HALO // 2: HALO // 2 + w // 2] & cloud20

        dy, dx = SHADOW_OFFSET_PX
        fs = weather.field(rows - dy, cols - dx)
        sh_h = fs > t
        sflag20_h = block_any(sh_h)
        sflag10_h = upsample2(sflag20_h)
        b_h = np.where(sh_h, 0.75 + 0.25 * np.clip((fs - t) / 0.5, 0, 1), 0).astype(np.float32)
        b_h[sflag10_h & ~sh_h] = 0.35
        swidths = _ring_widths(weather, rows - dy, cols - dx, MAX_PENUMBRA_PX)
        pen_h, sdist = _ring(sflag10_h & inside, swidths)
        pen_h &= ~flag10_h
        if pen_h.any():
            wf = np.maximum(swidths, 1).astype(np.float32)
            b_pen = 0.35 * (1.0 - (sdist - 1.0) / (wf + 1.0))
            b_h[pen_h] = b_pen[pen_h]
        beta = b_h[crop]
        shadow = sh_h[crop]
        penumbra = pen_h[crop]
        shadow20 = sflag20_h[HALO // 2: HALO // 2 + h // 2,
                             HALO // 2: HALO // 2 + w // 2] & ~cloud20
    cirrus_alpha: F32 | None = None
    cirrus20 = np.zeros(shape20, bool)
    if weather.cirrus is not None:
        g = weather.cirrus.sample(np.arange(r0, r1, dtype=np.int64),
                                  np.arange(c0, c1, dtype=np.int64))
        tc = np.float32(weather.cirrus_threshold)
        on = g > tc
        if on.any():
            cirrus_alpha = np.where(
                on, 0.03 + 0.09 * np.clip((g - tc) / 1.5, 0, 1), 0).astype(np.float32)
            cirrus20 = block_any(on) & ~cloud20
    return Atmosphere(alpha, core, missed, cloud20, high20, beta, shadow, penumbra, shadow20,
                      cirrus_alpha, cirrus20)
