"""Verify an evidence package offline: BagIt, inventory, tag manifest, signature, documents.

Every check runs, even after another has failed, and each is reported on its own; garbage
input (not a folder, not a bag, binary junk) becomes a failed check, never an exception.

Trust model
-----------
A package carries its own public key (``signature/public-key.pem``). A valid signature
therefore proves that *no byte of the package changed since it was signed by the holder of
that key*; it does not prove *who* that holder is, because whoever rewrites a package can
also re-sign it with a key of their own. Without ``public_key`` the report says so: the
``trusted-key`` check passes with the status ``notice`` ("self-asserted"). To establish
who signed, pass the publisher's public key obtained through another channel (their web
site, a report, a regulator's register); the package must then carry exactly that key, or
verification fails with "signed by another key". Fingerprints (``SHA256:<hex>`` of the raw
key) are short enough to compare by eye or read over the phone.

What is covered
---------------
The signature covers the canonical ``tagmanifest-sha256.txt``, which covers ``bagit.txt``,
``bag-info.txt`` (including ``Signing-Key-Fingerprint``) and the payload manifests, which
cover every payload file. Besides BagIt's own validation (always full: its "fast" mode
compares sizes and counts only), the verifier checks by itself, on raw bytes, everything
BagIt parses leniently: the tag manifests must be byte-for-byte canonical, every tag file
must match the signed SHA-256, the files in the bag must be exactly the ones listed, the
signature, key and fingerprint files must be in their one canonical encoding, and
symlinks and special files are refused (they are never read, so nothing can hang).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast

import bagit
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from monitor.errors import EvidenceError
from monitor.evidence.signing import (
    FINGERPRINT_FILE,
    FINGERPRINT_TAG,
    PUBLIC_KEY_FILE,
    SIGNATURE_DIR,
    SIGNATURE_FILE,
    SIGNED_TAG_MANIFEST,
    canonical_manifest_bytes,
    canonical_tag_manifest,
    fingerprint,
    load_public_key,
    public_key_pem,
)

__all__ = ["Check", "CheckStatus", "VerifyReport", "verify_package"]

CheckStatus = Literal["pass", "fail", "skipped", "notice"]
DocumentChecker = Callable[[Path], list[str]]

_SIGNATURE_FILES = (SIGNATURE_FILE, PUBLIC_KEY_FILE, FINGERPRINT_FILE)
_TAGMANIFEST = re.compile(r"^tagmanifest-([a-z0-9]+)\.txt$")
_MANIFEST = re.compile(r"^manifest-([a-z0-9]+)\.txt$")
_SIG_B64 = re.compile(rb"^[A-Za-z0-9+/]{86}==\n$")
_MAX_READ = 64 << 20  # bytes; tag manifests of huge packages stay far below


@dataclass(frozen=True)
class Check:
    """The outcome of one verification check.

    Attributes
    ----------
    name
        Short identifier (``bagit``, ``inventory``, ``tag-manifest``, ``signature``,
        ``fingerprint``, ``trusted-key``, ``documents``).
    ok
        False only when the check failed.
    detail
        What was checked, or what failed (names files, never key material).
    status
        ``pass``, ``fail``, ``skipped`` (could not run, with the reason) or ``notice``
        (passed with a caveat, e.g. a self-asserted key). Derived from ``ok`` when omitted.
    """

    name: str
    ok: bool
    detail: str
    status: CheckStatus | None = None

    def __post_init__(self) -> None:
        if self.status is None:
            object.__setattr__(self, "status", "pass" if self.ok else "fail")
        elif (self.status == "fail") == self.ok:
            raise ValueError(f"check {self.name}: status {self.status} contradicts ok={self.ok}")


@dataclass(frozen=True)
class VerifyReport:
    """Every check of one package; ``ok`` only when none failed.

    Attributes
    ----------
    ok
        True when every check passed (``skipped`` and ``notice`` count as passed).
    checks
        The checks, in the order they ran.
    package
        The package path as given.
    fingerprint
        The fingerprint of the package's public key, when it could be read.
    """

    ok: bool
    checks: list[Check]
    package: str = ""
    fingerprint: str | None = None

    @property
    def failed(self) -> list[Check]:
        """The failed checks."""
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"package", "ok", "fingerprint", "checks": [...]}``."""
        return {
            "package": self.package,
            "ok": self.ok,
            "fingerprint": self.fingerprint,
            "checks": [asdict(c) for c in self.checks],
        }


