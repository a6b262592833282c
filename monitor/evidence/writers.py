"""Deterministic file writers for evidence packages: JSON, CSV, GeoJSON and COGs.

The same check must give byte-identical data files, so every writer here fixes what a
library would otherwise leave to chance: JSON keys are sorted and floats are written with
a fixed number of significant digits (NaN and infinities become ``null``); CSV uses LF
line ends and the same float formatting; GeoJSON follows RFC 7946 (EPSG:4326, exterior
rings counter-clockwise, coordinates rounded to 1e-7 degree, about 1 cm); COGs are written
with GDAL's COG driver and DEFLATE, without any time stamp.

Every writer writes to a temporary file next to the target, flushes and fsyncs it, then
renames it into place (RELIABILITY.md rule 1), and refuses a target outside its root
(rule 7; see :func:`safe_path`).

The second half writes a check's layers with them: ``vectors/`` (licence, zones, change
events), ``rasters/`` (every indicator raster, NDVI of a before/after pair) and
``stats/findings.csv``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyproj
import rasterio
import shapely
import xarray as xr
from odc.geo.geobox import GeoBox
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from monitor import indices
from monitor.checking import CheckResult
from monitor.concessions import Concession
from monitor.errors import EvidenceError
from monitor.fsio import fsync_path, write_atomic
from monitor.geometry import to_lonlat

__all__ = [
    "COORD_DECIMALS",
    "FINDING_COLUMNS",
    "FLOAT_DIGITS",
    "canonical",
    "dumps_json",
    "feature",
    "fsync_tree",
    "lonlat_geometry",
    "safe_path",
    "write_bytes",
    "write_cog",
    "write_csv",
    "write_findings_csv",
    "write_geojson",
    "write_indicator_rasters",
    "write_json",
    "write_ndvi_pair",
    "write_vectors",
]

#: Significant digits of every float written to JSON or CSV.
FLOAT_DIGITS = 12
#: Decimals of GeoJSON coordinates (1e-7 degree is about 1 cm).
COORD_DECIMALS = 7


# ------------------------------------------------------------------------------ paths


def safe_path(root: Path, relative: str | Path) -> Path:
    """``root / relative``, refusing anything that would leave ``root``.

    Parameters
    ----------
    root
        The folder every output must stay inside.
    relative
        A relative path built from ids (``"rasters/vegetation_loss_confirmed.tif"``).

    Returns
    -------
    Path
        The joined path (not resolved, so that callers keep their own spelling).

    Raises
    ------
    EvidenceError
        If ``relative`` is absolute, contains ``..`` or resolves outside ``root``.
    """
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise EvidenceError(f"refusing the output path {str(relative)!r}: it must be a "
                            f"relative path inside {root}")
    target = root / rel
    if not target.resolve().is_relative_to(root.resolve()):
        raise EvidenceError(f"refusing the output path {str(relative)!r}: it resolves "
                            f"outside {root} (a symbolic link?)")
    return target


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(path, data, mode=0o644)
    except OSError as exc:
        raise EvidenceError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def fsync_tree(root: Path) -> None:
    """Flush to disk every file and folder under ``root`` (and ``root`` itself)."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(Path(folder))


# ------------------------------------------------------------------------ JSON / CSV


def _float(value: float) -> float | None:
    if not math.isfinite(value):
        return None
    out = float(f"{value:.{FLOAT_DIGITS}g}")
    return 0.0 if out == 0.0 else out  # no "-0.0"


