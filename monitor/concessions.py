"""The concession registry: read, validate, repair, and derive zone geometries.

A registry is one vector file (GeoJSON, GeoPackage, GeoParquet or Shapefile) of features
keyed by ``concession_id``, each with a ``feature_type`` (see ``aoi/README.md``).
:func:`read_registry` never raises for content problems: it collects every problem, each
naming the file, the feature and the fix, and keeps the concessions that are usable.
:func:`load_concessions` is the strict front door: it raises when anything is unusable.

Every concession is projected to the WGS 84 / UTM zone of its licence centroid; all
geometries of the model are in that CRS and areas are in hectares. Geometry checks and
repairs live in :mod:`monitor.geometry`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow  # type: ignore[import-untyped]
import pyogrio
import pyproj
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from monitor import geometry as geo
from monitor.errors import ConcessionNotFoundError, GeometryRepairWarning, RegistryError

__all__ = [
    "FEATURE_TYPES",
    "FORMATS",
    "REACH_ROLES",
    "Concession",
    "Problem",
    "Registry",
    "ZoneFeature",
    "Zones",
    "load_concessions",
    "read_registry",
]

logger = logging.getLogger(__name__)

#: Allowed values of ``feature_type``.
FEATURE_TYPES = ("licence", "permitted_footprint", "tailings_facility", "water_reach",
                 "exclusion_zone")
#: Allowed values of ``role`` on water reaches.
REACH_ROLES = ("upstream", "downstream")
#: Registry formats by file suffix.
FORMATS: Mapping[str, str] = MappingProxyType({
    ".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet", ".shp": "Shapefile"})
_SUPPORTED = ("GeoJSON (.geojson, .json), GeoPackage (.gpkg), GeoParquet (.parquet, "
              ".geoparquet) or Shapefile (.shp)")
#: Known columns; Shapefile field names cut to 10 characters are mapped back to these.
_COLUMNS = ("concession_id", "feature_type", "name", "holder", "licence_number", "standard_id",
            "valid_from", "valid_to", "facility_id", "reach_id", "role", "zone_id")
#: Per-type id column; a missing id is an error only for the types in ``_ID_REQUIRED``.
_ID_COLUMN = {"tailings_facility": "facility_id", "water_reach": "reach_id",
              "exclusion_zone": "zone_id", "permitted_footprint": "zone_id"}
_ID_REQUIRED = ("tailings_facility", "water_reach")
_GENERATED_PREFIX = {"permitted_footprint": "footprint", "exclusion_zone": "exclusion"}
_INSIDE_LICENCE = ("permitted_footprint", "tailings_facility")
_BUFFER_QUAD_SEGS = 16
_READ_ERRORS: tuple[type[BaseException], ...] = (
    pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError, pyogrio.errors.FeatureError, pyogrio.errors.CRSError,
    pyarrow.ArrowException, shapely.errors.GEOSException, ValueError, OSError)


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ZoneFeature:
    """One non-licence feature of a concession, in the concession's UTM CRS.

    Parameters
    ----------
    feature_id
        ``facility_id``, ``reach_id``, ``zone_id``, or a generated ``footprint-N`` /
        ``exclusion-N`` when an optional id was not given.
    feature_type
        One of :data:`FEATURE_TYPES` other than ``licence``.
    geometry
        Polygon or MultiPolygon in the concession's UTM CRS.
    role
        ``upstream`` or ``downstream`` for water reaches, else None.
    attributes
        The feature's other columns, missing values as None.
    """

    feature_id: str
    feature_type: str
    geometry: BaseGeometry
    role: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Zones:
    """The analysis zones of one concession for one buffer distance, in UTM.

    Parameters
    ----------
    permitted_footprint
        Union of the permitted footprints, clipped to the licence.
    licence_outside_footprint
        Licence minus the permitted footprints.
    buffer_ring
        ``licence.buffer(buffer_m) - licence``.
    exclusion_zones, tailings_facilities
        Geometry by zone id / facility id.
    water_reaches
        Reach by reach id; the role is on the feature.
    buffer_m
        Buffer distance in metres.
    """

    permitted_footprint: BaseGeometry
    licence_outside_footprint: BaseGeometry
    buffer_ring: BaseGeometry
    exclusion_zones: Mapping[str, BaseGeometry]
    tailings_facilities: Mapping[str, BaseGeometry]
    water_reaches: Mapping[str, ZoneFeature]
    buffer_m: float

    def as_geodataframe(self, crs: Any) -> gpd.GeoDataFrame:
        """One row per zone: ``zone``, ``zone_id``, ``role``, ``area_ha``, ``geometry``.

        Parameters
        ----------
        crs
            The concession's CRS (:attr:`Concession.crs`), anything geopandas accepts.

        Returns
        -------
        geopandas.GeoDataFrame
            Rows in a stable order; the three single zones use their zone name as
            ``zone_id`` so that grouping never meets a null key.
        """
        rows: list[tuple[str, str, str | None, BaseGeometry]] = [
            (name, name, None, getattr(self, name))
            for name in ("permitted_footprint", "licence_outside_footprint", "buffer_ring")
        ]
        rows += [("exclusion_zone", k, None, g) for k, g in self.exclusion_zones.items()]
        rows += [("tailings_facility", k, None, g) for k, g in self.tailings_facilities.items()]
        rows += [("water_reach", k, f.role, f.geometry) for k, f in self.water_reaches.items()]
        columns = {"zone": [r[0] for r in rows], "zone_id": [r[1] for r in rows],
                   "role": [r[2] for r in rows], "area_ha": [r[3].area / 1e4 for r in rows]}
        return gpd.GeoDataFrame(columns, geometry=[r[3] for r in rows], crs=crs)


def _check_buffer(buffer_m: float) -> float:
    value = float(buffer_m)
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"buffer_m must be a finite distance >= 0 in metres, got {buffer_m!r}")
    return value


@dataclass(frozen=True)
class Concession:
    """One usable concession, in its local UTM CRS.

    Parameters
    ----------
    concession_id
        Safe slug, unique in the registry.
    name
        The licence's ``name`` (the id when absent).
    crs
        WGS 84 / UTM zone of the licence centroid (EPSG:326zz north, 327zz south).
    licence
        Licence boundary in ``crs``.
    features
        Every other feature (footprints, facilities, reaches, exclusion zones).
    attributes
        The licence row's other columns (``holder``, ``licence_number``, ``standard_id``,
        ``valid_from``/``valid_to`` as :class:`datetime.date`...), missing values as None.
    source
        The registry file.
    """

    concession_id: str
    name: str
    crs: pyproj.CRS
    licence: BaseGeometry
    features: tuple[ZoneFeature, ...]
    attributes: Mapping[str, Any]
    source: Path

    @property
    def area_ha(self) -> float:
        """Licence area in hectares (UTM)."""
        return float(self.licence.area) / 1e4

    def aoi(self, buffer_m: float) -> BaseGeometry:
        """Licence buffered by ``buffer_m`` metres, in the concession's UTM CRS."""
        return self.licence.buffer(_check_buffer(buffer_m), quad_segs=_BUFFER_QUAD_SEGS)

    def aoi_lonlat(self, buffer_m: float) -> BaseGeometry:
        """:meth:`aoi` in EPSG:4326, split at the antimeridian when it crosses it."""
        return geo.to_lonlat(self.aoi(buffer_m), self.crs)

    def features_of(self, feature_type: str) -> tuple[ZoneFeature, ...]:
        """Return the features of one type, in file order."""
        return tuple(f for f in self.features if f.feature_type == feature_type)

    def zones(self, buffer_m: float) -> Zones:
        """Derive the analysis zones for a buffer distance.

        Parameters
        ----------
        buffer_m
            Width of the ring outside the licence, metres (from the standard), >= 0.

        Returns
        -------
        Zones
            Footprint (clipped to the licence), licence outside footprint, buffer ring,
            exclusion zones, tailings facilities and water reaches.

        Raises
        ------
        ValueError
            If ``buffer_m`` is negative or not finite.
        """
        outer = self.aoi(buffer_m)
        footprints = [f.geometry for f in self.features_of("permitted_footprint")]
        footprint = (geo.polygonal(shapely.union_all(footprints).intersection(self.licence))
                     if footprints else Polygon())
        by_id = {t: {f.feature_id: f for f in self.features_of(t)}
                 for t in ("exclusion_zone", "tailings_facility", "water_reach")}
        return Zones(
            permitted_footprint=footprint,
            licence_outside_footprint=geo.polygonal(self.licence.difference(footprint)),
            buffer_ring=geo.polygonal(outer.difference(self.licence)),
            exclusion_zones=MappingProxyType(
                {k: f.geometry for k, f in by_id["exclusion_zone"].items()}),
            tailings_facilities=MappingProxyType(
                {k: f.geometry for k, f in by_id["tailings_facility"].items()}),
            water_reaches=MappingProxyType(by_id["water_reach"]),
            buffer_m=float(buffer_m),
        )


