"""Alert store: idempotent recording, lifecycle, review, history, concurrency, exports."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import MultiPolygon, box
from shapely.geometry.base import BaseGeometry

from monitor.alerts import AlertStore, export_alerts
from monitor.alerts.export import COLUMNS, format_from_path
from monitor.alerts.model import GFW_EPOCH, gfw_code, gfw_conf, glad_conf
from monitor.alerts.schema import APPLICATION_ID, SCHEMA_VERSION
from monitor.errors import (
    AlertError,
    AlertExportError,
    AlertNotFoundError,
    AlertStoreBusyError,
    AlertStoreError,
    InvalidReviewError,
    InvalidTransitionError,
)
from monitor.findings import DISMISS_REASONS, Finding

UTM = "EPSG:32719"
X0, Y0 = 450_000.0, 7_400_000.0


def finding(*, concession: str = "mine-a", indicator: str = "vegetation_loss",
            zone_id: str = "lic-1", observed: date = date(2024, 3, 5),
            outcome: str = "exceedance", severity: str | None = "notice",
            status: str | None = "provisional", onset: date | None = date(2024, 3, 1),
            value: float = 2.5, geometry: BaseGeometry | None = None, crs: Any = UTM,
            shift: float = 0.0, standard_version: str = "1") -> Finding:
    """A hand-made finding; by default a provisional vegetation-loss exceedance."""
    if outcome != "exceedance":
        severity, status, onset = None, None, None
    geom = geometry if geometry is not None else box(X0 + shift, Y0, X0 + shift + 120, Y0 + 90)
    return Finding(
        concession_id=concession, indicator=indicator, zone="licence_outside_footprint",
        zone_id=zone_id, period=(observed - timedelta(days=30), observed), observed=observed,
        value=value, limit=1.0, unit="ha", outcome=outcome,  # type: ignore[arg-type]
        reason="test", severity=severity, confidence="high",  # type: ignore[arg-type]
        n_clear_obs=6, n_clear_px=1200, standard_id="default",
        standard_version=standard_version, event_id=None if onset is None else "ev-1",
        onset=onset, event_status=status,
        geometry=geom if outcome == "exceedance" else None,
        details={} if crs is None else {"crs": crs},
    )


class Clock:
    """A clock that ticks one second per call."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with AlertStore(tmp_path / "state.sqlite", clock=Clock()) as s:
        yield s


def counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("findings", "alerts", "transitions")}


# ---------------------------------------------------------------- schema and opening


def test_store_file_pragmas_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with AlertStore(path) as s:
        conn = s._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    with AlertStore(path) as s:  # reopening is idempotent
        assert s.list() == []
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"findings", "alerts", "transitions"} <= tables