def canonical(value: Any) -> Any:
    """``value`` made JSON-ready and stable.

    numpy scalars and arrays become Python values, floats keep :data:`FLOAT_DIGITS`
    significant digits (NaN and infinities become None), dates become ISO strings,
    tuples and sets become lists (sets sorted), mapping keys become strings.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic):
        return canonical(value.item())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(canonical(v) for v in value)
    if isinstance(value, np.ndarray):
        return canonical(value.tolist())
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    raise EvidenceError(f"cannot write a {type(value).__name__} to JSON: {value!r:.80}")


def dumps_json(value: Any, *, compact: bool = False) -> bytes:
    """Canonical JSON bytes: sorted keys, UTF-8, final newline.

    Indented by 2 spaces, or without any whitespace when ``compact``.
    """
    text = json.dumps(canonical(value), sort_keys=True, ensure_ascii=False, allow_nan=False,
                      **({"separators": (",", ":")} if compact else {"indent": 2}))
    return (text + "\n").encode("utf-8")


def write_json(path: Path, value: Any, *, compact: bool = False) -> Path:
    """Write ``value`` as canonical JSON (see :func:`dumps_json`)."""
    return write_bytes(path, dumps_json(value, compact=compact))


def _cell(value: Any) -> str:
    value = canonical(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write a CSV with a header, LF line ends and canonical cells.

    Missing values are empty cells; lists and mappings are compact JSON.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return write_bytes(path, buf.getvalue().encode("utf-8"))


# --------------------------------------------------------------------------- GeoJSON


def _round_coords(coords: Any) -> Any:
    if isinstance(coords, list | tuple) and coords and isinstance(coords[0], int | float):
        return [_float(round(float(c), COORD_DECIMALS)) for c in coords[:2]]
    return [_round_coords(c) for c in coords]


def lonlat_geometry(geom: BaseGeometry, crs: pyproj.CRS | str) -> dict[str, Any] | None:
    """An RFC 7946 geometry dict from ``geom`` in ``crs`` (None for an empty geometry).

    Projected to EPSG:4326 (split at the antimeridian), exterior rings counter-clockwise,
    coordinates rounded to :data:`COORD_DECIMALS` decimals.
    """
    if geom is None or geom.is_empty:
        return None
    lonlat = to_lonlat(geom, pyproj.CRS.from_user_input(crs))
    if isinstance(lonlat, shapely.Polygon):
        lonlat = orient(lonlat, 1.0)
    elif isinstance(lonlat, shapely.MultiPolygon):
        lonlat = shapely.MultiPolygon([orient(p, 1.0) for p in lonlat.geoms])
    out = dict(mapping(lonlat))
    out["coordinates"] = _round_coords(out["coordinates"])
    return out


def feature(geometry: dict[str, Any] | None, properties: Mapping[str, Any],
            feature_id: str | None = None) -> dict[str, Any]:
    """One GeoJSON Feature (``id`` set when given)."""
    out: dict[str, Any] = {"type": "Feature", "geometry": geometry,
                           "properties": dict(properties)}
    if feature_id is not None:
        out["id"] = feature_id
    return out


def write_geojson(path: Path, features: Sequence[Mapping[str, Any]]) -> Path:
    """Write a compact FeatureCollection (RFC 7946: no ``crs`` member, EPSG:4326)."""
    return write_json(path, {"type": "FeatureCollection", "features": list(features)},
                      compact=True)


# ------------------------------------------------------------------------------ COGs


def write_cog(path: Path, array: np.ndarray[Any, Any], geobox: GeoBox,
              tags: Mapping[str, Any] | None = None, description: str = "") -> Path:
    """Write one 2-D array as a Cloud Optimized GeoTIFF (DEFLATE, no time stamps).

    Parameters
    ----------
    path
        Target file.
    array
        2-D array on ``geobox``; booleans are written as uint8 (0/1), floats with NaN as
        nodata, integers without nodata.
    geobox
        The grid (CRS and affine transform), e.g. ``cube.odc.geobox``.
    tags
        Dataset metadata (written as GDAL metadata, sorted).
    description
        Band description.

    Raises
    ------
    EvidenceError
        If the array is not 2-D on the grid, or GDAL cannot write the file.
    """
    data = np.asarray(array)
    if data.ndim != 2 or tuple(data.shape) != tuple(geobox.shape):
        raise EvidenceError(f"cannot write {path.name}: array of shape {data.shape} is not "
                            f"on the grid of shape {tuple(geobox.shape)}")
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    nodata = float("nan") if np.issubdtype(data.dtype, np.floating) else None
    crs = geobox.crs
    if crs is None:
        raise EvidenceError(f"cannot write {path.name}: the grid has no CRS")
    profile: dict[str, Any] = {
        "driver": "COG", "width": data.shape[1], "height": data.shape[0], "count": 1,
        "dtype": data.dtype.name, "crs": f"EPSG:{crs.epsg}" if crs.epsg else crs.to_wkt(),
        "transform": geobox.affine, "nodata": nodata, "compress": "DEFLATE",
        "overview_resampling": "nearest",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
            if tags:
                dst.update_tags(**{str(k): _cell(v) for k, v in sorted(tags.items())})
            if description:
                dst.set_band_description(1, description)
        fsync_path(tmp)
        os.replace(tmp, path)
    except (rasterio.errors.RasterioError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise EvidenceError(f"cannot write the COG {path}: {exc}") from exc
    return path


# ------------------------------------------------------------- the package's layers
#
# What follows writes the layers of a check's package (vectors, rasters, the findings
# table) with the writers above; ``monitor.evidence.package`` assembles them.

#: Columns of ``stats/findings.csv`` (``Finding.to_dict`` with the period split).
FINDING_COLUMNS = ("finding_id", "concession_id", "indicator", "zone", "zone_id",
                   "period_start", "period_end", "observed", "value", "limit", "unit",
                   "outcome", "severity", "confidence", "n_clear_obs", "n_clear_px",
                   "standard", "event_id", "onset", "event_status", "alert_id", "reason")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")


def _require(result: CheckResult) -> tuple[xr.Dataset, Concession]:
    if result.cube is None or result.concession is None:
        raise EvidenceError(f"the check of {result.concession_id} carries no cube or "
                            "concession: run it with monitor.check() to build a package")
    return result.cube, result.concession


def write_findings_csv(result: CheckResult, root: Path) -> Path:
    """``stats/findings.csv``: one row per finding, in the check's order."""
    rows = []
    for f in result.findings:
        row = f.to_dict()
        row["period_start"], row["period_end"] = row.pop("period")
        rows.append(row)
    return write_csv(safe_path(root, "stats/findings.csv"), FINDING_COLUMNS, rows)


