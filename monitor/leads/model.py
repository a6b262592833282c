"""Community grievance leads: the records, and how their protected fields are committed to.

A lead is a community member's report that something happened at a place on a date in a
concession. Its location, its claim and who reported it are *protected* (RELIABILITY.md
rule 9): they never appear in a repr, a log line, an error message or a public output.
What may be shown is :meth:`Lead.public_dict`: the lead id, the concession, the dates, the
status and an HMAC commitment per protected field (``hmac-sha256:...``), which only the
holder of the disclosure secret can open.

The lead id is deterministic (the same lead imported twice is one lead) but keyed: it is
the tail of an HMAC over the lead's identity, so it reveals nothing about the location or
the claim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from monitor.secret import DisclosureSecret

__all__ = [
    "LEAD_ID_PATTERN",
    "LEAD_ORIGINS",
    "LEAD_STATUSES",
    "PROTECTED_FIELDS",
    "Lead",
    "LeadInput",
    "LeadSummary",
    "canonical_text",
    "commitment_label",
    "commitments_for",
    "lead_id_for",
    "protected_values",
]

#: Fields of a lead that are protected: sealed at rest, committed to in public.
PROTECTED_FIELDS = ("lon", "lat", "claim", "reporter_name", "reporter_contact", "reporter_org")
#: Lifecycle of a lead: open until a targeted check cites it, closed by hand.
LEAD_STATUSES = ("open", "checked", "closed")
#: How a lead arrived (never a file path: a path can name a person or a place).
LEAD_ORIGINS = ("cli", "import")
#: What a lead id looks like: ``lead-`` and 12 lowercase hex digits.
LEAD_ID_PATTERN = r"^lead-[0-9a-f]{12}$"
#: Coordinates are rounded to 1e-7 degrees (about 1 cm) for ids and commitments.
COORD_DIGITS = 7


def _coord(value: float) -> float:
    return round(float(value), COORD_DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0


def canonical_text(name: str, value: Any) -> str:
    """The text a protected field is committed as.

    Coordinates are the ``repr`` of the value rounded to 1e-7 degrees; strings are
    themselves; a missing optional value is the empty string.
    """
    if name in ("lon", "lat"):
        return repr(_coord(value))
    return "" if value is None else str(value)


def commitment_label(lead_id: str, name: str) -> str:
    """The HMAC label of one protected field of one lead (``lead/<id>/<field>``)."""
    return f"lead/{lead_id}/{name}"


def lead_id_for(concession_id: str, lon: float, lat: float, seen_on: date, claim: str,
                secret: DisclosureSecret) -> str:
    """The keyed, deterministic id of a lead: ``lead-`` and 12 hex digits.

    The identity is the concession, the position (rounded to 1e-7 degrees), the date seen
    and the claim; the reporter is not part of it, so the same report sent by two people
    is one lead.
    """
    identity = json.dumps({"concession_id": concession_id, "lon": _coord(lon),
                           "lat": _coord(lat), "seen_on": seen_on.isoformat(),
                           "claim": claim}, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
    return "lead-" + secret.commit("lead-id", identity)[-12:]


@dataclass(frozen=True)
class LeadInput:
    """A lead as reported, before it is stored. Protected fields are kept out of the repr.

    Parameters
    ----------
    concession_id
        The concession the lead is about (a registry id).
    lon, lat
        Where, in degrees (EPSG:4326). Protected.
    seen_on
        When the reported event was seen.
    claim
        What was seen (1 to 2000 characters). Protected.
    reporter_name, reporter_contact, reporter_org
        Who reported it (optional). Protected.
    """

    concession_id: str
    lon: float = field(repr=False)
    lat: float = field(repr=False)
    seen_on: date
    claim: str = field(repr=False)
    reporter_name: str | None = field(default=None, repr=False)
    reporter_contact: str | None = field(default=None, repr=False)
    reporter_org: str | None = field(default=None, repr=False)

    def lead_id(self, secret: DisclosureSecret) -> str:
        """The id of this lead under ``secret`` (see :func:`lead_id_for`)."""
        return lead_id_for(self.concession_id, self.lon, self.lat, self.seen_on, self.claim,
                           secret)


def protected_values(source: LeadInput | Lead) -> dict[str, Any]:
    """The protected fields of a lead as a dict (what is sealed). Handle with care."""
    return {name: getattr(source, name) for name in PROTECTED_FIELDS}


def commitments_for(lead_id: str, values: Mapping[str, Any],
                    secret: DisclosureSecret) -> dict[str, str]:
    """One HMAC commitment per protected field, bound to the lead id and the field."""
    return {name: secret.commit(commitment_label(lead_id, name),
                                canonical_text(name, values.get(name)))
            for name in PROTECTED_FIELDS}


@dataclass(frozen=True)
class LeadSummary:
    """What may be shown of a lead without the secret: no protected value.

    Parameters
    ----------
    lead_id
        ``lead-`` and 12 hex digits.
    concession_id
        The concession concerned.
    seen_on
        When the event was seen.
    received_at
        The UTC date the lead was stored (a date, not a time: the minute a lead arrived
        can help to identify who sent it).
    origin
        ``cli`` or ``import``.
    status
        ``open``, ``checked`` or ``closed``.
    checked_package
        Id of the evidence package of the targeted check that cited it, if any.
    commitments
        Protected field -> ``hmac-sha256:<hex>``.
    key_id
        Public id of the disclosure secret that sealed and committed it.
    """

    lead_id: str
    concession_id: str
    seen_on: date
    received_at: date
    origin: str
    status: str
    checked_package: str | None
    commitments: Mapping[str, str] = field(hash=False)
    key_id: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the public fields and the commitments."""
        return {"lead_id": self.lead_id, "concession_id": self.concession_id,
                "seen_on": self.seen_on.isoformat(),
                "received_at": self.received_at.isoformat(), "origin": self.origin,
                "status": self.status, "checked_package": self.checked_package,
                "commitments": dict(self.commitments), "key_id": self.key_id}


@dataclass(frozen=True)
class Lead(LeadSummary):
    """A stored lead with its protected details unsealed (:meth:`LeadStore.get`).

    The public fields are those of :class:`LeadSummary`; the protected ones (``lon``,
    ``lat``, ``claim``, ``reporter_*``) are kept out of the repr. Public outputs use
    :meth:`public_dict` only.
    """

    lon: float = field(repr=False)
    lat: float = field(repr=False)
    claim: str = field(repr=False)
    reporter_name: str | None = field(default=None, repr=False)
    reporter_contact: str | None = field(default=None, repr=False)
    reporter_org: str | None = field(default=None, repr=False)

    def summary(self) -> LeadSummary:
        """The public part of this lead (a plain :class:`LeadSummary`)."""
        return LeadSummary(**{f.name: getattr(self, f.name) for f in fields(LeadSummary)})

    def public_dict(self) -> dict[str, Any]:
        """The non-protected fields and the commitments: all a public output may use."""
        return LeadSummary.to_dict(self)

    def to_dict(self, reveal: bool = False) -> dict[str, Any]:
        """JSON-ready dict; the protected values are included only with ``reveal=True``.

        Parameters
        ----------
        reveal
            Add the protected fields (``lon``, ``lat``, ``claim``, ``reporter_*``). Only for
            the regulator's or analyst's explicit request, never for a public output.
        """
        out = self.public_dict()
        if reveal:
            out["protected"] = protected_values(self)
        return out