@dataclass(frozen=True)
class Problem:
    """One problem found in a registry.

    Parameters
    ----------
    severity
        ``"error"``: the concession (or the whole file) is unusable; ``"warning"``: it was
        repaired or looks suspicious, and is usable.
    code
        Stable code, e.g. ``"missing-crs"``, ``"invalid-geometry-repaired"``.
    message
        Names the file, the feature (index, concession id, feature id) and the fix.
    concession_id
        The concession concerned (as written in the file), None for file-level problems.
    feature_index
        0-based position of the feature in the file, None when not about one feature.
    """

    severity: Literal["error", "warning"]
    code: str
    message: str
    concession_id: str | None
    feature_index: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {"severity": self.severity, "code": self.code, "message": self.message,
                "concession_id": self.concession_id, "feature_index": self.feature_index}


def _zone_summary(c: Concession, buffer_m: float) -> dict[str, Any]:
    """Return counts and areas of a concession's zones (for :meth:`Registry.summary`)."""
    z = c.zones(buffer_m)
    roles = [f.role for f in z.water_reaches.values()]
    return {
        "permitted_footprint": {"count": len(c.features_of("permitted_footprint")),
                                "area_ha": round(z.permitted_footprint.area / 1e4, 4)},
        "licence_outside_footprint": {"area_ha": round(z.licence_outside_footprint.area / 1e4,
                                                       4)},
        "buffer_ring": {"buffer_m": z.buffer_m, "area_ha": round(z.buffer_ring.area / 1e4, 4)},
        "tailings_facility": {"count": len(z.tailings_facilities),
                              "ids": list(z.tailings_facilities)},
        "water_reach": {"count": len(roles), "upstream": roles.count("upstream"),
                        "downstream": roles.count("downstream")},
        "exclusion_zone": {"count": len(z.exclusion_zones), "ids": list(z.exclusion_zones)},
    }


