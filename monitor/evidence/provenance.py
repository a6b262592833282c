"""``provenance.json``: everything needed to know how a check was made, and to make it again.

The document lists the input scenes (from the cube's per-time coordinates: scene id, time,
platform, tile, collection, processing baseline, scale and offset applied, quality layer),
the scenes left out and why, the imagery source, the grid, the standard (id, version,
digest), the concession registry's sha256, every indicator's parameters, the versions of
the software that computed it, the code version and the request that re-runs the check.

Nothing here depends on the time the package was built: the same check gives the same
document (the build time lives in ``bag-info.txt`` only).
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
import xarray as xr

import monitor
from monitor.checking import CheckResult
from monitor.errors import EvidenceError

__all__ = ["FORMAT", "SOFTWARE", "code_version", "file_sha256", "input_scenes",
           "make_provenance", "software_versions"]

#: ``format`` field of provenance.json.
FORMAT = "concession-monitor/provenance/1"
#: Distributions whose versions are recorded (import name -> distribution name).
SOFTWARE = ("numpy", "pandas", "xarray", "dask", "rasterio", "odc-stac",
            "odc-geo", "pyproj", "shapely", "geopandas", "scipy", "pystac", "bagit",
            "pydantic", "cryptography", "matplotlib", "jinja2")
_COLLECTIONS = (("MSIL2A", "sentinel-2-l2a"), ("MSIL1C", "sentinel-2-l1c"),
                ("L2SP", "landsat-c2l2-sr"), ("L2SR", "landsat-c2l2-sr"))


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise EvidenceError(f"cannot read {path} to hash it: {exc.strerror or exc}") from exc
    return digest.hexdigest()


@cache
def software_versions() -> dict[str, str]:
    """Versions of Python, GDAL and the :data:`SOFTWARE` distributions.

    A distribution that is not installed is recorded as ``"not installed"``.
    """
    out = {"python": platform.python_version(), "gdal": str(rasterio.__gdal_version__),
           "monitor": monitor.__version__}
    for dist in SOFTWARE:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


@cache
def code_version() -> dict[str, str]:
    """``monitor.__version__`` and ``git describe --always --dirty`` of the source tree.

    ``git`` is ``"unknown"`` unless the ``monitor`` package itself is tracked by a git
    checkout (an installed wheel inside some other repository is not).
    """
    package_dir = Path(monitor.__file__).resolve().parent
    described = "unknown"
    try:
        tracked = subprocess.run(
            ["git", "-C", str(package_dir), "ls-files", "--error-unmatch", "__init__.py"],
            capture_output=True, timeout=10, check=False)
        if tracked.returncode == 0:
            out = subprocess.run(["git", "-C", str(package_dir), "describe", "--always",
                                  "--dirty"], capture_output=True, text=True, timeout=10,
                                 check=False)
            if out.returncode == 0 and out.stdout.strip():
                described = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"monitor": monitor.__version__, "git": described}


def _collection(scene_id: str, platform_name: str) -> str:
    for marker, name in _COLLECTIONS:
        if marker in scene_id:
            return name
    if platform_name.startswith("landsat"):
        return "landsat-c2l2-sr"
    return "unknown"


def _iso_utc(value: Any) -> str:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _coord(cube: xr.Dataset, name: str, n: int, default: Any) -> list[Any]:
    if name in cube.coords:
        return [v.item() if isinstance(v, np.generic) else v
                for v in np.asarray(cube[name].values).tolist()]
    return [default] * n


def input_scenes(cube: xr.Dataset) -> list[dict[str, Any]]:
    """One record per acquisition of the cube, in time order.

    Fields: ``scene_id``, ``datetime`` (UTC, ISO 8601), ``platform``, ``tile``,
    ``collection`` (the cube's ``collection`` coordinate when present, else recognised from
    the product id), ``processing_baseline`` (None when not Sentinel-2), ``offset_applied``
    (the source's DN already included the BOA offset), ``scale`` and ``offset`` (reflectance
    = DN * scale + offset as applied) and ``qa_kind`` (the quality layer that masked it).
    """
    n = int(cube.sizes.get("time", 0))
    times = [_iso_utc(t) for t in np.asarray(cube["time"].values)] if n else []
    ids = [str(s) for s in _coord(cube, "scene_id", n, "")]
    plats = [str(p) for p in _coord(cube, "platform", n, "")]
    colls = _coord(cube, "collection", n, None)
    records = []
    for i, (tile, baseline, applied, scale, offset, qa) in enumerate(zip(
            _coord(cube, "tile", n, ""), _coord(cube, "processing_baseline", n, ""),
            _coord(cube, "offset_applied", n, False), _coord(cube, "scale", n, None),
            _coord(cube, "offset", n, None), _coord(cube, "qa_kind", n, ""), strict=True)):
        records.append({
            "scene_id": ids[i], "datetime": times[i], "platform": plats[i], "tile": str(tile),
            "collection": str(colls[i]) if colls[i] else _collection(ids[i], plats[i]),
            "processing_baseline": str(baseline) or None, "offset_applied": bool(applied),
            "scale": None if scale is None else float(scale),
            "offset": None if offset is None else float(offset), "qa_kind": str(qa)})
    return records


def _grid(cube: xr.Dataset) -> dict[str, Any]:
    geobox = cube.odc.geobox
    if geobox is None:
        raise EvidenceError("the check's cube has no grid (CRS and transform): cannot "
                            "record where its pixels are")
    crs = geobox.crs
    return {"crs": f"EPSG:{crs.epsg}" if crs is not None and crs.epsg else str(crs),
            "shape": [int(s) for s in geobox.shape],
            "transform": [float(v) for v in tuple(geobox.affine)[:6]],
            "resolution_m": float(cube.attrs.get("resolution_m", abs(geobox.affine.a))),
            "buffer_m": float(cube.attrs.get("buffer_m", 0.0))}


def make_provenance(result: CheckResult, package_id: str) -> dict[str, Any]:
    """The content of ``provenance.json`` for one check.

    Parameters
    ----------
    result
        A check made by :func:`monitor.check` (with its cube and concession).
    package_id
        The evidence package's id.

    Returns
    -------
    dict
        JSON-ready, validated by :class:`monitor.evidence.schema.Provenance`.

    Raises
    ------
    EvidenceError
        If the result carries no cube or concession.
    """
    cube, concession = result.cube, result.concession
    if cube is None or concession is None:
        raise EvidenceError(f"the check of {result.concession_id} carries no cube or "
                            "concession: run it with monitor.check() to build a package")
    scenes = input_scenes(cube)
    std_id, _, std_version = result.standard.partition("@")
    return {
        "format": FORMAT,
        "package_id": package_id,
        "concession_id": result.concession_id,
        "period": [result.period[0].isoformat(), result.period[1].isoformat()],
        "mode": result.mode,
        "source": result.source or str(cube.attrs.get("source", "")),
        "collections": sorted({s["collection"] for s in scenes}),
        "cube_period": str(cube.attrs.get("period", "")),
        "inputs": scenes,
        "skipped_scenes": [{"scene_id": str(s.get("scene_id", "")),
                            "reason": str(s.get("reason", ""))} for s in result.skipped_scenes],
        "grid": _grid(cube),
        "standard": {"id": std_id, "version": std_version, "ref": result.standard,
                     "digest": result.standard_digest},
        "registry": {"file": concession.source.name,
                     "sha256": file_sha256(concession.source)},
        "indicators": [{"indicator": r.indicator, "mode": r.mode, "confidence": r.confidence,
                        "parameters": dict(r.parameters)} for r in result.results],
        "software": software_versions(),
        "code_version": code_version(),
        "platform": {"system": platform.system(), "machine": platform.machine(),
                     "python_implementation": sys.implementation.name},
        "request": dict(result.request),
    }
