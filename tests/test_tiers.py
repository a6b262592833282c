"""A community lead, its targeted check, and tiered packages: what each tier shows.

One module-scoped scenario: a lead with canary values in every protected field is added
through the CLI, its targeted check builds public, coalition and regulator packages (check
and per-alert), and every byte the public side can see is searched for the canaries:
package files (PNG chunks and TIFF tags decoded too), CLI output, log records and error
messages (RELIABILITY.md, "leakage": canaries found 0).
"""

from __future__ import annotations

import json
import logging
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyproj
import pytest
import rasterio
import shapely.geometry
from click.testing import CliRunner
from shapely.ops import transform

from monitor.cli import main
from monitor.concessions import load_concessions
from monitor.evidence.verify import verify_package
from monitor.secret import SECRET_ENV, DisclosureSecret
from monitor.simulate import Portfolio

SECRET_HEX = "5a" * 32
#: Inside clearing-b of demo-clearing (licence outside the footprint, onset 2022-07-09).
LON, LAT = -50.0704321, -6.3391234
CANARIES = {"reporter_name": "Canary-Reporter-7f3e9a", "reporter_contact":
            "canary-7f3e9a@example.org", "reporter_org": "CanaryOrg7f3e9a",
            "claim": "CANARYCLAIM7f3e9a trees cut east of the pit"}


def coordinate_canaries() -> list[str]:
    """The lead's position as it could be written: degrees at 6-7 decimals, UTM to 0.1 m.

    Coarser forms are not searched: the lead lies inside a change polygon, whose vertices
    are public and agree with it to about 10 m (4-5 decimals).
    """
    out = [f"{abs(v):.{d}f}" for v in (LON, LAT) for d in (6, 7)]
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32722",
                                       always_xy=True).transform(LON, LAT)
    return [*out, f"{x:.1f}", f"{y:.1f}"]


def text_canaries() -> list[str]:
    return [CANARIES["reporter_name"], CANARIES["reporter_contact"],
            CANARIES["reporter_org"], "CANARYCLAIM7f3e9a", "7f3e9a"]


def png_texts(data: bytes) -> Iterator[bytes]:
    """Every chunk of a PNG, decompressed where compressed (IDAT, zTXt, iTXt, iCCP)."""
    pos, idat = 8, b""
    while pos + 8 <= len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IDAT":
            idat += body
        elif kind in (b"zTXt", b"iCCP"):
            yield zlib.decompress(body.split(b"\x00", 1)[1][1:])
        elif kind == b"iTXt":
            keyword, rest = body.split(b"\x00", 1)
            flag, text = rest[0], rest[2:].split(b"\x00", 2)[-1]
            yield keyword + (zlib.decompress(text) if flag else text)
        else:
            yield body
    if idat:
        yield zlib.decompress(idat)


def tiff_texts(path: Path) -> Iterator[bytes]:
    """A GeoTIFF's tags in every namespace, and its band descriptions."""
    with rasterio.open(path) as src:
        for ns in [None, *src.tag_namespaces()]:
            yield json.dumps(src.tags(ns=ns) if ns else src.tags()).encode()
        for band in range(1, src.count + 1):
            yield json.dumps(src.tags(band)).encode()
        yield json.dumps(src.descriptions).encode()


