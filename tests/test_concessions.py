"""Tests of the concession registry: formats, every validation rule, zones, UTM, fuzzing."""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from monitor.concessions import (
    FEATURE_TYPES,
    REACH_ROLES,
    Concession,
    Problem,
    Registry,
    load_concessions,
    read_registry,
)
from monitor.errors import ConcessionNotFoundError, GeometryRepairWarning, RegistryError
from monitor.geometry import is_slug, slugify, unwrapped_centroid, utm_crs, utm_zone

# A concession in the Atacama, written in its own UTM zone (19 S) so areas are exact.
UTM19S = "EPSG:32719"
X0, Y0 = 450_000.0, 7_400_000.0
FORMATS = {"geojson": "GeoJSON", "gpkg": "GPKG", "parquet": None, "shp": "ESRI Shapefile"}


def ubox(x: float, y: float, w: float, h: float) -> Polygon:
    """Box in metres relative to the concession origin."""
    return box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


def good_rows(cid: str = "mine-a", dx: float = 0.0) -> list[dict[str, Any]]:
    """One complete concession: licence, 2 footprints, 1 TSF, 2 reaches, 1 exclusion zone."""
    return [
        dict(concession_id=cid, feature_type="licence", name="Mina A", holder="Acme SA",
             licence_number="L-001", standard_id="cl-2024", valid_from="2020-01-01",
             valid_to="2030-12-31", geometry=ubox(dx, 0, 2000, 2000)),
        dict(concession_id=cid, feature_type="permitted_footprint", zone_id="pit",
             geometry=ubox(dx + 200, 200, 600, 600)),
        dict(concession_id=cid, feature_type="permitted_footprint",
             geometry=ubox(dx + 600, 600, 600, 600)),
        dict(concession_id=cid, feature_type="tailings_facility", facility_id="tsf-1",
             geometry=ubox(dx + 1400, 1400, 400, 400)),
        dict(concession_id=cid, feature_type="water_reach", reach_id="rio-up", role="upstream",
             geometry=ubox(dx - 500, 900, 500, 100)),
        dict(concession_id=cid, feature_type="water_reach", reach_id="rio-down",
             role="downstream", geometry=ubox(dx + 2000, 900, 500, 100)),
        dict(concession_id=cid, feature_type="exclusion_zone", zone_id="wetland",
             geometry=ubox(dx + 100, 1500, 300, 400)),
    ]


def write(tmp_path: Path, rows: list[dict[str, Any]], fmt: str = "geojson",
          crs: Any = UTM19S, name: str = "registry") -> Path:
    """Write rows as a registry file of the given format."""
    frame = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=crs)
    path = tmp_path / f"{name}.{fmt}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shapefile field-name truncation
        if fmt == "parquet":
            frame.to_parquet(path)
        else:
            frame.to_file(path, driver=FORMATS[fmt], engine="pyogrio")
    return path


def problem(reg: Registry, code: str, severity: str, *, index: int | None = None,
            cid: str | None = None) -> Problem:
    """The first problem with ``code``, checked to name the file, the feature and a fix."""
    found = [p for p in reg.problems if p.code == code]
    assert found, f"no {code!r} among {[p.code for p in reg.problems]}"
    p = found[0] if index is None else next(p for p in found if p.feature_index == index)
    assert p.severity == severity
    assert str(reg.path) in p.message
    assert "Fix: " in p.message
    if index is not None:
        assert f"feature #{index} " in p.message
    if cid is not None:
        assert p.concession_id == cid
        assert repr(cid) in p.message
    return p


# ------------------------------------------------------------------------------ formats


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_reads_every_format(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, good_rows() + good_rows("mine-b", dx=5000), fmt)
    reg = read_registry(path)
    assert reg.ok and reg.problems == ()
    assert [c.concession_id for c in reg] == ["mine-a", "mine-b"] and len(reg) == 2
    c = reg["mine-a"]
    assert c.crs.to_epsg() == 32719
    assert c.area_ha == pytest.approx(400.0, rel=1e-6)
    assert c.name == "Mina A" and c.source == path
    assert c.attributes["holder"] == "Acme SA"
    assert c.attributes["licence_number"] == "L-001"
    assert str(c.attributes["valid_from"]) == "2020-01-01"
    kinds = Counter(f.feature_type for f in c.features)
    assert kinds == {"permitted_footprint": 2, "tailings_facility": 1, "water_reach": 2,
                     "exclusion_zone": 1}
    ids = {f.feature_id for f in c.features}
    assert ids == {"pit", "footprint-1", "tsf-1", "rio-up", "rio-down", "wetland"}
    roles = {f.feature_id: f.role for f in c.features if f.feature_type == "water_reach"}
    assert roles == {"rio-up": "upstream", "rio-down": "downstream"}


