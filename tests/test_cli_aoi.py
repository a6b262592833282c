"""Tests of ``monitor aoi validate``: table, JSON, exit codes, and the installed script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner
from shapely.geometry import Point, Polygon, box

from monitor.cli import main

PROJECT_ROOT = Path(__file__).resolve().parents[1]
X0, Y0 = 450_000.0, 7_400_000.0


def ubox(x: float, y: float, w: float, h: float) -> Polygon:
    return box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


def rows(cid: str = "mine-a", dx: float = 0.0) -> list[dict[str, Any]]:
    return [
        dict(concession_id=cid, feature_type="licence", name=f"Mina {cid}",
             geometry=ubox(dx, 0, 2000, 2000)),
        dict(concession_id=cid, feature_type="permitted_footprint",
             geometry=ubox(dx + 200, 200, 600, 600)),
        dict(concession_id=cid, feature_type="permitted_footprint",
             geometry=ubox(dx + 900, 200, 600, 600)),
        dict(concession_id=cid, feature_type="tailings_facility", facility_id="tsf-1",
             geometry=ubox(dx + 1400, 1400, 400, 400)),
        dict(concession_id=cid, feature_type="water_reach", reach_id="up", role="upstream",
             geometry=ubox(dx - 500, 900, 500, 100)),
        dict(concession_id=cid, feature_type="water_reach", reach_id="down",
             role="downstream", geometry=ubox(dx + 2000, 900, 500, 100)),
    ]


def write(path: Path, data: list[dict[str, Any]]) -> Path:
    gpd.GeoDataFrame(pd.DataFrame(data), crs="EPSG:32719").to_file(path)
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write(tmp_path / "good.geojson", rows() + rows("mine-b", dx=5000))


@pytest.fixture
def repaired(tmp_path: Path) -> Path:
    data = rows()
    data[3]["geometry"] = Polygon([(X0 + 1400, Y0 + 1400), (X0 + 1800, Y0 + 1800),
                                   (X0 + 1800, Y0 + 1400), (X0 + 1400, Y0 + 1800)])
    return write(tmp_path / "repaired.geojson", data)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    data = rows() + rows("Mine B", dx=5000)
    data[3]["geometry"] = Point(X0 + 1500, Y0 + 1500)
    data[4]["role"] = "sideways"
    return write(tmp_path / "broken.gpkg", data)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, ["aoi", "validate", *args], catch_exceptions=False)


def test_table_of_a_good_registry(good: Path) -> None:
    result = invoke(str(good))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "mine-a" in out and "Mina mine-b" in out and "400.00" in out
    assert "footprint 2, tailings 1, reaches 2 (1 up, 1 down), exclusion 0" in out
    assert "EPSG:32719" in out
    assert "2 usable concession(s); 0 error(s), 0 warning(s)." in out
    assert "Registry usable." in out


def test_warnings_still_exit_zero(repaired: Path) -> None:
    result = invoke(str(repaired))
    assert result.exit_code == 0
    assert "[invalid-geometry-repaired]" in result.stdout
    assert "feature #3" in result.stdout and "Fix:" in result.stdout


def test_errors_exit_one_and_list_every_problem(broken: Path) -> None:
    result = invoke(str(broken))
    assert result.exit_code == 1
    out = result.stdout
    for code in ("[wrong-geometry-type]", "[invalid-role]", "[unsafe-id]"):
        assert code in out
    assert "rename it to 'mine-b'" in out
    assert "unusable" in out and "NOT usable" in out


def test_json_output(good: Path, broken: Path) -> None:
    result = invoke(str(good), "--json", "--buffer-m", "250")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["file"] == str(good) and data["ok"] is True and data["problems"] == []
    first = data["concessions"][0]
    assert first["id"] == "mine-a" and first["crs"] == "EPSG:32719"
    assert first["area_ha"] == pytest.approx(400.0)
    assert first["zones"]["permitted_footprint"] == {"count": 2, "area_ha": 72.0}
    assert first["zones"]["water_reach"] == {"count": 2, "upstream": 1, "downstream": 1}
    assert first["zones"]["buffer_ring"]["buffer_m"] == 250
    bad = invoke(str(broken), "--json")
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert data["ok"] is False
    assert {p["code"] for p in data["problems"]} == {"wrong-geometry-type", "invalid-role",
                                                     "unsafe-id"}
    assert [c["usable"] for c in data["concessions"]] == [False, False]


def test_bad_path_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(str(tmp_path / "nope.geojson"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert invoke(str(tmp_path)).exit_code == 2
    assert CliRunner().invoke(main, ["aoi", "validate", "x", "--buffer-m", "-5"]).exit_code == 2


def test_unreadable_file_exits_one(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    result = invoke(str(path))
    assert result.exit_code == 1
    assert "not a supported registry format" in result.stderr and result.stdout == ""
    as_json = invoke(str(path), "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["problems"][0]["code"] == "unreadable-file"


def test_installed_console_script(good: Path) -> None:
    script = Path(sys.executable).parent / "monitor"
    env = dict(os.environ)
    # The editable install maps `monitor` as a namespace package when the project root is
    # not on sys.path; putting the root first makes the script import the real package.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                      env.get("PYTHONPATH")]))
    done = subprocess.run([str(script), "aoi", "validate", str(good), "--json"],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["ok"] is True and [c["id"] for c in data["concessions"]] == ["mine-a", "mine-b"]