def write_vectors(result: CheckResult, root: Path) -> list[Path]:
    """``vectors/concession.geojson``, ``zones.geojson`` and ``changes.geojson``.

    The licence with its attributes; every analysis zone (area in ha measured in UTM);
    every change event (polygons, or a null geometry for events without one, such as
    turbidity episodes) with its finding and alert ids when a finding refers to it.
    """
    cube, c = _require(result)
    attrs = c.attributes
    licence = feature(lonlat_geometry(c.licence, c.crs), {
        "concession_id": c.concession_id, "name": c.name, "holder": attrs.get("holder"),
        "licence_number": attrs.get("licence_number"),
        "standard_id": attrs.get("standard_id"), "valid_from": attrs.get("valid_from"),
        "valid_to": attrs.get("valid_to"), "area_ha": round(c.area_ha, 4)},
        c.concession_id)
    zones_frame = c.zones(float(cube.attrs.get("buffer_m", 0.0))).as_geodataframe(c.crs)
    zones = [feature(lonlat_geometry(row.geometry, c.crs), {
        "zone": row.zone, "zone_id": row.zone_id, "role": row.role,
        "area_ha": round(float(row.area_ha), 4)}, f"{row.zone}:{row.zone_id}")
        for row in zones_frame.itertuples()]
    by_event = {(f.indicator, f.event_id): f for f in result.findings if f.event_id}
    changes = []
    for res in result.results:
        for e in res.events:
            finding = by_event.get((e.indicator, e.event_id))
            changes.append(feature(
                None if e.geometry is None else lonlat_geometry(e.geometry, c.crs), {
                    "event_id": e.event_id, "indicator": e.indicator, "zone": e.zone,
                    "zone_id": e.zone_id, "status": e.status, "onset": e.onset,
                    "confirmed": e.confirmed, "window_start": e.window[0],
                    "window_end": e.window[1], "value": e.value, "unit": e.unit,
                    "area_ha": e.value if e.unit == "ha" else None,
                    "confidence": e.confidence, "attribution": e.attribution,
                    "n_clear_obs": e.n_clear_obs,
                    "finding_id": finding.finding_id if finding else None,
                    "outcome": finding.outcome if finding else None,
                    "severity": finding.severity if finding else None,
                    "alert_id": finding.alert_key if finding else None},
                f"{e.indicator}:{e.event_id}"))
    return [write_geojson(safe_path(root, "vectors/concession.geojson"), [licence]),
            write_geojson(safe_path(root, "vectors/zones.geojson"), zones),
            write_geojson(safe_path(root, "vectors/changes.geojson"), changes)]


