"""Generate the synthetic Sentinel-2 L2A demo portfolio with its ground truth.

Layout of the output folder (a contract shared with the imagery loader)::

    <out>/scenes/<scene_id>/scene.json
    <out>/scenes/<scene_id>/{blue,green,red,nir}.tif      10 m, uint16, nodata 0
    <out>/scenes/<scene_id>/{nir08,swir16,swir22}.tif     20 m, uint16, nodata 0
    <out>/scenes/<scene_id>/scl.tif                       20 m, uint8, nodata 0
    <out>/concessions.geojson                             the registry (EPSG:4326)
    <out>/truth/truth.json                                ground truth
    <out>/truth/<concession_id>/*.tif                     truth rasters, 10 m grid
    <out>/truth/masks/<scene_id>.tif                      true cloud/shadow bits, 10 m

``scene.json`` is written last in each scene folder and ``truth.json`` last of all, so a
folder with them is complete.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from affine import Affine
from numpy.typing import NDArray

from monitor.errors import SimulationError
from monitor.fsio import write_atomic
from monitor.simulate import layout as lay
from monitor.simulate import spectra as sp
from monitor.simulate.clouds import (
    MAX_PENUMBRA_PX,
    MAX_RING_PX,
    SHADOW_OFFSET_PX,
    CloudBases,
    Weather,
    draw_weather,
)
from monitor.simulate.fields import NoiseBank
from monitor.simulate.scenes import (
    BIT_CIRRUS,
    BIT_CLOUD,
    BIT_HAZE,
    BIT_MISSED,
    BIT_NODATA,
    BIT_SATURATED,
    BIT_SHADOW,
    Acquisition,
    RasterSink,
    Rendered,
    build_schedule,
    render_window,
)
from monitor.simulate.surface import Surface
from monitor.simulate.truth import BlockTruth, build_truth

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_R = TypeVar("_R")

BoolA = NDArray[np.bool_]

S2_TILE_PX = 10980
MIN_SIZE = lay.BLOCK_PX
BANDS_10M = sp.BANDS_10M
BANDS_20M = sp.BANDS_20M
_SCENE_FILES = {f"{b}.tif" for b in (*BANDS_10M, *BANDS_20M, "scl")} | {"scene.json"}


@dataclass(frozen=True)
class PortfolioSpec:
    """What to generate.

    Parameters
    ----------
    size
        Scene side in 10 m pixels (even, 320 to 10980 = a full Sentinel-2 tile). The
        concessions always occupy the upper-left 320 x 320 pixels; the rest is forest,
        pasture, canga and the river.
    seed
        Seed of every random draw: the same spec gives byte-identical files.
    start, end
        First possible acquisition date and last (inclusive).
    revisit_days
        Days between acquisitions (Sentinel-2A and -2B alternate).
    tile, epsg, origin
        MGRS tile id, UTM EPSG code and upper-left corner (metres, multiples of 60) of the
        grid. The default is tile 22MFT in the Carajas mining province, Para, Brazil.
    cloud_truth
        Also write ``truth/masks/<scene_id>.tif`` (true cloud, haze and shadow bits).
    window
        Processing window side (10 m pixels, a multiple of 512): bounds memory at large
        sizes.
    threads
        Windows rendered concurrently (helps only when the scene has several windows, i.e.
        ``size > window``); the output does not depend on it.
    """

    size: int = 320
    seed: int = 0
    start: date = date(2021, 6, 1)
    end: date = date(2022, 12, 1)
    revisit_days: int = 5
    tile: str = "22MFT"
    epsg: int = 32722
    origin: tuple[float, float] = (600000.0, 9300000.0)
    cloud_truth: bool = True
    window: int = 1024
    threads: int = 2

    def validate(self) -> None:
        """Raise :class:`SimulationError` describing every impossible parameter."""
        problems: list[str] = []
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            problems.append(f"size must be an int, got {self.size!r}")
        elif not MIN_SIZE <= self.size <= S2_TILE_PX:
            problems.append(f"size must be between {MIN_SIZE} (the demo block) and "
                            f"{S2_TILE_PX} (a full Sentinel-2 tile) pixels, got {self.size}")
        elif self.size % 2:
            problems.append(f"size must be even (20 m bands have size/2 pixels), got "
                            f"{self.size}; use {self.size - 1} or {self.size + 1}")
        if not isinstance(self.seed, int) or self.seed < 0:
            problems.append(f"seed must be a non-negative int, got {self.seed!r}")
        start: object = self.start
        end: object = self.end
        if not (isinstance(start, date) and isinstance(end, date)):
            problems.append("start and end must be datetime.date objects")
        elif self.end <= self.start:
            problems.append(f"end ({self.end}) must be after start ({self.start})")
        if not isinstance(self.revisit_days, int) or self.revisit_days < 1:
            problems.append(f"revisit_days must be a positive int, got {self.revisit_days!r}")
        ox, oy = self.origin
        if ox % 60 or oy % 60:
            problems.append(f"origin {self.origin} must be on a multiple of 60 m (S2 grids)")
        if not (32701 <= self.epsg <= 32760 or 32601 <= self.epsg <= 32660):
            problems.append(f"epsg must be a WGS 84 / UTM zone code, got {self.epsg}")
        if not isinstance(self.threads, int) or self.threads < 1:
            problems.append(f"threads must be a positive int, got {self.threads!r}")
        if self.window < 512 or self.window % 512:
            problems.append(f"window must be a positive multiple of 512, got {self.window}")
        if problems:
            raise SimulationError("invalid PortfolioSpec:\n  - " + "\n  - ".join(problems))

    @property
    def crs(self) -> str:
        """CRS of every raster, e.g. ``EPSG:32722``."""
        return f"EPSG:{self.epsg}"

    @property
    def transform(self) -> Affine:
        """Geotransform of the 10 m grid."""
        return Affine(10.0, 0.0, self.origin[0], 0.0, -10.0, self.origin[1])

    @property
    def transform20(self) -> Affine:
        """Geotransform of the 20 m grid."""
        return Affine(20.0, 0.0, self.origin[0], 0.0, -20.0, self.origin[1])

    @property
    def blocksize(self) -> int:
        """COG block size: 256 for small scenes, 512 for large ones."""
        return 256 if self.size <= 2048 else 512


@dataclass(frozen=True)
class Portfolio:
    """A generated portfolio.

    Parameters
    ----------
    root
        The output folder.
    scenes_dir
        ``root / "scenes"``, one folder per scene.
    registry_path
        ``root / "concessions.geojson"``.
    truth_path
        ``root / "truth" / "truth.json"``.
    scene_ids
        Scene ids in sensing order (the duplicate follows its original).
    truth
        The content of ``truth.json``.
    """

    root: Path
    scenes_dir: Path
    registry_path: Path
    truth_path: Path
    scene_ids: tuple[str, ...]
    truth: dict[str, Any] = field(repr=False)


def write_registry(path: Path, spec: PortfolioSpec | None = None) -> Path:
    """Write the demo registry GeoJSON (what ``aoi/demo/concessions.geojson`` holds)."""
    spec = spec or PortfolioSpec()
    reg = lay.build_registry(spec.epsg, *spec.origin)
    _atomic_write_text(path, reg.geojson)
    return path


def _atomic_write_text(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"), mode=0o644)


def _prepare(out: Path) -> None:
    """Create ``out``; remove a previous portfolio's scenes/ and truth/ (and nothing else)."""
    if out.exists() and not out.is_dir():
        raise SimulationError(f"output path {out} exists and is not a folder; choose a folder")
    out.mkdir(parents=True, exist_ok=True)
    scenes, truth = out / "scenes", out / "truth"
    foreign: list[str] = []
    if scenes.exists():
        for d in scenes.iterdir():
            if not (d.is_dir() and d.name.startswith("S2")):
                foreign.append(str(d))
                continue
            foreign += [str(f) for f in d.iterdir()
                        if f.name not in _SCENE_FILES and not f.name.endswith((".tmp", ".tif"))]
    if truth.exists():
        for f in truth.rglob("*"):
            if f.is_file() and f.suffix not in (".tif", ".json", ".tmp"):
                foreign.append(str(f))
    if foreign:
        raise SimulationError(
            f"{out} holds files the simulator did not write ({', '.join(foreign[:3])}...); "
            "choose an empty or new output folder")
    for d in (scenes, truth):
        if d.exists():
            shutil.rmtree(d)


