"""The demo portfolio's geography: concessions, zones, features, events and the registry.

All geometry is fixed in metres relative to the tile's upper-left corner (``x`` to the
east, ``y`` *down*, i.e. southwards) inside a 3.2 km x 3.2 km block (320 x 320 pixels at
10 m), so the registry does not depend on the size of the simulated scenes. The four
concessions sit in the four quadrants of the block::

    +------------------+------------------+
    | demo-compliant   | demo-clearing    |
    | stable pit+lake  | 3 clearings 2022 |
    +------------------+---- river -------+  (the river enters from the east)
    | demo-tailings    | demo-plume       |
    | TSF grows 2022   | river, plume     |
    +------------------+------------------+
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import LineString, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.ops import transform as shp_transform

#: Side of the demo block, metres and 10 m pixels.
BLOCK_M = 3200.0
BLOCK_PX = 320
#: Side of a Sentinel-2 MGRS tile, metres.
S2_TILE_M = 109_800.0

#: River half width (m), plume outfall (y, m) and the decay length of the plume (m).
RIVER_HALF_WIDTH_M = 35.0
OUTFALL_Y_M = 2350.0
PLUME_DECAY_M = 2500.0
#: How long the tailings and pond growth front takes to reach its final extent (days).
GROWTH_DAYS = 28


@dataclass(frozen=True)
class Concession:
    """Attributes shared by every registry row of one concession."""

    concession_id: str
    name: str
    holder: str
    licence_number: str
    valid_from: str
    valid_to: str


CONCESSIONS: tuple[Concession, ...] = (
    Concession(
        "demo-compliant",
        "Serra Azul iron pit (demo: no change)",
        "Mineração Serra Azul Ltda. (fictitious)",
        "850.101/2012",
        "2012-05-14",
        "2032-05-13",
    ),
    Concession(
        "demo-clearing",
        "Igarapé Verde expansion (demo: vegetation clearing)",
        "Igarapé Verde Mineração S.A. (fictitious)",
        "850.233/2016",
        "2016-09-01",
        "2036-08-31",
    ),
    Concession(
        "demo-tailings",
        "Rio Sereno copper tailings (demo: tailings growth)",
        "Cobre Sereno Mineração Ltda. (fictitious)",
        "850.318/2014",
        "2014-02-20",
        "2034-02-19",
    ),
    Concession(
        "demo-plume",
        "Cachoeira alluvial gold (demo: sediment plume)",
        "Cooperativa Garimpeira Cachoeira (fictitious)",
        "PLG 850.412/2019",
        "2019-07-01",
        "2029-06-30",
    ),
)

_P = list[tuple[float, float]]

# --- registry polygons (local metres, y down) -------------------------------------------
LICENCES: dict[str, _P] = {
    # ANM-style licences: rectilinear polygons with N-S / E-W edges.
    "demo-compliant": [(150, 150), (1450, 150), (1450, 1000), (1250, 1000), (1250, 1450),
                       (150, 1450)],
    "demo-clearing": [(1750, 150), (3050, 150), (3050, 1450), (1750, 1450)],
    "demo-tailings": [(150, 1750), (1450, 1750), (1450, 3050), (150, 3050)],
    "demo-plume": [(1750, 1750), (3050, 1750), (3050, 3050), (1750, 3050)],
}
FOOTPRINTS: dict[str, _P] = {
    "demo-compliant": [(420, 380), (980, 340), (1130, 520), (1100, 900), (880, 1080),
                       (520, 1050), (360, 820), (340, 560)],
    "demo-clearing": [(1850, 250), (2500, 230), (2560, 600), (2480, 900), (1900, 920),
                      (1830, 600)],
    "demo-tailings": [(300, 1850), (1250, 1850), (1300, 2300), (1200, 2750), (350, 2760),
                      (280, 2300)],
    "demo-plume": [(2600, 2150), (2950, 2130), (3000, 2450), (2900, 2600), (2620, 2560),
                   (2570, 2350)],
}
TAILINGS_FACILITY: _P = [(420, 1950), (1120, 1950), (1150, 2350), (1080, 2700), (450, 2700),
                         (400, 2350)]
TAILINGS_FACILITY_ID = "tsf-sereno-1"
EXCLUSION_ZONE: _P = [(1800, 1060), (2100, 1000), (2380, 1080), (2420, 1300), (2200, 1420),
                      (1850, 1400)]
EXCLUSION_ZONE_ID = "app-nascente-1"
REACH_IDS = {"upstream": "rio-cachoeira-up", "downstream": "rio-cachoeira-down"}
#: Reach limits along the river (y, metres): upstream above, downstream below the outfall.
UPSTREAM_MAX_Y = 2200.0
DOWNSTREAM_MIN_Y = 2500.0
REACH_HALF_WIDTH_M = 50.0

# --- land cover and events (truth only, not in the registry) ----------------------------
PIT_COMPLIANT: _P = [(520, 480), (900, 450), (1000, 600), (960, 860), (760, 960), (560, 900),
                     (470, 700)]
PIT_LAKE: _P = [(700, 640), (820, 620), (860, 720), (790, 800), (690, 770)]
PIT_PLUME: _P = [(2680, 2220), (2900, 2210), (2930, 2420), (2700, 2480), (2650, 2330)]
TAILINGS_BEFORE: _P = [(500, 2020), (1050, 2030), (1070, 2350), (1000, 2560), (560, 2570),
                       (470, 2300)]
POND_BEFORE: _P = [(650, 2150), (900, 2140), (950, 2300), (850, 2420), (680, 2400),
                   (620, 2280)]
POND_AFTER: _P = [(600, 2110), (960, 2100), (1010, 2300), (900, 2480), (640, 2470),
                  (560, 2280)]
TAILINGS_GROWTH: _P = [(560, 2570), (1000, 2560), (1060, 2700), (1040, 2880), (820, 2950),
                       (600, 2900), (520, 2720)]
TAILINGS_ONSET = date(2022, 6, 10)


@dataclass(frozen=True)
class Clearing:
    """A vegetation-clearing event (forest to exposed soil), truth only."""

    event_id: str
    concession_id: str
    polygon: _P
    onset: date
    expected_zone: str


CLEARINGS: tuple[Clearing, ...] = (
    Clearing("clearing-a", "demo-clearing",
             [(1960, 330), (2250, 310), (2300, 460), (2200, 560), (1990, 540), (1940, 430)],
             date(2022, 5, 18), "permitted_footprint"),
    Clearing("clearing-b", "demo-clearing",
             [(2650, 620), (2950, 600), (2990, 760), (2900, 900), (2700, 920), (2620, 780)],
             date(2022, 7, 9), "licence_outside_footprint"),
    Clearing("clearing-c", "demo-clearing",
             [(1980, 1150), (2180, 1130), (2230, 1250), (2120, 1340), (1990, 1310)],
             date(2022, 9, 2), "exclusion_zone"),
)

#: Sediment plume episodes (inclusive calendar windows) and peak strengths.
PLUME_EPISODES: tuple[tuple[date, date, float], ...] = (
    (date(2021, 8, 9), date(2021, 8, 26), 0.85),
    (date(2022, 2, 26), date(2022, 3, 8), 0.75),
    (date(2022, 9, 9), date(2022, 9, 21), 0.95),
)
#: The episode whose strongest dates Sen2Cor misreads as cloud (SCL 8) over the plume.
PLUME_FALSE_CLOUD_EPISODE = 2


def river_centreline() -> LineString:
    """River centreline (local metres), from upstream (east edge) to downstream (south).

    The line extends to the edges of a full Sentinel-2 tile whatever the simulated size, so
    every derived polygon is size-independent.
    """
    east = [(x, 1600.0 - 120.0 * math.sin((x - 3200.0) / 900.0))
            for x in np.arange(S2_TILE_M + 500.0, 3200.0, -500.0)]
    block = [(3200, 1600), (2950, 1620), (2700, 1700), (2540, 1850), (2470, 2050), (2500, 2300),
             (2440, 2550), (2480, 2800), (2420, 3050), (2380, 3200)]
    south = [(2380.0 - 160.0 * math.sin((y - 3200.0) / 1100.0), y)
             for y in np.arange(3700.0, S2_TILE_M + 501.0, 500.0)]
    return LineString([(float(x), float(y)) for x, y in [*east, *block, *south]])


def river_polygon() -> BaseGeometry:
    """The river's water surface (local metres)."""
    return river_centreline().buffer(RIVER_HALF_WIDTH_M, quad_segs=4)


