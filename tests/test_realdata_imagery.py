"""Real imagery from ../shared/data: Landsat 9 C2 L2 over Manaus, Sentinel-2 L2A over Korba."""

from __future__ import annotations

import json
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from shapely.geometry import box

import monitor
from monitor.errors import GeometryRepairWarning, UnsupportedProductError
from monitor.sources import LocalSource
from tests import factories as f

pytestmark = pytest.mark.realdata

MANAUS = "landsat-c2l2-manaus"
PRODUCT = "LC09_L2SP_231062_20230723_20230802_02_T1"


@pytest.fixture(scope="module")
def manaus(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> xr.Dataset:
    """The whole Manaus crop as one concession (licence = the scene's extent)."""
    folder = shared_data / MANAUS
    reg = f.registry(tmp_path_factory.mktemp("manaus") / "reg.geojson",
                     {"manaus": box(832485, -355035, 858015, -340995)}, crs="EPSG:32620")
    conc = monitor.load_concessions(reg)["manaus"]
    cube = monitor.load_cube(f"local:{folder}", conc, "2023-07-01", "2023-07-31", buffer_m=0)
    return cube.isel(time=0).compute()


def _water_medians(cube: xr.Dataset, values: xr.DataArray) -> tuple[float, float]:
    water = cube.clear_water.values
    nx = water.shape[1]
    west = values.values[:, : nx // 3][water[:, : nx // 3]]
    east = values.values[:, 2 * nx // 3 :][water[:, 2 * nx // 3 :]]
    return float(np.nanmedian(west)), float(np.nanmedian(east))


def test_manaus_landsat_folder_metadata(manaus: xr.Dataset) -> None:
    assert str(manaus.scene_id.values) == PRODUCT
    assert str(manaus.platform.values) == "landsat-9"
    assert str(manaus.tile.values) == "231062"
    # no QA_PIXEL ships with this crop: spectral screen, flagged as such
    assert str(manaus.qa_kind.values) == "spectral_screen"
    assert manaus.attrs["resolution_m"] == 30.0
    # the concession lies south of the equator: its UTM is 20S, the file's is 20N
    # the concession's centroid (~59.9 W, 3.2 S) lies in UTM 21S; the file is in 20N, so the
    # cube is reprojected across zones
    assert manaus.attrs["crs"] == "EPSG:32721"
    assert float(manaus.scale) == pytest.approx(2.75e-5) and float(manaus.offset) == -0.2
    assert set(manaus.data_vars) >= {"blue", "green", "red", "nir08", "swir16", "swir22"}
    assert "nir" not in manaus.data_vars


def test_manaus_solimoes_far_more_turbid_than_rio_negro(manaus: xr.Dataset) -> None:
    ndti = monitor.indices.compute("ndti", manaus)
    fnu = monitor.indices.compute("turbidity_dogliotti2015", manaus)
    red = manaus.red
    ndti_w, ndti_e = _water_medians(manaus, ndti)
    fnu_w, fnu_e = _water_medians(manaus, fnu)
    red_w, red_e = _water_medians(manaus, red)
    print(f"\nManaus water medians west/east: NDTI {ndti_w:.3f}/{ndti_e:.3f}, "
          f"Dogliotti {fnu_w:.1f}/{fnu_e:.1f} FNU, red {red_w:.4f}/{red_e:.4f}")
    # SOURCE.md: red ~0.012 vs ~0.041, NDTI ~0.02 vs ~0.09 (MNDWI > 0.2 mask; ours is MNDWI > 0)
    assert red_w == pytest.approx(0.012, abs=0.004) and red_e > 0.03
    assert ndti_e - ndti_w > 0.04
    assert fnu_e > 2.5 * fnu_w
    # the water mask finds both rivers in force
    water = manaus.clear_water.values
    assert water[:, : water.shape[1] // 3].mean() > 0.3
    assert water[:, 2 * water.shape[1] // 3 :].mean() > 0.3


def test_landsat_ndvi_uses_nir08(manaus: xr.Dataset) -> None:
    ndvi = monitor.indices.compute("ndvi", manaus)
    assert ndvi.attrs["band_substitution"] == "nir <- nir08"
    # forest on the banks: clearly vegetated; water: negative
    assert float(np.nanpercentile(ndvi.values, 90)) > 0.7
    assert float(np.nanmedian(ndvi.values[manaus.clear_water.values])) < 0


def test_landsat_level1_folder_refused(shared_data: Path, tmp_path: Path) -> None:
    l1 = tmp_path / "LC09_L1TP_231062_20230723_20230724_02_T1"
    l1.mkdir()
    mtl = (shared_data / MANAUS / f"{PRODUCT}_MTL.txt").read_text()
    mtl = mtl.replace('PROCESSING_LEVEL = "L2SP"', 'PROCESSING_LEVEL = "L1TP"').replace(
        "LC09_L2SP_231062_20230723_20230802", "LC09_L1TP_231062_20230723_20230724")
    (l1 / "LC09_L1TP_231062_20230723_20230724_02_T1_MTL.txt").write_text(mtl)
    for n in (2, 3, 4):
        shutil.copy(shared_data / MANAUS / f"{PRODUCT}_SR_B{n}.TIF",
                    l1 / f"LC09_L1TP_231062_20230723_20230724_02_T1_B{n}.TIF")
    source = LocalSource(tmp_path)
    with pytest.raises(UnsupportedProductError, match=r"Level-1.*L1TP.*Level-2 \(L2SP\)"):
        source.search(box(-180, -90, 180, 90), datetime(2023, 1, 1, tzinfo=UTC),
                      datetime(2023, 12, 31, tzinfo=UTC))


def _korba_scenes(shared_data: Path, root: Path) -> Path:
    """Scene folders whose scene.json points at the EO Browser exports in ../shared/data.

    EO Browser's 16-bit "Raw" export scales reflectance to 0..65535 (SOURCE.md), there is
    no offset and no SCL: the scenes are screened spectrally.
    """
    s2 = shared_data / "s2-l2a-korba" / "s2"
    dates = {"2023-01-10": {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08",
                            "swir16": "B11"},
             "2023-01-30": {"red": "B04", "nir": "B08", "swir16": "B11"}}
    for day, bands in dates.items():
        folder = root / f"S2_KORBA_{day}"
        folder.mkdir(parents=True)
        meta = {"datetime": f"{day}T05:10:00Z", "platform": "sentinel-2a", "tile": "44QNG",
                "processing_baseline": "05.09", "quantification_value": 65535,
                "offset_applied": True,
                "assets": {b: str(s2 / f"S2L2A_{day}_{i}.tif") for b, i in bands.items()}}
        (folder / "scene.json").write_text(json.dumps(meta))
    return root


def test_korba_sentinel2_geotiffs_in_epsg4326(shared_data: Path, tmp_path: Path) -> None:
    scenes = _korba_scenes(shared_data, tmp_path / "scenes")
    with pytest.warns(GeometryRepairWarning):  # the AOI polygon carries Z = 0
        registry = monitor.load_concessions(_korba_registry(shared_data, tmp_path))
    conc = registry["korba-aoi-1"]
    assert conc.crs.to_epsg() == 32644  # 82.5 E, 22.3 N -> UTM 44N
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cube = monitor.load_cube(scenes, conc, "2023-01-01", "2023-01-31", buffer_m=0).compute()
    assert cube.sizes["time"] == 2 and cube.attrs["resolution_m"] == 10.0
    ndvi = monitor.indices.compute("ndvi", cube).where(cube.in_aoi)
    med = [float(np.nanmedian(ndvi.isel(time=i).values)) for i in range(2)]
    print(f"\nKorba NDVI median in AOI: {med[0]:.3f} (2023-01-10), {med[1]:.3f} (2023-01-30)")
    # the same medians straight from the files on their native 4326 grid, with rasterio
    # alone (SOURCE.md's 0.153 / 0.086 do not reproduce from these files: 0.190 / 0.107 do)
    for i, day in enumerate(("2023-01-10", "2023-01-30")):
        with rasterio.open(shared_data / "s2-l2a-korba" / "s2" / f"S2L2A_{day}_B04.tif") as r, \
                rasterio.open(shared_data / "s2-l2a-korba" / "s2" / f"S2L2A_{day}_B08.tif") as n:
            red, nir = r.read(1).astype("float64"), n.read(1).astype("float64")
        ok = (red > 0) & (nir > 0)
        native = float(np.median((nir[ok] - red[ok]) / (nir[ok] + red[ok])))
        assert med[i] == pytest.approx(native, abs=0.01), day
    # the second date has no blue/green: NaN there, data elsewhere
    assert np.isnan(cube.blue.isel(time=1).values).all()
    assert np.isfinite(cube.red.isel(time=1).values[cube.in_aoi.values]).mean() > 0.95
    # bare open-pit surfaces: BSI positive over a good part of the mine
    bsi = monitor.indices.compute("bsi", cube.isel(time=[0])).where(cube.in_aoi)
    assert float(np.nanpercentile(bsi.values, 75)) > 0.0


def _korba_registry(shared_data: Path, tmp_path: Path) -> Path:
    src = json.loads((shared_data / "s2-l2a-korba" / "Korba_Coal_AOI_1.geojson").read_text())
    feature = src["features"][0]
    feature["properties"] = {"concession_id": "korba-aoi-1", "feature_type": "licence",
                             "name": feature["properties"]["Name"]}
    out = tmp_path / "korba.geojson"
    out.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return out