def all_bytes(root: Path) -> Iterator[tuple[str, bytes]]:
    """(file, bytes) of every file under root, plus decoded PNG/TIFF content."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield str(path), data
        if path.suffix == ".png":
            for i, chunk in enumerate(png_texts(data)):
                yield f"{path}#chunk{i}", chunk
        elif path.suffix == ".tif":
            for i, chunk in enumerate(tiff_texts(path)):
                yield f"{path}#tags{i}", chunk


def leaks(items: Iterator[tuple[str, bytes]], canaries: list[str]) -> list[str]:
    found = []
    for where, data in items:
        lowered = data.lower()
        found += [f"{c!r} in {where}" for c in canaries if c.lower().encode() in lowered]
    return found


@dataclass
class Scenario:
    root: Path
    state: Path
    lead_id: str
    outputs: list[str]
    logs: list[str]
    packages: dict[str, list[Path]]
    portfolio: Portfolio


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def scenario(demo_portfolio: Portfolio, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("tiers")
    mp = pytest.MonkeyPatch()
    mp.setenv(SECRET_ENV, SECRET_HEX)
    handler = _Collect()
    logging.getLogger().addHandler(handler)
    old_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    runner, outputs = CliRunner(), []
    state, aoi = root / "state.sqlite", str(demo_portfolio.registry_path)
    try:
        keys = runner.invoke(main, ["keys", "init", "--dir", str(root / "keys")])
        assert keys.exit_code == 0, keys.output
        added = runner.invoke(main, [
            "leads", "add", "--state", str(state), "--aoi", aoi, "--concession",
            "demo-clearing", "--lon", repr(LON), "--lat", repr(LAT), "--date", "2022-07-20",
            "--claim", CANARIES["claim"], "--reporter-name", CANARIES["reporter_name"],
            "--reporter-contact", CANARIES["reporter_contact"], "--reporter-org",
            CANARIES["reporter_org"], "--json"])
        assert added.exit_code == 0, added.output
        outputs += [added.stdout, added.stderr]
        lead_id = json.loads(added.stdout)["lead"]["lead_id"]
        checked = runner.invoke(main, [
            "-vv", "leads", "check", lead_id, "--state", str(state), "--aoi", aoi,
            "--source", f"local:{demo_portfolio.scenes_dir}", "--package", str(root / "pk"),
            "--per-alert", "--tier", "public", "--tier", "coalition", "--tier", "regulator",
            "--key", str(root / "keys" / "monitor.key")])
        assert checked.exit_code == 0, checked.output
        outputs += [checked.stdout, checked.stderr]
        for args in (["leads", "check", "lead-000000000000"], ["leads", "check", lead_id,
                                                                "--source", "local:/nowhere"]):
            failed = runner.invoke(main, [*args[:3], "--state", str(state), "--aoi", aoi,
                                          *(args[3:] or ["--source", "local:/nowhere"])])
            assert failed.exit_code == 2, failed.output
            outputs += [failed.stdout, failed.stderr]
        mp.setenv(SECRET_ENV, "6b" * 32)  # the wrong secret
        wrong = runner.invoke(main, ["leads", "check", lead_id, "--state", str(state),
                                     "--aoi", aoi, "--source", "local:/nowhere"])
        assert wrong.exit_code == 2
        outputs += [wrong.stdout, wrong.stderr]
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(old_level)
        mp.undo()
    packages = {tier: sorted((root / "pk" / tier).iterdir())
                for tier in ("public", "coalition", "regulator")}
    yield Scenario(root, state, lead_id, outputs, handler.lines, packages, demo_portfolio)


def summary(package: Path) -> dict:
    return json.loads((package / "data" / "summary.json").read_text())


def test_every_tier_package_verifies_with_the_publishers_key(scenario: Scenario) -> None:
    public_key = scenario.root / "keys" / "monitor.pub"
    for tier, packages in scenario.packages.items():
        assert len(packages) >= 2, f"{tier}: the check's package and one per alert"
        scopes = sorted(summary(p)["scope"]["kind"] for p in packages)
        assert scopes.count("check") == 1 and "alert" in scopes
        for package in packages:
            report = verify_package(package, public_key)
            assert report.ok, (package, [c for c in report.checks if not c.ok])
            assert summary(package)["edition"]["tier"] == tier


def test_the_targeted_check_corroborates_the_lead_and_cites_it(scenario: Scenario) -> None:
    check = next(p for p in scenario.packages["public"] if summary(p)["scope"]["kind"]
                 == "check")
    (lead,) = summary(check)["leads"]
    assert lead["lead_id"] == scenario.lead_id and lead["corroborated"] is True
    assert any("licence_outside_footprint" in e for e in lead["events"])
    assert summary(check)["period"] == ["2022-04-21", "2022-09-03"]
    provenance = json.loads((check / "data" / "provenance.json").read_text())
    assert provenance["request"]["lead_id"] == scenario.lead_id
    html = (check / "data" / "report.html").read_text()
    assert scenario.lead_id in html and "Corroborated" in html
    from monitor.leads import LeadStore

    with LeadStore(scenario.state) as store:
        (listed,) = store.list()
    assert listed.status == "checked" and listed.checked_package


def test_each_tier_shows_only_what_its_rules_allow(scenario: Scenario) -> None:
    docs = {tier: next(summary(p) for p in ps if summary(p)["scope"]["kind"] == "check")
            for tier, ps in scenario.packages.items()}
    public, coalition, regulator = (docs[t]["leads"][0] for t in ("public", "coalition",
                                                                   "regulator"))
    assert "claim" not in public and "location" not in public and "reporter" not in public
    assert set(public["withheld"]) >= {"lon", "lat", "claim", "reporter_name"}
    assert coalition["claim"] == CANARIES["claim"] and "reporter" not in coalition
    assert coalition["location"]["precision_m"] == 1000
    assert abs(coalition["location"]["lon"] - LON) < 0.01
    assert coalition["location"]["lon"] != round(LON, 4)
    assert regulator["location"] == {"lon": LON, "lat": LAT, "precision_m": 0}
    assert regulator["reporter"]["name"] == CANARIES["reporter_name"]
    # raw rasters: none in public, all in coalition and regulator
    for tier, ps in scenario.packages.items():
        n_tif = sum(len(list((p / "data").rglob("*.tif"))) for p in ps)
        assert (n_tif == 0) == (tier == "public"), tier


def test_the_redaction_manifest_commits_to_what_the_full_content_holds(
        scenario: Scenario) -> None:
    secret = DisclosureSecret(bytes.fromhex(SECRET_HEX))
    public = next(p for p in scenario.packages["public"] if summary(p)["scope"]["kind"]
                  == "check")
    regulator = next(p for p in scenario.packages["regulator"]
                     if summary(p)["scope"]["kind"] == "check")
    manifest = json.loads((public / "data" / "redaction.json").read_text())
    assert manifest["derived_from"] == summary(public)["edition"]["derived_from"]
    assert manifest["commitments"]["key_id"] == secret.key_id
    files = [w for w in manifest["withheld"] if w["kind"] == "file"]
    assert files and all(w["rule"] == "rasters" for w in files)
    for w in files:  # the regulator tier carries the same bytes the public one withheld
        data = (regulator / "data" / w["item"]).read_bytes()
        assert w["commitment"] == secret.commit_bytes(w["label"], data)
        assert w["commitment"] != secret.commit_bytes(w["label"], data + b"\x00")
    concession = load_concessions(scenario.portfolio.registry_path)["demo-clearing"]
    (zone,) = concession.features_of("exclusion_zone")
    (outline,) = [w for w in manifest["withheld"] if w["kind"] == "geometry"]
    assert secret.opens(outline["commitment"], outline["label"], zone.geometry.wkt)
    lead = {w["label"].rsplit("/", 1)[1]: w for w in manifest["withheld"]
            if w["label"].startswith("lead/")}
    assert secret.opens(lead["claim"]["commitment"], lead["claim"]["label"],
                        CANARIES["claim"])
    assert secret.opens(lead["lat"]["commitment"], lead["lat"]["label"], repr(LAT))
    # untouched files are byte-identical to the regulator's
    for name in ("stats/findings.csv", "vectors/changes.geojson",
                 "vectors/concession.geojson"):
        assert (public / "data" / name).read_bytes() == (regulator / "data" / name
                                                         ).read_bytes(), name


def test_public_sensitive_zones_are_coarsened_to_the_grid(scenario: Scenario) -> None:
    public = next(p for p in scenario.packages["public"] if summary(p)["scope"]["kind"]
                  == "check")
    zones = json.loads((public / "data" / "vectors" / "zones.geojson").read_text())
    (zone,) = [f for f in zones["features"] if f["properties"]["zone"] == "exclusion_zone"]
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32722", always_xy=True).transform
    utm = transform(to_utm, shapely.geometry.shape(zone["geometry"]))
    xs = [x for poly in getattr(utm, "geoms", [utm]) for x, _ in poly.exterior.coords]
    assert all(abs(x / 1000 - round(x / 1000)) < 1e-4 for x in xs)
    exact = load_concessions(scenario.portfolio.registry_path)["demo-clearing"]
    assert utm.buffer(1).covers(exact.features_of("exclusion_zone")[0].geometry)


def test_no_canary_in_any_public_byte_output_log_or_error(scenario: Scenario) -> None:
    canaries = text_canaries() + coordinate_canaries()
    public = [item for p in scenario.packages["public"] for item in all_bytes(p)]
    assert len(public) > 50 and any("#chunk" in w for w, _ in public)
    assert leaks(iter(public), canaries) == []
    assert leaks(((f"output {i}", o.encode()) for i, o in enumerate(scenario.outputs)),
                 canaries) == []
    assert len(scenario.logs) > 5
    assert leaks(((f"log {i}", line.encode()) for i, line in enumerate(scenario.logs)),
                 canaries) == []
    # the coalition tier shows the claim but no reporter and no exact position
    coalition = [item for p in scenario.packages["coalition"] for item in all_bytes(p)]
    assert any("#tags" in w for w, _ in coalition)
    assert leaks(iter(coalition), text_canaries()[:3] + coordinate_canaries()) == []
    # the search itself works: the regulator tier does show them
    regulator = [item for p in scenario.packages["regulator"] for item in all_bytes(p)]
    assert leaks(iter(regulator), [CANARIES["reporter_name"], f"{abs(LAT):.7f}"])


def test_a_public_alert_package_reproduces_given_the_inputs(scenario: Scenario) -> None:
    from monitor.evidence.reproduce import reproduce_package

    alert = next(p for p in scenario.packages["public"] if summary(p)["scope"]["kind"]
                 == "alert")
    request = json.loads((alert / "data" / "provenance.json").read_text())["request"]
    assert "/" not in request["aoi"] and re.fullmatch(r"local:[^/]+", request["source"])
    checks = reproduce_package(alert, source=f"local:{scenario.portfolio.scenes_dir}",
                               aoi=scenario.portfolio.registry_path)
    assert all(c.ok for c in checks), checks


def test_the_reproduce_notebook_works_on_a_public_package_without_the_demo(
        scenario: Scenario, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # a journalist's case: a public package, the publisher's key and inputs, no demo output
    from tests.test_notebooks import execute, probed

    alert = next(p for p in scenario.packages["public"] if summary(p)["scope"]["kind"]
                 == "alert")
    nb = execute("01_reproduce_a_finding", {
        "MONITOR_DEMO_DIR": str(tmp_path / "no-demo-here"), "MONITOR_PACKAGE": str(alert),
        "MONITOR_PUBLIC_KEY": str(scenario.root / "keys" / "monitor.pub"),
        "MONITOR_AOI": str(scenario.portfolio.registry_path),
        "MONITOR_SOURCE": f"local:{scenario.portfolio.scenes_dir}"}, monkeypatch,
        "dict(tier=tier, area=AREA_BY_HAND, series=SERIES_BY_HAND, px_diff=px_diff, "
        "ndvi_diff=ndvi_diff, steps=verdict.step.tolist(), ok=verdict.result.tolist())")
    got = probed(nb)
    # the tier withholds the loss raster: no area by hand, but the series from the scenes
    assert got["tier"] == "public" and not got["area"] and got["series"]
    assert got["px_diff"] == 0 and got["ndvi_diff"] < 1e-4
    assert len(got["steps"]) == 3 and all(got["ok"])