@dataclass(frozen=True)
class Feature:
    """One registry row: attributes and its geometry in local metres (y down)."""

    concession_id: str
    feature_type: str
    geometry: BaseGeometry
    facility_id: str | None = None
    role: str | None = None
    reach_id: str | None = None
    zone_id: str | None = None


def registry_features_local() -> list[Feature]:
    """The registry's features in local metres, before projection and rounding."""
    feats: list[Feature] = []
    for c in CONCESSIONS:
        cid = c.concession_id
        feats.append(Feature(cid, "licence", Polygon(LICENCES[cid])))
        feats.append(Feature(cid, "permitted_footprint", Polygon(FOOTPRINTS[cid])))
        if cid == "demo-clearing":
            feats.append(Feature(cid, "exclusion_zone", Polygon(EXCLUSION_ZONE),
                                 zone_id=EXCLUSION_ZONE_ID))
        if cid == "demo-tailings":
            feats.append(Feature(cid, "tailings_facility", Polygon(TAILINGS_FACILITY),
                                 facility_id=TAILINGS_FACILITY_ID))
        if cid == "demo-plume":
            lic = Polygon(LICENCES[cid])
            corridor = river_centreline().buffer(REACH_HALF_WIDTH_M, quad_segs=2, cap_style="flat")
            up = corridor.intersection(lic).intersection(box(0, 0, BLOCK_M, UPSTREAM_MAX_Y))
            down = corridor.intersection(lic).intersection(
                box(0, DOWNSTREAM_MIN_Y, BLOCK_M, BLOCK_M))
            for role, geom in (("upstream", up), ("downstream", down)):
                feats.append(Feature(cid, "water_reach", geom, role=role,
                                     reach_id=REACH_IDS[role]))
    return feats


