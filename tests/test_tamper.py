"""Tamper evidence: every mutation of a signed package is detected, and nothing else is.

RELIABILITY.md's figure: detected / tried (target 100 %) and false alarms (target 0). Each
mutation is applied to a fresh copy of one of several signed packages: >= 1,000 random
single-byte XORs over *every* file (payload, manifests, tag manifests, bag-info, bagit.txt,
signature files), then added, removed and renamed files of every kind, bytes appended or
cut, line endings and line order changed, symlinks and FIFOs. Untouched copies, verified
in between, must always pass.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import monitor.evidence.verify as verify_mod
from monitor.evidence.signing import generate_keypair
from monitor.evidence.verify import verify_package
from tests.test_signing import make_package
from tests.test_verify import json_documents

SEED = 20_241_122
N_BYTE_MUTATIONS = 1_200
UNTOUCHED_EVERY = 10

Mutation = Callable[[Path], None]


@pytest.fixture(autouse=True)
def stub_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_mod, "_document_checker", lambda: json_documents)


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three signed packages: two keys, sha256+sha512 and sha256-only manifests."""
    root = tmp_path_factory.mktemp("tamper")
    alice = generate_keypair(root / "keys", "alice")
    bob = generate_keypair(root / "keys", "bob")
    return [
        make_package(root, alice.private_path, name="p0", seed=0),
        make_package(root, bob.private_path, name="p1", seed=1),
        make_package(root, alice.private_path, name="p2", seed=2, checksums=("sha256",)),
    ]


def files_of(package: Path) -> list[str]:
    return sorted(p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file())


def tree_digest(root: Path) -> str:
    """Names, types and contents of everything under ``root`` (never reads a FIFO)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        if path.is_symlink() or not path.is_file():
            digest.update(b"L" if path.is_symlink() else b"D" if path.is_dir() else b"S")
        else:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def kind(rel: str) -> str:
    if rel.startswith("data/"):
        return "payload"
    if rel.startswith("signature/"):
        return "signature"
    if rel.startswith("tagmanifest-"):
        return "tag manifest"
    if rel.startswith("manifest-"):
        return "payload manifest"
    return rel  # bagit.txt, bag-info.txt


class Tally:
    """detected / tried, false alarms, and which checks caught the mutations."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.tried = self.detected = self.untouched = self.false_alarms = 0
        self.missed: list[str] = []
        self.by_kind: Counter[str] = Counter()
        self.caught_by: Counter[str] = Counter()
        self.n = 0
        self.baseline: dict[Path, str] = {}

    def fresh(self, package: Path) -> Path:
        self.n += 1
        copy = self.work / f"c{self.n}"
        shutil.copytree(package, copy, symlinks=True)
        return copy

    def mutate(self, package: Path, label: str, mutation: Mutation, kind_: str) -> None:
        if package not in self.baseline:
            self.baseline[package] = tree_digest(package)
        copy = self.fresh(package)
        mutation(copy)
        assert tree_digest(copy) != self.baseline[package], f"{label!r} changed nothing"
        report = verify_package(copy)
        self.tried += 1
        self.by_kind[kind_] += 1
        if report.ok:
            self.missed.append(f"{package.name}: {label}")
        else:
            self.detected += 1
            self.caught_by.update(c.name for c in report.failed)
        shutil.rmtree(copy)

    def control(self, package: Path) -> None:
        copy = self.fresh(package)
        report = verify_package(copy)
        self.untouched += 1
        if not report.ok:
            self.false_alarms += 1
            self.missed.append(f"FALSE ALARM {package.name}: {report.failed}")
        shutil.rmtree(copy)

    def summary(self, what: str) -> str:
        return (f"\ntamper ({what}): detected {self.detected}/{self.tried} "
                f"({100 * self.detected / max(self.tried, 1):.1f} %), false alarms "
                f"{self.false_alarms}/{self.untouched} untouched copies; per file kind "
                f"{dict(sorted(self.by_kind.items()))}; failed checks "
                f"{dict(self.caught_by.most_common())}")


