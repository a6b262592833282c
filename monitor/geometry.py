"""Geometry checks and repairs of the concession registry: slugs, UTM, antimeridian, areas.

Pure functions on shapely geometries in lon/lat (EPSG:4326, x = longitude) or in a
concession's UTM CRS. The checks return :class:`Finding` objects;
:mod:`monitor.registry_validation` turns them into problems that name the file and the feature.
"""

from __future__ import annotations

import math
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import antimeridian
import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

__all__ = [
    "SLUG_PATTERN",
    "Finding",
    "area_finding",
    "clean_lonlat",
    "containment_finding",
    "frame_to_lonlat",
    "geodesic_area_ha",
    "geodesic_distance_km",
    "is_slug",
    "lon_span",
    "polygonal",
    "slugify",
    "to_lonlat",
    "to_utm",
    "unwrapped_centroid",
    "utm_crs",
    "utm_zone",
]

#: Safe identifiers: they become file and folder names.
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

_GEOD = pyproj.Geod(ellps="WGS84")
_POLYGONAL = ("Polygon", "MultiPolygon")
_UTM_HINT = "the EPSG:326xx/327xx UTM zone"


@dataclass(frozen=True)
class Finding:
    """Something noticed (and possibly repaired) in a geometry or a file's coordinates.

    Parameters
    ----------
    severity
        ``"error"`` when unusable, ``"warning"`` when repaired or suspicious.
    code
        Stable machine-readable code, e.g. ``"invalid-geometry-repaired"``.
    detail
        What was found, with numbers.
    fix
        What the registry maintainer should do about it.
    """

    severity: Literal["error", "warning"]
    code: str
    detail: str
    fix: str


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


