"""The disclosure secret: HMAC commitments to protected values, and sealed lead details.

One secret, given in the environment variable ``MONITOR_DISCLOSURE_KEY`` (never in a
config file: RELIABILITY.md rule 8), as 64 hex digits or unpadded/padded base64 of at least
32 bytes. Make one with ``monitor keys secret``. Two independent sub-keys are derived from
it with HKDF-SHA256, one per purpose:

- **commitments**: ``hmac-sha256:<hex>`` over a label and the value. A plain hash does not
  hide a location (the SHA-256 of a ~1 m position inside a 2 km box is reversed in about a
  second, RELIABILITY.md); an HMAC cannot be checked, or brute-forced, without the secret.
  Whoever holds the secret can show that a commitment in a public package is the value in
  the full one.
- **sealing**: AES-256-GCM with a random 96-bit nonce and the record's identity as
  associated data, for reporter details at rest in the state store: a copied state file
  does not reveal who reported a lead, and a sealed value moved to another record fails to
  open.

The secret's bytes never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
from collections.abc import Mapping
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from monitor.errors import DisclosureKeyError

__all__ = ["COMMITMENT_PREFIX", "SECRET_ENV", "DisclosureSecret", "new_secret_text"]

SECRET_ENV = "MONITOR_DISCLOSURE_KEY"
COMMITMENT_PREFIX = "hmac-sha256:"
MIN_BYTES = 32
_NONCE = 12
_HOW = ("make one with `monitor keys secret` and export it as "
        f"{SECRET_ENV} (keep it out of configs and version control)")


def new_secret_text() -> str:
    """A fresh random secret, as 64 hex digits."""
    return secrets.token_hex(MIN_BYTES)


def _decode(text: str) -> bytes:
    text = text.strip()
    if len(text) >= 2 * MIN_BYTES and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text if len(text) % 2 == 0 else text[:-1])
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_"
                                if ("-" in text or "_" in text) else None, validate=True)
    except (binascii.Error, ValueError):
        raise DisclosureKeyError(f"{SECRET_ENV} is neither hex nor base64; {_HOW}") from None


class DisclosureSecret:
    """The disclosure secret and its two derived keys.

    Parameters
    ----------
    raw
        At least 32 bytes of secret.

    Raises
    ------
    DisclosureKeyError
        If ``raw`` is shorter than 32 bytes.
    """

    __slots__ = ("_commit_key", "_seal_key", "key_id")

    def __init__(self, raw: bytes) -> None:
        if len(raw) < MIN_BYTES:
            raise DisclosureKeyError(f"the disclosure secret has {len(raw)} bytes, at least "
                                     f"{MIN_BYTES} are needed; {_HOW}")
        self._commit_key = self._derive(raw, b"concession-monitor/commitments/1")
        self._seal_key = self._derive(raw, b"concession-monitor/sealing/1")
        #: Public id of the secret (not reversible): which secret made a commitment.
        self.key_id = self._derive(raw, b"concession-monitor/key-id/1").hex()[:16]

    @staticmethod
    def _derive(raw: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(raw)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DisclosureSecret:
        """The secret in ``MONITOR_DISCLOSURE_KEY``.

        Raises
        ------
        DisclosureKeyError
            If the variable is unset, empty, undecodable or too short.
        """
        env = os.environ if environ is None else environ
        text = env.get(SECRET_ENV, "")
        if not text.strip():
            raise DisclosureKeyError(f"{SECRET_ENV} is not set: protected values (community "
                                     f"leads, withheld package content) need it; {_HOW}")
        return cls(_decode(text))

    def __repr__(self) -> str:
        return f"DisclosureSecret(key_id={self.key_id!r})"

    def commit(self, label: str, value: str) -> str:
        """HMAC-SHA256 commitment to ``value`` under ``label`` (``hmac-sha256:<hex>``).

        The label (e.g. ``lead/1a2b/reporter_name``) binds the commitment to what it stands
        for, so one value committed under two labels gives two unrelated commitments.
        """
        mac = hmac.new(self._commit_key, label.encode("utf-8") + b"\x00"
                       + value.encode("utf-8"), sha256)
        return COMMITMENT_PREFIX + mac.hexdigest()

    def commit_bytes(self, label: str, data: bytes) -> str:
        """HMAC-SHA256 commitment to a file's bytes (withheld files of a package)."""
        mac = hmac.new(self._commit_key, label.encode("utf-8") + b"\x00" + data, sha256)
        return COMMITMENT_PREFIX + mac.hexdigest()

    def opens(self, commitment: str, label: str, value: str) -> bool:
        """Whether ``commitment`` is the commitment to ``value`` under ``label``."""
        return hmac.compare_digest(commitment, self.commit(label, value))

    def seal(self, plaintext: str, context: str) -> bytes:
        """Encrypt ``plaintext`` (AES-256-GCM) bound to ``context`` (e.g. the lead id)."""
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(self._seal_key).encrypt(nonce, plaintext.encode("utf-8"),
                                                      context.encode("utf-8"))

    def unseal(self, sealed: bytes, context: str) -> str:
        """Decrypt what :meth:`seal` made for ``context``.

        Raises
        ------
        DisclosureKeyError
            If the secret is not the one that sealed it, or the data or context changed.
        """
        try:
            plain = AESGCM(self._seal_key).decrypt(sealed[:_NONCE], sealed[_NONCE:],
                                                   context.encode("utf-8"))
        except (InvalidTag, ValueError):
            raise DisclosureKeyError(
                f"sealed details of {context} do not open with this {SECRET_ENV} (a different "
                "secret, or the stored record was altered)") from None
        return plain.decode("utf-8")
