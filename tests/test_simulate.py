"""Tests of the synthetic Sentinel-2 L2A portfolio generator (monitor.simulate)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from scipy import ndimage

from monitor.errors import SimulationError
from monitor.simulate import Portfolio, PortfolioSpec, generate_portfolio, write_registry

PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMMITTED_REGISTRY = PROJECT_ROOT / "aoi" / "demo" / "concessions.geojson"
BANDS_10M = ("blue", "green", "red", "nir")
BANDS_20M = ("nir08", "swir16", "swir22")
SCENE_KEYS = {"scene_id", "datetime", "platform", "tile", "processing_baseline",
              "boa_add_offset", "quantification_value", "offset_applied", "collection",
              "cloud_cover"}
SWITCH = date(2022, 1, 25)
# truth mask bits (see truth.json "cloud_model")
CLOUD, HAZE, MISSED, SHADOW = 1, 2, 4, 8

# fixed regions of the demo block (rows, cols of the 10 m grid), see monitor/simulate/layout
FOREST = (slice(118, 140), slice(20, 40))  # demo-compliant, outside the footprint
TAILINGS = (slice(204, 212), slice(58, 98))  # tailings beach north of the pond
PIT = (slice(50, 60), slice(55, 65))  # demo-compliant pit floor (stable bare soil)


# --- fixtures --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pf(tmp_path_factory: pytest.TempPathFactory) -> Portfolio:
    """The default portfolio (size 320, 2021-06-01 .. 2022-12-01), generated once."""
    return generate_portfolio(tmp_path_factory.mktemp("pf") / "out", PortfolioSpec())


SHORT = PortfolioSpec(start=date(2022, 1, 5), end=date(2022, 2, 10))


@pytest.fixture(scope="module")
def short_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A short series crossing the baseline switch, twice with seed 0 and once with seed 1."""
    base = tmp_path_factory.mktemp("short")
    a = generate_portfolio(base / "a", SHORT).root
    b = generate_portfolio(base / "b", SHORT).root
    c = generate_portfolio(base / "c", PortfolioSpec(start=SHORT.start, end=SHORT.end,
                                                     seed=1)).root
    return a, b, c


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _meta(pf: Portfolio, sid: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads((pf.scenes_dir / sid / "scene.json").read_text())
    return out


def _read(pf: Portfolio, sid: str, band: str) -> np.ndarray:
    with rasterio.open(pf.scenes_dir / sid / f"{band}.tif") as src:
        return src.read(1)


def _refl(pf: Portfolio, sid: str) -> dict[str, np.ndarray]:
    """Reflectance of every band at 10 m (20 m bands repeated), NaN where DN is 0."""
    off = _meta(pf, sid)["boa_add_offset"]
    out = {}
    for b in (*BANDS_10M, *BANDS_20M):
        dn = _read(pf, sid, b)
        r = (dn.astype(np.float64) + off) / 10000.0
        r[dn == 0] = np.nan
        out[b] = r if dn.shape[0] == 320 else np.kron(r, np.ones((2, 2)))
    return out


def _scl10(pf: Portfolio, sid: str) -> np.ndarray:
    return np.kron(_read(pf, sid, "scl"), np.ones((2, 2), np.uint8))


def _truth_mask(pf: Portfolio, sid: str) -> np.ndarray:
    with rasterio.open(pf.root / "truth" / "masks" / f"{sid}.tif") as src:
        return src.read(1)


def _scenes(pf: Portfolio, *, unique: bool = True) -> list[dict[str, Any]]:
    return [s for s in pf.truth["scenes"] if not unique or s["kind"] != "duplicate"]


def _nd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (a - b) / (a + b)


# --- determinism -------------------------------------------------------------------------
def test_same_seed_gives_identical_bytes(short_pair: tuple[Path, Path, Path]) -> None:
    a, b, _ = short_pair
    da, db = _digests(a), _digests(b)
    assert len(da) > 50
    assert da == db


def test_different_seed_gives_different_scenes(short_pair: tuple[Path, Path, Path]) -> None:
    a, _, c = short_pair
    da, dc = _digests(a), _digests(c)
    assert da.keys() == dc.keys()
    band_files = [k for k in da if k.startswith("scenes/") and k.endswith("red.tif")]
    assert all(da[k] != dc[k] for k in band_files)
    assert da["concessions.geojson"] == dc["concessions.geojson"]


# --- files and metadata --------------------------------------------------------------------
def test_all_files_are_cogs_on_one_grid(pf: Portfolio) -> None:
    transform10 = transform20 = None
    for sid in pf.scene_ids:
        for band in (*BANDS_10M, *BANDS_20M, "scl"):
            with rasterio.open(pf.scenes_dir / sid / f"{band}.tif") as src:
                assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
                assert src.crs.to_epsg() == 32722
                assert src.nodata == 0
                assert src.count == 1
                assert src.compression.name.lower() in ("zstd", "deflate")
                assert src.block_shapes[0] in ((256, 256), (512, 512))
                if band in BANDS_10M:
                    assert (src.width, src.height, src.dtypes[0]) == (320, 320, "uint16")
                    transform10 = transform10 or src.transform
                    assert src.transform == transform10
                else:
                    dtype = "uint8" if band == "scl" else "uint16"
                    assert (src.width, src.height, src.dtypes[0]) == (160, 160, dtype)
                    transform20 = transform20 or src.transform
                    assert src.transform == transform20
    assert transform10 is not None and transform20 is not None
    assert transform10.a == 10 and transform10.e == -10 and transform20.a == 20
    assert transform10.c % 60 == 0 and transform10.f % 60 == 0
    assert (transform10.c, transform10.f) == (transform20.c, transform20.f)


def test_scene_json_contract(pf: Portfolio) -> None:
    seen_platforms = set()
    for sid in pf.scene_ids:
        m = _meta(pf, sid)
        assert set(m) == SCENE_KEYS
        assert m["scene_id"] == sid
        assert re.fullmatch(r"S2[AB]_MSIL2A_\d{8}T\d{6}_N\d{4}_R038_T22MFT(_\d{8}T\d{6})?", sid)
        dt = datetime.fromisoformat(m["datetime"].replace("Z", "+00:00"))
        assert m["datetime"].endswith("Z") and dt.hour == 13 and 20 <= dt.minute <= 29
        assert m["platform"] in ("sentinel-2a", "sentinel-2b")
        assert sid[:3] == ("S2A" if m["platform"] == "sentinel-2a" else "S2B")
        seen_platforms.add(m["platform"])
        assert m["tile"] == "22MFT" and m["collection"] == "sentinel-2-l2a"
        assert m["quantification_value"] == 10000 and m["offset_applied"] is False
        assert 0.0 <= m["cloud_cover"] <= 100.0
        pb = tuple(int(x) for x in m["processing_baseline"].split("."))
        assert m["boa_add_offset"] == (-1000 if pb >= (4, 0) else 0)
    assert seen_platforms == {"sentinel-2a", "sentinel-2b"}
    assert 100 <= len(pf.scene_ids) <= 120


def test_baseline_switch_by_baseline_not_date(pf: Portfolio) -> None:
    for s in _scenes(pf, unique=False):
        d = date.fromisoformat(s["date"])
        if s["kind"] == "collection-1":
            assert d < SWITCH and s["processing_baseline"] == "05.10"
            assert s["boa_add_offset"] == -1000
        else:
            assert s["processing_baseline"] == ("04.00" if d >= SWITCH else "03.01")
    c1 = pf.truth["special_scenes"]["collection_1"]
    assert len(c1) == 1


def _clear_median(pf: Portfolio, sid: str, region: tuple[slice, slice], band: str
                  ) -> float | None:
    clear = _truth_mask(pf, sid)[region] == 0
    if clear.mean() < 0.9:
        return None
    return float(np.median(_read(pf, sid, band)[region][clear]))


def test_dn_shift_of_1000_at_the_same_reflectance(pf: Portfolio) -> None:
    """Stable tailings: DN jump by +1000 at the switch and for the PB 05.10 scene."""
    before, after, c1 = [], [], []
    for s in _scenes(pf):
        v = _clear_median(pf, s["scene_id"], TAILINGS, "red")
        if v is None:
            continue
        if s["boa_add_offset"] == 0:
            before.append(v)
        elif date.fromisoformat(s["date"]) < SWITCH:
            c1.append(v)
        elif date.fromisoformat(s["date"]) < date(2022, 6, 1):  # before the pond grows
            after.append(v)
    assert len(before) >= 5 and len(after) >= 2
    assert abs(np.median(after) - np.median(before) - 1000) < 40
    assert all(abs(v - np.median(before) - 1000) < 40 for v in c1)
    # in reflectance the series is continuous
    assert abs((np.median(after) - 1000) / 1e4 - np.median(before) / 1e4) < 0.004


def test_duplicate_scene(pf: Portfolio) -> None:
    dups = pf.truth["special_scenes"]["duplicates"]
    assert len(dups) == 1
    orig, dup = dups[0]
    assert orig != dup
    mo, md = _meta(pf, orig), _meta(pf, dup)
    for k in ("platform", "tile", "datetime", "processing_baseline", "boa_add_offset"):
        assert mo[k] == md[k]
    assert np.array_equal(_read(pf, orig, "scl"), _read(pf, dup, "scl"))
    ro, rd = _read(pf, orig, "red").astype(int), _read(pf, dup, "red").astype(int)
    diff = np.abs(ro - rd)
    assert 0 < np.median(diff) < 100  # near-identical: only the noise differs


def test_partial_scene_has_nodata(pf: Portfolio) -> None:
    (sid,) = pf.truth["special_scenes"]["partial_nodata"]
    red, scl = _read(pf, sid, "red"), _read(pf, sid, "scl")
    assert 0.2 < (red == 0).mean() < 0.6
    assert np.array_equal(scl == 0, red[::2, ::2] == 0)


# --- spectra -----------------------------------------------------------------------------
def test_vegetation_ndvi_high_and_seasonal(pf: Portfolio) -> None:
    by_month: dict[int, list[float]] = {}
    for s in _scenes(pf):
        clear = _truth_mask(pf, s["scene_id"])[FOREST] == 0
        if clear.mean() < 0.9:
            continue
        r = _refl(pf, s["scene_id"])
        v = float(np.median(_nd(r["nir"], r["red"])[FOREST][clear]))
        assert v > 0.6, s["date"]
        by_month.setdefault(int(s["date"][5:7]), []).append(v)
    wet = np.median([v for m in (3, 4, 5) for v in by_month.get(m, [])])
    dry = np.median([v for m in (9, 10) for v in by_month.get(m, [])])
    assert 0.8 <= wet <= 0.92 and 0.62 <= dry <= 0.75 and wet - dry > 0.1


@pytest.mark.parametrize("region", [TAILINGS, PIT], ids=["tailings", "pit"])
def test_bare_surfaces_low_ndvi_positive_bsi(pf: Portfolio, region: tuple[slice, slice]
                                             ) -> None:
    n = 0
    for s in _scenes(pf)[:60]:
        clear = _truth_mask(pf, s["scene_id"])[region] == 0
        if clear.mean() < 0.9:
            continue
        r = _refl(pf, s["scene_id"])
        ndvi = _nd(r["nir"], r["red"])[region][clear]
        bsi = _nd(r["swir16"] + r["red"], r["nir"] + r["blue"])[region][clear]
        assert np.median(ndvi) < 0.2 and np.median(bsi) > 0.0
        n += 1
    assert n >= 10


def _reach_masks(pf: Portfolio) -> dict[str, np.ndarray]:
    import geopandas as gpd
    from rasterio.features import rasterize

    reg = gpd.read_file(pf.registry_path).to_crs(32722)
    with rasterio.open(pf.scenes_dir / pf.scene_ids[0] / "red.tif") as src:
        transform, shape = src.transform, src.shape
    with rasterio.open(pf.root / "truth" / "demo-plume" / "water.tif") as src:
        water = src.read(1) == 1
    out = {}
    for _, row in reg[reg.feature_type == "water_reach"].iterrows():
        m = rasterize([(row.geometry, 1)], out_shape=shape, transform=transform) == 1
        out[row.role] = m & water
    return out


def test_water_spectra_and_plume(pf: Portfolio) -> None:
    reaches = _reach_masks(pf)
    assert reaches["upstream"].sum() >= 100 and reaches["downstream"].sum() >= 100
    plume_dates = set(pf.truth["concessions"]["demo-plume"]["plume"]["plume_dates"])
    assert len(plume_dates) >= 6
    on, off = [], []
    for s in _scenes(pf):
        clear = _truth_mask(pf, s["scene_id"]) == 0
        up, down = reaches["upstream"] & clear, reaches["downstream"] & clear
        if up.sum() < 20 or down.sum() < 20:
            continue
        r = _refl(pf, s["scene_id"])
        mndwi = _nd(r["green"], r["swir16"])
        ndti = _nd(r["red"], r["green"])
        for m in (up, down):
            assert np.median(mndwi[m]) > 0 and np.median(r["swir16"][m]) < 0.03
        diff = float(np.median(ndti[down]) - np.median(ndti[up]))
        (on if s["date"] in plume_dates else off).append(diff)
    assert len(on) >= 4 and len(off) >= 20
    assert min(on) > 0.1
    assert max(abs(d) for d in off) < 0.05


# --- clouds ------------------------------------------------------------------------------
def test_scl_flags_most_cloud_but_misses_some_edges(pf: Portfolio) -> None:
    disc = np.hypot(*np.mgrid[-3:4, -3:4]) <= 3
    core = core_flagged = contaminated = missed = 0
    for s in _scenes(pf):
        mask = _truth_mask(pf, s["scene_id"])
        scl = _scl10(pf, s["scene_id"])
        c = (mask & CLOUD) > 0
        core += int(c.sum())
        core_flagged += int((c & np.isin(scl, (8, 9))).sum())
        contaminated += int(((mask & (CLOUD | HAZE | SHADOW)) > 0).sum())
        m = (mask & MISSED) > 0
        missed += int(m.sum())
        if m.any():
            assert np.isin(scl[m], (4, 5, 6, 7)).all()
            grown = ndimage.binary_dilation(np.isin(scl, (3, 8, 9)), structure=disc)
            assert grown[m].all(), f"{s['scene_id']}: a missed pixel is > 3 px from the flags"
    assert core_flagged / core > 0.99
    frac = missed / contaminated
    assert 0.005 < frac < 0.2, frac


def test_cloudiness_distribution(pf: Portfolio) -> None:
    scenes = _scenes(pf)
    clear = [s for s in scenes if min(s["concession_clear_fraction"].values()) > 0.95]
    overcast = [s for s in scenes if max(s["concession_clear_fraction"].values()) < 0.05]
    assert 0.2 < len(clear) / len(scenes) < 0.5
    assert 0.05 < len(overcast) / len(scenes) < 0.3

    def mean_cover(months: tuple[int, ...]) -> float:
        return float(np.mean([s["cloud_cover"] for s in scenes if int(s["date"][5:7]) in months]))

    assert mean_cover((12, 1, 2, 3)) > mean_cover((6, 7, 8)) + 20


# --- registry and truth --------------------------------------------------------------------
def test_registry_matches_committed_file_and_loads(pf: Portfolio, tmp_path: Path) -> None:
    import geopandas as gpd

    assert pf.registry_path.read_bytes() == COMMITTED_REGISTRY.read_bytes()
    assert write_registry(tmp_path / "r.geojson").read_bytes() == COMMITTED_REGISTRY.read_bytes()
    reg = gpd.read_file(COMMITTED_REGISTRY)
    assert reg.crs.to_epsg() == 4326
    assert set(reg.concession_id) == {"demo-compliant", "demo-clearing", "demo-tailings",
                                      "demo-plume"}
    assert (reg[reg.feature_type == "licence"].concession_id.value_counts() == 1).all()
    assert set(reg.feature_type) == {"licence", "permitted_footprint", "tailings_facility",
                                     "water_reach", "exclusion_zone"}
    for col in ("concession_id", "facility_id", "reach_id", "zone_id"):
        ids = reg[col].dropna()
        assert ids.map(lambda v: re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", v) is not None).all()
    assert reg[reg.feature_type == "tailings_facility"].facility_id.notna().all()
    assert sorted(reg[reg.feature_type == "water_reach"].role) == ["downstream", "upstream"]
    assert (reg.standard_id == "default").all() and reg.geometry.is_valid.all()
    utm = reg.to_crs(32722)
    x0, y0 = 600000.0, 9300000.0
    minx, miny, maxx, maxy = utm.total_bounds
    assert minx >= x0 and maxx <= x0 + 3200 and maxy <= y0 and miny >= y0 - 3200
    text = COMMITTED_REGISTRY.read_text(encoding="utf-8")
    assert '"crs"' not in text  # RFC 7946


def _tif(pf: Portfolio, rel: str) -> np.ndarray:
    with rasterio.open(pf.root / "truth" / rel) as src:
        assert src.crs.to_epsg() == 32722 and src.shape == (320, 320)
        return src.read(1)


def test_truth_areas_match_rasters(pf: Portfolio) -> None:
    cons = pf.truth["concessions"]
    for cid, entry in cons.items():
        loss = _tif(pf, f"{cid}/vegetation_loss.tif")
        dates = _tif(pf, f"{cid}/vegetation_loss_date.tif")
        assert entry["vegetation_loss"]["area_ha"] == pytest.approx(loss.sum() * 0.01)
        assert ((dates > 0) == (loss == 1)).all()
        assert entry["persistent_water_ha"] == pytest.approx(
            _tif(pf, f"{cid}/water.tif").sum() * 0.01)
    assert cons["demo-compliant"]["vegetation_loss"]["area_ha"] == 0
    assert cons["demo-compliant"]["events"] == []
    zones = {e["event_id"]: e for e in cons["demo-clearing"]["events"]}
    assert zones["clearing-a"]["zone"] == "permitted_footprint"
    assert zones["clearing-b"]["zone"] == "licence_outside_footprint"
    assert zones["clearing-c"]["zone"] == "exclusion_zone"
    for e in zones.values():
        assert e["onset"].startswith("2022") and e["area_ha"] >= 3.0 and e["in_series"]
        assert e["area_ha"] == pytest.approx(e["polygon_area_ha"], abs=0.3)
    by_zone = cons["demo-clearing"]["vegetation_loss"]["area_ha_by_zone"]
    assert sum(by_zone.values()) == pytest.approx(cons["demo-clearing"]["vegetation_loss"]
                                                  ["area_ha"])
    tl = cons["demo-tailings"]["tailings"]
    before, after = _tif(pf, "demo-tailings/tailings_before.tif"), _tif(
        pf, "demo-tailings/tailings_after.tif")
    assert tl["before"]["extent_ha"] == pytest.approx((before > 0).sum() * 0.01)
    assert tl["after"]["pond_ha"] == pytest.approx((after == 2).sum() * 0.01)
    assert tl["growth_ha"] == pytest.approx(((after > 0) & (before == 0)).sum() * 0.01)
    assert tl["growth_ha"] > 10 and 3 < tl["encroachment_ha"] < tl["growth_ha"]
    assert tl["onset"].startswith("2022")
    plume = cons["demo-plume"]
    assert [e["type"] for e in plume["events"]] == ["turbidity_plume"] * 3
    assert all(2 <= len(e["dates"]) <= 4 for e in plume["events"])


def test_clearing_visible_after_onset_only(pf: Portfolio) -> None:
    loss = _tif(pf, "demo-clearing/vegetation_loss.tif") == 1
    dates = _tif(pf, "demo-clearing/vegetation_loss_date.tif")
    (first_onset,) = {int(dates[loss].min())}
    seen_after = 0
    for s in _scenes(pf):
        day = (date.fromisoformat(s["date"]) - date(1970, 1, 1)).days
        mask = _truth_mask(pf, s["scene_id"]) == 0
        patch = loss & mask & (dates == first_onset)
        if patch.sum() < 100:
            continue
        r = _refl(pf, s["scene_id"])
        v = float(np.median(_nd(r["nir"], r["red"])[patch]))
        if day >= first_onset:
            assert v < 0.2
            seen_after += 1
        else:
            assert v > 0.6
    assert seen_after >= 3


# --- parameters ------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {"size": 100}, {"size": 321}, {"size": 11000}, {"end": date(2021, 5, 1)},
    {"revisit_days": 0}, {"seed": -1}, {"origin": (600010.0, 9300000.0)},
])
def test_bad_parameters_raise(kwargs: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(SimulationError):
        generate_portfolio(tmp_path / "x", PortfolioSpec(**kwargs))
    assert not (tmp_path / "x").exists()


def test_refuses_foreign_output_folder(tmp_path: Path) -> None:
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "notes.txt").write_text("mine")
    with pytest.raises(SimulationError, match="did not write"):
        generate_portfolio(tmp_path, SHORT)
    assert (tmp_path / "scenes" / "notes.txt").exists()
