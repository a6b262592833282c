"""Ed25519 keys and signatures for evidence packages.

A package is signed over its *canonical tag manifest*: the lines of
``tagmanifest-sha256.txt`` with LF line endings, sorted, with a trailing newline. The tag
manifest lists the SHA-256 of ``bagit.txt``, ``bag-info.txt`` and every payload manifest,
and the payload manifests list the SHA-256 of every payload file, so one signature covers
every byte of the bag. The signature and the signer's public key live in ``signature/``,
outside the BagIt manifests by design::

    signature/tagmanifest-sha256.txt.sig   base64 of the 64-byte Ed25519 signature + LF
    signature/public-key.pem               the public key (PEM SubjectPublicKeyInfo)
    signature/fingerprint.txt              the key's fingerprint + LF

The package builder writes ``Signing-Key-Fingerprint: <fingerprint>`` into
``bag-info.txt`` (take it from :func:`fingerprint_of_private_key`) *before* the tag
manifest is computed, so that the fingerprint is itself covered by the signature, and then
calls :func:`sign_bag`. ``sign_bag`` rewrites every ``tagmanifest-*.txt`` in its canonical
form (same entries, so BagIt is unaffected), so the bytes on disk are exactly the bytes
signed and the verifier can insist on it.

Secrets never leave this module: no message, log line or repr contains key material, and
private key files are created with mode 0600 and refused when group or others can read them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from monitor.errors import EvidenceError, SigningKeyError
from monitor.fsio import write_atomic

__all__ = [
    "FINGERPRINT_FILE",
    "FINGERPRINT_TAG",
    "PUBLIC_KEY_FILE",
    "SIGNATURE_DIR",
    "SIGNATURE_FILE",
    "SIGNED_TAG_MANIFEST",
    "KeyPair",
    "canonical_manifest_bytes",
    "canonical_tag_manifest",
    "fingerprint",
    "fingerprint_of_private_key",
    "generate_keypair",
    "load_private_key",
    "load_public_key",
    "public_key_pem",
    "sign_bag",
]

logger = logging.getLogger(__name__)

#: bag-info.txt label carrying the signing key's fingerprint (covered by the signature).
FINGERPRINT_TAG = "Signing-Key-Fingerprint"
#: The tag manifest whose canonical form is signed.
SIGNED_TAG_MANIFEST = "tagmanifest-sha256.txt"
#: Folder of the signature files, outside the BagIt manifests.
SIGNATURE_DIR = "signature"
#: File names inside :data:`SIGNATURE_DIR`.
SIGNATURE_FILE = "tagmanifest-sha256.txt.sig"
PUBLIC_KEY_FILE = "public-key.pem"
FINGERPRINT_FILE = "fingerprint.txt"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class KeyPair:
    """Where a freshly generated key pair was written (paths and fingerprint only).

    Attributes
    ----------
    private_path
        The private key, PKCS8 PEM, mode 0600. Keep it secret.
    public_path
        The public key, PEM SubjectPublicKeyInfo. Publish it.
    fingerprint
        ``SHA256:<hex>`` of the raw public key.
    """

    private_path: Path
    public_path: Path
    fingerprint: str


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """Fingerprint of an Ed25519 public key.

    Parameters
    ----------
    public_key
        The key.

    Returns
    -------
    str
        ``"SHA256:"`` followed by the hex SHA-256 of the raw 32-byte public key.
    """
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    """The canonical PEM (SubjectPublicKeyInfo) encoding of a public key."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _write_private(path: Path, data: bytes, *, force: bool) -> None:
    """Write a private key file that is mode 0600 from its first byte.

    Without ``force`` the file is created with ``O_CREAT | O_EXCL`` (never overwritten);
    with it, a 0600 temporary file is written in the same folder and renamed over.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    target = path
    if force:
        target = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        target.unlink(missing_ok=True)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise SigningKeyError(
            f"signing key {path} already exists; pass --force to replace it "
            "(packages signed with the old key then need the old public key to verify)"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), 0o600)  # umask can only remove bits; be explicit
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(target, path)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and ``os.replace``."""
    write_atomic(path, data, mode=mode)


def generate_keypair(directory: Path, name: str = "monitor", *, force: bool = False) -> KeyPair:
    """Create an Ed25519 key pair: ``<name>.key`` (mode 0600) and ``<name>.pub``.

    Parameters
    ----------
    directory
        Folder of the keys; created (mode 0700) when missing.
    name
        Base name of the two files: letters, digits, ``.``, ``_`` and ``-``.
    force
        Replace existing files of that name. Without it an existing key is never touched.

    Returns
    -------
    KeyPair
        The two paths and the fingerprint (never the key).

    Raises
    ------
    SigningKeyError
        Bad name, existing files without ``force``, or a folder that cannot be written.
    """
    if not _NAME.match(name):
        raise SigningKeyError(
            f"key name {name!r} is not allowed; use letters, digits, '.', '_' and '-' only"
        )
    private_path = directory / f"{name}.key"
    public_path = directory / f"{name}.pub"
    if not force:
        for existing in (private_path, public_path):
            if existing.exists() or existing.is_symlink():
                raise SigningKeyError(
                    f"{existing} already exists; pass --force to replace the key pair "
                    f"{name!r} (packages signed with it then need the old public key)"
                )
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(private_path, private_pem, force=force)
        try:
            _write_atomic(public_path, public_key_pem(public))
        except BaseException:
            private_path.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise SigningKeyError(
            f"cannot write the key pair {name!r} into {directory}: {exc.strerror or exc}"
        ) from None
    fp = fingerprint(public)
    logger.info("created signing key pair %s (%s)", private_path, fp)
    return KeyPair(private_path=private_path, public_path=public_path, fingerprint=fp)


