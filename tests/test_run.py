"""``monitor run``: the portfolio on a real LocalCluster, the ledger, ``--since last``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monitor.alerts import AlertStore
from monitor.cli import main
from monitor.errors import ConfigError
from monitor.simulate import Portfolio
from pipelines.config import load_run_config
from pipelines.ledger import Ledger
from tests.conftest import DemoJob

PROJECT = Path(__file__).resolve().parents[1]


def write_config(path: Path, portfolio: Portfolio, **changes: object) -> Path:
    data: dict[str, object] = {
        "format": "concession-monitor/run/1", "name": "test",
        "registry": str(portfolio.registry_path), "source": f"local:{portfolio.scenes_dir}",
        "period": {"start": "2022-01-01", "end": "2022-11-28"},
        "output": "out", "state": "state",
        "dask": {"n_workers": 2, "threads_per_worker": 1},
        "packages": {"build": True, "per_alert": False, "tiers": ["full"]}}
    data.update(changes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_demo_run_config_loads_with_paths_beside_it() -> None:
    cfg = load_run_config(PROJECT / "configs" / "demo-run.yaml")
    assert cfg.registry == (PROJECT / "demo-output" / "concessions.geojson").resolve()
    assert cfg.source == f"local:{(PROJECT / 'demo-output' / 'scenes').resolve()}"
    assert cfg.alerts_path.name == "alerts.sqlite" and cfg.ledger_path.name == "ledger.sqlite"
    assert len(cfg.digest()) == 64


@pytest.mark.parametrize(("text", "expected"), [
    ("name: x\n", "format"),
    ("format: concession-monitor/run/1\nname: Bad Name\nregistry: r\nsource: s\n"
     "period: {start: 2022-01-01}\noutput: o\nstate: s\n", "name"),
    ("format: concession-monitor/run/1\nname: x\nregistry: r\nsource: s\n"
     "period: {start: 2022-01-01}\noutput: o\nstate: s\ndask: {scheduler: localhost:8786}\n",
     "tcp://"),
    ("format: concession-monitor/run/1\nname: x\nname: y\n", "duplicate key"),
])
def test_bad_run_configs_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_run_config(path)


@pytest.fixture
def runs(demo_job: DemoJob) -> DemoJob:
    """``monitor demo`` on a short series, then ``monitor run --since last`` (conftest)."""
    return demo_job


def test_demo_runs_the_whole_job_and_says_what_to_open(runs: DemoJob) -> None:
    from monitor.evidence.verify import verify_package

    s, out = runs.first, runs.out
    assert "Open first:" in runs.demo_stdout and "report.html" in runs.demo_stdout
    # demo: 4 concessions; vegetation for all, turbidity for plume, tailings for tailings
    assert s["units"] == {"ok": 6} and s["status"] == "ok" and not s["failed"]
    assert s["period"] == ["2022-06-25", "2022-10-31"]
    assert s["scenes_read"] > 4 * 20 and s["clear_observations"] > 0
    assert s["findings"].get("exceedance", 0) >= 3
    assert sum(s["alerts"]["new"].values()) >= 3 and s["alerts"]["new"]["violation"] >= 2
    assert "exceedance" in s["verdict"]
    assert json.loads((out / "run" / "runs" / f"{s['run_id']}.json").read_text()) == s
    assert json.loads((out / "run" / "run-summary.json").read_text())["run_id"] == \
        runs.second["run_id"]
    for name in ("exports/alerts.geojson", "exports/alerts.gpkg", "report/report.html"):
        assert (out / "run" / name).is_file(), name
    packages = [p for p in (out / "run" / "packages").iterdir() if p.is_dir()]
    scopes = [json.loads((p / "data" / "summary.json").read_text())["scope"]["kind"]
              for p in packages]
    with AlertStore(out / "state" / "alerts.sqlite") as store:
        n_alerts = len(store.list())
    assert scopes.count("check") == 4 and scopes.count("alert") == n_alerts >= 3
    assert s["packages"] == len(packages)
    for package in packages[:2]:
        report = verify_package(package, out / "keys" / "demo.pub")
        assert report.ok, [c for c in report.checks if not c.ok]


def test_alerts_match_a_direct_check_and_are_not_duplicated(runs: DemoJob,
                                                            tmp_path: Path) -> None:
    import monitor

    state = runs.out / "state" / "alerts.sqlite"
    with AlertStore(state) as store:
        alerts = store.list()
    direct = monitor.check("demo-clearing", aoi=runs.out / "concessions.geojson",
                           source=f"local:{runs.out / 'scenes'}", start="2022-06-25",
                           end="2022-10-31", state=tmp_path / "direct.sqlite")
    assert direct.alerts and {a["alert_id"] for a in direct.alerts} == {
        a.alert_id for a in alerts if a.concession_id == "demo-clearing"}
    assert len({a.alert_id for a in alerts}) == len(alerts)
    with sqlite3.connect(state) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_since_last_finds_nothing_new_and_says_so(runs: DemoJob) -> None:
    s = runs.second
    assert s["scenes_read"] == 0 and s["status"] == "ok"
    assert s["verdict"].startswith("nothing new")
    assert sum(s["alerts"]["new"].values()) == 0
    with Ledger(runs.out / "state" / "ledger.sqlite") as ledger:
        runs_ = ledger.runs()
        assert [r.run_id for r in runs_][:2] == [s["run_id"], runs.first["run_id"]]
        units = ledger.units(runs.first["run_id"])
    assert {u.status for u in units} == {"ok"}
    assert all(u.last_acquisition is not None and u.scenes for u in units)


def test_one_failing_concession_is_recorded_and_the_others_complete(
        demo_portfolio: Portfolio, tmp_path: Path) -> None:
    config = write_config(tmp_path / "run.yaml", demo_portfolio,
                          concessions=["demo-compliant", "demo-nowhere"],
                          packages={"build": False})
    result = CliRunner().invoke(main, ["run", str(config)])
    assert result.exit_code == 5, result.output
    assert "FAILED demo-nowhere" in result.stdout and "not in the registry" in result.stdout
    summary = json.loads((tmp_path / "out" / "run-summary.json").read_text())
    assert summary["units"] == {"ok": 1, "failed": 1} and summary["status"] == "partial"

