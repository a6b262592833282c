"""The concession registry's data model: concessions, their zones, problems, the registry.

A registry is one vector file (GeoJSON, GeoPackage, GeoParquet or Shapefile) of features
keyed by ``concession_id``, each with a ``feature_type`` (see ``aoi/README.md``). This
module holds the frozen objects a registry is read into; it does no file I/O.

Every concession is projected to the WGS 84 / UTM zone of its licence centroid; all
geometries of the model are in that CRS and areas are in hectares. Geometry checks and
repairs live in :mod:`monitor.geometry`.

Reading lives elsewhere, and the model never imports it:

* :mod:`monitor.registry_io` reads a registry file as it is (formats, layers, cells);
* :mod:`monitor.registry_validation` checks every feature and builds the :class:`Registry`.
  :func:`read_registry` never raises for content problems: it collects every problem, each
  naming the file, the feature and the fix, and keeps the concessions that are usable.
  :func:`load_concessions` is the strict front door: it raises when anything is unusable.

Both functions stay importable from this module: they are resolved on first access
(:pep:`562`), so that importing the model does not import the reader and no import
cycle exists at run time.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import geopandas as gpd
import pyproj
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from monitor import geometry as geo
from monitor.errors import ConcessionNotFoundError

if TYPE_CHECKING:
    from monitor.registry_validation import load_concessions, read_registry

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

#: Allowed values of ``feature_type``.
FEATURE_TYPES = ("licence", "permitted_footprint", "tailings_facility", "water_reach",
                 "exclusion_zone")
#: Allowed values of ``role`` on water reaches.
REACH_ROLES = ("upstream", "downstream")
#: Registry formats by file suffix.
FORMATS: Mapping[str, str] = MappingProxyType({
    ".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet", ".shp": "Shapefile"})
_BUFFER_QUAD_SEGS = 16


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


# ------------------------------------------------------------------ reader re-exports

_READER = ("load_concessions", "read_registry")


def __getattr__(name: str) -> Any:
    """Resolve :func:`read_registry` and :func:`load_concessions` on first access.

    They are defined in :mod:`monitor.registry_validation`, which imports this model;
    importing them lazily keeps this module free of any dependency on the reader.
    """
    if name in _READER:
        from monitor import registry_validation

        value = getattr(registry_validation, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """List the module's names, the lazily resolved reader functions included."""
    return sorted({*globals(), *_READER})