def xor_byte(rel: str, offset: int, value: int) -> Mutation:
    def apply(copy: Path) -> None:
        path = copy / rel
        data = bytearray(path.read_bytes())
        data[offset] ^= value
        path.write_bytes(bytes(data))
    return apply


def test_random_single_byte_mutations_are_all_detected(packages: list[Path],
                                                       tmp_path: Path) -> None:
    rng = random.Random(SEED)
    tally = Tally(tmp_path)
    candidates = {p: [f for f in files_of(p) if (p / f).stat().st_size > 0] for p in packages}
    for package in packages:
        tally.control(package)
    for i in range(N_BYTE_MUTATIONS):
        package = rng.choice(packages)
        rel = rng.choice(candidates[package])
        offset = rng.randrange((package / rel).stat().st_size)
        value = rng.randrange(1, 256)
        tally.mutate(package, f"{rel}[{offset}] ^= {value:#04x}", xor_byte(rel, offset, value),
                     kind(rel))
        if i % UNTOUCHED_EVERY == 0:
            tally.control(package)
    print(tally.summary(f"{N_BYTE_MUTATIONS} single-byte XORs, seed {SEED}"))
    assert tally.tried >= 1_000
    assert len(tally.by_kind) == 6  # every kind of file was hit
    assert not tally.missed, tally.missed[:20]
    assert tally.detected == tally.tried and tally.false_alarms == 0


def _added(rel: str, content: bytes | Callable[[Path], bytes]) -> Mutation:
    def apply(copy: Path) -> None:
        path = copy / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content(copy) if callable(content) else content)
    return apply


def _manifest_for(algorithm: str, tag: bool) -> Callable[[Path], bytes]:
    """A *correct* extra manifest: it adds no false statement, only an unsigned file."""
    def build(copy: Path) -> bytes:
        if tag:
            names = [f for f in files_of(copy) if "/" not in f and not f.startswith("tag")]
        else:
            names = [f for f in files_of(copy) if f.startswith("data/")]
        lines = sorted(f"{hashlib.new(algorithm, (copy / n).read_bytes()).hexdigest()} {n}"
                       for n in names)
        return ("\n".join(lines) + "\n").encode()
    return build


def _removed(rel: str) -> Mutation:
    return lambda copy: (copy / rel).unlink()


def _renamed(rel: str, new: str) -> Mutation:
    def apply(copy: Path) -> None:
        (copy / new).parent.mkdir(parents=True, exist_ok=True)
        os.rename(copy / rel, copy / new)
    return apply


def _edited(rel: str, edit: Callable[[bytes], bytes]) -> Mutation:
    def apply(copy: Path) -> None:
        (copy / rel).write_bytes(edit((copy / rel).read_bytes()))
    return apply


def _swap(a: str, b: str) -> Mutation:
    def apply(copy: Path) -> None:
        tmp = copy / "swap.tmp"
        os.rename(copy / a, tmp)
        os.rename(copy / b, copy / a)
        os.rename(tmp, copy / b)
    return apply


def _symlinked(rel: str) -> Mutation:
    def apply(copy: Path) -> None:
        outside = copy.parent / f"{copy.name}-outside"
        outside.write_bytes((copy / rel).read_bytes())  # identical content, through a link
        (copy / rel).unlink()
        (copy / rel).symlink_to(outside)
    return apply


def _emptied_data(copy: Path) -> None:
    shutil.rmtree(copy / "data")
    (copy / "data").mkdir()


