"""Performance benchmarks: `make bench` (or `python -m benchmarks --help`).

Every figure is a ratio to a limit measured in the same run on the same data, never an
absolute target (PERFORMANCE.md: these shared machines vary from run to run):

- index throughput: ``monitor.indices`` (numpy and dask paths) against the bare numpy
  expression of the same index on the same arrays;
- cube load: ``monitor.load_cube(...).compute()`` (reflectance and every mask) for each
  demo concession (about 230 x 230 px: dask overhead dominates) and for one licence covering
  the whole synthetic tile (decoding dominates), against decoding the same windows of the
  same band files with rasterio alone.

Results are printed and written as JSON (``--out``, default benchmarks/results.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dask
import numpy as np
import rasterio
import xarray as xr
from pyproj import Transformer
from rasterio.windows import from_bounds
from shapely.geometry import Polygon, box, mapping

import monitor
from monitor.errors import SceneSkippedWarning
from monitor.simulate import PortfolioSpec, generate_portfolio


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Fastest wall time of ``repeat`` runs (seconds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_indices(side: int, repeat: int) -> dict[str, Any]:
    """NDVI and Dogliotti turbidity: registry paths vs the bare numpy expression."""
    rng = np.random.default_rng(0)
    red = rng.uniform(0.01, 0.3, (side, side)).astype("float32")
    nir = rng.uniform(0.01, 0.6, (side, side)).astype("float32")
    mpix = side * side / 1e6
    limit = best_of(lambda: (nir - red) / (nir + red), repeat)
    spec = monitor.indices.get("ndvi")
    registry_np = best_of(lambda: spec.func(nir=nir, red=red), repeat)
    cube = xr.Dataset({"red": (("y", "x"), red), "nir": (("y", "x"), nir)})
    lazy = cube.chunk({"y": 2048, "x": 2048})
    with dask.config.set(scheduler="threads"):
        registry_dask = best_of(lambda: monitor.indices.compute("ndvi", lazy).compute(), repeat)
    return {
        "pixels": side * side,
        "limit_numpy_mpix_s": round(mpix / limit, 1),
        "ndvi_numpy_mpix_s": round(mpix / registry_np, 1),
        "ndvi_dask_mpix_s": round(mpix / registry_dask, 1),
        "ratio_numpy_to_limit": round(registry_np / limit, 2),
        "ratio_dask_to_limit": round(registry_dask / limit, 2),
    }


def _rasterio_limit(cube: xr.Dataset, concession: monitor.concessions.Concession) -> float:
    """Decode the same windows of the same files with rasterio alone (seconds)."""
    scenes_dir = Path(cube.attrs["source"].removeprefix("local:"))
    bounds = concession.aoi(cube.attrs["buffer_m"]).bounds
    t0 = time.perf_counter()
    for scene_id in cube.scene_id.values:
        for path in sorted((scenes_dir / str(scene_id).split("+")[0]).glob("*.tif")):
            with rasterio.open(path) as ds:
                ds.read(1, window=from_bounds(*bounds, transform=ds.transform))
    return time.perf_counter() - t0


def _tile_wide_registry(portfolio_root: Path, spec: PortfolioSpec) -> Path:
    """A registry with one licence covering the whole synthetic tile (inset by the buffer)."""
    x0, y0 = spec.origin
    side = spec.size * 10.0
    inset = 600.0  # the 500 m buffer stays inside the tile
    licence = box(x0 + inset, y0 - side + inset, x0 + side - inset, y0 - inset)
    to_ll = Transformer.from_crs(f"EPSG:{spec.epsg}", "EPSG:4326", always_xy=True)
    xs, ys = to_ll.transform(*licence.exterior.coords.xy)
    feature = {"type": "Feature",
               "properties": {"concession_id": "tile-wide", "feature_type": "licence",
                              "name": "whole tile"},
               "geometry": mapping(Polygon(zip(xs, ys, strict=True)))}
    path = portfolio_root.parent / f"tile-wide-{spec.size}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


def bench_cube(size: int, days: int, repeat: int, workdir: Path) -> dict[str, Any]:
    """load_cube + compute for each demo concession and a tile-wide one vs rasterio alone."""
    spec = PortfolioSpec(size=size, end=PortfolioSpec().start + timedelta(days=days))
    t0 = time.perf_counter()
    portfolio = generate_portfolio(workdir / f"portfolio-{size}-{days}", spec)
    generation = time.perf_counter() - t0
    registry = monitor.load_concessions(portfolio.registry_path)
    wide = monitor.load_concessions(_tile_wide_registry(portfolio.root, spec))
    out: dict[str, Any] = {"tile_px": size, "days": days, "scenes": len(portfolio.scene_ids),
                           "generation_s": round(generation, 1), "concessions": {}}
    for concession in [*registry, *wide]:
        def load(c: monitor.concessions.Concession = concession) -> xr.Dataset:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SceneSkippedWarning)
                cube = monitor.load_cube(f"local:{portfolio.scenes_dir}", c, spec.start,
                                         spec.end)
            return cube.compute()

        def reduce(c: monitor.concessions.Concession = concession) -> xr.DataArray:
            # the reference pipeline of PERFORMANCE.md: NDVI over clear pixels, one mean per
            # date; nothing full-size is kept in memory
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SceneSkippedWarning)
                cube = monitor.load_cube(f"local:{portfolio.scenes_dir}", c, spec.start,
                                         spec.end)
            ndvi = monitor.indices.compute("ndvi", cube)
            return ndvi.where(cube.clear_vegetation).mean(("y", "x")).compute()

        cube = load()
        ours = best_of(load, repeat)
        reduced = best_of(reduce, repeat)
        limit = min(_rasterio_limit(cube, concession) for _ in range(repeat))
        mpix = cube.sizes["time"] * cube.sizes["y"] * cube.sizes["x"] / 1e6
        out["concessions"][concession.concession_id] = {
            "ndvi_clear_mean_per_date_s": round(reduced, 3),
            "ratio_reduction_to_limit": round(reduced / limit, 2),
            "acquisitions": int(cube.sizes["time"]),
            "grid": [int(cube.sizes["y"]), int(cube.sizes["x"])],
            "cube_mpix_per_band_s": round(mpix / ours, 1),
            "load_cube_compute_s": round(ours, 3),
            "rasterio_alone_s": round(limit, 3),
            "ratio_load_compute_to_limit": round(ours / limit, 2),
        }
    return out


def main() -> None:
    """Run the benchmarks and print/write the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-side", type=int, default=4096, help="index array side (px)")
    parser.add_argument("--tile", type=int, default=4096,
                        help="synthetic tile side in 10 m px (10980 = full Sentinel-2 tile)")
    parser.add_argument("--days", type=int, default=30, help="days of synthetic acquisitions")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to generate the portfolio (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results.json"))
    args = parser.parse_args()
    # odc-loader resamples 20 m bands into in-memory arrays: rasterio's warning is noise here
    warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)
    results: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count()},
        "monitor": monitor.__version__,
    }
    results["indices"] = bench_indices(args.index_side, args.repeat)
    print("indices:", json.dumps(results["indices"]))
    with tempfile.TemporaryDirectory() as tmp:
        results["cube"] = bench_cube(args.tile, args.days, args.repeat, args.workdir or Path(tmp))
    print("cube:", json.dumps(results["cube"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
