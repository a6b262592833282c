"""load_cube on local Sentinel-2 scene folders and static STAC catalogs built in the test."""

from __future__ import annotations

import json
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path

import dask.array as da
import numpy as np
import pystac
import pytest
import rasterio

import monitor
from monitor.concessions import Concession
from monitor.errors import NoImageryError, SceneSkippedWarning, SourceError
from monitor.sources import LocalSource
from tests import factories as f

T0 = datetime(2022, 1, 10, 13, 22, 39, tzinfo=UTC)
T1 = datetime(2022, 1, 30, 13, 22, 39, tzinfo=UTC)
T2 = datetime(2022, 2, 4, 13, 22, 39, tzinfo=UTC)
SCENE_REFL = {"blue": 0.03, "green": 0.06, "red": 0.04, "nir": 0.40, "nir08": 0.42,
              "swir16": 0.20, "swir22": 0.10}


def _scenes(root: Path) -> Path:
    scenes = root / "scenes"
    f.s2_scene(scenes, "S2A_OLD", T0, {b: np.float64(v) for b, v in SCENE_REFL.items()},
               baseline="03.01")
    f.s2_scene(scenes, "S2A_NEW", T1, {b: np.float64(v) for b, v in SCENE_REFL.items()},
               baseline="04.00")
    # the same acquisition delivered twice (reprocessed): only one may count
    f.s2_scene(scenes, "S2B_DUP_N0400", T2, {b: np.float64(v) for b, v in SCENE_REFL.items()},
               baseline="04.00", platform="sentinel-2b")
    f.s2_scene(scenes, "S2B_DUP_N0510", T2, {b: np.float64(v) for b, v in SCENE_REFL.items()},
               baseline="05.10", platform="sentinel-2b")
    # a scene of another tile, far away: must be skipped with a reason
    f.s2_scene(scenes, "S2A_FAR", T1, 0.1, origin=(700000.0, 9100000.0), tile="22MDA")
    return scenes


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Concession]:
    root = tmp_path_factory.mktemp("cube")
    scenes = _scenes(root)
    reg = f.registry(root / "reg.geojson", {"c-one": f.inner_box(12)})
    return scenes, monitor.load_concessions(reg)["c-one"]


def _load(scenes: Path | str, concession: Concession, **kw: object) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SceneSkippedWarning)
        return monitor.load_cube(f"local:{scenes}", concession, "2022-01-01", "2022-02-28",
                                 **kw)


def test_cube_contract(portfolio: tuple[Path, Concession]) -> None:
    scenes, conc = portfolio
    cube = _load(scenes, conc, buffer_m=50)
    assert dict(cube.sizes) == {"time": 3, "y": 50, "x": 50}  # 40 px licence + 2 * 5 px buffer
    assert cube.attrs["crs"] == "EPSG:32722" and cube.attrs["resolution_m"] == 10.0
    for band in ("blue", "green", "red", "nir", "nir08", "swir16", "swir22"):
        assert cube[band].dtype == np.float32
        assert isinstance(cube[band].data, da.Array), "the cube must stay lazy"
    for mask in ("clear", "clear_vegetation", "clear_tailings", "clear_water", "water_flag"):
        assert cube[mask].dtype == bool
        assert isinstance(cube[mask].data, da.Array), f"{mask} must stay lazy"
    assert list(cube.scene_id.values) == ["S2A_OLD", "S2A_NEW", "S2B_DUP_N0510"]
    assert list(cube.processing_baseline.values) == ["03.01", "04.00", "05.10"]
    assert list(cube.platform.values) == ["sentinel-2a", "sentinel-2a", "sentinel-2b"]
    assert str(cube.time.dtype).startswith("datetime64")
    # x/y are pixel centres on the 10 m grid, in the concession's UTM
    assert (cube.x.values[0] - 5) % 10 == 0 and cube.x.values[1] - cube.x.values[0] == 10
    in_aoi = cube.in_aoi.values  # a square licence buffered by 50 m: rounded corners are out
    assert in_aoi[5:-5, :].all() and in_aoi[:, 5:-5].all() and not in_aoi[0, 0]
    assert in_aoi.sum() == pytest.approx(conc.aoi(50).area / 100, rel=0.02)
    # 2-D chunks, one time step per chunk
    assert cube.red.data.chunks[0] == (1, 1, 1)


def test_reflectance_identical_across_baseline_switch(portfolio: tuple[Path, Concession]) -> None:
    scenes, conc = portfolio
    cube = _load(scenes, conc, buffer_m=0).compute()
    for band, value in SCENE_REFL.items():
        got = cube[band].values
        # DN 0400+ carry +1000: after scaling every date has the same reflectance
        np.testing.assert_allclose(got, value, atol=6e-5, err_msg=band)
    assert cube.clear.values.all()


def test_duplicates_collapsed_and_far_scene_skipped(portfolio: tuple[Path, Concession]) -> None:
    scenes, conc = portfolio
    with pytest.warns(SceneSkippedWarning) as record:
        cube = monitor.load_cube(f"local:{scenes}", conc, "2022-01-01", "2022-02-28")
    skipped = {s["scene_id"]: s["reason"] for s in json.loads(cube.attrs["skipped_scenes"])}
    assert "duplicate of S2B_DUP_N0510" in skipped["S2B_DUP_N0400"]
    assert "does not cover" in skipped["S2A_FAR"]
    assert len([w for w in record if w.category is SceneSkippedWarning]) == 2


