"""`monitor check` and `monitor.check` end to end on the synthetic portfolio."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import monitor
from monitor.checking import CheckResult
from monitor.cli import main
from monitor.simulate import Portfolio

PERIOD = ("2022-01-01", "2022-12-01")


def _check(portfolio: Portfolio, concession_id: str, state: Path | None = None) -> CheckResult:
    return monitor.check(concession_id, aoi=portfolio.registry_path,
                         source=f"local:{portfolio.scenes_dir}", start=PERIOD[0], end=PERIOD[1],
                         state=state)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state") / "alerts.sqlite"


@pytest.fixture(scope="module")
def clearing(demo_portfolio: Portfolio, state: Path) -> CheckResult:
    return _check(demo_portfolio, "demo-clearing", state)


def _exceedances(result: CheckResult) -> dict[str, list[str | None]]:
    out: dict[str, list[str | None]] = {}
    for f in result.findings:
        if f.outcome == "exceedance":
            out.setdefault(f"{f.indicator}:{f.zone}", []).append(f.severity)
    return out


def test_clearing_outside_footprint_and_in_exclusion_zone(clearing: CheckResult) -> None:
    found = _exceedances(clearing)
    print("\ndemo-clearing exceedances:", found)
    assert "vegetation_loss:licence_outside_footprint" in found
    assert found["vegetation_loss:exclusion_zone"] == ["violation"]
    # clearing inside the permitted footprint is allowed: never an exceedance
    assert "vegetation_loss:permitted_footprint" not in found
    assert clearing.standard.startswith("default@")
    assert clearing.alerts, "exceedances with an onset raise alerts in the state store"


def test_rerun_never_duplicates_alerts(demo_portfolio: Portfolio, clearing: CheckResult,
                                       state: Path) -> None:
    again = _check(demo_portfolio, "demo-clearing", state)
    assert sorted(a["alert_id"] for a in again.alerts) == sorted(
        a["alert_id"] for a in clearing.alerts)
    with sqlite3.connect(state) as db:
        (n_alerts,) = db.execute("SELECT COUNT(*) FROM alerts").fetchone()
    assert n_alerts == len({a["alert_id"] for a in clearing.alerts})


def test_compliant_concession_raises_nothing(demo_portfolio: Portfolio, tmp_path: Path) -> None:
    result = _check(demo_portfolio, "demo-compliant", tmp_path / "s.sqlite")
    assert not _exceedances(result)
    assert result.alerts == ()
    assert {f.outcome for f in result.findings} <= {"compliant", "indeterminate"}


def test_cli_json_and_fail_on(demo_portfolio: Portfolio, tmp_path: Path) -> None:
    args = ["check", "demo-clearing", "--aoi", str(demo_portfolio.registry_path), "--source",
            f"local:{demo_portfolio.scenes_dir}", "--from", PERIOD[0], "--to", PERIOD[1],
            "--indicator", "vegetation_loss"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["concession_id"] == "demo-clearing"
    for finding in data["findings"]:
        for key in ("indicator", "zone", "value", "unit", "limit", "outcome", "severity",
                    "confidence", "n_clear_obs"):
            assert key in finding
    failed = CliRunner().invoke(main, [*args, "--fail-on", "violation"])
    assert failed.exit_code == 3
    assert "exclusion_zone" in failed.stdout


def test_cli_bad_input_exits_2_with_the_reason(demo_portfolio: Portfolio) -> None:
    base = ["--aoi", str(demo_portfolio.registry_path), "--source",
            f"local:{demo_portfolio.scenes_dir}"]
    unknown = CliRunner().invoke(main, ["check", "demo-nope", *base, "--from", PERIOD[0],
                                        "--to", PERIOD[1]])
    assert unknown.exit_code == 2 and "demo-nope" in unknown.output
    no_period = CliRunner().invoke(main, ["check", "demo-clearing", *base])
    assert no_period.exit_code == 2 and "--from" in no_period.output
    reversed_period = CliRunner().invoke(main, ["check", "demo-clearing", *base, "--from",
                                                PERIOD[1], "--to", PERIOD[0]])
    assert reversed_period.exit_code == 2 and "after its start" in reversed_period.output