def _shift_longitudes(geom: BaseGeometry, below: float, by: float) -> BaseGeometry:
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
    work = _shift_longitudes(geom, 0.0, 360.0) if lon_span(geom) > 180.0 else geom
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
    if geom.geom_type in _POLYGONAL:
        return geom
    parts = [
        q
        for p in shapely.get_parts(geom)
        if p.geom_type in _POLYGONAL
        for q in shapely.get_parts(p)
    ]
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _split(geom: BaseGeometry) -> BaseGeometry:
    """Split a lon/lat polygon at the antimeridian with the ``antimeridian`` package."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if geom.geom_type == "Polygon":
            return antimeridian.fix_polygon(geom, fix_winding=True)
        if geom.geom_type == "MultiPolygon":
            return antimeridian.fix_multi_polygon(geom, fix_winding=True)
    return geom


def to_utm(geom: BaseGeometry, crs: pyproj.CRS) -> BaseGeometry:
    """Project a lon/lat geometry to ``crs``; parts split at the antimeridian are re-joined."""
    if lon_span(geom) > 180.0:
        # Parts split at +/-180 share exact coordinates once the western ones are shifted
        # by +360; PROJ accepts longitudes beyond 180.
        shifted = _shift_longitudes(geom, 0.0, 360.0)
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
    return _split(out) if not out.is_empty and lon_span(out) > 180.0 else out


# ------------------------------------------------------------------------------- checks


def _fmt_ha(value: float) -> str:
    return f"{value:,.4g} ha" if value < 1000 else f"{value:,.0f} ha"


def _in_lonlat_range(bounds: Sequence[float]) -> bool:
    minx, miny, maxx, maxy = bounds
    return bool(minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90)


def frame_to_lonlat(
    geometries: Any, crs: pyproj.CRS | None
) -> tuple[list[BaseGeometry | None], list[Finding]]:
    """Transform a file's geometries to EPSG:4326, with file-level CRS findings.

    Parameters
    ----------
    geometries
        A :class:`geopandas.GeoSeries` (its own CRS is ignored; ``crs`` is used).
    crs
        The file's CRS, None when missing.

    Returns
    -------
    tuple
        Geometries in lon/lat (untouched when the CRS is missing, so that the other
        checks still run) and findings: ``missing-crs``, ``degrees-as-metres``,
        ``crs-transform-failed``.
    """
    present = geometries[~geometries.isna() & ~geometries.is_empty]
    degrees = len(present) > 0 and _in_lonlat_range(present.total_bounds)
    if crs is None:
        guess = (
            "the coordinates lie within -180..180 / -90..90, so they are probably "
            "longitude/latitude: declare EPSG:4326"
            if degrees
            else f"the coordinates look like metres: declare the projected CRS they were "
            f"measured in (e.g. {_UTM_HINT})"
        )
        return list(geometries.values), [
            Finding("error", "missing-crs", "the file has no coordinate reference system, so "
                    "areas and positions are unknown", f"{guess} (for a Shapefile, add the "
                    ".prj file)")
        ]
    findings = []
    if crs.is_projected and degrees:
        findings.append(Finding(
            "error", "degrees-as-metres", f"every coordinate lies within -180..180 / -90..90 "
            f"although the CRS ({crs.to_string()}) is projected, in metres: the coordinates "
            "are probably longitudes/latitudes read as metres",
            "declare EPSG:4326 as the file's CRS"))
    try:
        with np.errstate(all="ignore"):
            return list(geometries.set_crs(crs, allow_override=True).to_crs(4326).values), (
                findings)
    except pyproj.exceptions.ProjError as exc:
        findings.append(Finding("error", "crs-transform-failed", f"the geometries cannot be "
                                f"transformed from {crs.to_string()} to EPSG:4326 ({exc})",
                                "check the file's CRS"))
        return [None] * len(geometries), findings


def _check_type(geom: BaseGeometry, findings: list[Finding]) -> BaseGeometry | None:
    """Keep polygonal geometries; take polygons out of collections; reject the rest."""
    kind = geom.geom_type
    if kind in _POLYGONAL:
        return geom
    kept = polygonal(geom)
    if kind == "GeometryCollection" and not kept.is_empty:
        findings.append(Finding("warning", "geometry-collection", f"a GeometryCollection of "
                                f"{len(geom.geoms)} parts; only its polygons were kept",
                                "store the feature as a Polygon or MultiPolygon"))
        return kept
    findings.append(Finding(
        "error", "wrong-geometry-type", f"the geometry is a {kind}, but every feature (water "
        "reaches included) must be a Polygon or MultiPolygon", "digitise the outline as a "
        "polygon (a river reach as the polygon of its channel, a facility as its footprint), "
        "or buffer points and centre lines to their real width before adding them"))
    return None


def _check_range(geom: BaseGeometry, findings: list[Finding]) -> BaseGeometry | None:
    """Reject coordinates that are not longitudes/latitudes; wrap 0-360 longitudes."""
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        findings.append(Finding("error", "coordinates-out-of-range", "some coordinates are "
                                "not finite numbers (NaN, infinite, or not transformable to "
                                "longitude/latitude)", "check the coordinates and the CRS"))
        return None
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180.0 or maxx > 360.0 or miny < -90.0 or maxy > 90.0:
        findings.append(Finding(
            "error", "coordinates-out-of-range", f"coordinates reach x {minx:.6g}..{maxx:.6g}, "
            f"y {miny:.6g}..{maxy:.6g}, outside longitude/latitude ranges: they look like "
            "metres in a file whose CRS says degrees (or latitude and longitude are swapped)",
            f"declare the projected CRS the coordinates were measured in (e.g. {_UTM_HINT}), "
            "or fix the coordinates"))
        return None
    if maxx > 180.0:
        findings.append(Finding("warning", "longitude-wrapped", f"longitudes run up to "
                                f"{maxx:.6g} (0-360 convention); those above 180 were "
                                "shifted by -360", "store longitudes in -180..180"))
        geom = _shift_longitudes(geom, 180.0, -360.0)
    return geom


def _check_antimeridian(unwrapped: BaseGeometry, findings: list[Finding]) -> BaseGeometry | None:
    """Split a (valid, unwrapped: longitudes up to 360) polygon at the 180th meridian."""
    drawn = _shift_longitudes(unwrapped, 180.0, -360.0)  # as drawn: edges jump at 180
    fixed = polygonal(_split(drawn))
    if not fixed.is_valid:
        fixed = polygonal(shapely.make_valid(fixed))
    if fixed.is_empty or (fixed.bounds[3] - fixed.bounds[1]) > (
        unwrapped.bounds[3] - unwrapped.bounds[1]
    ) + 1.0:
        findings.append(Finding("error", "antimeridian-split-failed", "the polygon crosses "
                                "the 180th meridian and could not be split safely there (the "
                                "split reached a pole)", "store it split at +/-180 (RFC 7946 "
                                "section 3.1.9)"))
        return None
    blowup = drawn.area / fixed.area if fixed.area > 0 else math.inf
    findings.append(Finding(
        "warning", "antimeridian-split", f"the polygon spans {lon_span(drawn):.2f} degrees of "
        f"longitude because it crosses the 180th meridian; it was split there into "
        f"{len(shapely.get_parts(fixed))} parts ({_fmt_ha(geodesic_area_ha(fixed))}; read as "
        f"planar longitude/latitude it would be {blowup:,.0f} times too large)",
        "store antimeridian polygons split at +/-180 (RFC 7946 section 3.1.9), as the "
        "repaired geometry is"))
    return fixed


def _check_validity(geom: BaseGeometry, findings: list[Finding]) -> BaseGeometry | None:
    """Make an invalid geometry valid with :func:`shapely.make_valid`, reporting the area."""
    if geom.is_valid:
        return geom
    reason = shapely.is_valid_reason(geom)
    before = geodesic_area_ha(geom)
    repaired = polygonal(shapely.make_valid(geom))
    after = geodesic_area_ha(repaired)
    if repaired.is_empty:
        findings.append(Finding("error", "invalid-geometry", f"the geometry is invalid "
                                f"({reason}) and nothing polygonal is left after "
                                "shapely.make_valid", "redraw the polygon"))
        return None
    if before > 1e-3 * after:
        was, change = _fmt_ha(before), f"{100.0 * (after - before) / before:+.2f} %"
    else:  # lobes of opposite winding cancel out
        was, change = "0 ha", "+inf %: a self-intersecting (bow-tie) ring has area 0 before repair"
    findings.append(Finding(
        "warning", "invalid-geometry-repaired", f"the geometry was invalid ({reason}) and was "
        f"repaired with shapely.make_valid; area {was} -> {_fmt_ha(after)} ({change})",
        "check the repaired outline and store a valid polygon (vertices in ring order, no "
        "self-intersections)"))
    return repaired


def clean_lonlat(geom: BaseGeometry | None) -> tuple[BaseGeometry | None, list[Finding]]:
    """Check and repair one feature geometry already transformed to lon/lat.

    Steps, in order: null/empty check, Z dropped, coordinate ranges (0-360 longitudes
    wrapped), polygonal type, validity repair (on unwrapped longitudes for a polygon drawn
    across the 180th meridian), antimeridian split.

    Parameters
    ----------
    geom
        The feature's geometry in EPSG:4326 (x = longitude), or None.

    Returns
    -------
    tuple
        The clean 2-D Polygon/MultiPolygon (None when unusable) and every finding.
    """
    findings: list[Finding] = []
    if geom is None or geom.is_empty:
        findings.append(Finding("error", "empty-geometry", "the feature has no geometry (null "
                                "or empty)", "draw the feature's polygon, or delete the feature"))
        return None, findings
    if shapely.has_z(geom):
        geom = shapely.force_2d(geom)
        findings.append(Finding("warning", "z-dropped", "the geometry had Z coordinates; they "
                                "were dropped (areas and zones are 2-D)", "store 2-D geometries"))
    clean = _check_range(geom, findings)
    clean = _check_type(clean, findings) if clean is not None else None
    if clean is None:
        return None, findings
    # A polygon drawn across the 180th meridian is contiguous once its western longitudes
    # are shifted by +360: repair it there, then split it. A polygon that stays wider than
    # 180 degrees when shifted is not crossing, just huge (the area check reports it).
    unwrapped = _shift_longitudes(clean, 0.0, 360.0) if lon_span(clean) > 180.0 else clean
    crosses = lon_span(clean) > 180.0 and lon_span(unwrapped) < 180.0
    clean = _check_validity(unwrapped if crosses else clean, findings)
    if clean is not None and crosses and clean.bounds[2] > 180.0:
        clean = _check_antimeridian(clean, findings)
    return clean, findings


def area_finding(area_ha: float, min_area_ha: float, max_area_ha: float) -> Finding | None:
    """Return an error when a licence area is absurd, naming the likely cause; else None."""
    if area_ha < min_area_ha:
        return Finding(
            "error", "area-too-small", f"the licence covers {area_ha:.3g} ha, below the "
            f"{min_area_ha:g} ha minimum: likely a sliver, a polygon drawn at the wrong scale, "
            "or longitudes/latitudes read as metres (a projected CRS on degree coordinates)",
            "check the coordinates and the file's CRS, or lower min_area_ha")
    if area_ha > max_area_ha:
        return Finding(
            "error", "area-too-large", f"the licence covers {area_ha:,.0f} ha, above the "
            f"{max_area_ha:,.0f} ha maximum: likely an outline drawn the long way round the "
            "globe (antimeridian), metres read as degrees, swapped latitude and longitude, or "
            "a country outline instead of a licence", "check the coordinates and the file's "
            "CRS, or raise max_area_ha")
    return None


def containment_finding(
    licence: BaseGeometry, geom: BaseGeometry, feature_type: str
) -> Finding | None:
    """Return a warning when a footprint or facility lies (partly) outside its licence."""
    if not geom.intersects(licence):
        return Finding("warning", "outside-licence", f"the {feature_type} does not intersect "
                       "its licence", "check its concession_id and coordinates, or extend "
                       "the licence")
    if feature_type == "permitted_footprint":
        outside = geom.difference(licence).area / max(geom.area, 1e-9)
        if outside > 0.01:
            return Finding("warning", "partly-outside-licence", f"{100 * outside:.1f} % of the "
                           "permitted footprint lies outside the licence and is ignored by the "
                           "zones", "clip the footprint to the licence or extend the licence")
    return None