def _show(text: str, limit: int = 300) -> str:
    """Printable, bounded form of attacker-controlled text (file names, tag values)."""
    if not text.isprintable():
        text = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _listing(items: Iterable[str], limit: int = 8) -> str:
    """``a, b, c and 4 more``."""
    names = sorted(set(items))
    shown = ", ".join(_show(n, 120) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _open_regular(path: Path) -> int:
    """Open a regular file without following a symlink or blocking on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise EvidenceError(f"{path.name} is not a regular file")
    return fd


def _read_small(path: Path) -> bytes:
    """Bytes of a small regular file (signature, key, fingerprint, tag manifest)."""
    fd = _open_regular(path)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(_MAX_READ + 1)
    if len(data) > _MAX_READ:
        raise EvidenceError(f"{path.name} is implausibly large")
    return data


def _hash_file(path: Path, algorithm: str) -> str:
    """Hex digest of a regular file, read in blocks."""
    digest = hashlib.new(algorithm)
    with os.fdopen(_open_regular(path), "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class _Scan:
    """What is on disk: regular files (posix paths relative to the bag) and the rest."""

    files: set[str] = field(default_factory=set)
    unsafe: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _scan(root: Path) -> _Scan:
    scan = _Scan()

    def onerror(exc: OSError) -> None:
        scan.errors.append(f"{exc.filename}: {exc.strerror}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        base = Path(dirpath)
        for name in list(dirnames):
            if (base / name).is_symlink():
                scan.unsafe.append((base / name).relative_to(root).as_posix())
                dirnames.remove(name)
        for name in filenames:
            rel = (base / name).relative_to(root).as_posix()
            try:
                mode = (base / name).lstat().st_mode
            except OSError as exc:
                scan.errors.append(f"{rel}: {exc.strerror}")
                continue
            if stat.S_ISREG(mode):
                scan.files.add(rel)
            else:
                scan.unsafe.append(rel)
    return scan


def _manifest_paths(data: bytes) -> set[str]:
    """File names in a payload manifest, parsed as bagit does (lenient)."""
    names = set()
    for line in data.decode("utf-8", "replace").splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and not parts[0].startswith("#"):
            name = os.path.normpath(parts[1].lstrip("*")).replace(os.sep, "/")
            names.add(name.replace("%0D", "\r").replace("%0A", "\n"))
    return names


def _strict_entries(raw: bytes, name: str, algorithm: str) -> dict[str, str]:
    """Entries of a tag manifest that must be canonical, one ``<hex> <path>`` per line."""
    if raw != canonical_manifest_bytes(raw, name):
        raise EvidenceError(f"{name} is not in its signed canonical form (edited after signing?)")
    width = hashlib.new(algorithm).digest_size * 2
    line_re = re.compile(rf"^([0-9a-f]{{{width}}}) (\S(?:.*\S)?)$")
    entries: dict[str, str] = {}
    for line in raw.decode("utf-8").split("\n")[:-1]:
        match = line_re.match(line)
        if match is None:
            raise EvidenceError(f"{name} has a malformed line: {_show(line, 120)}")
        digest, path = match.groups()
        pure = PurePosixPath(path)
        if (pure.is_absolute() or ".." in pure.parts or "\\" in path or str(pure) != path
                or pure.parts[0] in ("data", SIGNATURE_DIR) or _TAGMANIFEST.match(path)):
            raise EvidenceError(f"{name} lists a path a tag manifest may not list: {_show(path)}")
        if path in entries:
            raise EvidenceError(f"{name} lists {_show(path)} twice")
        entries[path] = digest
    return entries


class _Package:
    """Lazily read facts about a package, shared by the checks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.is_dir = root.is_dir()
        self.scan = _scan(root) if self.is_dir else _Scan()
        self._key: Ed25519PublicKey | None = None
        self.key_error: str | None = None
        self._key_loaded = False

    def require_dir(self) -> None:
        if not self.is_dir:
            what = "does not exist" if not self.root.exists() else "is not a folder"
            raise EvidenceError(f"{self.root} {what}; an evidence package is a BagIt folder")

    def require_safe(self) -> None:
        self.require_dir()
        if self.scan.unsafe:
            raise EvidenceError(
                "not run: the package contains symlinks or special files, which are never "
                f"read: {_listing(self.scan.unsafe)}"
            )

    def signed_entries(self) -> dict[str, str]:
        raw = _read_small(self.root / SIGNED_TAG_MANIFEST)
        return _strict_entries(raw, SIGNED_TAG_MANIFEST, "sha256")

    def key(self) -> Ed25519PublicKey | None:
        """The package's public key, only when its file is in canonical PEM form."""
        if not self._key_loaded:
            self._key_loaded = True
            path = self.root / SIGNATURE_DIR / PUBLIC_KEY_FILE
            try:
                raw = _read_small(path)
                key = load_public_key(path)
                if raw != public_key_pem(key):
                    raise EvidenceError(f"{SIGNATURE_DIR}/{PUBLIC_KEY_FILE} is not canonical PEM")
                self._key = key
            except FileNotFoundError:
                self.key_error = f"{SIGNATURE_DIR}/{PUBLIC_KEY_FILE} is missing"
            except (OSError, EvidenceError) as exc:
                self.key_error = _show(str(exc))
            except Exception as exc:  # garbage must not escape the verifier
                self.key_error = f"unreadable ({type(exc).__name__})"
        return self._key


def _bagit_failure(exc: bagit.BagValidationError) -> str:
    """``message: missing: ...; added: ...; changed: ...`` from bagit's error details."""
    groups: dict[str, list[str]] = {"missing": [], "added": [], "changed": []}
    other = []
    for item in exc.details:
        if isinstance(item, bagit.FileMissing):
            groups["missing"].append(str(item.path))
        elif isinstance(item, bagit.UnexpectedFile):
            groups["added"].append(str(item.path))
        elif isinstance(item, bagit.ChecksumMismatch):
            groups["changed"].append(str(item.path))
        else:
            other.append(_show(str(item)))
    parts = [f"{k}: {_listing(v)}" for k, v in groups.items() if v] + other
    return f"{_show(exc.message)}: " + "; ".join(parts) if parts else _show(str(exc))


def _check_bagit(pkg: _Package) -> Check:
    pkg.require_safe()
    try:
        bag = bagit.Bag(str(pkg.root))
        try:
            bag.validate(processes=1, fast=False, completeness_only=False)
        except bagit.BagValidationError as exc:
            detail = _bagit_failure(exc)
            if not exc.details and "Payload-Oxum" in detail:
                # the count/size check stops bagit early; run the rest to name the files
                bag.info.pop("Payload-Oxum", None)
                try:
                    bag.validate(processes=1, fast=False, completeness_only=False)
                except bagit.BagValidationError as more:
                    detail += "; " + _bagit_failure(more)
            return Check("bagit", False, detail)
    except (bagit.BagError, UnicodeError, ValueError, OSError) as exc:
        return Check("bagit", False, f"not a valid BagIt bag: {_show(str(exc))}")
    payload = len(bag.payload_entries())
    return Check("bagit", True, f"full validation, every checksum recomputed: {payload} payload "
                 f"files, algorithms {', '.join(sorted(bag.algorithms))}")


def _check_inventory(pkg: _Package) -> Check:
    pkg.require_dir()
    files = pkg.scan.files
    root_files = {f for f in files if "/" not in f}
    payload_algs = {m.group(1) for f in root_files if (m := _MANIFEST.match(f))}
    listed_payload: set[str] = set()
    for alg in payload_algs:
        listed_payload |= _manifest_paths(_read_small(pkg.root / f"manifest-{alg}.txt"))
    try:
        listed_tags = set(pkg.signed_entries())
    except (OSError, EvidenceError):
        listed_tags = set()  # reported by the tag-manifest check; list what is on disk
    expected_tagmanifests = {f"tagmanifest-{alg}.txt" for alg in payload_algs}
    allowed = (listed_payload | listed_tags | expected_tagmanifests
               | {f"{SIGNATURE_DIR}/{n}" for n in _SIGNATURE_FILES})
    unexpected = sorted(files - allowed)
    missing = sorted((listed_payload | listed_tags | expected_tagmanifests) - files)
    if SIGNED_TAG_MANIFEST not in files:
        missing.append(SIGNED_TAG_MANIFEST)
    if (pkg.root / SIGNATURE_DIR).exists():
        missing += [f"{SIGNATURE_DIR}/{n}" for n in _SIGNATURE_FILES
                    if f"{SIGNATURE_DIR}/{n}" not in files]
    problems = []
    if unexpected:
        problems.append(f"unexpected files: {_listing(unexpected)}")
    if missing:
        problems.append(f"missing files: {_listing(set(missing))}")
    if pkg.scan.unsafe:
        problems.append(f"symlinks or special files: {_listing(pkg.scan.unsafe)}")
    if pkg.scan.errors:
        problems.append(f"unreadable folders: {_listing(pkg.scan.errors)}")
    if problems:
        return Check("inventory", False, "; ".join(problems))
    payload = sum(f.startswith("data/") for f in files)
    return Check("inventory", True, f"{len(files)} files, each accounted for: {payload} payload, "
                 f"{len(listed_tags)} tag files, {len(expected_tagmanifests)} tag manifests, "
                 "signature files")


def _check_tag_manifest(pkg: _Package) -> Check:
    pkg.require_safe()
    if not (pkg.root / SIGNED_TAG_MANIFEST).is_file():
        return Check("tag-manifest", False, f"{SIGNED_TAG_MANIFEST} is missing")
    entries = pkg.signed_entries()
    problems = [f"{SIGNED_TAG_MANIFEST} does not list {name}"
                for name in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")
                if name not in entries]
    changed = []
    for name, digest in entries.items():
        try:
            if _hash_file(pkg.root / name, "sha256") != digest:
                changed.append(name)
        except (OSError, EvidenceError):
            changed.append(name)
    if changed:
        problems.append(f"tag files differ from the signed tag manifest: {_listing(changed)}")
    others = sorted(f for f in pkg.scan.files
                    if _TAGMANIFEST.match(f) and f != SIGNED_TAG_MANIFEST)
    for other in others:
        alg = _TAGMANIFEST.match(other).group(1)  # type: ignore[union-attr]
        if alg not in hashlib.algorithms_guaranteed:
            problems.append(f"{other} uses an unknown algorithm")
            continue
        try:
            their = _strict_entries(_read_small(pkg.root / other), other, alg)
        except (OSError, EvidenceError) as exc:
            problems.append(_show(str(exc)))
            continue
        if set(their) != set(entries):
            problems.append(f"{other} does not list the same files as {SIGNED_TAG_MANIFEST}")
        bad = [n for n, d in their.items()
               if n in entries and (pkg.root / n).is_file() and _hash_file(pkg.root / n, alg) != d]
        if bad:
            problems.append(f"{other} has wrong checksums for {_listing(bad)}")
    if problems:
        return Check("tag-manifest", False, "; ".join(problems))
    extra = f"; {', '.join(others)} consistent" if others else ""
    return Check("tag-manifest", True, f"{SIGNED_TAG_MANIFEST} is canonical and its "
                 f"{len(entries)} entries match the tag files byte for byte{extra}")


def _check_signature(pkg: _Package) -> Check:
    pkg.require_dir()
    sig_path = pkg.root / SIGNATURE_DIR / SIGNATURE_FILE
    if not sig_path.exists() and not sig_path.is_symlink():
        unsigned = not (pkg.root / SIGNATURE_DIR).exists()
        return Check("signature", False, (
            "the package is not signed: it was built without --key (build it with "
            "`--key FILE`, the private key from `monitor keys init`)") if unsigned else
            f"{SIGNATURE_DIR}/{SIGNATURE_FILE} is missing")
    raw = _read_small(sig_path)
    if not _SIG_B64.match(raw) or base64.b64encode(base64.b64decode(raw)) + b"\n" != raw:
        return Check("signature", False, f"{SIGNATURE_DIR}/{SIGNATURE_FILE} is not one "
                     "canonical base64 Ed25519 signature and a newline")
    key = pkg.key()
    if key is None:
        return Check("signature", False, f"cannot check: {pkg.key_error}")
    try:
        key.verify(base64.b64decode(raw), canonical_tag_manifest(pkg.root))
    except InvalidSignature:
        return Check("signature", False, "INVALID: the signature does not match the tag "
                     "manifest; the package changed after it was signed")
    return Check("signature", True, "Ed25519 signature over the canonical tag manifest is valid")


def _bag_info_fingerprints(root: Path) -> list[str]:
    """``Signing-Key-Fingerprint`` values of bag-info.txt, read strictly (UTF-8)."""
    text = _read_small(root / "bag-info.txt").decode("utf-8")
    values = []
    for line in re.split(r"\r\n|\r|\n", text):
        label, sep, value = line.partition(":")
        if sep and label.strip().lower() == FINGERPRINT_TAG.lower():
            values.append(value.strip())
    return values


def _check_fingerprint(pkg: _Package) -> Check:
    pkg.require_dir()
    key = pkg.key()
    if key is None:
        return Check("fingerprint", False, f"cannot check: {pkg.key_error}")
    fp = fingerprint(key)
    problems = []
    try:
        written = _read_small(pkg.root / SIGNATURE_DIR / FINGERPRINT_FILE)
        if written != (fp + "\n").encode("ascii"):
            problems.append(f"{SIGNATURE_DIR}/{FINGERPRINT_FILE} says "
                            f"{_show(written.decode('utf-8', 'replace').strip(), 90)}")
    except (OSError, EvidenceError):
        problems.append(f"{SIGNATURE_DIR}/{FINGERPRINT_FILE} is missing or unreadable")
    try:
        in_info = _bag_info_fingerprints(pkg.root)
        if in_info != [fp]:
            shown = _listing(in_info) if in_info else "nothing"
            problems.append(f"bag-info.txt {FINGERPRINT_TAG} says {shown}")
    except (OSError, EvidenceError, UnicodeDecodeError):
        problems.append("bag-info.txt is missing, unreadable or not UTF-8")
    if problems:
        return Check("fingerprint", False, "; ".join(problems) + f", but the package's key is {fp}")
    return Check("fingerprint", True, f"{fp} in {FINGERPRINT_FILE} and bag-info.txt")


def _check_trusted_key(pkg: _Package, public_key: Path | None) -> Check:
    key = pkg.key() if pkg.is_dir else None
    if public_key is None:
        if key is None:
            return Check("trusted-key", True, "no trusted key given (and the package's own key "
                         "is unusable)", "notice")
        return Check("trusted-key", True, f"self-asserted: the package carries its own key "
                     f"{fingerprint(key)}; the signature proves the package is unchanged since "
                     "that key signed it, not who signed it. Pass --public-key with the "
                     "publisher's key to check who signed it", "notice")
    trusted = fingerprint(load_public_key(public_key))
    if key is None:
        return Check("trusted-key", False, f"cannot compare with {public_key} ({trusted}): "
                     f"{pkg.key_error}")
    if fingerprint(key) != trusted:
        return Check("trusted-key", False, f"signed by another key: the package's key is "
                     f"{fingerprint(key)}, the trusted key {public_key} is {trusted}")
    return Check("trusted-key", True, f"the package's key is the trusted key {public_key} "
                 f"({trusted})")


def _document_checker() -> DocumentChecker | None:
    """The STAC/JSON-schema checker of :mod:`monitor.evidence.schema`, None when absent."""
    try:
        schema = importlib.import_module("monitor.evidence.schema")
    except ModuleNotFoundError as exc:
        if exc.name == "monitor.evidence.schema":
            return None
        raise
    checker = getattr(schema, "check_documents", None)
    if not callable(checker):
        raise EvidenceError("monitor.evidence.schema has no check_documents function")
    return cast(DocumentChecker, checker)


def _check_documents(pkg: _Package) -> Check:
    pkg.require_safe()
    checker = _document_checker()
    if checker is None:
        return Check("documents", True, "not run: monitor.evidence.schema is not available, "
                     "so STAC item checksums and JSON schemas were not checked", "skipped")
    data_dir = pkg.root / "data"
    if not data_dir.is_dir():
        return Check("documents", False, "data/ is missing")
    problems = checker(data_dir)
    if problems:
        return Check("documents", False, "; ".join(_show(p, 200) for p in problems[:10])
                     + (f"; and {len(problems) - 10} more" if len(problems) > 10 else ""))
    return Check("documents", True, "STAC item checksums and JSON schemas hold"
                 + _edition_words(data_dir))


def _edition_words(data_dir: Path) -> str:
    """``; public edition of <id>, 9 items withheld (redaction.json)`` for tier packages."""
    try:
        manifest = json.loads((data_dir / "redaction.json").read_text(encoding="utf-8"))
        return (f"; {manifest['tier']} edition of package {manifest['derived_from']}, "
                f"{len(manifest['withheld'])} item(s) withheld or coarsened (redaction.json)")
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _run(name: str, func: Callable[[], Check]) -> Check:
    """Run one check; any error becomes a failed check (a verifier never raises)."""
    try:
        return func()
    except EvidenceError as exc:  # includes SigningKeyError
        detail = str(exc)
    except Exception as exc:  # garbage input must be reported, not raised
        detail = f"could not be checked ({type(exc).__name__}: {exc})"
    return Check(name, False, _show(detail, 600))


def verify_package(path: Path, public_key: Path | None = None) -> VerifyReport:
    """Verify an evidence package; every check runs and is reported separately.

    Parameters
    ----------
    path
        The package folder.
    public_key
        The publisher's public key (PEM), obtained independently of the package. Without
        it the package's own key is used and reported as self-asserted.

    Returns
    -------
    VerifyReport
        ``ok`` only when no check failed. Never raises for a bad package or key file.
    """
    pkg = _Package(Path(path))
    checks = [
        _run("bagit", lambda: _check_bagit(pkg)),
        _run("inventory", lambda: _check_inventory(pkg)),
        _run("tag-manifest", lambda: _check_tag_manifest(pkg)),
        _run("signature", lambda: _check_signature(pkg)),
        _run("fingerprint", lambda: _check_fingerprint(pkg)),
        _run("trusted-key", lambda: _check_trusted_key(pkg, public_key)),
        _run("documents", lambda: _check_documents(pkg)),
    ]
    key = pkg.key() if pkg.is_dir else None
    return VerifyReport(
        ok=all(c.ok for c in checks),
        checks=checks,
        package=str(path),
        fingerprint=fingerprint(key) if key is not None else None,
    )
