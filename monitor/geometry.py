"""Geometry checks and repairs of the concession registry (and its geometry primitives).

Pure functions on shapely geometries in lon/lat (EPSG:4326, x = longitude): transforming a
file's geometries to lon/lat (:func:`frame_to_lonlat`), checking and repairing one feature
(:func:`clean_lonlat`: Z, coordinate ranges, type, validity, antimeridian split) and judging
licence areas and containment. The checks return :class:`Finding` objects;
:mod:`monitor.registry_validation` turns them into problems that name the file and the feature.

The primitives they rest on (slugs, UTM zones, projection, geodesic areas) live in
:mod:`monitor.geometry_primitives` and are re-exported here, so that ``monitor.geometry``
stays the one import for registry geometry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from monitor.geometry_primitives import (
    POLYGONAL_TYPES,
    SLUG_PATTERN,
    geodesic_area_ha,
    geodesic_distance_km,
    is_slug,
    lon_span,
    polygonal,
    shift_longitudes,
    slugify,
    split_antimeridian,
    to_lonlat,
    to_utm,
    unwrapped_centroid,
    utm_crs,
    utm_zone,
)

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
    if kind in POLYGONAL_TYPES:
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
        geom = shift_longitudes(geom, 180.0, -360.0)
    return geom


def _check_antimeridian(unwrapped: BaseGeometry, findings: list[Finding]) -> BaseGeometry | None:
    """Split a (valid, unwrapped: longitudes up to 360) polygon at the 180th meridian."""
    drawn = shift_longitudes(unwrapped, 180.0, -360.0)  # as drawn: edges jump at 180
    fixed = polygonal(split_antimeridian(drawn))
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
    unwrapped = shift_longitudes(clean, 0.0, 360.0) if lon_span(clean) > 180.0 else clean
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