@dataclass(frozen=True)
class Registry:
    """The usable concessions of a registry file and every problem found in it.

    Concessions with errors are left out of :attr:`concessions`; their problems are kept.
    Iterating yields :class:`Concession` objects in file order; ``in`` tests ids.
    """

    path: Path
    concessions: Mapping[str, Concession]
    problems: tuple[Problem, ...]

    def __getitem__(self, concession_id: str) -> Concession:
        """Return a concession by id.

        Raises
        ------
        ConcessionNotFoundError
            Naming the file and close matches, or the errors that made it unusable.
        """
        if concession_id in self.concessions:
            return self.concessions[concession_id]
        own = [p.message for p in self.problems_for(concession_id) if p.severity == "error"]
        if own:
            raise ConcessionNotFoundError(
                f"concession {concession_id!r} is in {self.path} but unusable because of "
                f"{len(own)} error(s); fix them and reload", problems=own)
        close = difflib.get_close_matches(str(concession_id), list(self.concessions), n=5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise ConcessionNotFoundError(f"concession {concession_id!r} is not in {self.path} "
                                      f"({len(self.concessions)} usable concessions){hint}")

    def __iter__(self) -> Iterator[Concession]:
        return iter(self.concessions.values())

    def __len__(self) -> int:
        return len(self.concessions)

    def __contains__(self, concession_id: object) -> bool:
        return concession_id in self.concessions

    @property
    def ok(self) -> bool:
        """True when no problem is an error (warnings allowed)."""
        return not any(p.severity == "error" for p in self.problems)

    def problems_for(self, concession_id: str | None) -> tuple[Problem, ...]:
        """Return the problems of one concession (None: the file-level problems)."""
        return tuple(p for p in self.problems if p.concession_id == concession_id)

    def summary(self, buffer_m: float = 500.0) -> dict[str, Any]:
        """JSON-ready summary: file, ok, concessions (usable, then unusable), problems.

        Parameters
        ----------
        buffer_m
            Buffer ring width used for the zone areas.

        Returns
        -------
        dict
            ``{"file", "ok", "concessions": [{"id", "name", "usable", "area_ha", "crs",
            "zones", "problems"}], "problems"}``; unusable concessions have None for
            name, area, CRS and zones.
        """
        items = [{"id": c.concession_id, "name": c.name, "usable": True,
                  "area_ha": round(c.area_ha, 4), "crs": c.crs.to_string(),
                  "zones": _zone_summary(c, buffer_m)} for c in self]
        rejected = dict.fromkeys(p.concession_id for p in self.problems
                                 if p.concession_id not in self.concessions)
        items += [{"id": cid, "name": None, "usable": False, "area_ha": None, "crs": None,
                   "zones": None} for cid in rejected if cid is not None]
        for item in items:
            item["problems"] = [p.to_dict() for p in self.problems if p.concession_id == item["id"]]
        return {"file": str(self.path), "ok": self.ok, "concessions": items,
                "problems": [p.to_dict() for p in self.problems]}


# --------------------------------------------------------------------------- reading


def _read_frame(path: Path) -> tuple[gpd.GeoDataFrame, list[geo.Finding]]:
    """Read a registry file as it is; raise RegistryError when it cannot be read."""
    if not path.is_file():
        state = "is a directory" if path.is_dir() else "does not exist"
        raise RegistryError(f"registry file {path} {state}; give the path of a {_SUPPORTED} "
                            "file")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise RegistryError(f"{path}: {path.suffix or 'no suffix'!r} is not a supported "
                            f"registry format; use {_SUPPORTED}")
    notes: list[geo.Finding] = []
    try:
        if kind == "GeoParquet":
            frame = gpd.read_parquet(path)
        else:
            layer = None
            if kind == "GeoPackage":
                layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
                if len(layers) > 1:
                    layer = "concessions" if "concessions" in layers else layers[0]
                    notes.append(geo.Finding(
                        "warning", "multiple-layers", f"the GeoPackage has {len(layers)} "
                        f"layers ({', '.join(layers)}); only {layer!r} was read",
                        "keep one layer per registry, or name it 'concessions'"))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    frame = gpd.read_file(path, layer=layer, engine="pyogrio")
                except shapely.errors.GEOSException as exc:
                    frame = gpd.read_file(path, layer=layer, engine="pyogrio", on_invalid="fix")
                    notes.append(geo.Finding(
                        "warning", "malformed-geometry", f"some geometries are malformed "
                        f"({exc}); they were read with shapely's on_invalid='fix' (rings "
                        "closed, hopeless ones null)", "rewrite the geometries"))
    except _READ_ERRORS as exc:
        raise RegistryError(f"{path}: cannot be read as {kind} ({exc}); a registry must be a "
                            f"{_SUPPORTED} file of polygons") from exc
    renames = {c[:10]: c for c in _COLUMNS
               if len(c) > 10 and c[:10] in frame.columns and c not in frame.columns}
    return frame.rename(columns=renames), notes


def _plain(value: Any) -> Any:
    """Python value of a cell: None for missing, numpy scalars unwrapped, dates as dates."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple, dict, set, np.ndarray)):
        try:
            if pd.isna(value):
                return None
        except (TypeError, ValueError):
            pass
    if isinstance(value, pd.Timestamp):
        return value.date() if value == value.normalize() else value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value.strip() if isinstance(value, str) else value


def _id_text(value: Any) -> str | None:
    """Id cell as text: integers stay integers (817.0 -> "817"); blank is None."""
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "" if value is None else str(value).strip()
    return text or None


def _date(value: Any) -> dt.date | None:
    """Parse a date cell; raise ValueError for anything that is not a date."""
    value = _plain(value)
    if value is None or isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    return dt.date.fromisoformat(str(value).strip()[:10])


# ------------------------------------------------------------------------- validation


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
        row.feature_id = _id_text(raw.get(column))
        if row.feature_id is not None:
            _check_slug(row, column, row.feature_id, out)
        elif ftype in _ID_REQUIRED:
            out.add("error", "missing-id", f"a {ftype} needs a {column}",
                    f"set {column} to a slug unique within the concession", row)
    if ftype == "water_reach":
        row.role = _id_text(raw.get("role"))
        if row.role not in REACH_ROLES:
            out.add("error", "invalid-role", f"water reach role {row.role!r} is not upstream "
                    "or downstream", "set role to 'upstream' or 'downstream' (lower case)", row)


def _check_dates(row: _Row, out: _Collector) -> None:
    """Parse valid_from / valid_to of a licence into dates."""
    parsed: dict[str, dt.date | None] = {}
    for column in ("valid_from", "valid_to"):
        try:
            parsed[column] = _date(row.attributes.get(column))
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
        attributes = {str(k): _plain(v) for k, v in raw.items()
                      if k not in ("concession_id", "feature_type")}
        row = _Row(index, _id_text(raw.get("concession_id")), _id_text(raw.get("feature_type")),
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
    licence = geo.to_utm(licence_row.geometry, crs)
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
        feature = ZoneFeature(fid, r.feature_type, geo.to_utm(r.geometry, crs), r.role,
                              MappingProxyType(dict(r.attributes)))
        if feature.feature_type in _INSIDE_LICENCE:
            inside = geo.containment_finding(licence, feature.geometry, feature.feature_type)
            if inside is not None:
                out.finding(inside, r)
        features.append(feature)
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
    frame, notes = _read_frame(path)
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
            concession = _build(cid, group, out, limits)
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