def test_lonlat_file_gets_the_same_concession(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(good_rows(), crs=UTM19S).to_crs(4326)
    path = tmp_path / "ll.geojson"
    frame.to_file(path)
    c = read_registry(path)["mine-a"]
    assert c.crs.to_epsg() == 32719
    assert c.area_ha == pytest.approx(400.0, rel=1e-4)


@pytest.mark.parametrize(
    ("name", "content"),
    [("missing.geojson", None), ("table.csv", "a,b\n1,2\n"), ("bad.geojson", "not json"),
     ("bad.gpkg", "not sqlite"), ("bad.parquet", "PAR1 garbage")],
)
def test_unreadable_files_raise_registry_error(tmp_path: Path, name: str,
                                               content: str | None) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(RegistryError) as info:
        read_registry(path)
    assert str(path) in str(info.value)
    assert "GeoPackage (.gpkg)" in str(info.value)


def test_plain_parquet_without_geometry_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    pd.DataFrame({"concession_id": ["a"]}).to_parquet(path)
    with pytest.raises(RegistryError, match=r"plain\.parquet"):
        read_registry(path)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    reg = read_registry(path)
    problem(reg, "no-features", "error")
    assert not reg.ok and len(reg) == 0


# ------------------------------------------------------------------------ file-level rules


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "parquet"])
def test_missing_crs(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, good_rows(), fmt, crs=None)
    if fmt == "shp":
        assert not path.with_suffix(".prj").exists()
    reg = read_registry(path)
    p = problem(reg, "missing-crs", "error")
    assert "metres" in p.message and "EPSG:326xx/327xx" in p.message
    assert len(reg) == 0 and not reg.ok


