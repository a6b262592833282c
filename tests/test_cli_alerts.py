"""Tests of ``monitor alerts``: list, show, review, resolve, export; JSON and exit codes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import click
import geopandas as gpd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner, Result

from monitor.alerts import AlertStore
from monitor.cli.alerts import alerts
from tests.test_alerts import finding


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.sqlite"
    with AlertStore(path) as store:
        store.record([
            finding(),
            finding(zone_id="lic-2", severity="violation", status="confirmed", shift=400),
            finding(concession="mine-b", indicator="turbidity", zone_id="reach-1",
                    geometry=shapely.Polygon(), crs=None, observed=date(2024, 4, 1)),
        ])
        store.record([finding(concession="mine-b", indicator="turbidity", zone_id="reach-1",
                              observed=date(2024, 5, 1))])
    return path


def run(state: Path | None, *args: str, env: dict[str, str] | None = None) -> Result:
    prefix = [] if state is None else ["--state", str(state)]
    return CliRunner().invoke(alerts, [*prefix, *args], env=env, catch_exceptions=False)


def ids(state: Path, **filters: Any) -> list[str]:
    with AlertStore(state) as store:
        return [a.alert_id for a in store.list(**filters)]


def test_list_json_and_filters(state: Path) -> None:
    result = run(state, "list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 3 and {r["concession_id"] for r in rows} == {"mine-a", "mine-b"}
    assert {"alert_id", "state", "review", "severity", "gfw_conf", "glad_conf"} <= set(rows[0])
    one = json.loads(run(state, "list", "--json", "--concession", "mine-a",
                         "--state-filter", "confirmed").stdout)
    assert [r["severity"] for r in one] == ["violation"]
    assert json.loads(run(state, "list", "--json", "--severity", "warning").stdout) == []
    table = run(state, "list")
    assert table.exit_code == 0 and "3 alert(s)" in table.stdout
    assert all(i in table.stdout for i in ids(state))
    assert run(state, "list", "--state-filter", "open").exit_code == 2


def test_state_file_from_environment(state: Path, tmp_path: Path) -> None:
    result = run(None, "list", "--json", env={"MONITOR_STATE": str(state)})
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 3
    missing = run(tmp_path / "nope.sqlite", "list", "--json")
    assert missing.exit_code == 1
    assert "no alert store" in json.loads(missing.stdout)["error"]
    assert not (tmp_path / "nope.sqlite").exists()
    text = run(tmp_path / "nope.sqlite", "list")
    assert text.exit_code == 1 and "MONITOR_STATE" in text.stderr


def test_show_alert_and_history(state: Path) -> None:
    alert_id = ids(state, concession_id="mine-b")[0]
    result = run(state, "show", alert_id[:8], "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["alert"]["alert_id"] == alert_id and doc["alert"]["n_findings"] == 2
    assert doc["alert"]["geometry"]["type"] == "Polygon"  # filled in by the later finding
    assert [h["to_state"] for h in doc["history"]] == ["provisional"]
    assert doc["history"][0]["actor"] == "monitor"
    text = run(state, "show", alert_id)
    assert text.exit_code == 0 and "History" in text.stdout and "(new) -> provisional" in (
        text.stdout)
    missing = run(state, "show", "feedbeef", "--json")
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["error_type"] == "AlertNotFoundError"


def test_review_dismiss_and_invalid_transitions(state: Path) -> None:
    alert_id = ids(state, concession_id="mine-a", severity="notice")[0]
    ok = run(state, "review", alert_id, "--as", "dismissed", "--reason", "duplicate",
             "--note", "same as 1b2c", "--by", "ana", "--json")
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert doc["changed"] and doc["alert"]["review"] == "dismissed"
    assert doc["transition"]["actor"] == "ana" and doc["transition"]["note"] == "same as 1b2c"
    assert doc["alert"]["gfw_conf"] is None
    repeat = run(state, "review", alert_id, "--as", "dismissed", "--reason", "duplicate",
                 "--note", "same as 1b2c", "--by", "ana")
    assert repeat.exit_code == 0 and "nothing recorded" in repeat.stdout
    # field_verified is final: a later dismissal names the alert and what is allowed
    assert run(state, "review", alert_id, "--as", "field_verified", "--by", "carla"
               ).exit_code == 0
    bad = run(state, "review", alert_id, "--as", "dismissed", "--reason", "duplicate",
              "--by", "ana")
    assert bad.exit_code == 1
    assert alert_id in bad.stderr and "allowed from field_verified" in bad.stderr
    history = json.loads(run(state, "show", alert_id, "--json").stdout)["history"]
    assert [(h["to_state"], h["actor"]) for h in history if h["kind"] == "review"] == [
        ("dismissed", "ana"), ("field_verified", "carla")]


def test_review_usage_errors(state: Path) -> None:
    alert_id = ids(state)[0]
    no_reason = run(state, "review", alert_id, "--as", "dismissed", "--by", "ana")
    assert no_reason.exit_code == 2 and "cloud_or_shadow_artefact" in no_reason.stderr
    assert run(state, "review", alert_id, "--as", "dismissed", "--reason", "meh",
               "--by", "ana").exit_code == 2
    assert run(state, "review", alert_id, "--as", "dismissed", "--reason", "duplicate"
               ).exit_code == 2  # no --by and no MONITOR_ACTOR
    assert run(state, "review", alert_id, "--as", "closed", "--by", "ana").exit_code == 2
    assert run(state, "review", "feedbeef", "--as", "dismissed", "--reason", "duplicate",
               "--by", "ana").exit_code == 1
    by_env = run(state, "review", alert_id, "--as", "analyst_confirmed", "--json",
                 env={"MONITOR_ACTOR": "dana"})
    assert by_env.exit_code == 0 and json.loads(by_env.stdout)["transition"]["actor"] == "dana"


def test_resolve(state: Path) -> None:
    alert_id = ids(state)[0]
    ok = run(state, "resolve", alert_id, "--reason", "rehabilitated", "--by", "ana", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["alert"]["state"] == "resolved"
    again = run(state, "resolve", alert_id, "--reason", "x", "--by", "ana")
    assert again.exit_code == 1 and "already resolved" in again.stderr


@pytest.mark.parametrize("name", ["a.gpkg", "a.parquet", "a.geojson", "a.csv"])
def test_export(state: Path, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    result = run(state, "export", str(path), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["n_alerts"] == 3 and doc["n_without_geometry"] == 0
    back = gpd.read_parquet(path) if path.suffix == ".parquet" else pyogrio.read_dataframe(path)
    assert len(back) == 3


def test_export_format_and_filters(state: Path, tmp_path: Path) -> None:
    path = tmp_path / "alerts.out"
    result = run(state, "export", str(path), "--format", "geojson", "--concession", "mine-a")
    assert result.exit_code == 0 and "wrote 2 alert(s)" in result.stdout
    assert json.loads(path.read_text())["type"] == "FeatureCollection"
    assert run(state, "export", str(tmp_path / "a.gpkg"), "--format", "kml").exit_code == 2
    unknown = run(state, "export", str(tmp_path / "a.kml"))
    assert unknown.exit_code == 1 and ".gpkg" in unknown.stderr


def test_group_registers_under_a_parent() -> None:
    @click.group()
    def main() -> None:
        pass

    main.add_command(alerts)
    result = CliRunner().invoke(main, ["alerts", "--help"])
    assert result.exit_code == 0 and "MONITOR_STATE" in result.stdout
