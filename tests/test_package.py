"""Evidence packages: layout, BagIt, STAC item, schemas, determinism, atomicity, path safety.

One check of ``demo-clearing`` per module; packages are built from it (a build takes well
under a second without the report).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bagit
import pystac
import pytest
import rasterio
from click.testing import CliRunner

import monitor
from monitor.checking import CheckResult
from monitor.cli import main
from monitor.errors import EvidenceError, SigningKeyError
from monitor.evidence import package as pkg
from monitor.evidence import writers
from monitor.evidence.package import PackageInfo, build_package, package_id
from monitor.evidence.schema import check_documents, multihash_sha256
from monitor.evidence.signing import generate_keypair
from monitor.evidence.verify import verify_package
from monitor.simulate import Portfolio

PERIOD = ("2022-01-01", "2022-12-01")


def _data_files(package: Path) -> dict[str, bytes]:
    data = package / "data"
    return {p.relative_to(data).as_posix(): p.read_bytes()
            for p in sorted(data.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def result(demo_portfolio: Portfolio) -> CheckResult:
    return monitor.check("demo-clearing", aoi=demo_portfolio.registry_path,
                         source=f"local:{demo_portfolio.scenes_dir}", start=PERIOD[0],
                         end=PERIOD[1])


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pair = generate_keypair(tmp_path_factory.mktemp("keys"))
    return pair.private_path, pair.public_path


@pytest.fixture(scope="module")
def built(result: CheckResult, keys: tuple[Path, Path],
          tmp_path_factory: pytest.TempPathFactory) -> PackageInfo:
    return build_package(result, tmp_path_factory.mktemp("packages"), key=keys[0])


@pytest.fixture()
def copy(built: PackageInfo, tmp_path: Path) -> Path:
    """A copy of the package to tamper with."""
    return Path(shutil.copytree(built.path, tmp_path / built.path.name))


# ------------------------------------------------------------------------------ layout


def test_layout_is_complete(built: PackageInfo, result: CheckResult) -> None:
    assert built.path.name == f"demo-clearing-{built.package_id}"
    assert built.signed and built.fingerprint and built.fingerprint.startswith("SHA256:")
    files = _data_files(built.path)
    print(f"\npackage {built.path.name}: {len(files)} data files")
    for name, data in files.items():
        print(f"  {len(data):>8}  data/{name}")
    expected = {"summary.json", "provenance.json", "item.json", "stats/findings.csv",
                "vectors/concession.geojson", "vectors/zones.geojson",
                "vectors/changes.geojson", "rasters/ndvi_before.tif", "rasters/ndvi_after.tif"}
    expected |= {f"rasters/{r.indicator}_{name}.tif" for r in result.results
                 for name in r.rasters}
    expected.add("report.html")
    figures = [n for n in files if n.startswith("figures/")]
    assert figures, "the report's figures are in the package"
    for name in figures:  # every figure has the CSV of its numbers
        assert f"stats/{Path(name).stem}.csv" in files, name
    assert expected <= set(files)
    assert built.files == len(files)
    tags = {p.name for p in built.path.iterdir()}
    assert {"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt",
            "tagmanifest-sha256.txt", "tagmanifest-sha512.txt", "signature", "data"} <= tags
    # nothing else is left in the output folder: no staging, no temporary files
    assert [p.name for p in built.path.parent.iterdir()] == [built.path.name]
    assert not [p for p in built.path.rglob("*") if ".tmp-" in p.name]


def test_bagit_full_validation(built: PackageInfo, copy: Path) -> None:
    bag = bagit.Bag(str(built.path))
    bag.validate(fast=False)
    assert set(bag.algorithms) == {"sha256", "sha512"}
    info = bag.info
    assert info["Source-Organization"] == "Concession Monitor"
    assert info["External-Identifier"] == built.package_id
    assert info["Concession-Id"] == "demo-clearing"
    assert info["Period"] == f"{PERIOD[0]}/{PERIOD[1]}"
    assert info["Standard"].startswith("default@")
    assert info["Signing-Key-Fingerprint"] == built.fingerprint
    assert "Bagging-Date" in info and "Payload-Oxum" in info
    # a same-size edit passes BagIt's fast validation but not the full one
    target = copy / "data" / "summary.json"
    raw = bytearray(target.read_bytes())
    raw[raw.index(b"compliant")] = ord("K")
    target.write_bytes(bytes(raw))
    bagit.Bag(str(copy)).validate(fast=True)
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(copy)).validate(fast=False)


def test_verifier_accepts_the_package(built: PackageInfo, keys: tuple[Path, Path]) -> None:
    report = verify_package(built.path, keys[1])
    assert report.ok, report


def test_report_names_the_package_and_no_build_path(built: PackageInfo) -> None:
    html = (built.path / "data" / "report.html").read_text(encoding="utf-8")
    assert built.package_id in html and "demo-clearing" in html
    assert built.fingerprint is not None and built.fingerprint in html
    for name, data in _data_files(built.path).items():
        assert b".staging-" not in data and str(built.path.parent).encode() not in data, name


# ----------------------------------------------------------------------- STAC, schema


def test_item_lists_every_file_with_its_checksum(built: PackageInfo,
                                                 result: CheckResult) -> None:
    data = built.path / "data"
    item = pystac.Item.from_file(str(data / "item.json"))
    assert item.id == built.package_id
    assert item.datetime is None
    assert item.common_metadata.start_datetime is not None
    assert item.common_metadata.start_datetime.date().isoformat() == PERIOD[0]
    assert item.common_metadata.end_datetime is not None
    assert item.common_metadata.end_datetime.date().isoformat() == PERIOD[1]
    assert item.geometry is not None and item.geometry["type"] == "Polygon"
    assert item.properties["monitor:standard"] == result.standard
    assert item.properties["monitor:mode"] == "baseline"
    assert item.properties["processing:software"]["monitor"] == monitor.__version__
    assert "provenance.json" in item.properties["processing:lineage"]
    listed = set(item.assets)
    on_disk = {n for n in _data_files(built.path) if n != "item.json"}
    assert listed == on_disk
    for key, asset in item.assets.items():
        path = data / asset.href
        assert asset.extra_fields["file:checksum"] == (
            "1220" + hashlib.sha256(path.read_bytes()).hexdigest()), key
        assert asset.extra_fields["file:size"] == path.stat().st_size
        assert asset.roles and asset.roles[0] in ("data", "overview", "metadata")
        assert asset.media_type
    assert item.assets["rasters/ndvi_before.tif"].media_type == pystac.MediaType.COG
    assert item.assets["summary.json"].roles == ["metadata"]


def test_documents_pass_the_schema_checks(built: PackageInfo, result: CheckResult) -> None:
    assert check_documents(built.path / "data") == []
    summary = json.loads((built.path / "data" / "summary.json").read_text())
    assert summary["package_id"] == built.package_id
    assert summary["verdict"]["by_outcome"]["exceedance"] == sum(
        f.outcome == "exceedance" for f in result.findings)
    assert [f["finding_id"] for f in summary["findings"]] == [
        f.finding_id for f in result.findings]
    prov = json.loads((built.path / "data" / "provenance.json").read_text())
    assert result.cube is not None and result.concession is not None
    assert len(prov["inputs"]) == result.cube.sizes["time"]
    assert {s["processing_baseline"] for s in prov["inputs"]} >= {"03.01", "04.00"}
    assert any(s["offset"] == -0.1 for s in prov["inputs"])
    assert prov["skipped_scenes"] and "duplicate" in prov["skipped_scenes"][0]["reason"]
    assert prov["standard"]["digest"] == result.standard_digest
    assert prov["registry"]["sha256"] == hashlib.sha256(
        result.concession.source.read_bytes()).hexdigest()
    assert prov["request"]["start"] == PERIOD[0]
    assert prov["indicators"][0]["parameters"]["baseline_days"] == 730
    assert {"python", "gdal", "rasterio", "bagit", "pystac"} <= set(prov["software"])
    assert prov["code_version"]["monitor"] == monitor.__version__


def _edit_json(path: Path, edit: Any) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def test_schema_checks_find_problems(copy: Path) -> None:
    data = copy / "data"
    _edit_json(data / "summary.json", lambda d: d["findings"][0].update(outcome="fine"))
    _edit_json(data / "provenance.json", lambda d: d.update(surprise=1))
    (data / "stats" / "extra.csv").write_text("a\n1\n")
    (data / "vectors" / "zones.geojson").unlink()
    _edit_json(data / "item.json", lambda d: d["assets"].update(
        evil={"href": "../../etc/passwd", "file:size": 1, "file:checksum": "1220"}))
    problems = check_documents(data)
    text = "\n".join(problems)
    print("\n" + text)
    assert "summary.json: findings.0.outcome:" in text
    assert "provenance.json: surprise: Extra inputs are not permitted" in text
    assert "data file stats/extra.csv is not listed" in text
    assert "file vectors/zones.geojson is missing" in text
    assert "'../../etc/passwd' is not a relative path inside" in text
    assert "assets.summary.json: file:checksum does not match" in text  # edited after listing
    (data / "provenance.json").write_text("{not json")
    assert any("provenance.json: invalid JSON" in p
               for p in check_documents(data))
    (data / "summary.json").unlink()
    assert "summary.json: missing" in check_documents(data)


# -------------------------------------------------------------- rasters and vectors


def test_rasters_are_cogs_on_the_cube_grid(built: PackageInfo, result: CheckResult) -> None:
    assert result.cube is not None
    geobox = result.cube.odc.geobox
    for path in sorted((built.path / "data" / "rasters").glob("*.tif")):
        with rasterio.open(path) as src:
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG", path.name
            assert src.compression is not None and src.compression.name == "deflate"
            assert src.crs.to_epsg() == 32722
            assert src.transform == geobox.affine
            assert (src.height, src.width) == tuple(geobox.shape)
            assert "TIFFTAG_DATETIME" not in src.tags()
            if path.stem.startswith("ndvi_"):
                band = src.read(1, masked=True)
                assert float(band.min()) >= -1.0 and float(band.max()) <= 1.0
                assert src.tags()["scene_id"].startswith("S2")


def test_vectors_are_rfc7946(built: PackageInfo, result: CheckResult) -> None:
    vectors = built.path / "data" / "vectors"
    docs = {p.stem: json.loads(p.read_text()) for p in vectors.glob("*.geojson")}
    for name, doc in docs.items():
        assert doc["type"] == "FeatureCollection" and "crs" not in doc, name
        for feat in doc["features"]:
            geom = feat["geometry"]
            if geom is None:
                continue
            rings = geom["coordinates"] if geom["type"] == "Polygon" else [
                r for poly in geom["coordinates"] for r in poly]
            for ring in rings:
                for lon, lat in ring:
                    assert -180 <= lon <= 180 and -90 <= lat <= 90
                    assert round(lon, 7) == lon and round(lat, 7) == lat
    assert docs["concession"]["features"][0]["id"] == "demo-clearing"
    zone_ids = {f["properties"]["zone_id"] for f in docs["zones"]["features"]}
    assert {"permitted_footprint", "licence_outside_footprint", "buffer_ring",
            "app-nascente-1"} <= zone_ids
    events = {e.event_id for r in result.results for e in r.events}
    changes = {f["properties"]["event_id"]: f["properties"]
               for f in docs["changes"]["features"]}
    assert set(changes) == events
    excl = next(p for p in changes.values() if p["zone"] == "exclusion_zone")
    assert excl["severity"] == "violation" and excl["alert_id"] and excl["area_ha"] > 0


# ------------------------------------------------------------ determinism, atomicity


def test_same_check_gives_same_id_and_identical_data(built: PackageInfo, result: CheckResult,
                                                     keys: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    again = build_package(result, tmp_path, key=keys[0])
    assert again.package_id == built.package_id == package_id(result)
    assert again.path.name == built.path.name
    first, second = _data_files(built.path), _data_files(again.path)
    assert first.keys() == second.keys()
    differ = [n for n in first if first[n] != second[n]]
    assert differ == [], f"data files differ between two builds: {differ}"
    for manifest in ("manifest-sha256.txt", "manifest-sha512.txt"):
        assert (built.path / manifest).read_bytes() == (again.path / manifest).read_bytes()
    # building again in place replaces the package whole and leaves nothing behind
    third = build_package(result, tmp_path, key=keys[0])
    assert third.path == again.path
    assert [p.name for p in tmp_path.iterdir()] == [again.path.name]
    bagit.Bag(str(third.path)).validate(fast=False)


def test_id_changes_with_what_was_checked(result: CheckResult) -> None:
    base = package_id(result)
    assert package_id(dataclasses.replace(result, standard_digest="0" * 64)) != base
    assert package_id(dataclasses.replace(result, findings=result.findings[1:])) != base
    assert package_id(dataclasses.replace(result, mode="two-date")) != base


def test_failure_mid_build_leaves_no_package(result: CheckResult, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: Any, **_kwargs: Any) -> None:
        raise EvidenceError("disk full (injected)")

    monkeypatch.setattr(writers, "write_findings_csv", boom)
    with pytest.raises(EvidenceError, match="injected"):
        build_package(result, tmp_path, include_report=False)
    assert list(tmp_path.iterdir()) == []  # no package, no staging folder
    # a failing rebuild leaves the previous package untouched under its name
    monkeypatch.undo()
    good = build_package(result, tmp_path, include_report=False)
    before = _data_files(good.path)
    monkeypatch.setattr(pkg, "_bag", lambda *_a: (_ for _ in ()).throw(OSError(28, "No space")))
    with pytest.raises(EvidenceError, match="No space"):
        build_package(result, tmp_path, include_report=False)
    assert [p.name for p in tmp_path.iterdir()] == [good.path.name]
    assert _data_files(good.path) == before


def test_failed_swap_puts_the_previous_package_back(result: CheckResult, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    good = build_package(result, tmp_path, include_report=False)
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        if Path(src).name.startswith(".staging-"):
            raise OSError(5, "Input/output error (injected)")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(EvidenceError, match="injected"):
        build_package(result, tmp_path, include_report=False)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [good.path.name]
    bagit.Bag(str(good.path)).validate(fast=False)


def test_stale_staging_of_a_dead_process_is_cleaned(result: CheckResult,
                                                    tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = package_id(result)
    stale = tmp_path / f".staging-{pid}-{int(dead.stdout)}"
    (stale / "data").mkdir(parents=True)
    (stale / "data" / "half-written.tif").write_bytes(b"II*\x00")
    other = tmp_path / f".staging-{'f' * 16}-{int(dead.stdout)}"  # another package's
    other.mkdir()
    info = build_package(result, tmp_path, include_report=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([info.path.name, other.name])


def test_alert_store_times_stay_out_of_the_data(result: CheckResult, tmp_path: Path) -> None:
    finding = next(f for f in result.findings if f.alert_key)
    alert = {"alert_id": finding.alert_key, "concession_id": "demo-clearing",
             "indicator": finding.indicator, "zone": finding.zone, "zone_id": finding.zone_id,
             "onset": "2022-09-04", "standard": "default@1.0", "state": "confirmed",
             "review": "unreviewed", "severity": "violation", "first_seen": "2022-12-01",
             "last_seen": "2022-12-01", "confirmed_at": "2026-01-01T10:00:00Z",
             "resolved_at": None, "finding_id": finding.finding_id, "n_findings": 1,
             "value": finding.value, "limit": finding.limit, "unit": "ha", "gfw_conf": 3,
             "created_at": "2026-01-01T10:00:00Z", "updated_at": "2026-01-02T10:00:00Z"}
    info = build_package(dataclasses.replace(result, alerts=(alert,)), tmp_path,
                         include_report=False)
    summary = json.loads((info.path / "data" / "summary.json").read_text())
    assert summary["alerts"][0]["alert_id"] == finding.alert_key
    assert "2026-01" not in json.dumps(summary)
    assert check_documents(info.path / "data", require_report=False) == []


def test_concurrent_builds_of_one_package(result: CheckResult, tmp_path: Path) -> None:
    # Dask may run a task twice, in two threads of one worker: both builds succeed and
    # leave one valid package
    with ThreadPoolExecutor(max_workers=3) as pool:
        infos = list(pool.map(lambda _i: build_package(result, tmp_path, include_report=False),
                              range(3)))
    assert {i.path for i in infos} == {infos[0].path}
    assert [p.name for p in tmp_path.iterdir()] == [infos[0].path.name]
    bagit.Bag(str(infos[0].path)).validate(fast=False)


# -------------------------------------------------------------------------- safety


def test_paths_stay_inside_the_output_root(result: CheckResult, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for bad in ("../escape.json", "/etc/passwd", "a/../../b", ""):
        with pytest.raises(EvidenceError):
            writers.safe_path(root, bad)
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(EvidenceError, match="outside"):
        writers.safe_path(root, "link/x.json")
    assert writers.safe_path(root, "rasters/a.tif") == root / "rasters" / "a.tif"
    for evil in ("../evil", "a/b", "..", "UPPER"):
        with pytest.raises(EvidenceError, match="slug"):
            build_package(dataclasses.replace(result, concession_id=evil), root,
                          include_report=False)
    assert [p.name for p in root.iterdir()] == ["link"]
    assert not (tmp_path / "evil").exists()


def test_result_without_cube_is_refused(result: CheckResult, tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="carries no cube"):
        build_package(dataclasses.replace(result, cube=None), tmp_path, include_report=False)
    assert list(tmp_path.iterdir()) == []


def test_bad_key_fails_before_anything_is_written(result: CheckResult, tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError):
        build_package(result, tmp_path / "out", key=tmp_path / "missing.key",
                      include_report=False)
    assert not any((tmp_path / "out").iterdir())


def test_multihash_and_canonical_json(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    assert multihash_sha256(path) == "1220" + hashlib.sha256(b"abc").hexdigest()
    assert writers.dumps_json({"b": float("nan"), "a": 0.1 + 0.2, "c": -0.0}) == (
        b'{\n  "a": 0.3,\n  "b": null,\n  "c": 0.0\n}\n')


# ----------------------------------------------------------------------------- CLI


@pytest.fixture()
def cli_args(demo_portfolio: Portfolio, result: CheckResult,
             monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr("monitor.cli.check.check", lambda *_a, **_k: result)  # run once
    monkeypatch.delenv("MONITOR_SIGNING_KEY", raising=False)
    return ["check", "demo-clearing", "--aoi", str(demo_portfolio.registry_path), "--source",
            f"local:{demo_portfolio.scenes_dir}", "--from", PERIOD[0], "--to", PERIOD[1]]


def test_cli_builds_signed_and_unsigned_packages(cli_args: list[str], tmp_path: Path,
                                                 keys: tuple[Path, Path]) -> None:
    runner = CliRunner()
    out = runner.invoke(main, [*cli_args, "--package", str(tmp_path / "a")])
    assert out.exit_code == 0, out.output
    assert "evidence package (full, check):" in out.stdout and "UNSIGNED" in out.stdout
    res = runner.invoke(main, [*cli_args, "--package", str(tmp_path / "b"), "--json"],
                        env={"MONITOR_SIGNING_KEY": str(keys[0])})
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)["package"]
    assert info["signed"] is True and info["fingerprint"].startswith("SHA256:")
    assert Path(info["path"]).name == f"demo-clearing-{info['package_id']}"


def test_cli_key_needs_a_package_and_a_real_file(cli_args: list[str], tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, [*cli_args, "--key", str(tmp_path / "k.key")])
    assert res.exit_code == 2 and "--package" in res.output
    res = runner.invoke(main, [*cli_args, "--package", str(tmp_path / "p"), "--key",
                               str(tmp_path / "missing.key")])
    assert res.exit_code == 2 and not (tmp_path / "p").exists()