def structural_mutations(package: Path) -> list[tuple[str, Mutation, str]]:
    files = files_of(package)
    payload = [f for f in files if f.startswith("data/")]
    out: list[tuple[str, Mutation, str]] = []
    additions: list[tuple[str, bytes | Callable[[Path], bytes]]] = [
        ("data/extra.txt", b"planted\n"),
        ("data/figures/copy.png", lambda c: (c / "data/figures/change.png").read_bytes()),
        ("data/.hidden", b""),
        ("extra.txt", b"planted\n"),
        ("fetch.txt", b"https://example.org/x.tif 10 data/x.tif\n"),
        ("manifest-md5.txt", _manifest_for("md5", tag=False)),
        ("tagmanifest-md5.txt", _manifest_for("md5", tag=True)),
        ("tagmanifest-sha1.txt", _manifest_for("sha1", tag=True)),
        ("meta/notes.txt", b"a new tag folder\n"),
        ("signature/extra.sig", b"AAAA\n"),
        ("signature/public-key.pem.bak", lambda c: (c / "signature/public-key.pem").read_bytes()),
    ]
    for rel, content in additions:
        out.append((f"added {rel}", _added(rel, content), "added"))
    for rel in files:
        out.append((f"removed {rel}", _removed(rel), "removed"))
        parent, _, name = rel.rpartition("/")
        sibling = f"{parent}/{name}.orig" if parent else f"{name}.orig"
        out.append((f"renamed {rel} -> {sibling}", _renamed(rel, sibling), "renamed"))
        upper = f"{parent}/{name.upper()}" if parent else name.upper()
        if upper != rel:
            out.append((f"renamed {rel} -> {upper}", _renamed(rel, upper), "renamed"))
        out.append((f"appended LF to {rel}", _edited(rel, lambda b: b + b"\n"), "resized"))
        out.append((f"appended space to {rel}", _edited(rel, lambda b: b + b" "), "resized"))
        if (package / rel).stat().st_size:
            out.append((f"cut last byte of {rel}", _edited(rel, lambda b: b[:-1]), "resized"))
        if b"\n" in (package / rel).read_bytes():
            out.append((f"CRLF line ends in {rel}",
                        _edited(rel, lambda b: b.replace(b"\n", b"\r\n")), "resized"))
        if rel.endswith(".txt") and b"\n" in (package / rel).read_bytes().rstrip(b"\n"):
            out.append((f"reversed line order of {rel}", _edited(
                rel, lambda b: b"\n".join(reversed(b.rstrip(b"\n").split(b"\n"))) + b"\n"),
                "reordered"))
    out.append(("moved data/stats/ndvi.csv to data/figures/",
                _renamed("data/stats/ndvi.csv", "data/figures/ndvi.csv"), "renamed"))
    out.append(("swapped two payload files", _swap(payload[0], payload[-1]), "renamed"))
    out.append(("renamed signature/ to signatures/", _renamed("signature/fingerprint.txt",
                "signatures/fingerprint.txt"), "renamed"))
    out.append(("renamed data/ to payload/", lambda c: os.rename(c / "data", c / "payload"),
                "renamed"))
    out.append(("removed signature/", lambda c: shutil.rmtree(c / "signature"), "removed"))
    out.append(("emptied data/", _emptied_data, "removed"))
    if os.name == "posix":
        out.append(("payload file replaced by a symlink to an identical copy",
                    _symlinked("data/stats/ndvi.csv"), "special"))
        out.append(("FIFO added in data/", lambda c: os.mkfifo(c / "data" / "pipe.json"),
                    "special"))
    return out


def test_added_removed_renamed_and_edited_files_are_all_detected(packages: list[Path],
                                                                 tmp_path: Path) -> None:
    tally = Tally(tmp_path)
    for package in packages:
        tally.control(package)
        for label, mutation, category in structural_mutations(package):
            tally.mutate(package, label, mutation, category)
        tally.control(package)
    print(tally.summary("added / removed / renamed / resized / reordered / special files"))
    assert tally.tried >= 3 * 100
    assert not tally.missed, tally.missed
    assert tally.detected == tally.tried and tally.false_alarms == 0


def test_untouched_packages_never_fail(packages: list[Path], tmp_path: Path) -> None:
    tally = Tally(tmp_path)
    for _ in range(10):
        for package in packages:
            tally.control(package)
    for package in packages:  # moving a package elsewhere (another name) changes nothing
        moved = tmp_path / "elsewhere" / "renamed-package"
        shutil.copytree(package, moved)
        assert verify_package(moved).ok
        shutil.rmtree(moved)
    print(f"\nuntouched: false alarms {tally.false_alarms}/{tally.untouched}")
    assert tally.false_alarms == 0