def test_missing_crs_guesses_lonlat(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(good_rows(), crs=UTM19S).to_crs(4326).set_crs(None,
                                                                             allow_override=True)
    path = tmp_path / "nocrs.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyogrio: 'crs' was not provided
        frame.to_file(path)
    assert "declare EPSG:4326" in problem(read_registry(path), "missing-crs", "error").message


def test_missing_and_misnamed_columns(tmp_path: Path) -> None:
    rows = [{("Concession_ID" if k == "concession_id" else k): v for k, v in r.items()
             if k != "feature_type"} for r in good_rows()]
    reg = read_registry(write(tmp_path, rows))
    messages = [p.message for p in reg.problems if p.code == "missing-column"]
    assert len(messages) == 2
    assert any("rename column 'Concession_ID' to 'concession_id'" in m for m in messages)
    assert any("'feature_type' is missing" in m for m in messages)
    assert len(reg) == 0


def test_degrees_in_a_projected_crs(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(good_rows(), crs=UTM19S).to_crs(4326).set_crs(UTM19S,
                                                                            allow_override=True)
    path = tmp_path / "mislabelled.gpkg"
    frame.to_file(path)
    reg = read_registry(path)
    p = problem(reg, "degrees-as-metres", "error")
    assert "declare EPSG:4326" in p.message
    assert len(reg) == 0


def test_metres_in_a_lonlat_crs(tmp_path: Path) -> None:
    path = write(tmp_path, good_rows(), "gpkg", crs=None)
    frame = gpd.read_file(path).set_crs(4326)
    frame.to_file(path)
    reg = read_registry(path)
    p = problem(reg, "coordinates-out-of-range", "error", index=0, cid="mine-a")
    assert "look like metres" in p.message
    assert len(reg) == 0


# ------------------------------------------------------------------------- id and type rules


def test_licence_count(tmp_path: Path) -> None:
    rows = good_rows()[1:] + good_rows("mine-b", dx=5000) + good_rows("mine-b", dx=5000)[:1]
    reg = read_registry(write(tmp_path, rows))
    p = problem(reg, "missing-licence", "error", cid="mine-a")
    assert "no licence" in p.message and "#0" in p.message
    p = problem(reg, "duplicate-concession-id", "error", cid="mine-b")
    assert "#6, #13" in p.message
    assert len(reg) == 0


def test_unknown_feature_type(tmp_path: Path) -> None:
    rows = good_rows()
    rows[3]["feature_type"] = "Tailings"
    rows[1]["feature_type"] = None
    reg = read_registry(write(tmp_path, rows))
    p = problem(reg, "unknown-feature-type", "error", index=3, cid="mine-a")
    assert all(t in p.message for t in FEATURE_TYPES)
    assert "use 'tailings_facility'" in p.message
    problem(reg, "unknown-feature-type", "error", index=1)
    assert "mine-a" not in reg


def test_unsafe_ids_suggest_slugs(tmp_path: Path) -> None:
    rows = good_rows("Mina Ñandú/../x")
    rows[3]["facility_id"] = "TSF 1"
    rows[4]["reach_id"] = "../../etc"
    reg = read_registry(write(tmp_path, rows))
    p = problem(reg, "unsafe-id", "error", index=0, cid="Mina Ñandú/../x")
    assert "rename it to 'mina-nandu-x'" in p.message
    assert "rename it to 'tsf-1'" in problem(reg, "unsafe-id", "error", index=3).message
    assert "rename it to 'etc'" in problem(reg, "unsafe-id", "error", index=4).message
    assert len(reg) == 0


def test_missing_ids_and_roles(tmp_path: Path) -> None:
    rows = good_rows()
    del rows[3]["facility_id"]
    rows[4]["role"] = "Upstream"
    rows[5]["reach_id"] = None
    rows.append(dict(concession_id=None, feature_type="exclusion_zone", geometry=ubox(0, 0, 9, 9)))
    reg = read_registry(write(tmp_path, rows))
    assert "needs a facility_id" in problem(reg, "missing-id", "error", index=3).message
    assert "needs a reach_id" in problem(reg, "missing-id", "error", index=5).message
    assert "concession_id is empty" in problem(reg, "missing-id", "error", index=7).message
    assert "'upstream'" in problem(reg, "invalid-role", "error", index=4).message


def test_duplicate_feature_ids(tmp_path: Path) -> None:
    rows = good_rows() + good_rows("mine-b", dx=5000)
    rows.insert(4, dict(concession_id="mine-a", feature_type="tailings_facility",
                        facility_id="tsf-1", geometry=ubox(1000, 100, 50, 50)))
    reg = read_registry(write(tmp_path, rows))
    p = problem(reg, "duplicate-id", "error", index=4, cid="mine-a")
    assert "already used by feature #3" in p.message
    # the same facility id in another concession is fine
    assert "mine-b" in reg and "mine-a" not in reg


def test_dates(tmp_path: Path) -> None:
    rows = good_rows() + good_rows("mine-b", dx=5000)
    rows[0]["valid_to"] = "2030-13-45"
    rows[7]["valid_from"], rows[7]["valid_to"] = "2031-01-01", "2030-01-01"
    reg = read_registry(write(tmp_path, rows))
    assert "ISO date" in problem(reg, "invalid-date", "error", index=0).message
    assert "before valid_from" in problem(reg, "invalid-date", "error", index=7).message


# -------------------------------------------------------------------------- geometry rules


def test_empty_and_null_geometries(tmp_path: Path) -> None:
    rows = good_rows()
    rows[1]["geometry"] = None
    rows[3]["geometry"] = Polygon()
    reg = read_registry(write(tmp_path, rows, "gpkg"))
    problem(reg, "empty-geometry", "error", index=1, cid="mine-a")
    problem(reg, "empty-geometry", "error", index=3, cid="mine-a")
    assert len(reg) == 0


def test_wrong_geometry_types(tmp_path: Path) -> None:
    rows = good_rows()
    rows[3]["geometry"] = Point(X0 + 1500, Y0 + 1500)
    rows[4]["geometry"] = LineString([(X0 - 500, Y0 + 950), (X0, Y0 + 950)])
    reg = read_registry(write(tmp_path, rows))
    problem(reg, "wrong-geometry-type", "error", index=3, cid="mine-a")
    p = problem(reg, "wrong-geometry-type", "error", index=4, cid="mine-a")
    assert "LineString" in p.message and "water reaches included" in p.message
    assert "rio-up" in p.message
    assert len(reg) == 0


def test_bow_tie_is_repaired_and_reported(tmp_path: Path) -> None:
    rows = good_rows()
    rows[3]["geometry"] = Polygon([(X0 + 1400, Y0 + 1400), (X0 + 1800, Y0 + 1800),
                                   (X0 + 1800, Y0 + 1400), (X0 + 1400, Y0 + 1800)])
    assert rows[3]["geometry"].area == 0.0
    reg = read_registry(write(tmp_path, rows))
    assert reg.ok
    p = problem(reg, "invalid-geometry-repaired", "warning", index=3, cid="mine-a")
    assert "area 0 ha ->" in p.message and "+inf %" in p.message
    assert "bow-tie" in p.message and "tsf-1" in p.message
    tsf = reg["mine-a"].zones(0).tailings_facilities["tsf-1"]
    assert tsf.is_valid and tsf.area == pytest.approx(80_000, rel=1e-6)


def test_repair_reports_area_change_in_percent(tmp_path: Path) -> None:
    rows = good_rows()
    ring = [(0, 0), (2000, 0), (2000, 2000), (800, 2000), (1200, 2400), (1200, 1800), (0, 2000)]
    rows[0]["geometry"] = Polygon([(X0 + x, Y0 + y) for x, y in ring])  # 95 -> 99 units
    reg = read_registry(write(tmp_path, rows))
    p = problem(reg, "invalid-geometry-repaired", "warning", index=0, cid="mine-a")
    assert "(+4.21 %)" in p.message
    assert reg["mine-a"].licence.is_valid


def test_geometry_collection_keeps_polygons(tmp_path: Path) -> None:
    rows = good_rows()
    rows[1]["geometry"] = shapely.GeometryCollection([ubox(200, 200, 600, 600),
                                                      Point(X0, Y0)])
    reg = read_registry(write(tmp_path, rows))
    problem(reg, "geometry-collection", "warning", index=1, cid="mine-a")
    assert reg.ok


def test_z_is_dropped_and_reported(tmp_path: Path) -> None:
    rows = good_rows()
    rows[0]["geometry"] = shapely.force_3d(rows[0]["geometry"], 2500.0)
    rows[1]["geometry"] = shapely.force_3d(rows[1]["geometry"], 2500.0)
    reg = read_registry(write(tmp_path, rows))
    assert reg.ok
    problem(reg, "z-dropped", "warning", index=0, cid="mine-a")
    problem(reg, "z-dropped", "warning", index=1, cid="mine-a")
    c = reg["mine-a"]
    assert not c.licence.has_z and not any(f.geometry.has_z for f in c.features)


def fiji_rows(west: float = 179.95, east: float = -179.99) -> list[dict[str, Any]]:
    """A licence drawn across the antimeridian (edges jump from +179.x to -179.x)."""
    lic = Polygon([(west, -17.0), (east, -17.0), (east, -16.96), (west, -16.96)])
    tsf = box(179.96, -16.99, 179.97, -16.98)
    return [dict(concession_id="fiji", feature_type="licence", name="Vatukoula",
                 geometry=lic),
            dict(concession_id="fiji", feature_type="tailings_facility", facility_id="tsf",
                 geometry=tsf)]


def test_antimeridian_polygon_is_split(tmp_path: Path) -> None:
    reg = read_registry(write(tmp_path, fiji_rows(), crs=4326))
    p = problem(reg, "antimeridian-split", "warning", index=0, cid="fiji")
    assert "times too large" in p.message
    c = reg["fiji"]
    assert c.crs.to_epsg() == 32760
    assert c.licence.geom_type == "Polygon"  # re-joined in UTM
    assert c.area_ha == pytest.approx(0.06 * 0.04 * 111.32**2 * 100 * math.cos(math.radians(17)),
                                      rel=0.01)
    ll = c.aoi_lonlat(500)
    assert ll.geom_type == "MultiPolygon" and ll.bounds[0] == -180 and ll.bounds[2] == 180
    assert not any(p.code == "outside-licence" for p in reg.problems)


def test_zero_to_360_longitudes_are_wrapped(tmp_path: Path) -> None:
    rows = fiji_rows()
    rows[0]["geometry"] = box(179.95, -17.0, 180.01, -16.96)
    reg = read_registry(write(tmp_path, rows, "gpkg", crs=4326))
    problem(reg, "longitude-wrapped", "warning", index=0, cid="fiji")
    assert reg.ok and reg["fiji"].crs.to_epsg() == 32760


# --------------------------------------------------------------------- area and place rules


def test_tiny_and_huge_licences(tmp_path: Path) -> None:
    rows = good_rows() + good_rows("mine-b", dx=5000)
    rows[0]["geometry"] = ubox(0, 0, 5, 5)  # 0.0025 ha
    frame = gpd.GeoDataFrame(pd.DataFrame(rows), crs=UTM19S).to_crs(4326)
    frame.loc[7, "geometry"] = box(-75.0, -45.0, -50.0, -10.0)
    path = tmp_path / "areas.geojson"
    frame.to_file(path)
    reg = read_registry(path)
    p = problem(reg, "area-too-small", "error", index=0, cid="mine-a")
    assert "0.0025 ha" in p.message and "read as metres" in p.message
    assert "min_area_ha" in p.message
    p = problem(reg, "area-too-large", "error", index=7, cid="mine-b")
    assert "antimeridian" in p.message and "max_area_ha" in p.message
    assert len(reg) == 0
    relaxed = read_registry(path, min_area_ha=0.001, max_area_ha=1e9,
                            max_feature_distance_km=5000)
    assert set(relaxed.concessions) == {"mine-a", "mine-b"}


def test_features_outside_their_licence(tmp_path: Path) -> None:
    rows = good_rows()
    rows[3]["geometry"] = ubox(5000, 5000, 100, 100)
    rows[1]["geometry"] = ubox(1800, 200, 600, 600)  # two thirds outside
    reg = read_registry(write(tmp_path, rows))
    assert reg.ok
    problem(reg, "outside-licence", "warning", index=3, cid="mine-a")
    p = problem(reg, "partly-outside-licence", "warning", index=1, cid="mine-a")
    assert "66.7 %" in p.message
    zones = reg["mine-a"].zones(0)
    assert zones.permitted_footprint.area == pytest.approx(200 * 600 + 600 * 600, rel=1e-6)


def test_feature_on_another_continent(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(pd.DataFrame(good_rows()), crs=UTM19S).to_crs(4326)
    frame.loc[4, "geometry"] = box(20.0, 10.0, 20.01, 10.01)
    path = tmp_path / "far.geojson"
    frame.to_file(path)
    reg = read_registry(path)
    p = problem(reg, "feature-far-from-licence", "error", index=4, cid="mine-a")
    assert "km from its licence" in p.message
    assert "mine-a" not in reg


def test_every_problem_is_collected(tmp_path: Path) -> None:
    rows = good_rows() + good_rows("mine-b", dx=5000)
    rows[1]["geometry"] = None
    rows[3]["feature_type"] = "tailing"
    rows[5]["role"] = "sideways"
    rows[10]["facility_id"] = "TSF!"
    reg = read_registry(write(tmp_path, rows, "gpkg"))
    assert {p.code for p in reg.problems} >= {"empty-geometry", "unknown-feature-type",
                                               "invalid-role"}
    assert sum(p.severity == "error" for p in reg.problems) == 4
    assert len(reg) == 0


# ------------------------------------------------------------------------ registry API


def test_lookup_and_strict_loading(tmp_path: Path) -> None:
    rows = good_rows() + good_rows("mine-b", dx=5000) + good_rows("mine-c", dx=10000)
    rows[15]["feature_type"] = "nope"
    rows[3]["geometry"] = Polygon([(X0 + 1400, Y0 + 1400), (X0 + 1800, Y0 + 1800),
                                   (X0 + 1800, Y0 + 1400), (X0 + 1400, Y0 + 1800)])
    path = write(tmp_path, rows)
    reg = read_registry(path)
    assert "mine-b" in reg and isinstance(reg["mine-b"], Concession)
    with pytest.raises(ConcessionNotFoundError, match="close matches: ") as missing:
        reg["mine-d"]
    assert "mine-a" in str(missing.value) and "mine-b" in str(missing.value)
    with pytest.raises(ConcessionNotFoundError, match="unusable") as info:
        reg["mine-c"]
    assert len(info.value.problems) == 1
    with pytest.raises(RegistryError) as strict:
        load_concessions(path)
    assert len(strict.value.problems) == 1 and "nope" in strict.value.problems[0]
    del rows[15]
    with pytest.warns(GeometryRepairWarning, match="make_valid"):
        loaded = load_concessions(write(tmp_path, rows, name="fixed"))
    assert len(loaded) == 3 and loaded.ok


def test_summary_is_json(tmp_path: Path) -> None:
    rows = good_rows()
    rows.append(dict(concession_id="bad", feature_type="licence", geometry=None))
    summary = read_registry(write(tmp_path, rows, "gpkg")).summary(250)
    text = json.dumps(summary)
    assert json.loads(text)["ok"] is False
    good, bad = summary["concessions"]
    assert good["zones"]["water_reach"] == {"count": 2, "upstream": 1, "downstream": 1}
    assert good["zones"]["buffer_ring"]["buffer_m"] == 250
    assert bad == {"id": "bad", "name": None, "usable": False, "area_ha": None, "crs": None,
                   "zones": None, "problems": bad["problems"]}


# ---------------------------------------------------------------------------- zones


def test_zone_areas_add_up(tmp_path: Path) -> None:
    c = read_registry(write(tmp_path, good_rows()))["mine-a"]
    zones = c.zones(500.0)
    total = zones.permitted_footprint.area + zones.licence_outside_footprint.area
    assert total == pytest.approx(c.licence.area, rel=1e-4)
    assert zones.permitted_footprint.area == pytest.approx(2 * 600**2 - 200**2, rel=1e-6)
    s, d = 2000.0, 500.0
    assert zones.buffer_ring.area == pytest.approx(4 * s * d + math.pi * d**2, rel=2e-3)
    assert not zones.buffer_ring.intersects(c.licence.buffer(-1))
    assert set(zones.tailings_facilities) == {"tsf-1"}
    assert set(zones.exclusion_zones) == {"wetland"}
    assert zones.water_reaches["rio-down"].role == "downstream"
    frame = zones.as_geodataframe(c.crs)
    assert list(frame.columns) == ["zone", "zone_id", "role", "area_ha", "geometry"]
    assert frame.crs == c.crs and len(frame) == 7
    assert frame["zone_id"].notna().all()
    by_zone = frame.groupby("zone")["area_ha"].sum()
    assert by_zone["permitted_footprint"] + by_zone["licence_outside_footprint"] == (
        pytest.approx(c.area_ha, rel=1e-4))
    assert c.aoi(500).area == pytest.approx(c.licence.area + zones.buffer_ring.area, rel=1e-9)


def test_zero_and_negative_buffers(tmp_path: Path) -> None:
    c = read_registry(write(tmp_path, good_rows()))["mine-a"]
    assert c.zones(0).buffer_ring.is_empty
    with pytest.raises(ValueError, match="buffer_m"):
        c.zones(-1)
    with pytest.raises(ValueError, match="buffer_m"):
        c.aoi(float("nan"))


def test_concession_without_footprints(tmp_path: Path) -> None:
    c = read_registry(write(tmp_path, good_rows()[:1]))["mine-a"]
    zones = c.zones(100)
    assert zones.permitted_footprint.is_empty
    assert zones.licence_outside_footprint.area == pytest.approx(c.licence.area)


# ------------------------------------------------------------------------------- UTM


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [(-69.5, -23.5, 32719), (10.0, 50.0, 32632), (-72.0, -30.0, 32719),
     (-72.0001, -30.0, 32718), (0.0, 0.0, 32631), (-0.0001, -0.0001, 32730),
     (179.99, -17.0, 32760), (180.0, -17.0, 32701), (-180.0, 10.0, 32601),
     (5.0, 60.0, 32632), (2.0, 60.0, 32631), (10.0, 78.0, 32633), (40.0, 78.0, 32637),
     (360.5, 0.5, 32631)],
)
def test_utm_zone(lon: float, lat: float, epsg: int) -> None:
    assert utm_crs(lon, lat).to_epsg() == epsg


@settings(max_examples=60, deadline=None)
@given(st.floats(-179.9, 179.9), st.floats(-79.9, 83.9))
def test_utm_zone_matches_pyproj(lon: float, lat: float) -> None:
    zone, north = utm_zone(lon, lat)
    on_boundary = abs((lon + 180) / 6 - round((lon + 180) / 6)) < 1e-6 or abs(lat) < 1e-6
    exception = (56 <= lat < 64 and 3 <= lon < 12) or (lat >= 72 and 0 <= lon < 42)
    if on_boundary or exception:
        return  # pyproj returns both neighbours / EPSG areas ignore Norway and Svalbard
    found = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(
        lon, lat, lon, lat))
    codes = {int(info.code) for info in found}
    assert (32600 if north else 32700) + zone in codes


def test_antimeridian_centroid_chooses_the_right_side(tmp_path: Path) -> None:
    east = read_registry(write(tmp_path, fiji_rows(179.90, -179.99), crs=4326, name="e"))
    west = read_registry(write(tmp_path, fiji_rows(179.99, -179.90), crs=4326, name="w"))
    assert east["fiji"].crs.to_epsg() == 32760  # most of it west of 180: zone 60
    assert west["fiji"].crs.to_epsg() == 32701  # most of it east of 180: zone 1
    split = MultiPolygon([box(179.9, 0, 180, 1), box(-180, 0, -179.99, 1)])
    lon, _ = unwrapped_centroid(split)
    assert lon == pytest.approx(179.955, abs=1e-3)
    assert utm_zone(split.centroid.x, 0.5)[0] == 55  # the naive centroid is at 147 E


def test_slugify() -> None:
    assert slugify("Mina Ñandú  (Norte)") == "mina-nandu-norte"
    assert slugify("817") == "817" and is_slug("817")
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("___") == "" and not is_slug("")
    assert len(slugify("x" * 100)) == 64 and is_slug(slugify("x" * 100))
    assert not is_slug("-a") and not is_slug("A") and not is_slug("a" * 65)


# -------------------------------------------------------------------------- fuzzing

COLUMNS = ["concession_id", "feature_type", "name", "facility_id", "reach_id", "role",
           "zone_id", "valid_from", "valid_to", "holder"]
garbage = st.one_of(
    st.none(), st.text(max_size=12), st.integers(-10**12, 10**12), st.booleans(),
    st.floats(allow_nan=False), st.lists(st.integers(0, 9), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["mine-a", "mine-b", "Mine A", "", "upstream", "downstream",
                     "2020-01-01", "2020-02-30", *FEATURE_TYPES]),
)


@st.composite
def geometries(draw: st.DrawFn) -> dict[str, Any] | None:
    lon0 = draw(st.sampled_from([-69.5, 179.99, -179.99, 0.0, 359.0, 1e7]))
    lat0 = draw(st.floats(-89.0, 89.0))
    n = draw(st.integers(0, 7))
    pts = [[lon0 + draw(st.floats(-0.05, 0.05)), lat0 + draw(st.floats(-0.05, 0.05))]
           for _ in range(n)]
    kind = draw(st.sampled_from(["Polygon", "MultiPolygon", "Point", "LineString", "null",
                                 "bogus"]))
    if kind == "null":
        return None
    if kind == "Point":
        return {"type": "Point", "coordinates": pts[0] if pts else []}
    if kind == "LineString":
        return {"type": "LineString", "coordinates": pts}
    ring = [*pts, pts[0]] if pts else []
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": [ring]}
    if kind == "MultiPolygon":
        return {"type": "MultiPolygon", "coordinates": [[ring], [ring]]}
    return {"type": "Bogus", "coordinates": draw(garbage)}


garbage_features = st.fixed_dictionaries(
    {"type": st.just("Feature"),
     "properties": st.dictionaries(st.sampled_from(COLUMNS), garbage, max_size=8),
     "geometry": geometries()},
)


@st.composite
def plausible_features(draw: st.DrawFn) -> dict[str, Any]:
    """Features that often make usable concessions, with random extra attributes."""
    lon0 = draw(st.sampled_from([-69.5, 179.995, 10.0]))
    lat0 = draw(st.sampled_from([-23.5, 0.0, 60.0]))
    pts = [[lon0 + draw(st.floats(-0.02, 0.02)), lat0 + draw(st.floats(-0.02, 0.02))]
           for _ in range(draw(st.integers(3, 6)))]
    props = draw(st.dictionaries(st.sampled_from(COLUMNS[2:]), garbage, max_size=4))
    props["concession_id"] = draw(st.sampled_from(["mine-a", "mine-b"]))
    props["feature_type"] = draw(st.sampled_from([*FEATURE_TYPES, "licence", "licence"]))
    props["facility_id"] = draw(st.sampled_from(["tsf-1", "tsf-2", None]))
    props["reach_id"] = draw(st.sampled_from(["r1", "r2"]))
    props["role"] = draw(st.sampled_from(REACH_ROLES))
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [[*pts, pts[0]]]}}


