"""Ed25519 keys and bag signatures: round trip, key file modes, no secret in any message."""

from __future__ import annotations

import base64
import json
import os
import random
import stat
from pathlib import Path

import bagit
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from monitor.cli.evidence import keys
from monitor.errors import EvidenceError, SigningKeyError
from monitor.evidence.signing import (
    FINGERPRINT_TAG,
    KeyPair,
    canonical_tag_manifest,
    fingerprint,
    fingerprint_of_private_key,
    generate_keypair,
    load_private_key,
    load_public_key,
    sign_bag,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def make_package(root: Path, key: Path, name: str = "pkg", seed: int = 0,
                 checksums: tuple[str, ...] = ("sha256", "sha512")) -> Path:
    """A small signed bag: JSON, CSV, a binary figure, GeoJSON, an empty file."""
    rng = random.Random(seed)
    folder = root / name
    (folder / "figures").mkdir(parents=True)
    (folder / "stats").mkdir()
    (folder / "summary.json").write_text(json.dumps(
        {"package_id": f"{name}-{seed}", "verdict": "exceedance", "area_ha": 12.5 + seed},
        indent=2, sort_keys=True) + "\n", encoding="utf-8")
    rows = "\n".join(f"2024-0{m}-01,{rng.random():.4f},{rng.randint(0, 40)}" for m in range(1, 8))
    (folder / "stats" / "ndvi.csv").write_text("date,ndvi,clear_obs\n" + rows + "\n")
    (folder / "figures" / "change.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(300 + 50 * seed)))
    (folder / "vectors.geojson").write_text(json.dumps({
        "type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
        "geometry": {"type": "Point", "coordinates": [-70.1 - seed, -23.5]}}]}))
    (folder / "empty.txt").write_bytes(b"")
    bagit.make_bag(str(folder), bag_info={
        FINGERPRINT_TAG: fingerprint_of_private_key(key),
        "Source-Organization": "Concession Monitor tests",
    }, checksums=list(checksums))
    sign_bag(folder, key)
    return folder


@pytest.fixture
def keypair(tmp_path: Path) -> KeyPair:
    return generate_keypair(tmp_path / "keys")


def _secrets(pair: KeyPair) -> list[str]:
    """Every textual form of the private key someone might leak."""
    pem = pair.private_path.read_text()
    body = [line for line in pem.splitlines() if "-----" not in line]
    key = load_private_key(pair.private_path)
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    return [*body, raw.hex(), base64.b64encode(raw).decode(), pem.strip()]


@posix_only
def test_generate_keypair_modes_and_formats(keypair: KeyPair) -> None:
    assert stat.S_IMODE(keypair.private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keypair.private_path.parent.stat().st_mode) & 0o077 == 0
    assert keypair.private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert keypair.public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    public = load_public_key(keypair.public_path)
    assert fingerprint(public) == keypair.fingerprint == fingerprint_of_private_key(
        keypair.private_path)
    assert keypair.fingerprint.startswith("SHA256:") and len(keypair.fingerprint) == 7 + 64


@posix_only
def test_private_key_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        pair = generate_keypair(tmp_path, "loose")
    finally:
        os.umask(old)
    assert stat.S_IMODE(pair.private_path.stat().st_mode) == 0o600


def test_refuses_to_overwrite_without_force(keypair: KeyPair) -> None:
    before = keypair.private_path.read_bytes()
    with pytest.raises(SigningKeyError, match="--force"):
        generate_keypair(keypair.private_path.parent)
    assert keypair.private_path.read_bytes() == before
    replaced = generate_keypair(keypair.private_path.parent, force=True)
    assert replaced.fingerprint != keypair.fingerprint
    assert stat.S_IMODE(replaced.private_path.stat().st_mode) == 0o600 or os.name != "posix"
    assert fingerprint(load_public_key(replaced.public_path)) == replaced.fingerprint


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x" * 80])
def test_rejects_bad_key_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(SigningKeyError, match="not allowed"):
        generate_keypair(tmp_path, name)
    assert not any(tmp_path.iterdir())


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_refuses_group_or_world_readable_key(keypair: KeyPair, mode: int) -> None:
    secrets = _secrets(keypair)
    keypair.private_path.chmod(mode)
    with pytest.raises(SigningKeyError) as info:
        load_private_key(keypair.private_path)
    message = str(info.value)
    assert f"chmod 600 {keypair.private_path}" in message
    assert not any(s in message or s in repr(info.value) for s in secrets)
    with pytest.raises(SigningKeyError):
        sign_bag(keypair.private_path.parent, keypair.private_path)


