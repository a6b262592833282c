"""The `monitor` command: help, version, demo (CliRunner and a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import monitor
from monitor.cli import main

CONSOLE_SCRIPT = Path(sys.executable).parent / "monitor"


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "aoi"):
        assert command in result.output
    assert "Concession Monitor" in result.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"monitor, version {monitor.__version__}"


def test_version_and_help_as_a_real_subprocess() -> None:
    out = subprocess.run([str(CONSOLE_SCRIPT), "--version"], capture_output=True, text=True,
                         timeout=120, check=True)
    assert monitor.__version__ in out.stdout
    out = subprocess.run([str(CONSOLE_SCRIPT), "demo", "--help"], capture_output=True,
                         text=True, timeout=120, check=True)
    assert "--out" in out.stdout and "--json" in out.stdout


def test_demo_json_on_a_short_series(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "demo"),
                                       "--start", "2022-01-01", "--end", "2022-02-28", "--no-run",
                                       "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    ids = [c["concession_id"] for c in data["concessions"]]
    assert ids == ["demo-compliant", "demo-clearing", "demo-tailings", "demo-plume"]
    for summary in data["concessions"]:
        # 5-day revisit over two months, with the duplicated scene collapsed
        assert 10 <= summary["acquisitions"] <= 13
        assert summary["crs"] == "EPSG:32722" and summary["resolution_m"] == 10.0
        assert 0.0 <= summary["clear_fraction"]["mean"] <= 1.0
        assert summary["indices"]["ndvi"]["pixels"] > 0
    assert data["scenes"] == sum(1 for _ in (tmp_path / "demo" / "scenes").iterdir())


def test_demo_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "demo"),
                                       "--start", "2022-01-20", "--end", "2022-02-10", "--no-run"])
    assert result.exit_code == 0, result.output
    assert "demo-plume" in result.stdout and "NDVI" in result.stdout


def test_demo_bad_input_exits_with_the_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--start", "2022-13-01"])
    assert result.exit_code == 2 and "--start" in result.output
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "d"), "--start",
                                       "2022-03-01", "--end", "2022-02-01"])
    assert result.exit_code == 1
    assert "end (2022-02-01) must be after start (2022-03-01)" in result.output
