"""Validating a concession registry and building its :class:`~monitor.concessions.Registry`.

:func:`read_registry` reads a file with :func:`monitor.registry_io.read_frame`, runs the
file-level and per-feature checks (CRS, columns, ids, feature types, dates, geometries,
with the geometry checks and repairs of :mod:`monitor.geometry`), then the per-concession
checks (one licence, unique feature ids, areas, distances, containment), projects every
usable concession to its UTM zone and returns the usable concessions with every problem.
It never raises for content problems; :func:`load_concessions` is the strict front door.

Both functions are re-exported by :mod:`monitor.concessions`, their documented home.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import geopandas as gpd
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from monitor import geometry as geo
from monitor.concessions import (
    FEATURE_TYPES,
    REACH_ROLES,
    Concession,
    Problem,
    Registry,
    ZoneFeature,
)
from monitor.errors import GeometryRepairWarning, RegistryError
from monitor.registry_io import id_text, parse_date, plain_value, read_frame

__all__ = ["load_concessions", "read_registry"]

# The registry's log records keep the name of the module that documents read_registry.
logger = logging.getLogger("monitor.concessions")

#: Per-type id column; a missing id is an error only for the types in ``_ID_REQUIRED``.
_ID_COLUMN = {"tailings_facility": "facility_id", "water_reach": "reach_id",
              "exclusion_zone": "zone_id", "permitted_footprint": "zone_id"}
_ID_REQUIRED = ("tailings_facility", "water_reach")
_GENERATED_PREFIX = {"permitted_footprint": "footprint", "exclusion_zone": "exclusion"}
_INSIDE_LICENCE = ("permitted_footprint", "tailings_facility")


@dataclass
class _Row:
    """One feature being validated (mutable while the checks run)."""

    index: int
    concession_id: str | None
    feature_type: str | None
    attributes: dict[str, Any]
    feature_id: str | None = None
    role: str | None = None
    geometry: BaseGeometry | None = None  # lon/lat, clean; None when unusable


class _Collector:
    """Collects problems whose messages name the file, the feature and the fix."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.failed: set[str | None] = set()
        self.file_failed = False
        self.unsafe: set[str] = set()

    def add(self, severity: Literal["error", "warning"], code: str, what: str, fix: str,
            row: _Row | None = None, concession_id: str | None = None) -> None:
        cid = row.concession_id if row is not None else concession_id
        if row is not None:
            names = [f"concession_id {cid!r}" if cid else "no concession_id"]
            if row.feature_type in FEATURE_TYPES and row.feature_type != "licence":
                names.append(f"{row.feature_type} {row.feature_id!r}")
            where = f"feature #{row.index} ({', '.join(names)})"
        else:
            where = f"concession {cid!r}" if cid is not None else "file"
        message = f"{self.path}: {where}: {what}. Fix: {fix}."
        index = row.index if row is not None else None
        self.problems.append(Problem(severity, code, message, cid, index))
        if severity == "error":
            self.failed.add(cid)
            self.file_failed = self.file_failed or (row is None and cid is None)

    def finding(self, f: geo.Finding, row: _Row | None = None) -> None:
        self.add(f.severity, f.code, f.detail, f.fix, row)


def _check_columns(frame: gpd.GeoDataFrame, out: _Collector) -> bool:
    """Report missing required columns; return True when both are present."""
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    for required in ("concession_id", "feature_type"):
        if required not in columns:
            close = difflib.get_close_matches(required, columns, n=1, cutoff=0.6)
            out.add("error", "missing-column", f"the required column {required!r} is missing "
                    f"(columns: {', '.join(columns) or 'none'})",
                    f"rename column {close[0]!r} to {required!r}" if close
                    else f"add a {required!r} column")
    return "concession_id" in columns and "feature_type" in columns