def test_refuses_files_that_are_not_alert_stores(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(AlertStoreError, match="not an SQLite database"):
        AlertStore(junk)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(AlertStoreError, match="not an alert store"):
        AlertStore(other)
    newer = tmp_path / "newer.sqlite"
    AlertStore(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(AlertStoreError, match="newer than this monitor"):
        AlertStore(newer)
    with pytest.raises(AlertStoreError, match="no alert store at"):
        AlertStore(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(AlertStoreError, match="does not exist"):
        AlertStore(tmp_path / "no-folder" / "state.sqlite")


# ---------------------------------------------------------------- recording


def test_record_is_idempotent(store: AlertStore) -> None:
    batch = [finding(), finding(zone_id="lic-2", shift=500),
             finding(outcome="compliant", zone_id="fp-1")]
    first = store.record(batch, run_id="run-1")
    assert (first.findings_new, first.alerts_new, first.alerts_unchanged) == (3, 2, 0)
    before = counts(store.path)
    assert before == {"findings": 3, "alerts": 2, "transitions": 2}
    again = store.record(batch, run_id="run-2")
    reordered = store.record(list(reversed(batch)), run_id="run-3")
    for summary in (again, reordered):
        assert summary.findings_new == 0 and summary.findings_known == 3
        assert summary.alerts_new == summary.alerts_confirmed == summary.alerts_updated == 0
        assert summary.alerts_unchanged == 2 and summary.changed_alert_ids == ()
    assert counts(store.path) == before
    # duplicates inside one batch are one finding
    assert store.record([finding(observed=date(2024, 5, 1))] * 3).findings_new == 1


def test_promotion_records_a_transition(store: AlertStore) -> None:
    first = finding()
    store.record([first], run_id="run-1")
    alert_id = first.alert_key
    assert alert_id is not None
    assert store.get(alert_id).state == "provisional"
    later = finding(observed=date(2024, 4, 5), severity="warning", status="confirmed",
                    value=4.0, shift=10)
    summary = store.record([later], actor="pipeline", run_id="run-2")
    assert later.alert_key == alert_id
    assert (summary.alerts_confirmed, summary.alerts_new, summary.changed_alert_ids) == (
        1, 0, (alert_id,))
    alert = store.get(alert_id)
    assert (alert.state, alert.severity, alert.n_findings) == ("confirmed", "warning", 2)
    assert alert.confirmed_at is not None and alert.finding_id == later.finding_id
    assert alert.value == 4.0 and alert.first_seen == date(2024, 3, 5)
    assert alert.last_seen == date(2024, 4, 5)
    assert alert.geometry is not None and alert.geometry.equals(later.geometry)
    history = store.history(alert_id)
    kinds = [(t.kind, t.from_state, t.to_state) for t in history]
    assert kinds == [("lifecycle", None, "provisional"),
                     ("lifecycle", "provisional", "confirmed"),
                     ("severity", "notice", "warning")]
    promotion = history[1]
    assert promotion.actor == "pipeline" and promotion.run_id == "run-2"
    assert promotion.finding_id == later.finding_id
    assert later.finding_id in (promotion.reason or "")
    # re-recording both changes nothing
    assert store.record([first, later]).changed_alert_ids == ()
    assert len(store.history(alert_id)) == 3


def test_order_does_not_matter_and_confirmed_never_demotes(store: AlertStore,
                                                          tmp_path: Path) -> None:
    early, late = finding(), finding(observed=date(2024, 4, 5), severity="violation",
                                     status="confirmed", value=9.0)
    store.record([late])
    store.record([early])
    with AlertStore(tmp_path / "other.sqlite") as other:
        other.record([early, late])
        a, b = store.get(str(early.alert_key)), other.get(str(early.alert_key))
    assert a.state == b.state == "confirmed" and a.severity == b.severity == "violation"
    assert a.finding_id == b.finding_id == late.finding_id and a.value == b.value == 9.0
    assert (a.first_seen, a.last_seen) == (b.first_seen, b.last_seen)


def test_conflicting_finding_keeps_the_stored_one(store: AlertStore,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    store.record([finding(value=2.5)])
    with caplog.at_level(logging.WARNING):
        summary = store.record([finding(value=3.5)])
    assert summary.findings_conflicting == 1 and summary.findings_new == 0
    assert "different content" in caplog.text
    assert store.list()[0].value == 2.5


def test_exceedance_without_onset_raises_no_alert(store: AlertStore) -> None:
    summary = store.record([finding(onset=None)])
    assert summary.findings_new == 1 and summary.exceedances_without_alert == 1
    assert store.list() == []


def test_bad_batch_writes_nothing(store: AlertStore) -> None:
    with pytest.raises(AlertStoreError, match="no CRS") as info:
        store.record([finding(), finding(zone_id="lic-2", crs=None)])
    assert "lic-2" in str(info.value) and "nothing was written" in str(info.value)
    assert counts(store.path) == {"findings": 0, "alerts": 0, "transitions": 0}
    # the CRS may also come from the call
    assert store.record([finding(crs=None)], crs=UTM).alerts_new == 1
    with pytest.raises(AlertStoreError, match="not usable"):
        store.record([finding(zone_id="x", crs="EPSG:999999")])


def test_transitions_are_append_only(store: AlertStore) -> None:
    store.record([finding()])
    with sqlite3.connect(store.path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE transitions SET actor = 'someone else'")
    with sqlite3.connect(store.path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("DELETE FROM transitions")


# ---------------------------------------------------------------- review and history


def test_review_transitions_and_history(store: AlertStore) -> None:
    store.record([finding()])
    alert_id = store.list()[0].alert_id
    assert store.review(alert_id, "analyst_confirmed", "ana", reason="clear in S2",
                        note="checked 3 scenes").review == "analyst_confirmed"
    assert store.review(alert_id, "dismissed", "ben", reason="cloud_or_shadow_artefact"
                        ).review == "dismissed"
    assert store.review(alert_id, "analyst_confirmed", "ana", reason="reversed").review == (
        "analyst_confirmed")
    assert store.review(alert_id, "field_verified", "carla", note="visit 2025-01-10"
                        ).review == "field_verified"
    with pytest.raises(InvalidTransitionError) as info:
        store.review(alert_id, "dismissed", "ben", reason="duplicate")
    message = str(info.value)
    assert alert_id in message and "field_verified" in message and "none" in message
    history = [t for t in store.history(alert_id) if t.kind == "review"]
    assert [(t.from_state, t.to_state, t.actor) for t in history] == [
        ("unreviewed", "analyst_confirmed", "ana"), ("analyst_confirmed", "dismissed", "ben"),
        ("dismissed", "analyst_confirmed", "ana"), ("analyst_confirmed", "field_verified",
                                                    "carla")]
    assert history[0].reason == "clear in S2" and history[0].note == "checked 3 scenes"
    assert history[1].reason == "cloud_or_shadow_artefact"
    times = [t.at for t in store.history(alert_id)]
    assert times == sorted(times) and all(t.endswith("Z") for t in times)
    assert datetime.fromisoformat(times[0]).tzinfo is not None


def test_dismissal_needs_a_listed_reason(store: AlertStore) -> None:
    store.record([finding()])
    alert_id = store.list()[0].alert_id
    for reason in (None, "", "looked wrong"):
        with pytest.raises(InvalidReviewError) as info:
            store.review(alert_id, "dismissed", "ana", reason=reason)
        assert all(r in str(info.value) for r in DISMISS_REASONS)
    with pytest.raises(InvalidReviewError, match="needs a note"):
        store.review(alert_id, "dismissed", "ana", reason="other")
    with pytest.raises(InvalidReviewError, match="unknown review state"):
        store.review(alert_id, "unreviewed", "ana")
    with pytest.raises(AlertError, match="actor"):
        store.review(alert_id, "analyst_confirmed", "  ")
    assert store.get(alert_id).review == "unreviewed"
    assert [t.kind for t in store.history(alert_id)] == ["lifecycle"]
    store.review(alert_id, "dismissed", "ana", reason="other", note="mine road, permitted")
    # an exact repeat is a no-op; a different one is an invalid transition
    store.review(alert_id, "dismissed", "ana", reason="other", note="mine road, permitted")
    assert len(store.history(alert_id)) == 2
    with pytest.raises(InvalidTransitionError, match="dismissed"):
        store.review(alert_id, "dismissed", "ana", reason="duplicate")


def test_not_found(store: AlertStore) -> None:
    store.record([finding()])
    for call in (lambda: store.get("feedbeef"), lambda: store.history("feedbeef"),
                 lambda: store.review("feedbeef", "dismissed", "a", reason="duplicate"),
                 lambda: store.resolve("feedbeef", "a", "done")):
        with pytest.raises(AlertNotFoundError, match="feedbeef"):
            call()
    alert_id = store.list()[0].alert_id
    assert store.expand_id(alert_id[:6]) == alert_id
    with pytest.raises(AlertNotFoundError):
        store.expand_id("zz-not-hex")


def test_list_filters(store: AlertStore) -> None:
    store.record([finding(), finding(concession="mine-b", shift=900),
                  finding(zone_id="lic-2", severity="violation", status="confirmed")])
    assert len(store.list()) == 3
    assert {a.concession_id for a in store.list(concession_id="mine-b")} == {"mine-b"}
    assert len(store.list(state="confirmed")) == 1
    assert len(store.list(severity="violation", concession_id="mine-a")) == 1
    assert len(store.list(review="unreviewed")) == 3
    with pytest.raises(AlertError, match="unknown state"):
        store.list(state="open")


# ---------------------------------------------------------------- resolution


def test_resolve_by_hand_and_reopen_on_newer_evidence(store: AlertStore) -> None:
    store.record([finding(observed=date(2024, 3, 5))])
    alert_id = store.list()[0].alert_id
    resolved = store.resolve(alert_id, "ana", "rehabilitated", note="photos in ticket 12")
    assert resolved.state == "resolved" and resolved.resolved_at is not None
    with pytest.raises(InvalidTransitionError, match="already resolved"):
        store.resolve(alert_id, "ana", "again")
    with pytest.raises(AlertError, match="needs a reason"):
        store.resolve(alert_id, "ana", " ")
    older = store.record([finding(observed=date(2024, 2, 20))])  # backfill: stays resolved
    assert older.alerts_reopened == 0 and store.get(alert_id).state == "resolved"
    newer = store.record([finding(observed=date(2024, 6, 1), severity="warning",
                                  status="confirmed")], run_id="run-9")
    assert newer.alerts_reopened == 1
    alert = store.get(alert_id)
    assert alert.state == "confirmed" and alert.resolved_at is None
    lifecycle = [(t.from_state, t.to_state, t.actor) for t in store.history(alert_id)
                 if t.kind == "lifecycle"]
    assert lifecycle == [(None, "provisional", "monitor"), ("provisional", "resolved", "ana"),
                         ("resolved", "confirmed", "monitor")]


def test_auto_resolution_is_opt_in(store: AlertStore) -> None:
    store.record([finding(observed=date(2024, 3, 5))])
    alert_id = store.list()[0].alert_id
    compliant = finding(outcome="compliant", observed=date(2024, 5, 5))
    assert store.record([compliant]).alerts_resolved == 0
    assert store.get(alert_id).state == "provisional"
    later = finding(outcome="compliant", observed=date(2024, 6, 5))
    summary = store.record([later], auto_resolve=True, run_id="r")
    assert summary.alerts_resolved == 1 and store.get(alert_id).state == "resolved"
    last = store.history(alert_id)[-1]
    assert (last.to_state, last.finding_id, last.run_id) == ("resolved", later.finding_id, "r")
    # an exceedance observed before the compliant one does not reopen it
    assert store.record([finding(observed=date(2024, 6, 1))]).alerts_reopened == 0


# ---------------------------------------------------------------- concurrency


def _writer(path: str, worker: int, start: Any, n: int, queue: Any) -> None:
    """Record findings one call at a time; overlap with the other worker by half."""
    try:
        with AlertStore(path) as s:
            start.wait(60)  # both workers open, then start together
            first = worker * n // 2
            for i in range(first, first + n):
                s.record([finding(zone_id=f"z{i % 12}", observed=date(2024, 1, 1)
                                  + timedelta(days=7 * (i // 12)),
                                  severity="warning" if i % 3 == 0 else "notice",
                                  status=None, shift=10 * i)], actor=f"worker-{worker}")
        queue.put((worker, "ok"))
    except Exception as exc:  # reported to the parent
        queue.put((worker, f"{type(exc).__name__}: {exc}"))


def test_concurrent_writers_make_no_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    ctx = multiprocessing.get_context("spawn")
    start, queue = ctx.Barrier(2), ctx.Queue()
    n = 48
    procs = [ctx.Process(target=_writer, args=(str(path), w, start, n, queue))
             for w in range(2)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    assert not alive, "a writer hung"
    results = dict(queue.get(timeout=5) for _ in procs)
    assert results == {0: "ok", 1: "ok"}
    assert time.monotonic() - t0 < 120
    # worker 0 records findings 0..47, worker 1 24..71: 72 distinct, 12 zones -> 12 alerts
    expected = [finding(zone_id=f"z{i % 12}", observed=date(2024, 1, 1)
                        + timedelta(days=7 * (i // 12)),
                        severity="warning" if i % 3 == 0 else "notice", status=None,
                        shift=10 * i) for i in range(72)]
    with AlertStore(path) as s:
        assert counts(path) == {"findings": 72, "alerts": 12,
                                "transitions": counts(path)["transitions"]}
        again = s.record(expected)
        assert again.findings_known == 72 and again.changed_alert_ids == ()
        with sqlite3.connect(path) as conn:
            dup = conn.execute("SELECT count(*) FROM (SELECT alert_id, kind, from_state, "
                               "to_state, finding_id FROM transitions GROUP BY 1, 2, 3, 4, 5 "
                               "HAVING count(*) > 1)").fetchone()[0]
            created = conn.execute("SELECT count(*) FROM transitions WHERE from_state IS NULL"
                                   ).fetchone()[0]
        assert dup == 0 and created == 12
        assert sum(a.n_findings for a in s.list()) == 72


def test_lock_timeout_is_a_typed_retryable_error(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    AlertStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with AlertStore(path, busy_timeout_s=0.2) as s:
            t0 = time.monotonic()
            with pytest.raises(AlertStoreBusyError, match="retry"):
                s.record([finding()])
            assert time.monotonic() - t0 < 5
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# ---------------------------------------------------------------- partner codes


def test_partner_confidence_codes() -> None:
    assert (gfw_conf(False, "notice", "unreviewed"), glad_conf(False, "unreviewed")) == (2, 2)
    assert (gfw_conf(True, "warning", "analyst_confirmed"), glad_conf(True, "unreviewed")) == (
        3, 3)
    assert gfw_conf(True, "violation", "field_verified") == 4
    assert gfw_conf(True, "violation", "dismissed") is None
    assert glad_conf(True, "dismissed") is None
    onset = date(2024, 3, 1)
    assert gfw_code(3, onset) == 30000 + (onset - GFW_EPOCH).days == 33348
    assert gfw_code(2, date(2015, 1, 1)) == 20001  # GFW's own example
    assert gfw_code(None, onset) is None and gfw_code(2, date(2014, 6, 1)) is None


# ---------------------------------------------------------------- exports

#: A polygon in UTM zone 60N that crosses the 180th meridian.
ANTIMERIDIAN = box(815_000, 1_000_000, 835_000, 1_010_000)


@pytest.fixture
def exported_store(store: AlertStore) -> AlertStore:
    store.record([
        finding(),
        finding(zone_id="lic-2", severity="violation", status="confirmed", shift=400),
        finding(concession="mine-c", geometry=ANTIMERIDIAN, crs="EPSG:32660"),
    ])
    store.record([finding(concession="mine-d", zone_id="reach-1", indicator="turbidity",
                          crs=None, geometry=shapely.Polygon())])  # no polygons
    store.review(store.list(concession_id="mine-a", severity="notice")[0].alert_id,
                 "dismissed", "ana", reason="duplicate")
    return store


def _multi(geom: BaseGeometry) -> BaseGeometry:
    """Normalised MultiPolygon (GeoPackage promotes polygons to multi-polygons)."""
    return shapely.normalize(MultiPolygon([geom]) if geom.geom_type == "Polygon" else geom)


def _read(path: Path) -> gpd.GeoDataFrame:
    if path.suffix == ".parquet":
        return gpd.read_parquet(path)
    return pyogrio.read_dataframe(path)


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet", ".geojson", ".csv"])
def test_export_round_trip(exported_store: AlertStore, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"alerts{suffix}"
    result = export_alerts(exported_store, path)
    assert (result.n_alerts, result.n_without_geometry) == (4, 1)
    assert result.format == format_from_path(path)
    back = _read(path)
    assert len(back) == 4
    assert set(COLUMNS) <= set(back.columns)
    if suffix != ".csv":  # CSV carries no CRS (documented: lon/lat EPSG:4326)
        assert back.crs is not None and back.crs.to_epsg() == 4326
    alerts = {a.alert_id: a for a in exported_store.list()}
    for _, row in back.iterrows():
        alert = alerts[row["alert_id"]]
        expected = alert.geometry_lonlat()
        got = row.geometry
        if expected is None:
            assert got is None or pd.isna(got) or got.is_empty
            continue
        assert got is not None
        # GeoJSON keeps 7 decimals (about 1 cm): equal vertex by vertex within 1e-6 degrees
        assert shapely.equals_exact(_multi(got), _multi(expected), tolerance=1e-6)
        assert got.bounds[0] >= -180 and got.bounds[2] <= 180
        assert str(row["state"]) == alert.state and str(row["review"]) == alert.review
        conf = row["gfw_conf"]
        assert (None if pd.isna(conf) or conf == "" else int(conf)) == alert.gfw_conf
    crossing = alerts[next(a for a in alerts if alerts[a].concession_id == "mine-c")]
    lonlat = crossing.geometry_lonlat()
    assert lonlat is not None and lonlat.geom_type == "MultiPolygon"  # split at 180


def test_geojson_is_rfc7946(exported_store: AlertStore, tmp_path: Path) -> None:
    import json

    path = tmp_path / "alerts.geojson"
    export_alerts(exported_store, path)
    doc = json.loads(path.read_text())
    assert "crs" not in doc and doc["type"] == "FeatureCollection"
    nulls = [f for f in doc["features"] if f["geometry"] is None]
    assert len(nulls) == 1 and nulls[0]["properties"]["indicator"] == "turbidity"
    codes = {f["properties"]["severity"]: f["properties"]["gfw_conf"] for f in doc["features"]
             if f["properties"]["review"] != "dismissed"}
    assert codes["violation"] == 4


def test_export_is_atomic(exported_store: AlertStore, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.alerts.export as export_module

    target = tmp_path / "alerts.gpkg"
    real_write = export_module._write

    def broken(frame: Any, path: Path, fmt: Any) -> None:
        real_write(frame, path, fmt)  # a complete temp file ...
        with path.open("r+b") as fh:  # ... half overwritten, then the writer dies
            fh.truncate(path.stat().st_size // 2)
        raise OSError("disk full")

    monkeypatch.setattr(export_module, "_write", broken)
    with pytest.raises(AlertExportError, match="disk full"):
        export_alerts(exported_store, target)
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".alerts")]
    # an existing export survives a failed rewrite unchanged
    monkeypatch.setattr(export_module, "_write", real_write)
    export_alerts(exported_store, target)
    before = target.read_bytes()
    monkeypatch.setattr(export_module, "_write", broken)
    with pytest.raises(AlertExportError):
        export_alerts(exported_store, target)
    assert target.read_bytes() == before and len(pyogrio.read_dataframe(target)) == 4


def test_export_rejects_unknown_formats(store: AlertStore, tmp_path: Path) -> None:
    with pytest.raises(AlertExportError, match="suffix"):
        export_alerts(store, tmp_path / "alerts.shp")
    with pytest.raises(AlertExportError, match="unknown export format"):
        export_alerts(store, tmp_path / "alerts.gpkg", "kml")
    with pytest.raises(AlertExportError, match="does not exist"):
        export_alerts(store, tmp_path / "missing" / "alerts.gpkg")
    assert export_alerts(store, tmp_path / "empty.gpkg").n_alerts == 0
    assert len(pyogrio.read_dataframe(tmp_path / "empty.gpkg")) == 0


def test_finding_fields_survive_in_the_store(store: AlertStore) -> None:
    f = replace(finding(), details={"crs": UTM, "dates": [date(2024, 3, 5)]})
    store.record([f], run_id="r1", actor="pipeline")
    with sqlite3.connect(store.path) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM findings").fetchone()
    assert row["finding_id"] == f.finding_id and row["alert_id"] == f.alert_key
    assert (row["run_id"], row["created_by"], row["observed"]) == ("r1", "pipeline",
                                                                   "2024-03-05")
    assert shapely.from_wkb(row["geometry_wkb"]).equals(f.geometry)
    assert "32719" in row["crs_wkt"] and "2024-03-05" in row["details_json"]