features = st.one_of(plausible_features(), garbage_features)


@pytest.mark.timeout(120)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(features, max_size=6), st.integers(0, 9), st.binary(max_size=40))
def test_fuzz_only_registry_errors_escape(tmp_path: Path, feats: list[dict[str, Any]],
                                          raw: int, junk: bytes) -> None:
    path = tmp_path / "fuzz.geojson"
    if raw == 0:
        path.write_bytes(junk)
    else:
        path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    try:
        reg = read_registry(path)
    except RegistryError:
        event("unreadable")
        return
    event(f"usable concessions: {min(len(reg), 2)}")
    for code in {p.code for p in reg.problems}:
        event(code)
    assert reg.ok == (not any(p.severity == "error" for p in reg.problems))
    for c in reg:
        assert is_slug(c.concession_id)
        assert c.licence.is_valid and not c.licence.is_empty
        assert not any(p.severity == "error" for p in reg.problems_for(c.concession_id))
        c.zones(100.0).as_geodataframe(c.crs)
    json.dumps(reg.summary(100.0))


# ----------------------------------------------------------------------------- real data


def chile_registry(shared: Path, out: Path) -> Path:
    """Chilean mine sites as licences; their sectors as footprints and tailings facilities."""
    ann = shared / "chile-mine-sectors" / "annotations"
    sites = pd.concat([gpd.read_file(ann / "train_sites.geojson"),
                       gpd.read_file(ann / "test_sites.geojson")], ignore_index=True)
    sectors = gpd.read_file(ann / "Chile_LSM_sectors.geojson")
    tsf = sectors["class"] == 8
    licences = gpd.GeoDataFrame(
        {"concession_id": [slugify(str(s)) for s in sites["site_id"]],
         "feature_type": "licence", "name": [f"Chile site {s}" for s in sites["site_id"]]},
        geometry=sites.geometry.values, crs=sites.crs)
    parts = gpd.GeoDataFrame(
        {"concession_id": [slugify(str(s)) for s in sectors["site_id"]],
         "feature_type": ["tailings_facility" if t else "permitted_footprint" for t in tsf],
         "facility_id": [slugify(n) if t else None for n, t in zip(sectors["Name"], tsf,
                                                                   strict=True)],
         "zone_id": [None if t else slugify(n) for n, t in zip(sectors["Name"], tsf,
                                                               strict=True)]},
        geometry=sectors.geometry.values, crs=sectors.crs)
    path = out / "chile.geojson"
    pd.concat([licences, parts], ignore_index=True).to_file(path)
    return path