def _check_slug(row: _Row, column: str, value: str, out: _Collector) -> None:
    if not geo.is_slug(value):
        slug = geo.slugify(value)
        out.add("error", "unsafe-id", f"{column} {value!r} is not a safe id (ids become file "
                f"names and must match {geo.SLUG_PATTERN.pattern})",
                f"rename it to {slug!r}" if slug else "use lower-case letters, digits, _ and -",
                row)


def _check_ids(row: _Row, raw: Mapping[str, Any], out: _Collector) -> None:
    """Concession id, feature type, per-type feature id and role of one row."""
    cid, ftype = row.concession_id, row.feature_type
    if cid is None:
        out.add("error", "missing-id", "concession_id is empty",
                "give every feature the concession_id of its licence", row)
    elif cid not in out.unsafe and not geo.is_slug(cid):
        out.unsafe.add(cid)  # reported once, on the concession's first feature
        _check_slug(row, "concession_id", cid, out)
    if ftype not in FEATURE_TYPES:
        close = difflib.get_close_matches(str(ftype).lower(), FEATURE_TYPES, n=1)
        out.add("error", "unknown-feature-type", f"feature_type {ftype!r} is not one of "
                f"{', '.join(FEATURE_TYPES)}",
                f"use {close[0]!r}" if close else "use one of the allowed feature types", row)
        return
    if ftype == "licence":
        row.feature_id = cid
    column = _ID_COLUMN.get(ftype)
    if column is not None:
        row.feature_id = id_text(raw.get(column))
        if row.feature_id is not None:
            _check_slug(row, column, row.feature_id, out)
        elif ftype in _ID_REQUIRED:
            out.add("error", "missing-id", f"a {ftype} needs a {column}",
                    f"set {column} to a slug unique within the concession", row)
    if ftype == "water_reach":
        row.role = id_text(raw.get("role"))
        if row.role not in REACH_ROLES:
            out.add("error", "invalid-role", f"water reach role {row.role!r} is not upstream "
                    "or downstream", "set role to 'upstream' or 'downstream' (lower case)", row)


def _check_dates(row: _Row, out: _Collector) -> None:
    """Parse valid_from / valid_to of a licence into dates."""
    parsed: dict[str, dt.date | None] = {}
    for column in ("valid_from", "valid_to"):
        try:
            parsed[column] = parse_date(row.attributes.get(column))
        except (ValueError, TypeError):
            out.add("error", "invalid-date", f"{column} {row.attributes.get(column)!r} is not "
                    "a date", f"write {column} as an ISO date (YYYY-MM-DD) or leave it empty",
                    row)
            parsed[column] = None
        row.attributes[column] = parsed[column]
    start, end = parsed["valid_from"], parsed["valid_to"]
    if start is not None and end is not None and end < start:
        out.add("error", "invalid-date", f"valid_to {end} is before valid_from {start}",
                "swap or correct the validity dates", row)


def _rows(frame: gpd.GeoDataFrame, out: _Collector) -> list[_Row]:
    """File-level and per-feature checks: CRS, columns, ids, types, dates, geometries."""
    if len(frame) == 0:
        out.add("error", "no-features", "the file has no features", "add the licences")
        return []
    crs = pyproj.CRS.from_user_input(frame.crs) if frame.crs is not None else None
    lonlat, findings = geo.frame_to_lonlat(frame.geometry, crs)
    for f in findings:
        out.finding(f)
    has_columns = _check_columns(frame, out)
    rows: list[_Row] = []
    records = frame.drop(columns=frame.geometry.name).to_dict("records")
    for index, (raw, geom) in enumerate(zip(records, lonlat, strict=True)):
        attributes = {str(k): plain_value(v) for k, v in raw.items()
                      if k not in ("concession_id", "feature_type")}
        row = _Row(index, id_text(raw.get("concession_id")), id_text(raw.get("feature_type")),
                   attributes)
        if has_columns:
            _check_ids(row, raw, out)
            if row.feature_type == "licence":
                _check_dates(row, out)
        try:
            row.geometry, geometry_findings = geo.clean_lonlat(geom)
        except (shapely.errors.GEOSException, ValueError) as exc:
            geometry_findings = [geo.Finding("error", "invalid-geometry", f"the geometry "
                                             f"cannot be processed ({exc})", "redraw it")]
        for f in geometry_findings:
            out.finding(f, row)
        rows.append(row)
    return rows


