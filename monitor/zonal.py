"""Zones on the cube grid, and per-zone statistics with their pixel counts.

Pure: geometries are burned onto the cube's own grid (pixel-centre rule); no file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.geom import Geometry
from odc.geo.xr import rasterize
from shapely.geometry.base import BaseGeometry

from monitor.concessions import Zones

#: Zone kinds, in reporting order.
ZONE_KINDS = ("permitted_footprint", "licence_outside_footprint", "buffer_ring",
              "exclusion_zone", "tailings_facility", "water_reach")


@dataclass(frozen=True)
class ZoneMask:
    """One zone burned onto a grid.

    Attributes
    ----------
    zone
        Zone kind (one of :data:`ZONE_KINDS`).
    zone_id
        Feature id (facility, reach or exclusion-zone id), or the zone kind itself.
    geometry
        The zone in the grid's CRS.
    mask
        Boolean ``(y, x)`` array, True inside (pixel centres).
    role
        ``upstream`` / ``downstream`` for water reaches, else None.
    """

    zone: str
    zone_id: str
    geometry: BaseGeometry
    mask: np.ndarray
    role: str | None = None

    @property
    def n_px(self) -> int:
        """Pixels of the zone on the grid."""
        return int(self.mask.sum())


def burn(geometry: BaseGeometry, geobox: GeoBox) -> np.ndarray:
    """Boolean mask of ``geometry`` (in the geobox CRS) on ``geobox`` (pixel centres)."""
    if geometry.is_empty:
        return np.zeros(geobox.shape, bool)
    return np.asarray(rasterize(Geometry(geometry, crs=geobox.crs), geobox).values, bool)


def zone_masks(zones: Zones, geobox: GeoBox) -> list[ZoneMask]:
    """Burn every zone of a concession onto ``geobox``, in :data:`ZONE_KINDS` order."""
    out = [
        ZoneMask("permitted_footprint", "permitted_footprint", zones.permitted_footprint,
                 burn(zones.permitted_footprint, geobox)),
        ZoneMask("licence_outside_footprint", "licence_outside_footprint",
                 zones.licence_outside_footprint, burn(zones.licence_outside_footprint, geobox)),
        ZoneMask("buffer_ring", "buffer_ring", zones.buffer_ring,
                 burn(zones.buffer_ring, geobox)),
    ]
    out += [ZoneMask("exclusion_zone", zid, geom, burn(geom, geobox))
            for zid, geom in zones.exclusion_zones.items()]
    out += [ZoneMask("tailings_facility", fid, geom, burn(geom, geobox))
            for fid, geom in zones.tailings_facilities.items()]
    out += [ZoneMask("water_reach", rid, feature.geometry, burn(feature.geometry, geobox),
                     feature.role)
            for rid, feature in zones.water_reaches.items()]
    return out


def pixel_area_ha(cube: xr.Dataset) -> float:
    """Area of one cube pixel in hectares."""
    res = float(cube.attrs.get("resolution_m") or abs(float(cube.x[1] - cube.x[0])))
    return res * res / 10_000.0
