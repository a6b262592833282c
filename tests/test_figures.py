"""Evidence figures on the synthetic portfolio: files, sizes, numbers, pair, determinism."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import monitor
from monitor.checking import CheckResult
from monitor.errors import EvidenceError
from monitor.evidence import figures_charts as charts
from monitor.evidence.figures import (
    MOSTLY_CLEAR,
    Figure,
    draw_figures,
    licence_clear_fraction,
    main_event,
    make_figures,
    pick_before_after,
    scene_date,
)
from monitor.simulate import Portfolio
from monitor.zonal import zone_masks

PERIOD = ("2022-01-01", "2022-12-01")
MAPS = ("before_true_colour", "after_true_colour", "ndvi_before", "ndvi_after", "ndvi_change")
PX = {kind: (round(w * charts.DPI), round(h * charts.DPI))
      for kind, (w, h) in (("map", charts.MAP_IN), ("chart", charts.CHART_IN),
                           ("tall", charts.TALL_CHART_IN))}
COLUMNS = {
    "true_colour": ["role", "date", "scene_id", "band", "stretch_low", "stretch_high",
                    "stretch_percentiles", "gamma", "clear_fraction_area", "area",
                    "clear_fraction_licence"],
    "timeseries_vegetation_loss": [
        "date", "scene_id", "in_period", "median_ndvi_event_area", "n_clear_px_event_area",
        "n_px_event_area", "median_ndvi_surroundings", "n_clear_px_surroundings",
        "n_px_surroundings"],
    "data_availability": ["date", "scene_id", "platform", "qa_kind", "processing_baseline",
                          "status", "in_period", "clear_fraction", "n_clear_px", "n_px",
                          "mostly_clear", "reason"],
    "timeseries_turbidity": ["date", "downstream_reach", "downstream_fnu",
                             "downstream_clear_px", "upstream_reach", "upstream_fnu",
                             "upstream_clear_px", "difference_fnu", "limit_fnu", "exceeds"],
}


def _check(portfolio: Portfolio, concession_id: str) -> CheckResult:
    return monitor.check(concession_id, aoi=portfolio.registry_path,
                         source=f"local:{portfolio.scenes_dir}", start=PERIOD[0], end=PERIOD[1])


@pytest.fixture(scope="module")
def clearing(demo_portfolio: Portfolio) -> CheckResult:
    return _check(demo_portfolio, "demo-clearing")


@pytest.fixture(scope="module")
def figures(clearing: CheckResult, tmp_path_factory: pytest.TempPathFactory) -> list[Figure]:
    out = tmp_path_factory.mktemp("evidence")
    return make_figures(clearing, out / "figures", out / "stats")


@pytest.fixture(scope="module")
def compliant(demo_portfolio: Portfolio) -> CheckResult:
    return _check(demo_portfolio, "demo-compliant")


def _by_name(figures: list[Figure]) -> dict[str, Figure]:
    return {f.name: f for f in figures}


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def _assert_not_blank(path: Path) -> None:
    rgb = _pixels(path)
    assert float(rgb.std()) > 20.0, f"{path.name} looks blank"
    q = rgb.reshape(-1, 3).astype(np.int32) // 8
    colours = np.unique(q[:, 0] * 1024 + q[:, 1] * 32 + q[:, 2])
    assert len(colours) > 40, f"{path.name} has only {len(colours)} colours"
    assert (rgb.min(axis=2) < 200).mean() > 0.05, f"{path.name} is mostly white"


def _dates(result: CheckResult) -> list[date]:
    assert result.cube is not None
    return [pd.Timestamp(t).date() for t in result.cube["time"].values]


def test_every_figure_is_a_png_of_the_expected_size(figures: list[Figure]) -> None:
    names = [f.name for f in figures]
    assert names == [*MAPS, "timeseries_vegetation_loss", "data_availability"]
    for fig in figures:
        assert fig.path.is_file() and fig.csv.is_file()
        assert fig.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(fig.path) as im:
            assert im.size == fig.size == PX[fig.kind if fig.kind == "map" else "chart"]
        assert fig.caption and fig.alt and fig.alt != fig.caption
        _assert_not_blank(fig.path)


def test_csv_columns_and_rows_match_what_is_plotted(clearing: CheckResult,
                                                    figures: list[Figure]) -> None:
    by = _by_name(figures)
    assert clearing.cube is not None and clearing.concession is not None
    n_time = clearing.cube.sizes["time"]
    for role in ("before", "after"):
        table = pd.read_csv(by[f"{role}_true_colour"].csv)
        assert list(table.columns) == COLUMNS["true_colour"]
        assert list(table["band"]) == ["red", "green", "blue"] and set(table["role"]) == {role}
    zones = zone_masks(clearing.concession.zones(500.0), clearing.cube.odc.geobox)
    for name in ("ndvi_before", "ndvi_after", "ndvi_change"):
        table = pd.read_csv(by[name].csv)
        assert len(table) == 1 + len(zones) + 1  # licence, every zone, the change area
        areas = list(table["area"])
        assert areas[0] == "licence" and areas[-1] == "change_area"
    veg = pd.read_csv(by["timeseries_vegetation_loss"].csv)
    assert list(veg.columns) == COLUMNS["timeseries_vegetation_loss"]
    assert len(veg) == n_time
    avail = pd.read_csv(by["data_availability"].csv, keep_default_na=False)
    assert list(avail.columns) == COLUMNS["data_availability"]
    assert len(avail) == n_time + len(clearing.skipped_scenes)
    used = avail[avail["status"] == "used"]
    np.testing.assert_allclose(used["clear_fraction"].astype(float),
                               licence_clear_fraction(clearing), atol=1e-6)
    skipped = avail[avail["status"] == "skipped"]
    assert list(skipped["scene_id"]) == [s["scene_id"] for s in clearing.skipped_scenes]


def test_change_area_ndvi_drops_after_the_event(clearing: CheckResult,
                                                figures: list[Figure]) -> None:
    event = main_event(clearing)
    assert event is not None
    veg = pd.read_csv(_by_name(figures)["timeseries_vegetation_loss"].csv)
    days = [date.fromisoformat(d) for d in veg["date"]]
    before = veg["median_ndvi_event_area"][[d < event.window[1] for d in days]].dropna()
    after = veg["median_ndvi_event_area"][[d >= event.onset for d in days]].dropna()
    assert before.tail(5).median() > 0.5 > after.head(5).median()
    assert (veg["n_clear_px_event_area"] <= veg["n_px_event_area"]).all()


def test_pair_brackets_the_event_window_and_is_mostly_clear(clearing: CheckResult,
                                                            figures: list[Figure]) -> None:
    event = main_event(clearing)
    assert event is not None and event.zone == "exclusion_zone"  # the violation that matters
    pair = pick_before_after(clearing)
    assert pair is not None
    dates = _dates(clearing)
    start = event.window[0]
    assert start is not None
    assert dates[pair[0]] <= start < event.onset <= dates[pair[1]]
    assert (start - dates[pair[0]]).days <= 30 and (dates[pair[1]] - event.onset).days <= 30
    by = _by_name(figures)
    for role, index in (("before", pair[0]), ("after", pair[1])):
        table = pd.read_csv(by[f"{role}_true_colour"].csv)
        assert table["date"].iloc[0] == dates[index].isoformat()
        assert table["clear_fraction_area"].iloc[0] >= MOSTLY_CLEAR


def test_figures_are_byte_identical_across_runs(clearing: CheckResult, figures: list[Figure],
                                                tmp_path: Path) -> None:
    again = make_figures(clearing, tmp_path / "figures", tmp_path / "stats")
    assert [f.name for f in again] == [f.name for f in figures]
    for a, b in zip(figures, again, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes(), a.name
        assert a.csv.read_bytes() == b.csv.read_bytes(), a.name
        assert (a.caption, a.alt, a.size) == (b.caption, b.alt, b.size)


def test_nothing_found_still_gets_availability_and_time_series(compliant: CheckResult,
                                                                tmp_path: Path) -> None:
    assert not any(f.outcome == "exceedance" for f in compliant.findings)
    assert main_event(compliant) is None
    figs = _by_name(make_figures(compliant, tmp_path / "f", tmp_path / "s"))
    assert {"data_availability", "timeseries_vegetation_loss"} <= set(figs)
    for name in ("data_availability", "timeseries_vegetation_loss"):
        _assert_not_blank(figs[name].path)
    pair = pick_before_after(compliant)
    assert pair is not None and pair[0] < pair[1]
    dates, frac = _dates(compliant), licence_clear_fraction(compliant)
    period = tuple(date.fromisoformat(d) for d in PERIOD)
    assert all(period[0] <= dates[i] <= period[1] and frac[i] >= MOSTLY_CLEAR for i in pair)
    veg = pd.read_csv(figs["timeseries_vegetation_loss"].csv)
    assert veg["median_ndvi_event_area"].dropna().between(0.3, 1.0).all()  # stays vegetated


@pytest.mark.parametrize("concession_id,series", [("demo-plume", "timeseries_turbidity"),
                                                  ("demo-tailings", "timeseries_tailings")])
def test_turbidity_and_tailings_series(demo_portfolio: Portfolio, concession_id: str,
                                       series: str, tmp_path: Path) -> None:
    result = _check(demo_portfolio, concession_id)
    figs = _by_name(make_figures(result, tmp_path / "f", tmp_path / "s"))
    assert figs[series].size == PX["tall"]
    _assert_not_blank(figs[series].path)
    table = pd.read_csv(figs[series].csv)
    if series == "timeseries_turbidity":
        assert list(table.columns) == COLUMNS["timeseries_turbidity"]
        assert set(table["limit_fnu"]) == {10.0}
        assert table["exceeds"].sum() >= 2  # the confirmed plume: two clear dates or more
        np.testing.assert_allclose(table["difference_fnu"].dropna(),
                                   (table["downstream_fnu"] - table["upstream_fnu"]).dropna(),
                                   atol=1e-6)
    else:
        growth = table[table["metric"] == "disturbed_outside_footprint_growth"]
        assert set(growth["limit"]) == {0.5}
        assert growth["value"].max() > 0.5  # the encroachment the finding reports


def test_figures_need_the_cube(clearing: CheckResult, tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="demo-clearing"):
        make_figures(replace(clearing, cube=None), tmp_path / "f", tmp_path / "s")
    with pytest.raises(EvidenceError, match="demo-clearing"):
        draw_figures(replace(clearing, cube=None))


def test_drawn_in_memory_as_in_the_package(clearing: CheckResult,
                                           figures: list[Figure]) -> None:
    # what the notebooks display: the same figures and numbers, nothing written
    drawn = draw_figures(clearing)
    assert [name for name, _ in drawn] == [f.name for f in figures]
    for (name, d), fig in zip(drawn, figures, strict=True):
        assert d.caption == fig.caption and d.figure.get_axes(), name
        written = pd.read_csv(fig.csv)
        assert list(d.table.columns) == list(written.columns) and len(d.table) == len(written)


def test_scene_date() -> None:
    assert scene_date("S2A_MSIL2A_20220318T132236_N0400_R038_T22MFT") == date(2022, 3, 18)
    assert scene_date("LC09_L2SP_223064_20220905_20220907_02_T1") == date(2022, 9, 5)
    assert scene_date("no-date-here") is None