def _windows(size: int, step: int) -> list[tuple[int, int, int, int]]:
    return [(r, min(r + step, size), c, min(c + step, size))
            for r in range(0, size, step) for c in range(0, size, step)]


def _weathers(spec: PortfolioSpec, acqs: list[Acquisition], bases: CloudBases
              ) -> dict[date, Weather]:
    out: dict[date, Weather] = {}
    dry_episodes = [(a, b) for a, b, _ in lay.PLUME_EPISODES if sp.wetness(a) < 0.5]
    for acq in acqs:
        if acq.day in out:
            continue
        cap = 0.08 if any(a <= acq.day <= b for a, b in dry_episodes) else None
        out[acq.day] = draw_weather(spec.seed, acq.day, bases, max_cover=cap)
    return out


def generate_portfolio(
    out: Path,
    spec: PortfolioSpec = PortfolioSpec(),
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Portfolio:
    """Generate a synthetic Sentinel-2 L2A portfolio with ground truth into ``out``.

    Parameters
    ----------
    out
        Output folder (created). A previous portfolio's ``scenes/`` and ``truth/`` in it are
        replaced; any other content is left alone, and files the simulator would not have
        written make it refuse.
    spec
        What to generate.
    progress
        Called as ``progress(done, total)`` after each scene.

    Returns
    -------
    Portfolio
        Paths, scene ids and the ground truth.

    Raises
    ------
    SimulationError
        For impossible parameters or an output folder holding foreign files.
    """
    spec.validate()
    out = Path(out)
    acqs = build_schedule(spec.start, spec.end, spec.revisit_days, spec.tile)
    _prepare(out)
    scenes_dir = out / "scenes"
    truth_dir = out / "truth"
    scenes_dir.mkdir()
    (truth_dir / "masks").mkdir(parents=True)
    registry = lay.build_registry(spec.epsg, *spec.origin)
    registry_path = out / "concessions.geojson"
    _atomic_write_text(registry_path, registry.geojson)

    ss = np.random.SeedSequence(spec.seed)
    s_surface, s_clouds, s_noise = (np.random.default_rng(s) for s in ss.spawn(3))
    surface = Surface(s_surface, spec.size)
    bases = CloudBases.make(s_clouds)
    noise = NoiseBank(s_noise)
    weathers = _weathers(spec, acqs, bases)
    block = BlockTruth.make(surface.block, registry, acqs[0].day, acqs[-1].day)

    scene_records: list[dict[str, Any]] = []
    ctx = _Context(spec, surface, noise, block, scenes_dir, truth_dir,
                   _windows(spec.size, spec.window))
    with ThreadPoolExecutor(max_workers=spec.threads) as pool:
        for i, acq in enumerate(acqs):
            scene_records.append(_write_scene(ctx, acq, weathers[acq.day], pool))
            if progress is not None:
                progress(i + 1, len(acqs))
            log.debug("scene %s done (%d/%d)", acq.scene_id, i + 1, len(acqs))

    truth = build_truth(spec_info={
        "generator": "monitor.simulate", "truth_version": 1, "seed": spec.seed,
        "size": spec.size, "tile": spec.tile, "crs": spec.crs,
        "transform": list(spec.transform)[:6], "pixel_size_m": 10,
        "start": spec.start.isoformat(), "end": spec.end.isoformat(),
        "revisit_days": spec.revisit_days,
    }, acqs=acqs, scene_records=scene_records, block=block, spec_size=spec.size,
        write_raster=lambda rel, arr: _write_truth_raster(truth_dir / rel, arr, spec))
    truth["cloud_model"] = {
        "shadow_offset_px_rows_cols": list(SHADOW_OFFSET_PX),
        "max_missed_ring_px": MAX_RING_PX,
        "max_missed_penumbra_px": MAX_PENUMBRA_PX,
        "ring_distance": "euclidean, 10 m pixels, from SCL {8, 9} upsampled to 10 m",
        "masks": "masks/<scene_id>.tif (uint8 bits, 10 m)" if spec.cloud_truth else None,
        "mask_bits": {"cloud": BIT_CLOUD, "haze": BIT_HAZE, "missed_by_scl": BIT_MISSED,
                      "shadow": BIT_SHADOW, "cirrus": BIT_CIRRUS, "nodata": BIT_NODATA,
                      "saturated": BIT_SATURATED},
    }
    truth_path = truth_dir / "truth.json"
    _atomic_write_text(truth_path, json.dumps(truth, indent=1, ensure_ascii=False) + "\n")
    return Portfolio(out, scenes_dir, registry_path, truth_path,
                     tuple(a.scene_id for a in acqs), truth)


@dataclass(frozen=True)
class _Context:
    spec: PortfolioSpec
    surface: Surface
    noise: NoiseBank
    block: BlockTruth
    scenes_dir: Path
    truth_dir: Path
    windows: list[tuple[int, int, int, int]]


def _ordered_map(pool: ThreadPoolExecutor, fn: Callable[[_T], _R], items: list[_T],
                 ahead: int) -> Iterator[tuple[_T, _R]]:
    """Like ``pool.map`` in order, with at most ``ahead`` results pending (bounded memory)."""
    pending: deque[tuple[_T, Future[_R]]] = deque()
    for item in items:
        pending.append((item, pool.submit(fn, item)))
        if len(pending) >= ahead:
            it, fut = pending.popleft()
            yield it, fut.result()
    while pending:
        it, fut = pending.popleft()
        yield it, fut.result()


def _write_scene(ctx: _Context, acq: Acquisition, weather: Weather, pool: ThreadPoolExecutor
                 ) -> dict[str, Any]:
    """Render and write one scene; returns its truth record."""
    spec = ctx.spec
    size, half = spec.size, spec.size // 2
    d = ctx.scenes_dir / acq.scene_id
    d.mkdir()
    sinks = {b: RasterSink(d / f"{b}.tif", size, size, "uint16", spec.transform, spec.crs,
                           0, spec.blocksize, "average") for b in BANDS_10M}
    sinks.update({b: RasterSink(d / f"{b}.tif", half, half, "uint16", spec.transform20,
                                spec.crs, 0, spec.blocksize, "average") for b in BANDS_20M})
    sinks["scl"] = RasterSink(d / "scl.tif", half, half, "uint8", spec.transform20, spec.crs,
                              0, spec.blocksize, "nearest")
    mask_sink = (RasterSink(ctx.truth_dir / "masks" / f"{acq.scene_id}.tif", size, size,
                            "uint8", spec.transform, spec.crs, None, spec.blocksize, "nearest")
                 if spec.cloud_truth else None)
    flagged = valid = 0
    stats = _SceneStats()

    def render(win: tuple[int, int, int, int]) -> Rendered:
        return render_window(ctx.surface, weather, acq, ctx.noise, spec.seed, *win)

    for (r0, _r1, c0, _c1), rw in _ordered_map(pool, render, ctx.windows, spec.threads + 1):
        for k, b in enumerate(BANDS_10M):
            sinks[b].write(rw.dn10[k], r0, c0)
        for k, b in enumerate(BANDS_20M):
            sinks[b].write(rw.dn20[k], r0 // 2, c0 // 2)
        sinks["scl"].write(rw.scl, r0 // 2, c0 // 2)
        if mask_sink is not None:
            mask_sink.write(rw.truth, r0, c0)
        flagged += int(np.isin(rw.scl, (8, 9, 10)).sum())
        valid += int((rw.scl != 0).sum())
        stats.add(rw.truth, rw.scl)
        ctx.block.observe(acq, rw, r0, c0)
    for s in sinks.values():
        s.close()
    if mask_sink is not None:
        mask_sink.close()
    cover = 100.0 * flagged / valid if valid else 100.0
    meta = acq.metadata(spec.tile, cover)
    _atomic_write_text(d / "scene.json", json.dumps(meta, indent=2) + "\n")
    return {
        **meta, "date": acq.day.isoformat(), "kind": acq.kind,
        "duplicate_of": acq.duplicate_of, "regime": weather.regime,
        "target_cloud_cover": round(100.0 * weather.target_cover, 2),
        "thin_cirrus": weather.cirrus is not None,
        "scl_false_cloud_on_tailings": weather.tailings_false_cloud,
        "saturated_pixels": stats.saturated, **stats.summary(),
        "concession_clear_fraction": ctx.block.clear_fractions(acq.scene_id),
    }


@dataclass
class _SceneStats:
    contaminated: int = 0
    missed: int = 0
    saturated: int = 0
    nodata: int = 0
    pixels: int = 0

    def add(self, truth: NDArray[np.uint8], scl: NDArray[np.uint8]) -> None:
        self.contaminated += int((truth & (BIT_CLOUD | BIT_HAZE | BIT_SHADOW) > 0).sum())
        self.missed += int((truth & BIT_MISSED > 0).sum())
        self.saturated += int((scl == 1).sum())
        self.nodata += int((truth & BIT_NODATA > 0).sum())
        self.pixels += truth.size

    def summary(self) -> dict[str, Any]:
        return {
            "contaminated_px": self.contaminated,
            "missed_by_scl_px": self.missed,
            "nodata_fraction": round(self.nodata / self.pixels, 4),
        }


def _write_truth_raster(path: Path, arr: NDArray[Any], spec: PortfolioSpec) -> None:
    """Write a block-sized truth array into a full-grid COG (zeros outside the block)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = RasterSink(path, spec.size, spec.size, str(arr.dtype), spec.transform, spec.crs,
                      None, spec.blocksize, "nearest")
    sink.write(arr, 0, 0)
    sink.close()


__all__ = ["Portfolio", "PortfolioSpec", "generate_portfolio", "write_registry"]
