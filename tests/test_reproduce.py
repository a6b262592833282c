"""`monitor verify --reproduce`: re-run a package's check from its provenance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import monitor
from monitor.cli import main
from monitor.evidence.package import build_package
from monitor.evidence.reproduce import reproduce, reproduce_package
from monitor.simulate import Portfolio


@pytest.fixture(scope="module")
def package(demo_portfolio: Portfolio, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # two-date mode keeps the re-run short: two acquisitions, not two years of baseline
    result = monitor.check("demo-clearing", aoi=demo_portfolio.registry_path,
                           source=f"local:{demo_portfolio.scenes_dir}",
                           before="2022-07-06", after="2022-08-10")
    assert any(f.outcome == "exceedance" for f in result.findings)
    return build_package(result, tmp_path_factory.mktemp("packages")).path


def test_untouched_package_reproduces(package: Path) -> None:
    checks = {c.name: c for c in reproduce_package(package)}
    assert checks["reproduce-inputs"].ok, checks["reproduce-inputs"].detail
    assert checks["reproduce-numbers"].ok, checks["reproduce-numbers"].detail


def test_a_changed_number_is_found(package: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(package, copy)
    summary = copy / "data" / "summary.json"
    doc = json.loads(summary.read_text())
    exceedance = next(f for f in doc["findings"] if f["outcome"] == "exceedance")
    exceedance["value"] = exceedance["value"] + 0.5  # what a doctored report would claim
    summary.write_text(json.dumps(doc))
    again = reproduce(copy)
    checks = {c.name: c for c in again.checks}
    assert not again.ok and not checks["reproduce-numbers"].ok
    assert exceedance["finding_id"] in checks["reproduce-numbers"].detail
    # the side-by-side table shows which finding differs, by how much, and why
    table = again.table().set_index("finding_id")
    assert set(table.index) == {f["finding_id"] for f in doc["findings"]}
    row = table.loc[exceedance["finding_id"]]
    assert not row.reproduced and "value" in row.problems
    assert row.difference == pytest.approx(-0.5, abs=0.011)
    assert table.drop(index=exceedance["finding_id"]).reproduced.all()
    assert again.result is not None and again.result.cube is not None


def test_other_inputs_are_refused(package: Path, demo_portfolio: Portfolio,
                                  tmp_path: Path) -> None:
    other = tmp_path / "registry.geojson"
    other.write_text(demo_portfolio.registry_path.read_text() + "\n")
    checks = {c.name: c for c in reproduce_package(package, aoi=other)}
    assert not checks["reproduce-inputs"].ok and "sha256" in checks["reproduce-inputs"].detail
    assert not checks["reproduce-numbers"].ok  # not run on other inputs


def test_cli(package: Path) -> None:
    ok = CliRunner().invoke(main, ["verify", str(package), "--reproduce", "--json"])
    report = json.loads(ok.stdout)
    names = {c["name"]: c for c in report["checks"]}
    assert names["reproduce-numbers"]["ok"] and names["reproduce-inputs"]["ok"]
    # unsigned package: the signature check fails, so verify as a whole says no
    assert ok.exit_code == 1 and not names["signature"]["ok"]
    misuse = CliRunner().invoke(main, ["verify", str(package), "--source", "local:x"])
    assert misuse.exit_code == 2 and "--reproduce" in misuse.output