@pytest.mark.realdata
def test_real_chile_mine_sectors(shared_data: Path, tmp_path: Path) -> None:
    reg = read_registry(chile_registry(shared_data, tmp_path))
    codes = Counter((p.severity, p.code) for p in reg.problems)
    zones = Counter(c.crs.to_epsg() for c in reg)
    area = sum(c.area_ha for c in reg)
    tsfs = sum(len(c.features_of("tailings_facility")) for c in reg)
    print(f"\nchile: {len(reg)}/139 concessions usable, {area:,.0f} ha, {tsfs} TSFs, "
          f"UTM {dict(zones)}, problems {dict(codes)}")
    assert len(reg) == 136  # three sites carry a sector name twice
    assert codes == {("warning", "z-dropped"): 1343,  # 139 sites + 1204 sectors, all Z
                     ("warning", "invalid-geometry-repaired"): 10,
                     ("warning", "outside-licence"): 9,
                     ("error", "duplicate-id"): 3}
    assert {p.concession_id for p in reg.problems if p.severity == "error"} == {
        "2108", "2504", "3218"}
    assert zones == {32719: 136}
    assert area == pytest.approx(35_208, rel=1e-3)
    repairs = [p for p in reg.problems if p.code == "invalid-geometry-repaired"]
    assert all("%" in p.message for p in repairs)