def _grid_of(raster: xr.DataArray, cube: xr.Dataset, label: str) -> GeoBox:
    geobox: GeoBox = cube.odc.geobox
    same = all(d in raster.coords and d in cube.coords and raster.sizes.get(d) == cube.sizes[d]
               and np.allclose(raster[d].values, cube[d].values) for d in ("y", "x"))
    if same and raster.dims == ("y", "x"):
        return geobox
    own = raster.odc.geobox if raster.dims == ("y", "x") else None
    if own is not None and own.crs is not None:
        return cast(GeoBox, own)
    raise EvidenceError(f"raster {label} (dims {raster.dims}, shape {raster.shape}) is not "
                        "on the cube's grid and has no grid of its own")


def _tags(raster: xr.DataArray) -> dict[str, Any]:
    return {str(k): v for k, v in raster.attrs.items()
            if isinstance(v, str | int | float | bool | np.generic)}


def write_indicator_rasters(result: CheckResult, root: Path) -> list[Path]:
    """``rasters/<indicator>_<name>.tif`` for every raster of every indicator result."""
    cube, _ = _require(result)
    out = []
    for res in result.results:
        for name in sorted(res.rasters):
            label = f"{res.indicator}_{name}"
            if not _NAME.fullmatch(label):
                raise EvidenceError(f"raster name {label!r} is not a safe file name")
            raster = res.rasters[name]
            tags = {**_tags(raster), "indicator": res.indicator, "raster": name,
                    "concession_id": result.concession_id}
            out.append(write_cog(safe_path(root, f"rasters/{label}.tif"),
                                 np.asarray(raster.values), _grid_of(raster, cube, label),
                                 tags, description=name))
    return out


def write_ndvi_pair(result: CheckResult, root: Path,
                    pair: tuple[int, int] | None) -> list[Path]:
    """``rasters/ndvi_before.tif`` and ``ndvi_after.tif`` (clear pixels only).

    ``pair`` holds the time indices of the before and after acquisitions
    (:func:`monitor.evidence.figures.pick_before_after`, so that the rasters show what the
    figures show); None writes nothing.
    """
    cube, _ = _require(result)
    if pair is None:
        return []
    out = []
    for label, index in zip(("before", "after"), pair, strict=True):
        step = cube.isel(time=index)
        ndvi = indices.compute("ndvi", step).where(step["clear"])
        tags = {"index": "ndvi", "formula": ndvi.attrs.get("formula", ""),
                "scene_id": str(step["scene_id"].values) if "scene_id" in step.coords else "",
                "datetime": pd.Timestamp(step["time"].values.item()).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "concession_id": result.concession_id}
        out.append(write_cog(safe_path(root, f"rasters/ndvi_{label}.tif"),
                             np.asarray(ndvi.values, dtype=np.float32), cube.odc.geobox,
                             tags, description=f"NDVI {label} (clear pixels only)"))
    return out