@pytest.mark.parametrize("content", [
    b"", b"not a key at all\n", b"\x00\xff" * 40,
    Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
])
def test_garbage_private_key_messages_quote_nothing(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(SigningKeyError) as info:
        load_private_key(path)
    assert str(path) in str(info.value)
    for line in content.decode("latin-1").splitlines():
        if len(line) > 8:
            assert line not in str(info.value)


def test_non_ed25519_and_encrypted_keys_are_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "ec.key"
    path.write_bytes(other.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    path.chmod(0o600)
    with pytest.raises(SigningKeyError, match="Ed25519"):
        load_private_key(path)
    locked = tmp_path / "locked.key"
    locked.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase")))
    locked.chmod(0o600)
    with pytest.raises(SigningKeyError, match="passphrase"):
        load_private_key(locked)
    with pytest.raises(SigningKeyError, match="does not exist"):
        load_private_key(tmp_path / "missing.key")
    with pytest.raises(SigningKeyError, match="not a PEM public key"):
        load_public_key(path)


def test_no_key_material_in_reprs_or_cli_output(tmp_path: Path) -> None:
    result = CliRunner().invoke(keys, ["init", "--dir", str(tmp_path / "k"), "--name", "ngo"])
    assert result.exit_code == 0, result.output
    pair = KeyPair(tmp_path / "k" / "ngo.key", tmp_path / "k" / "ngo.pub",
                   fingerprint_of_private_key(tmp_path / "k" / "ngo.key"))
    secrets = _secrets(pair)
    assert pair.fingerprint in result.output and str(pair.private_path) in result.output
    key = load_private_key(pair.private_path)
    for text in (result.output, repr(pair), str(pair), repr(key)):
        assert not any(s in text for s in secrets)
    again = CliRunner().invoke(keys, ["init", "--dir", str(tmp_path / "k"), "--name", "ngo"])
    assert again.exit_code == 1 and "--force" in again.output
    assert not any(s in again.output for s in secrets)
    fp = CliRunner().invoke(keys, ["fingerprint", str(pair.private_path)])
    assert fp.exit_code == 0 and fp.output.strip() == pair.fingerprint
    assert not any(s in fp.output for s in secrets)


def test_keys_init_uses_monitor_key_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_KEY_DIR", str(tmp_path / "env-keys"))
    result = CliRunner().invoke(keys, ["init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env-keys" / "monitor.key").is_file()
    bad = CliRunner().invoke(keys, ["init", "--name", "../x"])
    assert bad.exit_code == 1 and "not allowed" in bad.output


def test_sign_round_trip(tmp_path: Path, keypair: KeyPair) -> None:
    bag = make_package(tmp_path, keypair.private_path)
    sig_dir = bag / "signature"
    assert sorted(p.name for p in sig_dir.iterdir()) == [
        "fingerprint.txt", "public-key.pem", "tagmanifest-sha256.txt.sig"]
    assert (sig_dir / "fingerprint.txt").read_text() == keypair.fingerprint + "\n"
    assert (sig_dir / "public-key.pem").read_bytes() == keypair.public_path.read_bytes()
    canonical = canonical_tag_manifest(bag)
    assert (bag / "tagmanifest-sha256.txt").read_bytes() == canonical  # normalised in place
    lines = canonical.decode().splitlines()
    assert lines == sorted(lines) and canonical.endswith(b"\n") and b"\r" not in canonical
    assert any(line.endswith(" bag-info.txt") for line in lines)
    signature = base64.b64decode((sig_dir / "tagmanifest-sha256.txt.sig").read_bytes())
    load_public_key(keypair.public_path).verify(signature, canonical)  # raises when invalid
    assert bagit.Bag(str(bag)).is_valid(fast=False)
    assert sign_bag(bag, keypair.private_path) == keypair.fingerprint  # re-signing: idempotent
    assert canonical_tag_manifest(bag) == canonical


def test_canonical_form_ignores_line_endings_and_order(tmp_path: Path,
                                                       keypair: KeyPair) -> None:
    bag = make_package(tmp_path, keypair.private_path)
    canonical = canonical_tag_manifest(bag)
    lines = canonical.decode().splitlines()
    (bag / "tagmanifest-sha256.txt").write_bytes(
        ("\r\n".join(reversed(lines)) + "\r\n\r\n").encode())
    assert canonical_tag_manifest(bag) == canonical


def test_sign_refuses_a_bag_without_the_fingerprint_or_with_a_stale_manifest(
        tmp_path: Path, keypair: KeyPair) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("a")
    bagit.make_bag(str(plain))
    with pytest.raises(EvidenceError, match=FINGERPRINT_TAG):
        sign_bag(plain, keypair.private_path)
    assert not (plain / "signature").exists()
    bag = make_package(tmp_path, keypair.private_path, name="stale")
    with (bag / "bag-info.txt").open("a") as fh:
        fh.write("Note: added after the manifests\n")
    with pytest.raises(EvidenceError, match="stale"):
        sign_bag(bag, keypair.private_path)
    with pytest.raises(EvidenceError, match="does not exist"):
        canonical_tag_manifest(tmp_path / "nowhere")


def test_sign_refuses_signature_files_inside_the_manifests(tmp_path: Path,
                                                          keypair: KeyPair) -> None:
    bag = make_package(tmp_path, keypair.private_path)
    bagit.Bag(str(bag)).save(manifests=True)  # re-saving lists signature/ as tag files
    with pytest.raises(EvidenceError, match="outside the manifests"):
        sign_bag(bag, keypair.private_path)