@pytest.mark.realdata
def test_real_global_mining_polygons(shared_data: Path, tmp_path: Path) -> None:
    src = gpd.read_file(shared_data / "maus-tang-demo" / "mining_polygons_combined_demo.gpkg")
    frame = gpd.GeoDataFrame(
        {"concession_id": [f"maus-{i}" for i in src["id"]], "feature_type": "licence",
         "name": src["COUNTRY_NAME"]}, geometry=src.geometry, crs=src.crs)
    path = tmp_path / "maus.gpkg"
    frame.to_file(path)
    reg = read_registry(path)
    zones = Counter(c.crs.to_epsg() for c in reg)
    area = sum(c.area_ha for c in reg)
    fiji = [c for c in reg if c.name == "Fiji"]
    print(f"\nmaus-tang: {len(reg)}/100 usable, {len(zones)} UTM zones "
          f"({sum(z > 32700 for z in zones.elements())} south), {area:,.0f} ha, "
          f"problems {len(reg.problems)}, Fiji in EPSG:{fiji[0].crs.to_epsg()}")
    assert reg.ok and reg.problems == () and len(reg) == 100
    assert len(zones) == 36
    assert sum(z > 32700 for z in zones.elements()) == 57
    assert area == pytest.approx(14_232, rel=1e-3)
    assert fiji[0].crs.to_epsg() == 32760  # 179.96 E: the antimeridian region, not crossing it
    assert fiji[0].aoi_lonlat(20_000).geom_type == "MultiPolygon"  # a 20 km AOI does cross