def _round_coords(geom: dict[str, Any], ndigits: int) -> dict[str, Any]:
    def rnd(obj: Any) -> Any:
        if isinstance(obj, (list, tuple)):
            if obj and isinstance(obj[0], float):
                return [round(float(v), ndigits) + 0.0 for v in obj]
            return [rnd(o) for o in obj]
        return obj

    return {"type": geom["type"], "coordinates": rnd(geom["coordinates"])}


@dataclass(frozen=True)
class Registry:
    """The registry as GeoJSON text plus the round-tripped local geometries."""

    geojson: str
    features: tuple[Feature, ...]


def build_registry(epsg: int, origin_x: float, origin_y: float) -> Registry:
    """Project the registry to EPSG:4326, round to 1e-7 degrees and serialise it.

    The returned ``features`` carry the geometries *as a reader of the GeoJSON will see
    them* (rounded lon/lat projected back to local metres), so truth rasters agree with
    what the monitor rasterises from the file.

    Parameters
    ----------
    epsg
        UTM EPSG code of the tile.
    origin_x, origin_y
        Upper-left corner of the tile, metres in that CRS.
    """
    to_ll = Transformer.from_crs(epsg, 4326, always_xy=True)
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    attrs = {c.concession_id: c for c in CONCESSIONS}
    rows: list[str] = []
    back: list[Feature] = []
    for f in registry_features_local():
        utm = affinity.affine_transform(f.geometry, [1, 0, 0, -1, origin_x, origin_y])
        ll = orient(shp_transform(to_ll.transform, utm), sign=1.0)
        gj = _round_coords(mapping(ll), 7)
        c = attrs[f.concession_id]
        props = {
            "concession_id": c.concession_id,
            "feature_type": f.feature_type,
            "name": c.name,
            "holder": c.holder,
            "licence_number": c.licence_number,
            "standard_id": "default",
            "valid_from": c.valid_from,
            "valid_to": c.valid_to,
            "facility_id": f.facility_id,
            "role": f.role,
            "reach_id": f.reach_id,
            "zone_id": f.zone_id,
        }
        feature = {"type": "Feature", "properties": props, "geometry": gj}
        rows.append(json.dumps(feature, ensure_ascii=False))
        utm_back = shp_transform(to_utm.transform, shape(gj))
        local = affinity.affine_transform(utm_back, [1, 0, 0, -1, -origin_x, origin_y])
        back.append(Feature(f.concession_id, f.feature_type, local, f.facility_id, f.role,
                            f.reach_id, f.zone_id))
    text = '{"type": "FeatureCollection", "features": [\n' + ",\n".join(rows) + "\n]}\n"
    return Registry(text, tuple(back))


def plume_weight(y_m: NDArray[np.float64]) -> NDArray[np.float32]:
    """Plume strength multiplier along the river (1 at the outfall, 0 upstream of it)."""
    w = np.where(y_m >= OUTFALL_Y_M, np.exp(-(y_m - OUTFALL_Y_M) / PLUME_DECAY_M), 0.0)
    return w.astype(np.float32)