def test_twenty_metre_bands_resampled_onto_ten_metres(tmp_path: Path) -> None:
    shape = (64, 64)
    nir08 = np.zeros(shape)
    nir08[:, 32:] = 0.5  # a step on a 20 m pixel edge
    refl = {b: np.full(shape, 0.1) for b in SCENE_REFL}
    refl["nir08"] = nir08 + 0.05
    scl = np.full(shape, 4)
    scl[:16, :16] = 9  # a cloud in the corner, SCL at 20 m
    f.s2_scene(tmp_path / "s", "S", T1, refl, scl=scl)
    conc = monitor.load_concessions(
        f.registry(tmp_path / "r.geojson", {"c": f.inner_box(0)}))["c"]
    cube = monitor.load_cube(tmp_path / "s", conc, "2022-01-01", "2022-02-28",
                             buffer_m=0).isel(time=0).compute()
    assert cube.nir08.shape == (64, 64)
    np.testing.assert_allclose(cube.nir08.values[:, :32], 0.05, atol=1e-4)
    np.testing.assert_allclose(cube.nir08.values[:, 32:], 0.55, atol=1e-4)
    clear = cube.clear.values
    assert not clear[:16, :16].any()
    # dilation by 3 px around the cloud, and clear beyond it
    assert not clear[:16, 16:19].any() and not clear[16:19, :16].any()
    assert clear[:16, 19:].all() and clear[19:, :].all()


def test_static_stac_catalog_gives_the_same_cube(portfolio: tuple[Path, Concession],
                                                 tmp_path: Path) -> None:
    scenes, conc = portfolio
    catalog = pystac.Catalog("local", "scenes as a static catalog")
    for folder in sorted(scenes.iterdir()):
        meta = json.loads((folder / "scene.json").read_text())
        with rasterio.open(folder / "red.tif") as ds:
            left, bottom, right, top = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326",
                                                                      *ds.bounds)
        geom = {"type": "Polygon", "coordinates": [[[left, bottom], [right, bottom],
                [right, top], [left, top], [left, bottom]]]}
        item = pystac.Item(meta["scene_id"], geom, [left, bottom, right, top],
                           datetime.fromisoformat(meta["datetime"].replace("Z", "+00:00")),
                           {"platform": meta["platform"], "s2:mgrs_tile": meta["tile"],
                            "s2:processing_baseline": meta["processing_baseline"]})
        for band in (*SCENE_REFL, "scl"):
            item.add_asset(band, pystac.Asset(str(folder / f"{band}.tif")))
        catalog.add_item(item)
    catalog.normalize_and_save(str(tmp_path / "stac"), pystac.CatalogType.SELF_CONTAINED)
    from_folder = _load(scenes, conc).compute()
    from_stac = _load(tmp_path / "stac" / "catalog.json", conc).compute()
    for var in (*SCENE_REFL, "clear", "clear_water"):
        np.testing.assert_array_equal(from_folder[var].values, from_stac[var].values)
    assert list(from_stac.scene_id.values) == list(from_folder.scene_id.values)


def test_no_imagery_in_period(portfolio: tuple[Path, Concession]) -> None:
    scenes, conc = portfolio
    with pytest.raises(NoImageryError, match=r"c-one.*2023-01-01"):
        monitor.load_cube(f"local:{scenes}", conc, "2023-01-01", "2023-02-01")


def test_truncated_file_is_named(portfolio: tuple[Path, Concession], tmp_path: Path) -> None:
    scenes, conc = portfolio
    copy = tmp_path / "scenes"
    shutil.copytree(scenes, copy)
    red = copy / "S2A_NEW" / "red.tif"
    data = red.read_bytes()
    red.write_bytes(data[: len(data) - 200])
    with pytest.raises(SourceError, match=r"S2A_NEW/red\.tif.*truncated"):
        _load(copy, conc)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_garbage_and_ungeoreferenced_files_are_named(tmp_path: Path,
                                                     portfolio: tuple[Path, Concession]) -> None:
    _, conc = portfolio
    f.s2_scene(tmp_path / "a", "S", T1, 0.1)
    (tmp_path / "a" / "S" / "green.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(SourceError, match=r"green\.tif.*not a readable raster"):
        _load(tmp_path / "a", conc)
    f.s2_scene(tmp_path / "b", "S", T1, 0.1)
    f.write_cog(tmp_path / "b" / "S" / "blue.tif", np.ones((64, 64), "uint16"), None, None)
    with pytest.raises(SourceError, match=r"blue\.tif.*no CRS"):
        _load(tmp_path / "b", conc)


def test_bad_scene_metadata_is_named(tmp_path: Path, portfolio: tuple[Path, Concession]) -> None:
    _, conc = portfolio
    folder = f.s2_scene(tmp_path / "s", "S", T1, 0.1)
    (folder / "scene.json").write_text('{"datetime": "2022-01-30T13:22:39Z", "platform": "x"')
    with pytest.raises(SourceError, match=r"scene\.json: not valid JSON"):
        _load(tmp_path / "s", conc)
    meta = {"datetime": "2022-01-30T13:22:39Z", "platform": "sentinel-2a", "tile": "22MCA"}
    (folder / "scene.json").write_text(json.dumps(meta))
    with pytest.raises(SourceError, match="processing_baseline"):
        _load(tmp_path / "s", conc)


def test_missing_source_folder_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        LocalSource(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no scenes found"):
        LocalSource(tmp_path / "empty")
