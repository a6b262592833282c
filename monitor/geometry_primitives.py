"""Geometry primitives of the concession registry: slugs, UTM zones, projection, areas.

Pure functions on shapely geometries in lon/lat (EPSG:4326, x = longitude) or in a
concession's UTM CRS: safe ids (:func:`slugify`), the UTM zone of a point
(:func:`utm_zone`, :func:`utm_crs`), antimeridian-aware centroids and projections
(:func:`to_utm`, :func:`to_lonlat`), geodesic areas and distances, and the polygonal part of
a geometry. The checks and repairs built on them live in :mod:`monitor.geometry`, which
also re-exports every public name here.
"""

from __future__ import annotations

import re
import unicodedata
import warnings

import antimeridian
import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

__all__ = [
    "POLYGONAL_TYPES",
    "SLUG_PATTERN",
    "geodesic_area_ha",
    "geodesic_distance_km",
    "is_slug",
    "lon_span",
    "polygonal",
    "shift_longitudes",
    "slugify",
    "split_antimeridian",
    "to_lonlat",
    "to_utm",
    "unwrapped_centroid",
    "utm_crs",
    "utm_zone",
]

#: Safe identifiers: they become file and folder names.
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: Geometry types a concession feature may have.
POLYGONAL_TYPES = ("Polygon", "MultiPolygon")

_GEOD = pyproj.Geod(ellps="WGS84")

# ------------------------------------------------------------------------ ids and zones


def is_slug(text: str) -> bool:
    """Tell whether ``text`` is a safe id (``^[a-z0-9][a-z0-9_-]{0,63}$``)."""
    return SLUG_PATTERN.fullmatch(text) is not None


def slugify(text: str) -> str:
    """Turn any text into the closest safe id.

    Accents are stripped, letters lower-cased, every run of other characters becomes one
    ``-``, leading and trailing separators are removed and the result is cut to 64
    characters.

    Parameters
    ----------
    text
        Any text.

    Returns
    -------
    str
        A slug matching :data:`SLUG_PATTERN`, or ``""`` when nothing usable is left.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_-]+", "-", ascii_text.lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-_")
    return slug[:64].rstrip("-_")


def utm_zone(lon: float, lat: float) -> tuple[int, bool]:
    """UTM zone number and hemisphere of a point, with the Norway and Svalbard exceptions.

    A longitude on a zone boundary belongs to the zone east of it (-72 is zone 19,
    180 is zone 1).

    Parameters
    ----------
    lon, lat
        Degrees; any longitude is wrapped into [-180, 180).

    Returns
    -------
    tuple of (int, bool)
        Zone number 1-60 and whether the point is in the northern hemisphere (lat >= 0).
    """
    lon = (lon + 180.0) % 360.0 - 180.0
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    if 56.0 <= lat < 64.0 and 3.0 <= lon < 12.0:
        zone = 32
    elif 72.0 <= lat < 84.0 and 0.0 <= lon < 42.0:
        zone = 31 if lon < 9.0 else 33 if lon < 21.0 else 35 if lon < 33.0 else 37
    return zone, lat >= 0.0


def utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """WGS 84 / UTM CRS of a point: EPSG:326zz in the north, EPSG:327zz in the south."""
    zone, north = utm_zone(lon, lat)
    return pyproj.CRS.from_epsg((32600 if north else 32700) + zone)


def lon_span(geom: BaseGeometry) -> float:
    """Longitude extent (max x - min x) of a lon/lat geometry, in degrees."""
    minx, _, maxx, _ = geom.bounds
    return float(maxx - minx)


def shift_longitudes(geom: BaseGeometry, below: float, by: float) -> BaseGeometry:
    """Add ``by`` to the longitudes lower than ``below`` (or higher, when ``by`` < 0)."""

    def shift(coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        hit = out[:, 0] < below if by > 0 else out[:, 0] > below
        out[:, 0] = np.where(hit, out[:, 0] + by, out[:, 0])
        return out

    return shapely.transform(geom, shift)


def unwrapped_centroid(geom: BaseGeometry) -> tuple[float, float]:
    """Centroid (lon in [-180, 180), lat) of a lon/lat geometry, antimeridian-aware.

    When the geometry spans more than 180 degrees of longitude (parts split at +/-180),
    its western parts are shifted by +360 before the centroid is taken.
    """
    work = shift_longitudes(geom, 0.0, 360.0) if lon_span(geom) > 180.0 else geom
    point = work.centroid
    return (float(point.x) + 180.0) % 360.0 - 180.0, float(point.y)


def geodesic_area_ha(geom: BaseGeometry) -> float:
    """Area of a lon/lat geometry on the WGS 84 ellipsoid, in hectares.

    Exterior rings count positive and holes negative whatever their winding; a
    self-intersecting "bow-tie" ring gives (close to) zero, as in planar geometry.
    """
    total = 0.0
    for part in shapely.get_parts(geom):
        if part.geom_type == "Polygon":
            total += abs(_GEOD.geometry_area_perimeter(part.exterior)[0])
            total -= sum(abs(_GEOD.geometry_area_perimeter(r)[0]) for r in part.interiors)
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            total += geodesic_area_ha(part) * 1e4
    return total / 1e4


def geodesic_distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance between two (lon, lat) points on the WGS 84 ellipsoid, in kilometres."""
    return float(_GEOD.inv(a[0], a[1], b[0], b[1])[2]) / 1000.0


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Polygonal part of a geometry (Polygon, MultiPolygon, or an empty Polygon)."""
    if geom.geom_type in POLYGONAL_TYPES:
        return geom
    parts = [
        q
        for p in shapely.get_parts(geom)
        if p.geom_type in POLYGONAL_TYPES
        for q in shapely.get_parts(p)
    ]
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def split_antimeridian(geom: BaseGeometry) -> BaseGeometry:
    """Split a lon/lat polygon at the antimeridian with the ``antimeridian`` package.

    Returns an empty polygon when the package cannot split it (it asserts on some
    self-intersecting shapes): the caller reports that as a failed split.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if geom.geom_type == "Polygon":
                return antimeridian.fix_polygon(geom, fix_winding=True)
            if geom.geom_type == "MultiPolygon":
                return antimeridian.fix_multi_polygon(geom, fix_winding=True)
        except (AssertionError, ValueError, shapely.errors.GEOSException):
            # a third-party failure on a malformed shape, not a bug of ours: no split
            return Polygon()
    return geom


def to_utm(geom: BaseGeometry, crs: pyproj.CRS) -> BaseGeometry:
    """Project a lon/lat geometry to ``crs``; parts split at the antimeridian are re-joined."""
    if lon_span(geom) > 180.0:
        # Parts split at +/-180 share exact coordinates once the western ones are shifted
        # by +360; PROJ accepts longitudes beyond 180.
        shifted = shift_longitudes(geom, 0.0, 360.0)
        try:
            geom = polygonal(shapely.union_all(shapely.get_parts(shifted)))
        except shapely.errors.GEOSException:
            geom = polygonal(shapely.make_valid(shifted))
    transformer = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return shapely.transform(geom, transformer.transform, interleaved=False)


def to_lonlat(geom: BaseGeometry, crs: pyproj.CRS) -> BaseGeometry:
    """Project a geometry from ``crs`` to EPSG:4326, split at the antimeridian if needed.

    A polygon crossing the 180th meridian comes back as a MultiPolygon split there
    (the RFC 7946 convention).
    """
    transformer = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    out = shapely.transform(geom, transformer.transform, interleaved=False)
    return split_antimeridian(out) if not out.is_empty and lon_span(out) > 180.0 else out

