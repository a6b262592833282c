"""Acquisition schedule, per-window scene rendering (reflectance, SCL, DN) and COG writing.

Radiometry follows Sentinel-2 L2A (SCIENCE.md section 1): ``DN = round(refl * 10000)`` for
processing baselines before 04.00, ``DN = round(refl * 10000) + 1000`` from 04.00 on
(BOA_ADD_OFFSET = -1000), DN 0 is no data, valid DN are at least 1, saturated pixels are
65535 and SCL 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from numpy.typing import NDArray

from monitor.errors import SimulationError
from monitor.simulate import layout as lay
from monitor.simulate import spectra as sp
from monitor.simulate.clouds import Atmosphere, Weather, atmosphere
from monitor.simulate.fields import F32, NoiseBank, block_mean, upsample2
from monitor.simulate.surface import Surface

U8 = NDArray[np.uint8]
U16 = NDArray[np.uint16]

#: Dates of the special scenes (the first acquisition on or after each).
COLLECTION1_AFTER = date(2021, 10, 15)
DUPLICATE_AFTER = date(2022, 3, 15)
PARTIAL_AFTER = date(2022, 4, 20)
#: Epoch of the A/B alternation (a Sentinel-2A date).
PLATFORM_EPOCH = date(2021, 6, 1)
RELATIVE_ORBIT = "R038"

# truth mask bits (truth/masks/<scene_id>.tif)
BIT_CLOUD = 1  # opaque cloud core
BIT_HAZE = 2  # hazy cloud edge (20 m flag padding or missed ring)
BIT_MISSED = 4  # contaminated but SCL labels it clear (4/5/6/7)
BIT_SHADOW = 8  # cloud shadow (core or penumbra)
BIT_CIRRUS = 16  # thin cirrus
BIT_NODATA = 32
BIT_SATURATED = 64


@dataclass(frozen=True)
class Acquisition:
    """One scene to generate."""

    scene_id: str
    day: date
    sensing: datetime
    platform: str
    processing_baseline: str
    kind: str  # regular | collection-1 | duplicate | partial
    noise_stream: int = 0
    duplicate_of: str | None = None
    plume: float = 0.0
    plume_episode: int | None = None

    @property
    def boa_add_offset(self) -> int:
        """BOA_ADD_OFFSET of this product (decided by processing baseline)."""
        return sp.boa_add_offset(self.processing_baseline)

    def metadata(self, tile: str, cloud_cover: float) -> dict[str, Any]:
        """The scene.json contract."""
        return {
            "scene_id": self.scene_id,
            "datetime": self.sensing.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "platform": self.platform,
            "tile": tile,
            "processing_baseline": self.processing_baseline,
            "boa_add_offset": self.boa_add_offset,
            "quantification_value": 10000,
            "offset_applied": False,
            "collection": "sentinel-2-l2a",
            "cloud_cover": round(cloud_cover, 2),
        }


def _scene_id(platform: str, sensing: datetime, pb: str, tile: str) -> str:
    code = "S2A" if platform.endswith("a") else "S2B"
    return (f"{code}_MSIL2A_{sensing:%Y%m%dT%H%M%S}_N{pb.replace('.', '')}_{RELATIVE_ORBIT}"
            f"_T{tile}")


def _plume_on(day: date) -> tuple[float, int | None]:
    for i, (first, last, _peak) in enumerate(lay.PLUME_EPISODES):
        if first <= day <= last:
            return 1.0, i
    return 0.0, None


def build_schedule(start: date, end: date, revisit_days: int, tile: str) -> list[Acquisition]:
    """Acquisitions from ``start`` to ``end`` every ``revisit_days``, special scenes included.

    Baselines: 03.01 before 2022-01-25 and 04.00 from then on. When the series covers them,
    the first date on or after 2021-10-15 is a reprocessed Collection-1 product (05.10); the
    first date on or after 2022-03-15 is delivered twice (a second product with a later
    processing time in its id and near-identical pixels); the first date on or after
    2022-04-20 is missing its western part (no data). "Covers" means within
    ``max(2 * revisit_days, 10)`` days of those anchors, so short benchmark series elsewhere
    get only regular scenes.
    """
    days: list[date] = []
    d = start
    while d <= end:
        days.append(d)
        d += timedelta(days=revisit_days)
    if not days:
        raise SimulationError(f"no acquisition between {start} and {end}")
    reach = timedelta(days=max(2 * revisit_days, 10))

    def first_after(anchor: date, before: date | None = None) -> date | None:
        limit = min(anchor + reach, before or anchor + reach)
        return next((x for x in days if anchor <= x < limit), None)

    c1 = first_after(COLLECTION1_AFTER, sp.BASELINE_SWITCH)
    dup = first_after(DUPLICATE_AFTER)
    part = first_after(PARTIAL_AFTER)
    # plume strengths: a bell over the acquisitions of each episode
    episode_days: dict[int, list[date]] = {}
    for x in days:
        on, ep = _plume_on(x)
        if on and ep is not None:
            episode_days.setdefault(ep, []).append(x)
    strength: dict[date, tuple[float, int]] = {}
    for ep, eds in episode_days.items():
        peak = lay.PLUME_EPISODES[ep][2]
        for i, x in enumerate(eds):
            strength[x] = (peak * (0.75 + 0.25 * float(np.sin(np.pi * (i + 0.5) / len(eds)))),
                           ep)
    out: list[Acquisition] = []
    for x in days:
        parity = ((x - PLATFORM_EPOCH).days // 5) % 2
        platform = "sentinel-2a" if parity == 0 else "sentinel-2b"
        sec = 29 + (x.toordinal() * 7) % 21
        sensing = datetime.combine(x, time(13, 22, sec), tzinfo=UTC)
        pb = "04.00" if x >= sp.BASELINE_SWITCH else "03.01"
        kind = "regular"
        if x == c1:
            pb, kind = "05.10", "collection-1"
        elif x == part:
            kind = "partial"
        plume, ep = strength.get(x, (0.0, None))
        acq = Acquisition(_scene_id(platform, sensing, pb, tile), x, sensing, platform, pb, kind,
                          plume=plume, plume_episode=ep)
        out.append(acq)
        if x == dup:
            processed = sensing + timedelta(hours=3, minutes=17, seconds=6)
            out.append(Acquisition(f"{acq.scene_id}_{processed:%Y%m%dT%H%M%S}", x, sensing,
                                   platform, pb, "duplicate", noise_stream=1,
                                   duplicate_of=acq.scene_id, plume=plume, plume_episode=ep))
    return out


@dataclass
class Rendered:
    """One window of one scene, ready to write."""

    dn10: U16  # (4, h, w)
    dn20: U16  # (3, h/2, w/2)
    scl: U8  # (h/2, w/2)
    truth: U8  # (h, w) truth mask bits
    fractions: dict[str, F32]
    turbidity: F32 | None


def _partial_nodata(r0: int, r1: int, c0: int, c1: int) -> NDArray[np.bool_]:
    """No-data wedge of the partial scene: the western ~40 % of the demo block."""
    rows = np.arange(r0, r1)[:, None].astype(np.float32)
    cols = np.arange(c0, c1)[None, :].astype(np.float32)
    out: NDArray[np.bool_] = cols < 100.0 + 0.18 * rows
    return out


def render_window(surface: Surface, weather: Weather, acq: Acquisition, noise: NoiseBank,
                  seed: int, r0: int, r1: int, c0: int, c1: int) -> Rendered:
    """Render one window (10 m bounds ``[r0:r1, c0:c1]``, even) of one acquisition."""
    h, w = r1 - r0, c1 - c0
    h2, w2 = h // 2, w // 2
    # SCL quirks depend on the date only; sensor noise also on the product (duplicates differ)
    rng = np.random.default_rng([seed, 23, acq.day.toordinal(), r0, c0])
    rng_noise = np.random.default_rng([seed, 29, acq.day.toordinal(), acq.noise_stream, r0, c0])
    surf, fr, turb = surface.reflectance(r0, r1, c0, c1, acq.day, acq.plume)
    atm: Atmosphere = atmosphere(weather, r0, r1, c0, c1, surface.size)
    refl = surf * np.float32(weather.brightness)
    refl[0] += np.float32(weather.haze)
    refl[1] += np.float32(0.5 * weather.haze)
    if atm.beta.any():
        for b in range(7):
            refl[b] *= 1.0 - atm.beta * (1.0 - sp.DIFFUSE_FRACTION[b])
    if atm.cirrus_alpha is not None:
        ca = atm.cirrus_alpha
        for b in range(7):
            refl[b] = (1.0 - ca) * refl[b] + ca * sp.CLOUD[b]
    if atm.alpha.any():
        a = atm.alpha
        bright = 0.85 + 0.15 * a
        for b in range(7):
            refl[b] = (1.0 - a) * refl[b] + a * bright * sp.CLOUD[b]

    r20 = np.stack([block_mean(refl[b]) for b in range(1, 7)])  # green..swir22 at 20 m
    off = acq.boa_add_offset
    dn10 = np.empty((4, h, w), np.uint16)
    for b in range(4):
        band = refl[b] + sp.NOISE_SIGMA[b] * noise.take(rng_noise, (h, w))
        sp.encode_dn(band, off, out=dn10[b])
    dn20 = np.empty((3, h2, w2), np.uint16)
    for i, b in enumerate(range(4, 7)):
        band = r20[b - 1] + sp.NOISE_SIGMA[b] * noise.take(rng_noise, (h2, w2))
        sp.encode_dn(band, off, out=dn20[i])

    # --- scene classification (Sen2Cor-like, 20 m) ---------------------------------------
    green, red, nir, swir16 = r20[0], r20[1], r20[2], r20[4]
    ndvi = (nir - red) / np.maximum(nir + red, 1e-6)
    mndwi = (green - swir16) / np.maximum(green + swir16, 1e-6)
    scl = np.full((h2, w2), 5, np.uint8)
    scl[ndvi >= 0.4] = 4
    scl[(ndvi >= 0.3) & (ndvi < 0.4)] = 7
    scl[(mndwi > 0.2) & (nir < 0.12)] = 6
    speckle = rng.random((h2, w2)) < 0.001
    scl[speckle] = 7
    scl[atm.cirrus20] = 10
    scl[atm.shadow20] = 3
    if weather.tailings_false_cloud and "tailings" in fr:
        tail20 = block_mean(fr["tailings"]) >= 0.9
        bright = refl[2][::2, ::2] > 0.2
        scl[tail20 & bright & (rng.random((h2, w2)) < 0.6)] = 8
    if (acq.plume_episode == lay.PLUME_FALSE_CLOUD_EPISODE and turb is not None
            and acq.plume >= 0.9 * lay.PLUME_EPISODES[lay.PLUME_FALSE_CLOUD_EPISODE][2]):
        river20 = block_mean(fr["river"]) >= 0.5
        scl[river20 & (block_mean(turb) >= 0.85)] = 8
    scl[atm.cloud20] = 8
    scl[atm.high20] = 9

    truth = np.zeros((h, w), np.uint8)
    truth[atm.core] |= BIT_CLOUD
    truth[(atm.alpha > 0) & ~atm.core] |= BIT_HAZE
    truth[atm.beta > 0] |= BIT_SHADOW
    if atm.cirrus_alpha is not None:
        truth[atm.cirrus_alpha > 0] |= BIT_CIRRUS
    missed = (atm.missed_ring | atm.missed_penumbra) & ~upsample2(
        np.isin(scl, (3, 8, 9, 10))).astype(bool)
    truth[missed] |= BIT_MISSED

    if weather.saturated_per_mpx:
        n_sat = max(1, weather.saturated_per_mpx * h * w // 1_000_000)
        ys = rng.integers(0, h2, n_sat)
        xs = rng.integers(0, w2, n_sat)
        scl[ys, xs] = 1
        dn20[:, ys, xs] = 65535
        for dy in (0, 1):
            for dx in (0, 1):
                dn10[:, 2 * ys + dy, 2 * xs + dx] = 65535
                truth[2 * ys + dy, 2 * xs + dx] |= BIT_SATURATED
    if acq.kind == "partial":
        nod = _partial_nodata(r0, r1, c0, c1)
        nod20 = nod[::2, ::2]
        nod10 = upsample2(nod20).astype(bool)
        dn10[:, nod10] = 0
        dn20[:, nod20] = 0
        scl[nod20] = 0
        truth[nod10] = BIT_NODATA
    return Rendered(dn10, dn20, scl, truth, fr, turb)


# --- writing -----------------------------------------------------------------------------
_COMPRESSION: dict[str, Any] | None = None


def compression() -> dict[str, Any]:
    """ZSTD level 1 when this GDAL has it, else DEFLATE (both with predictor 2)."""
    global _COMPRESSION
    if _COMPRESSION is None:
        try:
            with rasterio.MemoryFile() as mem, mem.open(
                driver="GTiff", width=16, height=16, count=1, dtype="uint8",
                compress="ZSTD", zstd_level=1, crs="EPSG:32722",
                transform=Affine(10.0, 0.0, 0.0, 0.0, -10.0, 0.0),
            ) as ds:
                ds.write(np.zeros((1, 16, 16), np.uint8))
            _COMPRESSION = {"compress": "ZSTD", "level": 1, "predictor": 2}
        except Exception:  # pragma: no cover - GDAL without ZSTD
            _COMPRESSION = {"compress": "DEFLATE", "level": 6, "predictor": 2}
    return dict(_COMPRESSION)


class RasterSink:
    """Collects windows of one band and writes it as a COG (atomically, temp + rename).

    Small rasters are held in memory; large ones (side > ``memory_limit_px``) are staged in
    an uncompressed tiled GeoTIFF next to the target so memory stays bounded.
    """

    def __init__(self, path: Path, height: int, width: int, dtype: str, transform: Affine,
                 crs: str, nodata: int | None, blocksize: int, resampling: str,
                 memory_limit_px: int = 4096) -> None:
        self.path = path
        self.profile: dict[str, Any] = {
            "height": height, "width": width, "count": 1, "dtype": dtype,
            "transform": transform, "crs": crs, "nodata": nodata,
        }
        self.blocksize = blocksize
        self.resampling = resampling
        self._array: NDArray[Any] | None = None
        self._stage: Any = None
        self._stage_path = path.with_name(path.name + ".stage.tif")
        if max(height, width) <= memory_limit_px:
            self._array = np.zeros((height, width), dtype)
        else:
            self._stage = rasterio.open(
                self._stage_path, "w", driver="GTiff", tiled=True, blockxsize=512,
                blockysize=512, sparse_ok=True, bigtiff="IF_SAFER", **self.profile)

    def write(self, data: NDArray[Any], row: int, col: int) -> None:
        """Write ``data`` with its upper-left pixel at ``(row, col)``."""
        h, w = data.shape
        if self._array is not None:
            self._array[row:row + h, col:col + w] = data
        else:
            self._stage.write(data, 1, window=rasterio.windows.Window(col, row, w, h))

    def close(self) -> None:
        """Write the COG and remove any staging file."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        opts = {**compression(), "blocksize": self.blocksize, "overview_resampling":
                self.resampling, "bigtiff": "IF_SAFER"}
        if self._array is not None:
            with rasterio.open(tmp, "w", driver="COG", **self.profile, **opts) as dst:
                dst.write(self._array, 1)
            self._array = None
        else:
            self._stage.close()
            rasterio.shutil.copy(self._stage_path, tmp, driver="COG", num_threads=2, **opts)
            self._stage_path.unlink()
        os.replace(tmp, self.path)
