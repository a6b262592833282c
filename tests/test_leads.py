"""Community leads: model, store, import, CLI; no protected value in the store, logs or errors.

Canary values are seeded in every protected field (reporter name, contact, organisation,
claim, and coordinates with distinctive digits inside the demo concession
``demo-clearing``), then every byte the code writes or prints is searched for them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyproj
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from monitor import load_concessions
from monitor.alerts import AlertStore
from monitor.alerts.schema import SCHEMA_VERSION
from monitor.cli import main
from monitor.errors import DisclosureKeyError, LeadError
from monitor.findings import Finding
from monitor.leads import (
    PROTECTED_FIELDS,
    LeadInput,
    LeadStore,
    RawLead,
    check_leads,
    read_leads,
)
from monitor.leads.validation import FILE_NAMES
from monitor.secret import SECRET_ENV, DisclosureSecret

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "aoi" / "demo" / "concessions.geojson"
KEY = "3f" * 32
OTHER_KEY = "a1" * 32

NAME, CONTACT, ORG = "Canary-Reporter-7f3e9a", "canary-7f3e9a@example.org", "Canary-Org-7f3e9a"
CLAIM = "Brown water below the pit, CANARYCLAIM7f3e9a, since the rains"
#: Points inside demo-clearing's licence (checked below), with distinctive digits.
POINTS = [(-50.0741357, -6.3392468), (-50.0738642, -6.3395791), (-50.0744183, -6.3389526)]
#: A point about 34 km away from demo-clearing.
FAR = (-50.3817264, -6.2716953)


def _coordinate_canaries(points: list[tuple[float, float]]) -> list[str]:
    out = []
    for lon, lat in points:
        for value in (lon, lat):
            out += [f"{abs(value):.{d}f}" for d in range(4, 8)]
    return out


CANARIES = [NAME, CONTACT, ORG, "CANARYCLAIM7f3e9a", "Canary", "canary-7f3e9a",
            *_coordinate_canaries([*POINTS, FAR])]
#: The coordinates as IEEE doubles (how SQLite would store a REAL), both byte orders.
PACKED = [struct.pack(order, v) for p in [*POINTS, FAR] for v in p for order in ("<d", ">d")]


def assert_clean(data: str | bytes, what: str) -> None:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    found = [c for c in CANARIES if c.encode("utf-8") in raw]
    found += [f"packed double {p.hex()}" for p in PACKED if p in raw]
    assert not found, f"{what} reveals protected values: {found}"


def lead_input(i: int = 0, **changes: Any) -> LeadInput:
    lon, lat = POINTS[i]
    base = LeadInput(concession_id="demo-clearing", lon=lon, lat=lat,
                     seen_on=date(2024, 5, 1 + i), claim=f"{CLAIM} #{i}", reporter_name=NAME,
                     reporter_contact=CONTACT, reporter_org=ORG)
    return replace(base, **changes)


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> DisclosureSecret:
    monkeypatch.setenv(SECRET_ENV, KEY)
    return DisclosureSecret.from_env()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog
    # at teardown caplog.text is the teardown phase's: check the test's own records
    records = caplog.get_records("setup") + caplog.get_records("call")
    assert records, "nothing was logged at all: is logging captured?"
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        assert_clean(formatter.format(record) + repr(record.args), "a log record")


def csv_text(rows: list[LeadInput], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["concession_id", "lon", "lat", "date", "claim", "reporter_name",
                     "reporter_contact", "reporter_org"])
    writer.writerows([r.concession_id, r.lon, r.lat, r.seen_on, r.claim, r.reporter_name,
                      r.reporter_contact, r.reporter_org] for r in rows)
    return out.getvalue()


def geojson_text(rows: list[LeadInput]) -> str:
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
                 "properties": {"concession_id": r.concession_id, "date": str(r.seen_on),
                                "claim": r.claim, "reporter_name": r.reporter_name}}
                for r in rows]
    return json.dumps({"type": "FeatureCollection", "features": features})


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def add_args(state: Path, i: int = 0, **options: str) -> list[str | Path]:
    lon, lat = POINTS[i]
    values = {"--concession": "demo-clearing", "--lon": str(lon), "--lat": str(lat),
              "--date": f"2024-05-0{1 + i}", "--claim": f"{CLAIM} #{i}",
              "--reporter-name": NAME, "--reporter-contact": CONTACT, "--reporter-org": ORG,
              **options}
    return ["leads", "add", "--state", state, "--aoi", REGISTRY,
            *[x for k, v in values.items() for x in (k, v)]]


def state_bytes(state: Path) -> bytes:
    return b"".join(p.read_bytes() for p in state.parent.glob(state.name + "*"))


# ------------------------------------------------------------------------ the canaries


def test_canary_points_lie_inside_demo_clearing() -> None:
    concession = load_concessions(REGISTRY)["demo-clearing"]
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", concession.crs, always_xy=True)
    for lon, lat in POINTS:
        assert concession.licence.contains(Point(*to_utm.transform(lon, lat)))
    assert concession.licence.distance(Point(*to_utm.transform(*FAR))) > 30_000


# ------------------------------------------------------------------------ model


def test_reprs_and_public_dict_hide_protected_fields(state: Path,
                                                     secret: DisclosureSecret) -> None:
    item = lead_input()
    assert_clean(repr(item) + str(item), "LeadInput's repr")
    with LeadStore(state) as store:
        lead, new = store.add(item, secret)
        summary = store.summary(lead.lead_id)
    assert new
    assert_clean(repr(lead) + str(lead) + repr(summary) + repr(store), "Lead's repr")
    assert_clean(json.dumps(lead.public_dict()) + json.dumps(lead.to_dict()), "public dict")
    assert set(lead.public_dict()["commitments"]) == set(PROTECTED_FIELDS)
    assert lead.public_dict() == summary.to_dict()
    revealed = json.dumps(lead.to_dict(reveal=True))
    assert NAME in revealed and CONTACT in revealed and "CANARYCLAIM7f3e9a" in revealed
    for name in PROTECTED_FIELDS:  # each commitment opens with the secret and its value
        value = getattr(lead, name)
        text = repr(value) if isinstance(value, float) else value
        assert secret.opens(lead.commitments[name], f"lead/{lead.lead_id}/{name}", text)


def test_lead_id_is_a_keyed_deterministic_slug(secret: DisclosureSecret) -> None:
    item = lead_input()
    lead_id = item.lead_id(secret)
    assert lead_id.startswith("lead-") and len(lead_id) == 17
    assert all(c in "0123456789abcdef" for c in lead_id[5:])
    assert item.lead_id(secret) == lead_id  # deterministic
    assert replace(item, reporter_name="someone else").lead_id(secret) == lead_id
    assert replace(item, lon=item.lon + 1e-6).lead_id(secret) != lead_id
    assert item.lead_id(DisclosureSecret(bytes.fromhex(OTHER_KEY))) != lead_id  # keyed
    assert_clean(lead_id, "the lead id")


# ------------------------------------------------------------------------ store


def test_state_file_holds_no_protected_byte(state: Path, secret: DisclosureSecret,
                                            debug_logs: pytest.LogCaptureFixture) -> None:
    with LeadStore(state) as store:
        store.add(lead_input(0), secret)
        store.add_many([lead_input(1), lead_input(2)], secret)
        assert_clean(state_bytes(state), "the open state store (with -wal/-shm)")
        ids = [s.lead_id for s in store.list()]
    assert_clean(state_bytes(state), "the closed state store")
    with LeadStore(state) as store:  # and yet everything is there for the secret holder
        got = [store.get(i, secret) for i in ids]
    assert {g.reporter_name for g in got} == {NAME}
    assert sorted((g.lon, g.lat) for g in got) == sorted(POINTS)
    assert all("CANARYCLAIM7f3e9a" in g.claim for g in got)
    with sqlite3.connect(state) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(leads)")]
        lengths = {len(r[0]) for r in conn.execute("SELECT sealed FROM leads")}
    assert columns == ["lead_id", "concession_id", "seen_on", "received_at", "origin",
                       "status", "checked_package", "sealed", "commitments_json", "key_id"]
    assert len(lengths) == 1  # padded: the ciphertext's length does not tell names apart


def test_add_is_idempotent(state: Path, secret: DisclosureSecret) -> None:
    with LeadStore(state) as store:
        first, new_first = store.add(lead_input(), secret)
        again, new_again = store.add(replace(lead_input(), reporter_name="Other"), secret)
        assert (new_first, new_again) == (True, False)
        assert again.lead_id == first.lead_id and again.reporter_name == NAME  # unchanged
        batch = store.add_many([lead_input(1), lead_input(1), lead_input()], secret)
        assert [new for _, new in batch] == [True, False, False]
        assert store.count() == 2


def test_add_many_is_all_or_nothing(state: Path, secret: DisclosureSecret,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real_seal = DisclosureSecret.seal

    def failing_seal(self: DisclosureSecret, plaintext: str, context: str) -> bytes:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real_seal(self, plaintext, context)

    monkeypatch.setattr(DisclosureSecret, "seal", failing_seal)
    with LeadStore(state) as store:
        with pytest.raises(OSError):
            store.add_many([lead_input(0), lead_input(1), lead_input(2)], secret)
        assert store.count() == 0
        with pytest.raises(LeadError, match="lead #1: lat") as info:
            store.add_many([lead_input(0), lead_input(1, lat=95.0)], secret)
        assert store.count() == 0
    assert_clean(str(info.value), "the error")


def test_wrong_secret_is_refused_without_echo(state: Path, secret: DisclosureSecret) -> None:
    other = DisclosureSecret(bytes.fromhex(OTHER_KEY))
    with LeadStore(state) as store:
        lead, _ = store.add(lead_input(), secret)
        with pytest.raises(DisclosureKeyError, match="sealed with disclosure secret") as got:
            store.get(lead.lead_id, other)
        with pytest.raises(DisclosureKeyError, match="use the secret") as added:
            store.add(lead_input(1), other)
        assert store.count() == 1
    assert_clean(str(got.value) + str(added.value), "the errors")
    assert KEY not in str(got.value) and OTHER_KEY not in str(added.value)


def test_records_moved_or_altered_do_not_open(state: Path, secret: DisclosureSecret) -> None:
    with LeadStore(state) as store:
        a, _ = store.add(lead_input(0), secret)
        b, _ = store.add(lead_input(1), secret)
    with sqlite3.connect(state) as conn:
        conn.execute("UPDATE leads SET sealed = (SELECT sealed FROM leads WHERE lead_id = ?) "
                     "WHERE lead_id = ?", (a.lead_id, b.lead_id))
        conn.execute("UPDATE leads SET seen_on = '2024-01-01' WHERE lead_id = ?", (a.lead_id,))
    with LeadStore(state) as store:
        with pytest.raises(DisclosureKeyError, match=f"sealed details of {b.lead_id}") as moved:
            store.get(b.lead_id, secret)
        with pytest.raises(LeadError, match="was altered") as altered:
            store.get(a.lead_id, secret)
    assert_clean(str(moved.value) + str(altered.value), "the errors")


def test_unknown_lead_and_mark_checked(state: Path, secret: DisclosureSecret) -> None:
    with LeadStore(state) as store:
        lead, _ = store.add(lead_input(), secret)
        with pytest.raises(LeadError, match=r"no lead lead-000000000000 .*monitor leads list"):
            store.summary("lead-000000000000")
        with pytest.raises(LeadError, match="not a lead id"):
            store.get(NAME, secret)
        checked = store.mark_checked(lead.lead_id, "demo-clearing-0123abcd")
        assert (checked.status, checked.checked_package) == ("checked",
                                                            "demo-clearing-0123abcd")
        assert store.get(lead.lead_id, secret).status == "checked"
        with pytest.raises(LeadError, match="not a safe id"):
            store.mark_checked(lead.lead_id, "../escape")
        assert store.list("demo-clearing") == [checked] and store.list("other") == []


def _finding() -> Finding:
    return Finding(
        concession_id="demo-clearing", indicator="vegetation_loss",
        zone="licence_outside_footprint", zone_id="lic-1",
        period=(date(2024, 2, 1), date(2024, 3, 5)), observed=date(2024, 3, 5), value=2.5,
        limit=1.0, unit="ha", outcome="exceedance", reason="test", severity="notice",
        confidence="high", n_clear_obs=6, n_clear_px=1200, standard_id="default",
        standard_version="1", event_id="ev-1", onset=date(2024, 3, 1),
        event_status="provisional", geometry=box(602000, 9299000, 602100, 9299100),
        details={"crs": "EPSG:32722"})


def test_version_1_store_migrates_and_keeps_its_alerts(state: Path,
                                                       secret: DisclosureSecret) -> None:
    with AlertStore(state) as alerts:
        alerts.record([_finding()])
        before = [a.alert_id for a in alerts.list()]
    with sqlite3.connect(state) as conn:  # make it exactly what schema 1 created
        conn.execute("DROP TABLE leads")
        conn.execute("PRAGMA user_version = 1")
    assert len(before) == 1
    with LeadStore(state) as store:
        store.add(lead_input(), secret)
    with sqlite3.connect(state) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with AlertStore(state) as alerts:
        assert [a.alert_id for a in alerts.list()] == before
    with LeadStore(state) as store:
        assert store.count() == 1


# ------------------------------------------------------------------------ import


def test_import_csv_and_geojson(tmp_path: Path, secret: DisclosureSecret) -> None:
    rows = [lead_input(i) for i in range(3)]
    csv_file = tmp_path / "leads.csv"
    csv_file.write_text(csv_text(rows), encoding="utf-8")
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_text(csv_text(rows, ";"), encoding="utf-8-sig")
    geo = tmp_path / "leads.geojson"
    geo.write_text(geojson_text(rows), encoding="utf-8")
    registry = load_concessions(REGISTRY)
    from_csv = read_leads(csv_file, registry)
    assert from_csv == rows
    assert read_leads(semicolons, registry) == rows
    from_geo = read_leads(geo, registry)
    assert [r.lead_id(secret) for r in from_geo] == [r.lead_id(secret) for r in rows]
    assert from_geo[0].reporter_contact is None


def test_cli_outputs_and_logs_reveal_nothing(tmp_path: Path, state: Path,
                                             secret: DisclosureSecret,
                                             debug_logs: pytest.LogCaptureFixture) -> None:
    csv_file = tmp_path / "leads.csv"
    csv_file.write_text(csv_text([lead_input(i) for i in range(3)]), encoding="utf-8")
    geo = tmp_path / "leads.geojson"
    geo.write_text(geojson_text([lead_input(2)]), encoding="utf-8")
    outputs = []
    first = run(*add_args(state, 0))
    assert first.exit_code == 0 and "added" in first.stdout
    again = run(*add_args(state, 0), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["new"] is False
    stdin = CliRunner().invoke(main, [str(a) for a in add_args(state, 1, **{"--claim": "-"})],
                               input=f"{CLAIM} #1")
    assert stdin.exit_code == 0 and "added" in stdin.stdout
    imported = run("leads", "import", csv_file, "--state", state, "--aoi", REGISTRY)
    assert imported.exit_code == 0 and "1 added, 2 already known" in imported.stdout
    imported_json = run("leads", "import", geo, "--state", state, "--json")
    assert json.loads(imported_json.stdout)["already_known"] == 1
    listed = run("leads", "list", "--state", state)
    listed_json = run("leads", "list", "--state", state, "--json")
    ids = [s["lead_id"] for s in json.loads(listed_json.stdout)]
    assert len(ids) == 3
    shows = [run("leads", "show", i, "--state", state, *extra)
             for i in ids for extra in ([], ["--json"])]
    assert all(s.exit_code == 0 for s in shows) and "commitment" in shows[0].stdout
    outputs = [first, again, stdin, imported, imported_json, listed, listed_json, *shows]
    for result in outputs:
        assert_clean(result.output, f"`{result}` output")
    assert_clean(state_bytes(state), "the state store")
    revealed = run("leads", "show", ids[0], "--state", state, "--reveal", "--json")
    assert revealed.exit_code == 0 and "do not publish" in revealed.stderr
    assert NAME in revealed.stdout and "CANARYCLAIM7f3e9a" in revealed.stdout
    assert json.loads(revealed.stdout)["lead"]["protected"]["lon"] in [p[0] for p in POINTS]


# ------------------------------------------------------------------------ errors


def _cli_error_cases(state: Path, tmp_path: Path) -> dict[str, tuple[list[Any], str]]:
    future = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    long_claim = ("CANARYCLAIM7f3e9a " * 120).strip()
    no_header = tmp_path / "no-header.csv"
    no_header.write_text(csv_text([lead_input()]).split("\n", 1)[1], encoding="utf-8")
    unknown_column = tmp_path / "unknown-column.csv"
    unknown_column.write_text(csv_text([lead_input()]).replace("reporter_org", "colour", 1))
    shifted = tmp_path / "shifted.csv"
    shifted.write_text(csv_text([lead_input()]).replace("reporter_name", NAME, 1))
    bad_rows = tmp_path / "bad-rows.csv"
    bad_rows.write_text(csv_text([lead_input(0), lead_input(1, lat=-96.3395791),
                                  lead_input(2, claim=long_claim)]))
    far = tmp_path / "far.geojson"
    far.write_text(geojson_text([lead_input(0), lead_input(1, lon=FAR[0], lat=FAR[1])]))
    neither = tmp_path / "notes.txt"
    neither.write_text(f"{NAME} saw {CLAIM} at {POINTS[0]}\n")
    return {
        "bad lat": (add_args(state, **{"--lat": "-96.3392468"}), "--lat is not between"),
        "lat not a number": (add_args(state, **{"--lat": "-6,3392468"}), "decimal separator"),
        "future date": (add_args(state, **{"--date": future}), "--date"),
        "too long claim": (add_args(state, **{"--claim": long_claim}),
                           "--claim is longer than 2000 characters"),
        "unknown concession": (add_args(state, **{"--concession": "demo-clearng"}),
                               "'demo-clearng' is not in the registry"),
        "concession not an id": (add_args(state, **{"--concession": NAME}),
                                 "--concession is not a concession id"),
        "point far outside": (add_args(state, **{"--lon": str(FAR[0]), "--lat": str(FAR[1])}),
                              "34.1 km from the licence of concession 'demo-clearing'"),
        "rows": (["leads", "import", bad_rows, "--state", state, "--aoi", REGISTRY],
                 "bad-rows.csv row 3: lat is not between"),
        "far feature": (["leads", "import", far, "--state", state, "--aoi", REGISTRY],
                        "far.geojson feature #1: Point longitude / Point latitude: the point"),
        "unknown column": (["leads", "import", unknown_column, "--state", state],
                           "unknown column(s) 'colour'"),
        "name as column": (["leads", "import", shifted, "--state", state],
                           "1 not shown (only names like reporter_name"),
        "no header row": (["leads", "import", no_header, "--state", state],
                          "neither a CSV file"),
        "neither format": (["leads", "import", neither, "--state", state],
                           "notes.txt is neither"),
    }


def test_every_error_path_is_clean(tmp_path: Path, state: Path, secret: DisclosureSecret,
                                   monkeypatch: pytest.MonkeyPatch,
                                   debug_logs: pytest.LogCaptureFixture) -> None:
    for case, (args, expected) in _cli_error_cases(state, tmp_path).items():
        result = run(*args)
        assert result.exit_code == 2, (case, result.output)
        assert expected in result.stderr, (case, result.stderr)
        assert_clean(result.output, f"the error for {case}")
    rows = run(*_cli_error_cases(state, tmp_path)["rows"][0])
    assert "row 4: claim is longer than 2000 characters" in rows.stderr
    assert "row 2" not in rows.stderr  # the good row is not blamed
    assert not state.exists()  # nothing stored, not even an empty store
    lead_id = json.loads(run(*add_args(state), "--json").stdout)["lead"]["lead_id"]
    monkeypatch.setenv(SECRET_ENV, OTHER_KEY)
    wrong = run("leads", "show", lead_id, "--state", state, "--reveal")
    assert wrong.exit_code == 2 and "sealed with disclosure secret" in wrong.stderr
    monkeypatch.delenv(SECRET_ENV)
    missing = run(*add_args(state, 1))
    assert missing.exit_code == 2 and f"{SECRET_ENV} is not set" in missing.stderr
    unknown = run("leads", "show", "lead-000000000000", "--state", state)
    assert unknown.exit_code == 2 and "monitor leads list" in unknown.stderr
    no_store = run("leads", "list", "--state", tmp_path / "none.sqlite")
    assert no_store.exit_code == 1
    for result in (wrong, missing, unknown, no_store):
        assert_clean(result.output, "an error")
    assert KEY not in wrong.output and OTHER_KEY not in wrong.output


def test_library_validation_lists_every_problem(tmp_path: Path) -> None:
    today = date(2024, 6, 1)
    raws = [RawLead("f.csv row 2", {"concession_id": "demo-clearing", "lon": "nan",
                                    "lat": str(POINTS[0][1]), "seen_on": "2024-06-03",
                                    "claim": "  ", "reporter_name": NAME * 20}, FILE_NAMES),
            RawLead("f.csv row 3", {"concession_id": "demo-clearing", "lon": POINTS[0][0],
                                    "lat": POINTS[0][1], "seen_on": "01/05/2024",
                                    "claim": CLAIM}, FILE_NAMES)]
    with pytest.raises(LeadError) as info:
        check_leads(raws, "f.csv", today=today)
    message = str(info.value)
    for part in ("f.csv row 2: lon is not a finite number",
                 "f.csv row 2: date 2024-06-03 is in the future",
                 "f.csv row 2: claim is empty",
                 "f.csv row 2: reporter_name is longer than 200 characters",
                 "f.csv row 3: date is not a date YYYY-MM-DD", "nothing was stored"):
        assert part in message
    assert_clean(message, "the error")
    # a day ahead of UTC is still today somewhere on Earth
    ok = check_leads([replace(raws[1], values={**raws[1].values, "seen_on": "2024-06-02"})],
                     "f.csv", today=today)
    assert ok[0].seen_on == date(2024, 6, 2)


def test_geojson_problems_are_named(tmp_path: Path) -> None:
    collection = json.loads(geojson_text([lead_input(0), lead_input(1)]))
    collection["crs"] = {"type": "name", "properties": {"name": "EPSG:32722"}}
    collection["features"][0]["properties"]["lon"] = 12.5
    collection["features"][1]["geometry"] = {"type": "LineString", "coordinates": []}
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(collection))
    with pytest.raises(LeadError) as info:
        read_leads(path)
    message = str(info.value)
    assert "has crs 'EPSG:32722'" in message
    assert "feature #0: property lon disagrees with the Point geometry" in message
    assert "feature #1: geometry is not a Point" in message
    duplicate = tmp_path / "duplicate.geojson"
    duplicate.write_text('{"type": "FeatureCollection", "features": [], "type": "x"}')
    with pytest.raises(LeadError, match="duplicate key 'type'"):
        read_leads(duplicate)
    assert_clean(message, "the error")


# ------------------------------------------------------------------------ bad inputs

_values = st.one_of(st.none(), st.text(max_size=30), st.integers(), st.booleans(),
                    st.floats(allow_nan=True), st.dates(), st.lists(st.integers(), max_size=3))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(list(FILE_NAMES)), _values))
def test_any_raw_values_give_a_lead_or_a_lead_error(values: dict[str, Any]) -> None:
    try:
        leads = check_leads([RawLead("f.csv row 2", values, FILE_NAMES)], "f.csv")
    except LeadError as exc:
        assert "f.csv row 2: " in str(exc)
    else:
        assert len(leads) == 1 and -90 <= leads[0].lat <= 90


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(max_size=200),
                 st.text(max_size=200).map(lambda t: "concession_id,lon,lat,date,claim\n" + t),
                 st.recursive(st.none() | st.integers() | st.text(max_size=5),
                              lambda c: st.lists(c, max_size=3)
                              | st.dictionaries(st.sampled_from(
                                  ["type", "features", "geometry", "coordinates",
                                   "properties", "claim", "date", "lon"]), c, max_size=4),
                              max_leaves=20).map(json.dumps)),
       st.sampled_from([".csv", ".geojson", ".txt"]))
def test_any_file_gives_leads_or_a_lead_error(tmp_path_factory: pytest.TempPathFactory,
                                              text: str, suffix: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / f"leads{suffix}"
    path.write_text(text, encoding="utf-8")
    try:
        read_leads(path)
    except LeadError as exc:
        assert path.name in str(exc)