def _check_concession(cid: str, rows: list[_Row], out: _Collector) -> None:
    """Licence count and duplicate feature ids within one concession."""
    licences = [r for r in rows if r.feature_type == "licence"]
    if not licences:
        out.add("error", "missing-licence", f"it has features "
                f"(#{', #'.join(str(r.index) for r in rows)}) but no licence",
                "add exactly one feature_type 'licence' feature with this concession_id",
                concession_id=cid)
    elif len(licences) > 1:
        out.add("error", "duplicate-concession-id", f"concession_id {cid!r} is used by "
                f"{len(licences)} licences (#{', #'.join(str(r.index) for r in licences)}); "
                "concession ids are unique per licence", "give each licence its own "
                "concession_id, or merge the licence polygons into one feature",
                concession_id=cid)
    for ftype, column in _ID_COLUMN.items():
        seen: dict[str, int] = {}
        for r in rows:
            if r.feature_type == ftype and r.feature_id is not None:
                if r.feature_id in seen:
                    out.add("error", "duplicate-id", f"{column} {r.feature_id!r} is already "
                            f"used by feature #{seen[r.feature_id]} of this concession",
                            f"make each {column} unique within the concession", r)
                seen.setdefault(r.feature_id, r.index)


def _build(cid: str, rows: list[_Row], out: _Collector,
           limits: tuple[float, float, float]) -> Concession | None:
    """Area, distance and containment checks, UTM projection, and the Concession."""
    licence_row = next(r for r in rows if r.feature_type == "licence")
    if licence_row.geometry is None:
        return None
    area = geo.area_finding(geo.geodesic_area_ha(licence_row.geometry), limits[0], limits[1])
    if area is not None:
        out.finding(area, licence_row)
        return None
    centre = geo.unwrapped_centroid(licence_row.geometry)
    crs = geo.utm_crs(*centre)

    def project(row: _Row) -> BaseGeometry:
        assert row.geometry is not None
        projected = geo.to_utm(row.geometry, crs)
        if projected.is_valid:
            return projected
        out.add("warning", "invalid-geometry-repaired", f"the geometry became invalid when "
                f"projected to {crs.to_string()} ({shapely.is_valid_reason(projected)}, "
                "near-degenerate vertices) and was repaired with shapely.make_valid",
                "remove duplicate and nearly collinear vertices", row)
        return geo.polygonal(shapely.make_valid(projected))

    licence = project(licence_row)
    features: list[ZoneFeature] = []
    taken = {r.feature_id for r in rows if r.feature_id is not None}
    counters: dict[str, int] = {}
    for r in rows:
        if r.feature_type in (None, "licence") or r.geometry is None:
            continue
        assert r.feature_type is not None
        km = geo.geodesic_distance_km(centre, geo.unwrapped_centroid(r.geometry))
        if km > limits[2]:
            out.add("error", "feature-far-from-licence", f"the feature lies {km:,.0f} km from "
                    f"its licence (limit {limits[2]:g} km): probably a wrong concession_id, "
                    "swapped latitude/longitude or a wrong CRS", "check the feature's "
                    "concession_id and coordinates, or raise max_feature_distance_km", r)
            continue
        fid = r.feature_id
        while fid is None or (r.feature_id is None and fid in taken):
            prefix = _GENERATED_PREFIX.get(r.feature_type, "feature")
            counters[prefix] = counters.get(prefix, 0) + 1
            fid = f"{prefix}-{counters[prefix]}"
        taken.add(fid)
        feature = ZoneFeature(fid, r.feature_type, project(r), r.role,
                              MappingProxyType(dict(r.attributes)))
        if feature.feature_type in _INSIDE_LICENCE:
            inside = geo.containment_finding(licence, feature.geometry, feature.feature_type)
            if inside is not None:
                out.finding(inside, r)
        features.append(feature)
    if licence.is_empty:
        out.add("error", "invalid-geometry", "nothing polygonal is left of the licence after "
                "projection and repair", "redraw the licence polygon", licence_row)
    if cid in out.failed:
        return None
    attributes = MappingProxyType(dict(licence_row.attributes))
    name = attributes.get("name")
    return Concession(cid, cid if name is None else str(name), crs, licence, tuple(features),
                      attributes, out.path)


