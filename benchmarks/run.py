"""The portfolio-run benchmark: ``monitor run`` on a full-size synthetic Sentinel-2 tile.

``python -m benchmarks.run`` (part of ``make bench``) generates, once, a 10980 x 10980 px
synthetic L2A tile series (cached in ``--workdir``), and measures in one process:

(a) the limit: decoding every band file the run reads (4 bands at 10 m, 3 at 20 m and SCL),
    for the windows of the concessions (licence plus the 500 m buffer ring) and for every
    acquisition the run reads, with rasterio alone on one thread per core;
(b) the full ``monitor run CONFIG`` (a subprocess: start-up, Dask LocalCluster, reading,
    indicators, alert store, signed packages for the check and every alert, exports, the
    report), its wall time and the peak resident memory of its process tree (the CLI and
    every Dask worker, sampled every 50 ms), and the ratio b / a;

for portfolios of 1, 2, 4 and 8 concessions. The 8 concessions alternate between the demo
block's four (small, with real events: clearings, tailings growth, a plume) and four
8 km x 8 km licences in forest elsewhere in the tile (large, vegetation loss only). Each run
starts from an empty state and output folder. Results: ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import psutil
import rasterio
from pyproj import Transformer
from rasterio.windows import Window, from_bounds
from shapely.geometry import Polygon, box, mapping

import monitor
from monitor.concessions import Concession
from monitor.simulate import PortfolioSpec, generate_portfolio
from pipelines.ledger import Ledger

#: Fourteen acquisitions, 5 days apart. The run checks the last four weeks and reads all of
#: them: the standard's baseline reaches 730 days back (clear observations within +/- 30
#: days of the day of year: the 6 from May 2022 are enough), the tailings baseline is the 90
#: days before the period. Events in the period: the tailings front (from 2022-06-10).
GENERATE_START, GENERATE_END = date(2022, 5, 2), date(2022, 7, 6)
PERIOD = (date(2022, 6, 8), date(2022, 7, 6))
BUFFER_M = 500.0
#: Large licences in forest: (centre east, centre south) of the tile's corner, metres.
LARGE_CENTRES = ((25_000.0, 25_000.0), (70_000.0, 20_000.0), (25_000.0, 75_000.0),
                 (75_000.0, 80_000.0))
LARGE_SIDE_M, FOOTPRINT_SIDE_M, EXCLUSION_SIDE_M = 8_000.0, 3_000.0, 1_000.0
DEMO_ORDER = ("demo-clearing", "demo-tailings", "demo-plume", "demo-compliant")
BAND_FILES = ("blue", "green", "red", "nir", "nir08", "swir16", "swir22", "scl")


def portfolio(workdir: Path, size: int) -> tuple[Path, PortfolioSpec]:
    """The synthetic tile series (generated once; reused when complete)."""
    spec = PortfolioSpec(size=size, start=GENERATE_START, end=GENERATE_END)
    root = workdir / f"tile-{size}"
    if not (root / "truth" / "truth.json").is_file():
        print(f"generating the synthetic tile series in {root} (once)...", flush=True)
        t0 = time.perf_counter()
        generate_portfolio(root, spec)
        print(f"  generated in {time.perf_counter() - t0:.0f} s", flush=True)
    return root, spec


def _large_features(spec: PortfolioSpec, index: int) -> list[dict[str, Any]]:
    x0, y0 = spec.origin
    cx, cy = LARGE_CENTRES[index]
    to_ll = Transformer.from_crs(f"EPSG:{spec.epsg}", "EPSG:4326", always_xy=True)

    def square(east: float, south: float, side: float) -> dict[str, Any]:
        b = box(x0 + east - side / 2, y0 - south - side / 2, x0 + east + side / 2,
                y0 - south + side / 2)
        xs, ys = to_ll.transform(*b.exterior.coords.xy)
        return mapping(Polygon(zip(xs, ys, strict=True)))

    cid = f"bench-large-{index + 1}"
    props = {"concession_id": cid, "name": f"Benchmark licence {index + 1} (8 x 8 km)",
             "holder": "Benchmark Mineração (fictitious)", "licence_number": f"BENCH-{index}",
             "standard_id": "default", "valid_from": "2015-01-01", "valid_to": "2035-01-01"}
    corner = LARGE_SIDE_M / 2 - EXCLUSION_SIDE_M
    return [
        {"type": "Feature", "properties": {**props, "feature_type": "licence"},
         "geometry": square(cx, cy, LARGE_SIDE_M)},
        {"type": "Feature", "properties": {**props, "feature_type": "permitted_footprint"},
         "geometry": square(cx, cy, FOOTPRINT_SIDE_M)},
        {"type": "Feature", "properties": {**props, "feature_type": "exclusion_zone",
                                           "zone_id": f"bench-app-{index + 1}"},
         "geometry": square(cx + corner, cy + corner, EXCLUSION_SIDE_M)},
    ]


def concession_order() -> list[str]:
    """Demo and large concessions alternating, so every portfolio size mixes both."""
    large = [f"bench-large-{i + 1}" for i in range(len(LARGE_CENTRES))]
    return [cid for pair in zip(DEMO_ORDER, large, strict=True) for cid in pair]


def write_registry(root: Path, spec: PortfolioSpec, ids: list[str], out: Path) -> Path:
    """A registry holding ``ids`` (demo rows from the portfolio's registry, large ones made)."""
    demo = json.loads((root / "concessions.geojson").read_text())["features"]
    features = [f for f in demo if f["properties"]["concession_id"] in ids]
    for i in range(len(LARGE_CENTRES)):
        if f"bench-large-{i + 1}" in ids:
            features += _large_features(spec, i)
    out.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return out


def _scene_folders(scenes: Path) -> list[Path]:
    """Scene folders whose acquisition the run reads (baseline included: all of them)."""
    return sorted(p.parent for p in scenes.glob("*/scene.json"))


def decode_limit(scenes: Path, concessions: list[Concession], repeat: int) -> dict[str, Any]:
    """Best-of-``repeat`` time to decode every band window the run reads, rasterio alone."""
    jobs: list[tuple[Path, tuple[float, float, float, float]]] = []
    for folder in _scene_folders(scenes):
        for c in concessions:
            bounds = c.aoi(BUFFER_M).bounds
            jobs += [(folder / f"{band}.tif", bounds) for band in BAND_FILES
                     if (folder / f"{band}.tif").is_file()]

    def read(job: tuple[Path, tuple[float, float, float, float]]) -> int:
        path, bounds = job
        with rasterio.open(path) as ds:
            window: Window = from_bounds(*bounds, transform=ds.transform)
            return int(ds.read(1, window=window.round_offsets().round_lengths(),
                               boundless=False).size)

    best = float("inf")
    pixels = 0
    workers = os.cpu_count() or 1
    with rasterio.Env(GDAL_NUM_THREADS=1, GDAL_CACHEMAX=64), \
            ThreadPoolExecutor(workers) as pool:
        for _ in range(repeat):
            t0 = time.perf_counter()
            pixels = sum(pool.map(read, jobs))
            best = min(best, time.perf_counter() - t0)
    return {"seconds": round(best, 3), "files_read": len(jobs), "threads": workers,
            "decoded_mpix": round(pixels / 1e6, 1),
            "mpix_per_s": round(pixels / 1e6 / best, 1)}


class TreeMemory:
    """Samples the summed resident memory of a process and its descendants."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        self.root = psutil.Process(pid)
        self.every_s = every_s
        self.peak_tree = 0
        self.peak_single = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            rss = []
            for p in procs:
                try:
                    rss.append(p.memory_info().rss)
                except psutil.Error:
                    continue
            self.peak_tree = max(self.peak_tree, sum(rss))
            self.peak_single = max(self.peak_single, max(rss, default=0))
            self.peak_processes = max(self.peak_processes, len(rss))

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(timeout=5)


def run_config(folder: Path, registry: Path, scenes: Path) -> Path:
    """A run config like the demo's (per-alert packages, report) for this portfolio."""
    config = folder / "run.yaml"
    config.write_text(
        "format: concession-monitor/run/1\n"
        f"name: bench-{folder.name}\n"
        f"registry: {registry}\n"
        f"source: local:{scenes}\n"
        f"period: {{start: {PERIOD[0]}, end: {PERIOD[1]}}}\n"
        f"output: {folder / 'run'}\n"
        f"state: {folder / 'state'}\n"
        "concessions: all\n"
        "indicators: [vegetation_loss, turbidity, tailings]\n"
        "packages: {build: true, per_alert: true, tiers: [full]}\n"
        "report: true\n")
    return config


def monitor_run(folder: Path, registry: Path, scenes: Path, key: Path) -> dict[str, Any]:
    """Time one ``monitor run`` as a subprocess, with its peak memory and stage times."""
    config = run_config(folder, registry, scenes)
    exe = Path(sys.executable).with_name("monitor")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(exe), "run", str(config), "--key", str(key), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(proc.pid)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    memory.stop()
    if proc.returncode not in (0, 5):
        raise RuntimeError(f"monitor run failed ({proc.returncode}):\n{stderr[-3000:]}")
    summary = json.loads(stdout)
    with Ledger(folder / "state" / "ledger.sqlite") as ledger:
        units = ledger.units(summary["run_id"])
    per: dict[str, dict[str, float]] = {}
    for u in units:
        per.setdefault(u.concession_id, {"check_s": float(u.stats.get("check_seconds", 0)),
                                         "package_s": float(u.stats.get("package_seconds", 0)),
                                         "unit_s": float(u.seconds or 0)})
    return {
        "wall_s": round(wall, 2), "exit_code": proc.returncode,
        "peak_rss_tree_mib": round(memory.peak_tree / 2**20), "peak_rss_largest_process_mib":
        round(memory.peak_single / 2**20), "processes": memory.peak_processes,
        "units": summary.get("units"), "verdict": summary.get("verdict"),
        "scenes_read": summary.get("scenes_read"),
        "packages": summary.get("packages"),
        "check_s_sum": round(sum(v["check_s"] for v in per.values()), 2),
        "package_s_sum": round(sum(v["package_s"] for v in per.values()), 2),
        "per_concession": per,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print and write the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tile", type=int, default=10980, help="tile side in 10 m px")
    parser.add_argument("--sizes", default="1,2,4,8", help="portfolio sizes to run")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of the decode limit")
    parser.add_argument("--workdir", type=Path, default=Path(".bench"),
                        help="where the tile series is generated once and runs are made")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/latest.json"))
    args = parser.parse_args(argv)
    from monitor.evidence.signing import generate_keypair

    root, spec = portfolio(args.workdir, args.tile)
    scenes = root / "scenes"
    key_dir = args.workdir / "keys"
    if not (key_dir / "bench.key").is_file():
        generate_keypair(key_dir, "bench")
    results: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)},
        "monitor": monitor.__version__,
        "tile_px": args.tile, "acquisitions": len(_scene_folders(scenes)),
        "period": [PERIOD[0].isoformat(), PERIOD[1].isoformat()],
        "targets": {"ratio_run_to_decode": 1.5, "peak_rss_gib": 4.0}, "runs": {},
    }
    order = concession_order()
    for n in (int(x) for x in args.sizes.split(",")):
        folder = args.workdir / "runs" / f"n{n}"
        subprocess.run(["rm", "-rf", str(folder)], check=True)
        folder.mkdir(parents=True)
        registry = write_registry(root, spec, order[:n], folder / "concessions.geojson")
        concessions = list(monitor.load_concessions(registry))
        limit = decode_limit(scenes, concessions, args.repeat)
        run = monitor_run(folder, registry, scenes, key_dir / "bench.key")
        aoi_mpix = sum(c.aoi(BUFFER_M).area for c in concessions) / 100 / 1e6
        run.update({"concessions": order[:n], "aoi_mpix_10m": round(aoi_mpix, 2),
                    "decode_limit": limit,
                    "ratio_run_to_decode": round(run["wall_s"] / limit["seconds"], 1),
                    "ratio_check_to_decode": round(run["check_s_sum"] / limit["seconds"], 1)})
        results["runs"][str(n)] = run
        print(f"{n} concession(s): run {run['wall_s']} s, decode limit {limit['seconds']} s "
              f"-> ratio {run['ratio_run_to_decode']}; peak RSS {run['peak_rss_tree_mib']} "
              f"MiB; checks {run['check_s_sum']} s, packages {run['package_s_sum']} s",
              flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
