"""``verify_package`` and ``monitor verify``: every check, garbage input, the trust model."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import bagit
import pytest
from click.testing import CliRunner

import monitor.evidence.verify as verify_mod
from monitor.cli.evidence import verify_command
from monitor.evidence.signing import (
    FINGERPRINT_TAG,
    KeyPair,
    generate_keypair,
    sign_bag,
)
from monitor.evidence.verify import Check, VerifyReport, verify_package
from tests.test_signing import make_package

CHECKS = ["bagit", "inventory", "tag-manifest", "signature", "fingerprint", "trusted-key",
          "documents"]
REAL_DOCUMENT_CHECKER = verify_mod._document_checker


def json_documents(data_dir: Path) -> list[str]:
    """Stand-in for monitor.evidence.schema.check_documents on the synthetic packages."""
    problems = []
    for path in sorted(data_dir.rglob("*.json")) + sorted(data_dir.rglob("*.geojson")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{path.name}: invalid JSON: {exc}")
    return problems


@pytest.fixture(autouse=True)
def stub_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    """The synthetic packages are not built by the real builder: check their JSON only."""
    monkeypatch.setattr(verify_mod, "_document_checker", lambda: json_documents)


@pytest.fixture
def keypair(tmp_path: Path) -> KeyPair:
    return generate_keypair(tmp_path / "keys", "publisher")


@pytest.fixture
def package(tmp_path: Path, keypair: KeyPair) -> Path:
    return make_package(tmp_path, keypair.private_path)


def by_name(report: VerifyReport) -> dict[str, Check]:
    assert [c.name for c in report.checks] == CHECKS
    return {c.name: c for c in report.checks}


def test_good_package_passes_with_self_asserted_key(package: Path, keypair: KeyPair) -> None:
    report = verify_package(package)
    checks = by_name(report)
    assert report.ok, report.to_dict()
    assert report.fingerprint == keypair.fingerprint
    assert checks["trusted-key"].status == "notice"
    assert "self-asserted" in checks["trusted-key"].detail
    assert all(c.status == "pass" for n, c in checks.items() if n != "trusted-key")
    assert "every checksum recomputed" in checks["bagit"].detail
    json.dumps(report.to_dict())


def test_good_package_passes_with_the_publishers_key(package: Path, keypair: KeyPair) -> None:
    report = verify_package(package, public_key=keypair.public_path)
    assert report.ok
    assert by_name(report)["trusted-key"].status == "pass"


def test_sha256_only_package_passes(tmp_path: Path, keypair: KeyPair) -> None:
    bag = make_package(tmp_path, keypair.private_path, name="lean", checksums=("sha256",))
    assert verify_package(bag, keypair.public_path).ok


def test_unsigned_package_says_built_without_key(tmp_path: Path, keypair: KeyPair) -> None:
    package = make_package(tmp_path, keypair.private_path)
    shutil.rmtree(package / "signature")
    checks = by_name(verify_package(package))
    assert not checks["signature"].ok and "built without --key" in checks["signature"].detail
    assert checks["bagit"].ok and checks["inventory"].ok and checks["tag-manifest"].ok
    assert not checks["fingerprint"].ok


def test_resigned_by_an_attacker_fails_only_against_the_trusted_key(
        package: Path, keypair: KeyPair, tmp_path: Path) -> None:
    attacker = generate_keypair(tmp_path / "attacker", "mallory")
    (package / "data" / "summary.json").write_text('{"verdict": "compliant"}\n')
    shutil.rmtree(package / "signature")  # else bagit would list it as tag files
    bag = bagit.Bag(str(package))
    bag.info[FINGERPRINT_TAG] = attacker.fingerprint
    bag.save(manifests=True)
    sign_bag(package, attacker.private_path)
    self_asserted = verify_package(package)
    assert self_asserted.ok and self_asserted.fingerprint == attacker.fingerprint
    report = verify_package(package, public_key=keypair.public_path)
    checks = by_name(report)
    assert not report.ok and [c.name for c in report.failed] == ["trusted-key"]
    assert "signed by another key" in checks["trusted-key"].detail
    assert attacker.fingerprint in checks["trusted-key"].detail


def test_swapped_public_key_breaks_signature_and_fingerprint(
        package: Path, tmp_path: Path) -> None:
    other = generate_keypair(tmp_path / "other", "other")
    shutil.copy(other.public_path, package / "signature" / "public-key.pem")
    (package / "signature" / "fingerprint.txt").write_text(other.fingerprint + "\n")
    checks = by_name(verify_package(package))
    assert not checks["signature"].ok and "INVALID" in checks["signature"].detail
    assert not checks["fingerprint"].ok and "bag-info.txt" in checks["fingerprint"].detail


def test_every_check_runs_after_a_failure(package: Path) -> None:
    (package / "bagit.txt").unlink()
    (package / "data" / "stats" / "ndvi.csv").write_text("date,ndvi\n")
    (package / "data" / "new.txt").write_text("x")
    report = verify_package(package)
    checks = by_name(report)
    assert not checks["bagit"].ok
    assert not checks["inventory"].ok
    assert "bagit.txt" in checks["inventory"].detail
    assert "data/new.txt" in checks["inventory"].detail
    assert not checks["tag-manifest"].ok
    assert checks["signature"].ok  # the tag manifest itself is intact


def test_bagit_details_name_missing_added_and_changed_files(package: Path) -> None:
    (package / "data" / "empty.txt").unlink()
    (package / "data" / "added.csv").write_text("a\n")
    (package / "data" / "summary.json").write_text("{}\n")
    detail = by_name(verify_package(package))["bagit"].detail
    # the oxum (count and size) fails first; the files are named all the same
    assert "Payload-Oxum" in detail
    assert "missing: data/empty.txt" in detail and "added: data/added.csv" in detail
    os.remove(package / "data" / "added.csv")
    (package / "data" / "empty.txt").write_bytes(b"")
    detail = by_name(verify_package(package))["bagit"].detail
    assert "changed: data/summary.json" in detail and "empty.txt" not in detail


def test_same_size_payload_edit_is_caught_by_full_validation(package: Path) -> None:
    path = package / "data" / "stats" / "ndvi.csv"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    checks = by_name(verify_package(package))
    assert not checks["bagit"].ok and "changed: data/stats/ndvi.csv" in checks["bagit"].detail
    assert checks["signature"].ok  # the signature covers the manifests, BagIt the payload


@pytest.mark.parametrize("make", [
    lambda p: p.write_bytes(b"just a file"),
    lambda p: None,
    lambda p: p.mkdir(),
    lambda p: (p.mkdir(), (p / "bagit.txt").write_bytes(b"\xff\xfe\x00garbage\n")),
    lambda p: (p.mkdir(), (p / "bagit.txt").write_text("BagIt-Version: 9.9\n")),
    lambda p: (p.mkdir(), (p / "tagmanifest-sha256.txt").write_bytes(os.urandom(200))),
], ids=["file", "missing", "empty-folder", "binary-bagit", "bad-version", "junk-manifest"])
def test_garbage_never_raises(tmp_path: Path, make: Callable[[Path], object]) -> None:
    target = tmp_path / "thing"
    make(target)
    report = verify_package(target)
    assert not report.ok and len(report.checks) == len(CHECKS)
    json.dumps(report.to_dict())


def test_binary_junk_in_bag_info_never_raises(package: Path) -> None:
    (package / "bag-info.txt").write_bytes(b"\x00\xff\xfe junk \x80\x81\n" * 5)
    report = verify_package(package)
    checks = by_name(report)
    assert not report.ok
    assert not checks["bagit"].ok and not checks["tag-manifest"].ok
    assert not checks["fingerprint"].ok


def test_garbage_trusted_key_is_a_failed_check(package: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pub"
    junk.write_bytes(b"\x00" * 10)
    checks = by_name(verify_package(package, public_key=junk))
    assert not checks["trusted-key"].ok and "not a PEM public key" in checks["trusted-key"].detail
    assert checks["signature"].ok


@pytest.mark.skipif(os.name != "posix", reason="symlinks and FIFOs")
def test_symlinks_and_fifos_are_refused_without_reading_them(package: Path) -> None:
    target = package / "data" / "stats" / "ndvi.csv"
    copy = package.parent / "outside.csv"
    shutil.copy(target, copy)
    target.unlink()
    target.symlink_to(copy)  # same content, but through a link
    os.mkfifo(package / "data" / "pipe.json")  # would block any reader
    report = verify_package(package)
    checks = by_name(report)
    assert not report.ok
    assert "symlinks or special files" in checks["inventory"].detail
    assert "not run" in checks["bagit"].detail and "not run" in checks["documents"].detail


def test_documents_problems_fail_the_check(package: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_mod, "_document_checker",
                        lambda: lambda d: ["item.json: assets.x: file:checksum does not match"])
    checks = by_name(verify_package(package))
    assert not checks["documents"].ok and "file:checksum" in checks["documents"].detail

    def boom(data_dir: Path) -> list[str]:
        raise RuntimeError("checker crashed")

    monkeypatch.setattr(verify_mod, "_document_checker", lambda: boom)
    checks = by_name(verify_package(package))
    assert not checks["documents"].ok and "checker crashed" in checks["documents"].detail


def test_documents_check_is_skipped_only_when_schema_module_is_absent(
        package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_mod, "_document_checker", REAL_DOCUMENT_CHECKER)
    monkeypatch.setitem(sys.modules, "monitor.evidence.schema", None)
    check = by_name(verify_package(package))["documents"]
    assert check.ok and check.status == "skipped" and "not run" in check.detail


def test_real_document_checker_runs(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("monitor.evidence.schema")
    monkeypatch.setattr(verify_mod, "_document_checker", REAL_DOCUMENT_CHECKER)
    report = verify_package(package)
    checks = by_name(report)
    # the synthetic package has no STAC item nor provenance: only the documents fail
    assert [c.name for c in report.failed] == ["documents"]
    assert "item.json" in checks["documents"].detail


def test_cli_verify_exit_codes_table_and_json(package: Path, keypair: KeyPair) -> None:
    runner = CliRunner()
    good = runner.invoke(verify_command, [str(package), "--public-key", str(keypair.public_path)])
    assert good.exit_code == 0, good.output
    assert "VERIFIED" in good.output and "signature" in good.output
    as_json = runner.invoke(verify_command, [str(package), "--json"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.output)["ok"] is True
    (package / "data" / "stats" / "ndvi.csv").write_text("forged\n")
    bad = runner.invoke(verify_command, [str(package)])
    assert bad.exit_code == 1 and "NOT VERIFIED" in bad.output and "bagit" in bad.output
    bad_json = runner.invoke(verify_command, [str(package), "--json"])
    assert bad_json.exit_code == 1 and json.loads(bad_json.output)["ok"] is False
    usage = runner.invoke(verify_command, [str(package.parent / "nope")])
    assert usage.exit_code == 2
    assert runner.invoke(verify_command, [str(package), "--bogus"]).exit_code == 2


def test_cli_escapes_hostile_file_names(package: Path) -> None:
    (package / "data" / "\x1b[2J\x1b[32mOK[bold]").write_text("x")
    result = CliRunner().invoke(verify_command, [str(package)])
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\\x1b[2J" in result.output