def read_registry(path: str | Path, *, min_area_ha: float = 0.01, max_area_ha: float = 5e6,
                  max_feature_distance_km: float = 200.0) -> Registry:
    """Read and validate a concession registry, collecting every problem.

    Parameters
    ----------
    path
        GeoJSON (``.geojson``/``.json``), GeoPackage (``.gpkg``), GeoParquet
        (``.parquet``/``.geoparquet``) or Shapefile (``.shp``).
    min_area_ha, max_area_ha
        Licence areas outside these bounds are errors (likely CRS or unit mistakes).
    max_feature_distance_km
        Features whose centroid is farther than this from their licence centroid are
        errors (wrong concession id, swapped coordinates, another continent).

    Returns
    -------
    Registry
        Usable concessions and every problem; concessions with errors are left out.

    Raises
    ------
    RegistryError
        Only when the file cannot be read at all (missing, not a supported vector format).
    """
    path = Path(path)
    frame, notes = read_frame(path)
    out = _Collector(path)
    for note in notes:
        out.finding(note)
    groups: dict[str, list[_Row]] = {}
    for row in _rows(frame, out):
        if row.concession_id is not None:
            groups.setdefault(row.concession_id, []).append(row)
    concessions: dict[str, Concession] = {}
    for cid, group in groups.items():
        _check_concession(cid, group, out)
        if not out.file_failed and cid not in out.failed:
            limits = (min_area_ha, max_area_ha, max_feature_distance_km)
            try:
                concession = _build(cid, group, out, limits)
            except (shapely.errors.GEOSException, pyproj.exceptions.ProjError,
                    ValueError) as exc:  # failure isolation: the other concessions go on
                out.add("error", "geometry-error", f"its geometries cannot be projected or "
                        f"combined ({exc})", "check and redraw its polygons", concession_id=cid)
                concession = None
            if concession is not None:
                concessions[cid] = concession
    first = {cid: group[0].index for cid, group in groups.items()}

    def order(p: Problem) -> tuple[int, int]:
        if p.feature_index is not None:
            return p.feature_index, 1
        return (-1 if p.concession_id is None else first.get(p.concession_id, -1)), 0

    problems = tuple(sorted(out.problems, key=order))
    logger.info("%s: %d usable concessions, %d problems", path, len(concessions), len(problems))
    return Registry(path, MappingProxyType(concessions), problems)


def load_concessions(path: str | Path, **kwargs: float) -> Registry:
    """Read a registry and insist that it is fully usable.

    Parameters
    ----------
    path
        The registry file (see :func:`read_registry`).
    **kwargs
        Thresholds passed to :func:`read_registry`.

    Returns
    -------
    Registry
        With every concession; each warning was issued as a
        :class:`~monitor.errors.GeometryRepairWarning`.

    Raises
    ------
    RegistryError
        When the file is unreadable or has any error; ``problems`` lists every error.
    """
    registry = read_registry(path, **kwargs)
    errors = [p.message for p in registry.problems if p.severity == "error"]
    if errors:
        raise RegistryError(f"{registry.path}: {len(errors)} error(s) in the concession "
                            "registry; fix them or run `monitor aoi validate` for a report",
                            problems=errors)
    for p in registry.problems:
        warnings.warn(p.message, GeometryRepairWarning, stacklevel=2)
    return registry
