"""A checksummed, atomic, content-addressed cache of downloaded bytes.

Downloads (Sentinel Hub Process responses, for instance) are stored under a key that is the
SHA-256 of a canonical JSON of everything that decides the content (service URL, request
payload, scene ids...). Each entry is one file::

    <root>/<key[:2]>/<key>.bin  =  "CMCACHE1 <sha256 hex> <size>" + newline + payload

written to a temporary file beside it, fsynced and renamed over the target
(:func:`monitor.fsio.write_atomic`), so a reader sees either nothing or a complete entry.
On read the size and the checksum are verified: a truncated or corrupted entry is a miss,
and it is deleted so that the caller downloads it again (RELIABILITY.md: hash every
download on arrival and check it before use). Nothing else is trusted; in particular not
sentinelhub-py's own ``data_folder`` cache, which stores files in place without checks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from monitor.fsio import write_atomic

log = logging.getLogger(__name__)

MAGIC = b"CMCACHE1"
_HEADER_MAX = 128


def cache_key(*parts: object) -> str:
    """SHA-256 (hex) of the canonical JSON of ``parts`` (sorted keys, no spaces).

    Parameters
    ----------
    parts
        JSON-serialisable values that together decide the cached content.
    """
    text = json.dumps(list(parts), sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class CacheStats:
    """What a cache did since it was opened."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    writes: int = 0
    write_errors: int = 0


class ByteCache:
    """Content-addressed byte cache with verified reads and atomic writes.

    Parameters
    ----------
    root
        Folder of the cache (created on first write, mode 0700); None disables the cache.
    enabled
        When False every read is a miss and nothing is written.
    """

    def __init__(self, root: Path | None, *, enabled: bool = True) -> None:
        self.root = Path(root).expanduser() if root is not None else Path("(disabled)")
        self.enabled = enabled and root is not None
        self.stats = CacheStats()

    def __repr__(self) -> str:
        return f"ByteCache({str(self.root)!r}, enabled={self.enabled})"

    def path(self, key: str) -> Path:
        """File of the entry ``key``."""
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"cache key {key!r} is not a sha256 hex digest")
        return self.root / key[:2] / f"{key}.bin"

    def get(self, key: str) -> bytes | None:
        """The payload stored under ``key``, or None (missing, truncated or corrupted).

        A damaged entry is deleted, so the next :meth:`put` replaces it.
        """
        if not self.enabled:
            self.stats.misses += 1
            return None
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            self.stats.misses += 1
            return None
        except OSError as exc:
            log.warning("cache entry %s unreadable (%s); downloading again", path, exc)
            self.stats.misses += 1
            return None
        payload = _verified_payload(blob)
        if payload is None:
            log.warning("cache entry %s is truncated or corrupted (checksum or size mismatch); "
                        "deleting it and downloading again", path)
            self.stats.corrupt += 1
            self.stats.misses += 1
            path.unlink(missing_ok=True)
            return None
        self.stats.hits += 1
        return payload

    def put(self, key: str, payload: bytes) -> None:
        """Store ``payload`` under ``key`` atomically, with its checksum and size.

        A write that fails (full disk, read-only folder) is logged and ignored: the cache
        only saves downloads, it never decides results.
        """
        if not self.enabled:
            return
        path = self.path(key)
        digest = hashlib.sha256(payload).hexdigest()
        header = MAGIC + f" {digest} {len(payload)}\n".encode("ascii")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(path, header + payload, mode=0o600)
        except OSError as exc:
            self.stats.write_errors += 1
            log.warning("could not write cache entry %s (%s); the download is used all the "
                        "same but will be repeated next time", path, exc)
            return
        self.stats.writes += 1

    def delete(self, key: str) -> None:
        """Forget the entry ``key`` (e.g. it decoded to something invalid)."""
        if self.enabled:
            self.path(key).unlink(missing_ok=True)


def _verified_payload(blob: bytes) -> bytes | None:
    newline = blob.find(b"\n", 0, _HEADER_MAX)
    if newline < 0:
        return None
    fields = blob[:newline].split(b" ")
    if len(fields) != 3 or fields[0] != MAGIC:
        return None
    try:
        digest, size = fields[1].decode("ascii"), int(fields[2])
    except (UnicodeDecodeError, ValueError):
        return None
    payload = blob[newline + 1:]
    if len(payload) != size or hashlib.sha256(payload).hexdigest() != digest:
        return None
    return payload


def default_cache_dir(environ: Mapping[str, str] | None = None,
                      subdir: str = "sentinelhub") -> Path:
    """``$MONITOR_CACHE_DIR/<subdir>``, else ``~/.cache/concession-monitor/<subdir>``."""
    env = os.environ if environ is None else environ
    base = env.get("MONITOR_CACHE_DIR", "").strip()
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "concession-monitor"
    return root / subdir