def _read_key_file(path: Path, what: str) -> tuple[bytearray, os.stat_result]:
    """Read a key file without following a final symlink race; return bytes and its stat."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        hint = " (create one with `monitor keys init`)" if what == "signing key" else ""
        raise SigningKeyError(f"{what} {path} does not exist{hint}") from None
    except OSError as exc:
        raise SigningKeyError(f"cannot open {what} {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SigningKeyError(f"{what} {path} is not a regular file")
        if info.st_size > 64 * 1024:
            raise SigningKeyError(f"{what} {path} is too large to be an Ed25519 PEM key")
        data = bytearray()
        while chunk := os.read(fd, 65536):
            data += chunk
        return data, info
    except OSError as exc:
        raise SigningKeyError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Load an unencrypted Ed25519 private key (PKCS8 PEM) that only its owner can read.

    Parameters
    ----------
    path
        The ``.key`` file written by :func:`generate_keypair`.

    Returns
    -------
    Ed25519PrivateKey
        The key (its repr shows no key material).

    Raises
    ------
    SigningKeyError
        Missing file, group- or world-readable file (the message says ``chmod 600 FILE``),
        or not an unencrypted Ed25519 PEM private key. Messages never quote the file.
    """
    data, info = _read_key_file(path, "signing key")
    try:
        if os.name == "posix" and info.st_mode & 0o077:
            raise SigningKeyError(
                f"signing key {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}` "
                "and consider the key compromised if others could read it"
            )
        try:
            key = serialization.load_pem_private_key(bytes(data), password=None)
        except TypeError:
            raise SigningKeyError(
                f"signing key {path} is encrypted with a passphrase, which is not supported; "
                "create an unencrypted key with `monitor keys init` and protect the file"
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            raise SigningKeyError(
                f"signing key {path} is not a PEM private key (expected the .key file "
                "written by `monitor keys init`)"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(
                f"signing key {path} is a {type(key).__name__.removeprefix('_')} key; "
                "evidence packages are signed with Ed25519 keys (`monitor keys init`)"
            )
        return key
    finally:
        data[:] = bytes(len(data))  # best effort: do not leave the PEM in our buffer


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load an Ed25519 public key (PEM SubjectPublicKeyInfo).

    Parameters
    ----------
    path
        A ``.pub`` file, or ``signature/public-key.pem`` of a package.

    Returns
    -------
    Ed25519PublicKey
        The key.

    Raises
    ------
    SigningKeyError
        Missing, unreadable, or not an Ed25519 PEM public key.
    """
    data, _ = _read_key_file(path, "public key")
    try:
        key = serialization.load_pem_public_key(bytes(data))
    except (ValueError, UnsupportedAlgorithm):
        raise SigningKeyError(
            f"public key {path} is not a PEM public key (expected a .pub file written by "
            "`monitor keys init`, or a package's signature/public-key.pem)"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(
            f"public key {path} is a {type(key).__name__.removeprefix('_')} key; "
            "evidence packages are signed with Ed25519 keys"
        )
    return key


def fingerprint_of_private_key(path: Path) -> str:
    """Fingerprint of the public half of a private key file (for ``bag-info.txt``).

    Parameters
    ----------
    path
        The ``.key`` file.

    Returns
    -------
    str
        ``SHA256:<hex>``.
    """
    return fingerprint(load_private_key(path).public_key())


def canonical_manifest_bytes(data: bytes, name: str = SIGNED_TAG_MANIFEST) -> bytes:
    """Canonical form of manifest bytes: UTF-8, LF line ends, blank lines dropped, sorted.

    Parameters
    ----------
    data
        The raw bytes of a manifest.
    name
        File name, for the error message.

    Returns
    -------
    bytes
        The lines sorted by code point, each ending in a single LF.

    Raises
    ------
    EvidenceError
        The bytes are not UTF-8 or contain no entry.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise EvidenceError(f"{name} is not UTF-8 text") from None
    lines = sorted(line for line in _LINE_BREAK.split(text) if line.strip())
    if not lines:
        raise EvidenceError(f"{name} lists no file")
    return ("\n".join(lines) + "\n").encode("utf-8")


def canonical_tag_manifest(bag_dir: Path) -> bytes:
    """The bytes that are signed: ``tagmanifest-sha256.txt`` in canonical form.

    Parameters
    ----------
    bag_dir
        The bag folder.

    Returns
    -------
    bytes
        LF line ends, lines sorted, trailing newline.

    Raises
    ------
    EvidenceError
        The tag manifest is missing, unreadable, not UTF-8 or empty.
    """
    path = bag_dir / SIGNED_TAG_MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EvidenceError(
            f"{path} does not exist; is {bag_dir} a BagIt bag with SHA-256 manifests?"
        ) from None
    except OSError as exc:
        raise EvidenceError(f"cannot read {path}: {exc.strerror or exc}") from None
    return canonical_manifest_bytes(data)


def _check_tag_manifest_current(bag_dir: Path, canonical: bytes) -> None:
    """Refuse to sign a tag manifest that is stale or leaves bag-info.txt out."""
    listed: dict[str, str] = {}
    for line in canonical.decode("utf-8").splitlines():
        digest, _, name = line.partition(" ")
        listed[name.strip().lstrip("*")] = digest.lower()
    inside = sorted(n for n in listed if n.split("/")[0] == SIGNATURE_DIR)
    if inside:
        raise EvidenceError(
            f"{SIGNED_TAG_MANIFEST} of {bag_dir} lists {', '.join(inside)}: the signature "
            f"files must stay outside the manifests; remove {SIGNATURE_DIR}/ before the "
            "manifests are computed"
        )
    for required in ("bagit.txt", "bag-info.txt"):
        if required not in listed:
            raise EvidenceError(f"{SIGNED_TAG_MANIFEST} of {bag_dir} does not list {required}")
    for name, digest in sorted(listed.items()):
        try:
            actual = hashlib.sha256((bag_dir / name).read_bytes()).hexdigest()
        except OSError:
            raise EvidenceError(
                f"{SIGNED_TAG_MANIFEST} of {bag_dir} lists {name}, which cannot be read"
            ) from None
        if actual != digest:
            raise EvidenceError(
                f"{SIGNED_TAG_MANIFEST} of {bag_dir} is stale: {name} changed after it was "
                "written; regenerate the manifests (bagit Bag.save(manifests=True)) and sign again"
            )


def _bag_info_fingerprints(bag_dir: Path) -> list[str]:
    """Every ``Signing-Key-Fingerprint`` value in bag-info.txt."""
    try:
        text = (bag_dir / "bag-info.txt").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    values = []
    for line in _LINE_BREAK.split(text):
        label, sep, value = line.partition(":")
        if sep and label.strip().lower() == FINGERPRINT_TAG.lower():
            values.append(value.strip())
    return values


def sign_bag(bag_dir: Path, private_key_path: Path) -> str:
    """Sign a finished bag: signature, public key and fingerprint into ``signature/``.

    Call it last, after ``bag-info.txt`` carries ``Signing-Key-Fingerprint`` and the
    manifests are final. Every ``tagmanifest-*.txt`` is rewritten in canonical form (same
    entries); the canonical SHA-256 tag manifest is what is signed.

    Parameters
    ----------
    bag_dir
        The bag folder (still in its staging place).
    private_key_path
        The Ed25519 ``.key`` file.

    Returns
    -------
    str
        The fingerprint of the signing key.

    Raises
    ------
    SigningKeyError
        The key cannot be used (see :func:`load_private_key`).
    EvidenceError
        No tag manifest, a stale one, or a bag-info.txt without the key's fingerprint.
    """
    key = load_private_key(private_key_path)
    public = key.public_key()
    fp = fingerprint(public)
    canonical = canonical_tag_manifest(bag_dir)
    _check_tag_manifest_current(bag_dir, canonical)
    if _bag_info_fingerprints(bag_dir) != [fp]:
        raise EvidenceError(
            f"bag-info.txt of {bag_dir} must carry exactly one '{FINGERPRINT_TAG}: {fp}' "
            "line, written before the tag manifest is computed (so the signature covers it)"
        )
    try:
        for manifest in sorted(bag_dir.glob("tagmanifest-*.txt")):
            raw = manifest.read_bytes()
            normal = canonical_manifest_bytes(raw, manifest.name)
            if raw != normal:
                _write_atomic(manifest, normal)
        signature = key.sign(canonical)
        folder = bag_dir / SIGNATURE_DIR
        folder.mkdir(exist_ok=True)
        _write_atomic(folder / SIGNATURE_FILE, base64.b64encode(signature) + b"\n")
        _write_atomic(folder / PUBLIC_KEY_FILE, public_key_pem(public))
        _write_atomic(folder / FINGERPRINT_FILE, (fp + "\n").encode("ascii"))
    except OSError as exc:
        raise EvidenceError(f"cannot write the signature of {bag_dir}: {exc}") from None
    logger.info("signed %s with %s", bag_dir, fp)
    return fp
