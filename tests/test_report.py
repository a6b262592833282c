"""`monitor report`: indicator reports from a real alert store of the synthetic portfolio.

One module-scoped store: demo-clearing and demo-plume checked over 2022-01-01..2022-11-28,
then demo-clearing again over 2022-06-01..2022-11-28 (an overlapping re-check that records
new findings for the same events, which the report must not count twice).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import monitor
from monitor.cli import main
from monitor.errors import AlertStoreError, ConfigError
from monitor.reporting import NO_FINDINGS, build_report, counted_findings, parse_period
from monitor.reporting.data import StoredFinding
from monitor.simulate import Portfolio

PERIOD = ("2022-01-01", "2022-11-28")
MEMBER = "Coalition member A"
VEG_REL = 0.1  # the tolerance of tests/test_vegetation.py against the truth areas


def _store_digest(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes())
    wal = path.with_name(path.name + "-wal")
    digest.update(wal.read_bytes() if wal.exists() else b"")
    return digest.hexdigest()


@pytest.fixture(scope="module")
def store(demo_portfolio: Portfolio, tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("report") / "state.sqlite"
    source = f"local:{demo_portfolio.scenes_dir}"
    for cid, start in (("demo-clearing", PERIOD[0]), ("demo-plume", PERIOD[0]),
                       ("demo-clearing", "2022-06-01")):
        monitor.check(cid, aoi=demo_portfolio.registry_path, source=source, start=start,
                      end=PERIOD[1], state=state)
    return state


@pytest.fixture(scope="module")
def registry(demo_portfolio: Portfolio, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo registry, with demo-clearing and demo-plume in one coalition member."""
    data = json.loads(demo_portfolio.registry_path.read_text(encoding="utf-8"))
    for feature in data["features"]:
        props = feature["properties"]
        props["coalition_member"] = (MEMBER if props["concession_id"] in
                                     ("demo-clearing", "demo-plume") else None)
    path = tmp_path_factory.mktemp("registry") / "coalition.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _report(args: list[str]) -> Any:
    result = CliRunner().invoke(main, ["report", *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def report(store: Path, registry: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("out") / "r1"
    before = _store_digest(store)
    result = _report(["--state", str(store), "--period", "2022", "--aoi", str(registry),
                      "--out", str(out)])
    assert "demo-clearing" in result.output and "wrote" in result.output
    assert _store_digest(store) == before, "a report must never modify the store"
    return out, json.loads((out / "report.json").read_text(encoding="utf-8"))


def _concession(data: dict[str, Any], cid: str) -> dict[str, Any]:
    (row,) = [c for c in data["concessions"] if c["concession_id"] == cid]
    return row


def test_vegetation_loss_near_truth_and_counted_once(demo_portfolio: Portfolio,
                                                     report: tuple[Path, dict[str, Any]]) -> None:
    truth = demo_portfolio.truth["concessions"]["demo-clearing"]["vegetation_loss"]
    row = _concession(report[1], "demo-clearing")
    print("\ndemo-clearing loss (ha):", {z: row[f"loss_ha_{z}"] for z in (
        "permitted_footprint", "licence_outside_footprint", "exclusion_zone", "buffer_ring")},
        "truth:", truth["area_ha_by_zone"])
    for zone in ("permitted_footprint", "licence_outside_footprint", "exclusion_zone"):
        assert row[f"loss_ha_{zone}"] == pytest.approx(truth["area_ha_by_zone"][zone],
                                                       rel=VEG_REL), zone
    assert row["loss_ha_buffer_ring"] == 0.0
    assert row["loss_ha_total"] == pytest.approx(truth["area_ha"], rel=VEG_REL)
    # two checks recorded the same two events: 8 findings stored, each event counted once
    assert row["findings_recorded"] == 8 and row["findings_counted"] == 5
    assert row["exceedances"] == 2
    plume = _concession(report[1], "demo-plume")
    assert plume["loss_ha_exclusion_zone"] is None  # the concession has no exclusion zone
    assert any(n.startswith("loss_ha_exclusion_zone") for n in plume["not_available"])


def test_turbidity_days_are_the_observable_plume_dates(
        demo_portfolio: Portfolio, report: tuple[Path, dict[str, Any]]) -> None:
    plume = demo_portfolio.truth["concessions"]["demo-plume"]["plume"]
    observable = sorted(s["date"] for s in plume["series"] if s["plume"]
                        and date.fromisoformat(PERIOD[0]) <= date.fromisoformat(s["date"])
                        <= date.fromisoformat(PERIOD[1])
                        and min(s["upstream"]["clear_water_px"],
                                s["downstream"]["clear_water_px"]) >= 20)
    row = _concession(report[1], "demo-plume")
    print("\nturbidity exceedance dates:", row["turbidity_exceedance_dates"],
          "observable plume dates:", observable)
    assert observable == ["2022-09-09", "2022-09-14", "2022-09-19"]
    assert row["turbidity_exceedance_dates"] == observable
    assert row["turbidity_exceedance_days"] == 3 and row["turbidity_episodes"] == 1
    clearing = _concession(report[1], "demo-clearing")
    assert clearing["turbidity_exceedance_days"] is None  # no reach: not zero, unknown
    assert any(n.startswith("turbidity:") for n in clearing["not_available"])


def test_alerts_equal_the_store_rows(store: Path, report: tuple[Path, dict[str, Any]]) -> None:
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT concession_id, severity, state, review FROM alerts").fetchall()
    assert rows, "the demo checks raise alerts"
    data = report[1]
    for cid in {r[0] for r in rows}:
        row = _concession(data, cid)
        mine = [r for r in rows if r[0] == cid]
        for column, index in (("severity", 1), ("state", 2), ("review", 3)):
            for value in {r[index] for r in mine}:
                assert row[f"alerts_{value}"] == sum(r[index] == value for r in mine), column
        assert row["alerts_total"] == len(mine)
    assert data["portfolio"]["alerts_total"] == len(rows)
    assert data["portfolio"]["alerts_violation"] == sum(r[1] == "violation" for r in rows)


def test_member_is_the_sum_of_its_concessions(report: tuple[Path, dict[str, Any]]) -> None:
    data = report[1]
    (member,) = [m for m in data["members"] if m["member"] == MEMBER]
    assert member["concessions"] == ["demo-clearing", "demo-plume"]
    parts = [_concession(data, cid) for cid in member["concessions"]]
    assert all(p["member"] == MEMBER for p in parts)
    for key, value in member.items():
        numbers = [p[key] for p in parts if isinstance(p.get(key), int | float)]
        if key in ("n_concessions", "indeterminate_share", "tailings_facility_growth_fraction"
                   ) or key.startswith("clear_obs_min") or not numbers:
            continue
        assert value == pytest.approx(sum(numbers)), key
    assert member["loss_ha_total"] > 0 and member["turbidity_exceedance_days"] == 3
    compliant = _concession(data, "demo-compliant")  # in the registry, never checked
    assert compliant["findings_recorded"] == 0
    assert compliant["not_available"] == [f"all indicators: {NO_FINDINGS}"]
    assert compliant["member"].endswith("(fictitious)")  # its holder: no coalition_member


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return " | ".join(map(str, value)) if isinstance(value, list) else str(value)


def test_csv_parses_and_matches_the_json(report: tuple[Path, dict[str, Any]]) -> None:
    out, data = report
    for name, rows in (("concessions.csv", data["concessions"]),
                       ("members.csv", data["members"])):
        with (out / name).open(encoding="utf-8", newline="") as handle:
            parsed = list(csv.DictReader(handle))
        assert len(parsed) == len(rows) > 0
        for got, want in zip(parsed, rows, strict=True):
            assert list(got) == list(want)
            assert got == {k: _cell(v) for k, v in want.items()}
        row = parsed[0]
        assert float(row["loss_ha_total"]) == next(
            r["loss_ha_total"] for r in rows if r["member"] == row["member"])


def test_rerun_is_byte_identical(store: Path, registry: Path,
                                 report: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    first, _ = report
    again = tmp_path / "again"
    _report(["--state", str(store), "--period", "2022", "--aoi", str(registry),
             "--out", str(again)])
    for name in ("concessions.csv", "members.csv", "report.json"):
        assert (again / name).read_bytes() == (first / name).read_bytes(), name

    def body(path: Path) -> str:  # the generation time lives in the footer only
        return re.sub(r"<footer class=\"generated\">.*?</footer>", "",
                      path.read_text(encoding="utf-8"), flags=re.S)

    assert body(again / "report.html") == body(first / "report.html")
    html = (first / "report.html").read_text(encoding="utf-8")
    assert "How to read this report" in html and "default@" in html
    assert "<script" not in html and "http" not in html.split("</style>")[0]


def test_empty_period_says_so(store: Path, registry: Path, tmp_path: Path) -> None:
    before = _store_digest(store)
    result = _report(["--state", str(store), "--period", "2021-01-01..2021-12-31",
                      "--out", str(tmp_path / "e"), "--json"])
    payload = json.loads(result.stdout)
    assert payload["ok"] and payload["report"]["empty"]
    assert payload["report"]["notes"] == [NO_FINDINGS]
    html = (tmp_path / "e" / "report.html").read_text(encoding="utf-8")
    assert "No findings recorded for this period." in html
    assert "<table" not in html.split('id="members"')[0]
    with_registry = build_report(store, parse_period("2021"), aoi=registry)
    assert with_registry.empty and len(with_registry.concessions) == 4
    assert all(c.indicators.findings_recorded == 0 for c in with_registry.concessions)
    assert _store_digest(store) == before


def test_without_registry_members_are_unknown(store: Path) -> None:
    result = build_report(store, parse_period("2022"))
    assert {c.member for c in result.concessions} == {"unknown (give --aoi)"}
    assert {c.concession_id for c in result.concessions} == {"demo-clearing", "demo-plume"}
    assert result.registry is None and result.standards == ("default@1.0",)


def test_missing_or_foreign_state_exits_2_naming_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database, just bytes " * 100)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    for path in (tmp_path / "missing.sqlite", garbage, other):
        result = CliRunner().invoke(main, ["report", "--state", str(path), "--period", "2022",
                                           "--out", str(tmp_path / "o")])
        assert result.exit_code == 2, result.output
        assert path.name in result.output and "--state" in result.output
        with pytest.raises(AlertStoreError, match=re.escape(path.name)):
            build_report(path, parse_period("2022"))
    assert not (tmp_path / "o").exists()
    bad = CliRunner().invoke(main, ["report", "--state", str(garbage), "--period", "22"])
    assert bad.exit_code == 2 and "neither a year" in bad.output


def test_period_parsing() -> None:
    assert parse_period("2024").label == "2024"
    p = parse_period("2024-02-01..2024-02-29")
    assert (p.start, p.end, p.label) == (date(2024, 2, 1), date(2024, 2, 29),
                                         "2024-02-01..2024-02-29")
    for text in ("2024-13", "2024-02-30..2024-03-01", "2024-03-01..2024-02-01", ""):
        with pytest.raises(ConfigError):
            parse_period(text)


def _finding(zone_id: str, start: str, end: str, events: list[str], value: float,
             event_id: str | None = None, recorded: str = "2022-07-01") -> StoredFinding:
    return StoredFinding(
        finding_id=f"{zone_id}{start}{event_id}", alert_id=None, concession_id="c",
        indicator="vegetation_loss", zone=zone_id, zone_id=zone_id,
        period_start=date.fromisoformat(start), period_end=date.fromisoformat(end),
        observed=date.fromisoformat(end), value=value, limit=None, unit="ha",
        outcome="compliant", reason="", severity=None, n_clear_obs=5, standard="default@1.0",
        event_id=event_id, event_status="confirmed" if event_id else None,
        details={"events": events}, created_at=recorded)


def _ids(findings: tuple[StoredFinding, ...]) -> set[str]:
    return {f.finding_id for f in findings}


def test_counting_rule_disjoint_add_overlapping_supersede() -> None:
    q1 = _finding("permitted_footprint", "2022-01-01", "2022-03-31", ["e1"], 2.0)
    q2 = _finding("permitted_footprint", "2022-04-01", "2022-06-30", ["e2"], 3.0)
    h1 = _finding("permitted_footprint", "2022-01-01", "2022-06-30", ["e1", "e2"], 5.5,
                  recorded="2022-07-02")
    assert _ids(counted_findings([q1, q2])) == _ids((q1, q2))  # disjoint checks add up
    assert _ids(counted_findings([q1, q2, h1])) == _ids((h1,))  # a re-check replaces both
    later = _finding("permitted_footprint", "2022-03-01", "2022-06-30", [], 0.0)
    assert _ids(counted_findings([q1, later])) == _ids((q1, later))  # e1 not re-listed
    e_old = _finding("licence_outside_footprint", "2022-01-01", "2022-06-30", ["x"], 4.0, "x")
    e_new = _finding("licence_outside_footprint", "2022-03-01", "2022-09-30", ["x"], 4.2, "x")
    assert _ids(counted_findings([e_old, e_new])) == _ids((e_new,))  # an event counts once