def test_readme_example_is_a_valid_registry(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "aoi" / "README.md").read_text()
    example = readme.split("```json\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.geojson"
    path.write_text(example)
    reg = load_concessions(path)
    mine = reg["mina-ejemplo"]
    assert reg.problems == () and mine.crs.to_epsg() == 32719
    assert mine.area_ha == pytest.approx(450, rel=0.02)
    assert len(mine.zones(500).as_geodataframe(mine.crs)) == 7


def test_geopackage_with_several_layers(tmp_path: Path) -> None:
    path = write(tmp_path, good_rows(), "gpkg")
    gpd.GeoDataFrame({"x": [1]}, geometry=[Point(0, 0)], crs=4326).to_file(path, layer="other")
    reg = read_registry(path)
    assert "only 'registry' was read" in problem(reg, "multiple-layers", "warning").message
    assert "mine-a" in reg


def test_invalid_polygon_across_antimeridian_is_repaired_then_split(tmp_path: Path) -> None:
    # found by the fuzz test: splitting before repairing sent a part to the North Pole
    bow_tie = Polygon([(179.98, -17.0), (-179.98, -16.98), (-179.98, -17.0), (179.98, -16.98)])
    rows = fiji_rows()
    rows[0]["geometry"] = bow_tie
    del rows[1]
    reg = read_registry(write(tmp_path, rows, crs=4326))
    problem(reg, "invalid-geometry-repaired", "warning", index=0, cid="fiji")
    problem(reg, "antimeridian-split", "warning", index=0, cid="fiji")
    c = reg["fiji"]
    assert c.licence.is_valid and c.aoi_lonlat(0).bounds[3] < -16.9
    assert c.area_ha == pytest.approx(0.04 * 0.02 * 111.32**2 * 100 * math.cos(math.radians(17))
                                      / 2, rel=0.02)


def test_self_intersecting_polygon_across_180_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    # found by the fuzz test: the antimeridian package asserts on this bow-tie at 180 E
    ring = [[179.995, -23.5], [179.995, -23.4921875], [180.010625, -23.5],
            [179.995, -23.515625], [179.979375, -23.5], [180.0028125, -23.48046875],
            [179.995, -23.5]]
    path = tmp_path / "bowtie.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"concession_id": "c", "feature_type": "licence"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = read_registry(path)
    codes = {p.code for p in registry.problems}
    assert "antimeridian-split-failed" in codes
    assert not registry.ok and "c" not in registry
