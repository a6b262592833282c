"""Disclosure tiers: what each audience's evidence package may contain.

A policy file (default ``configs/disclosure.yaml``) names the tiers and, for each, the
rules below. Packages of a tier are made from the full package's content by redaction
(:mod:`monitor.evidence.redaction`); what a rule withholds is listed in the package's
``data/redaction.json`` with an HMAC commitment (:mod:`monitor.secret`), never a plain hash.

Rules of a tier
---------------
``geometry``
    ``exact``, or ``coarsened``: the outlines of sensitive zones (``sensitive_zones``,
    default exclusion zones) are replaced by the ``coarsen_m`` grid cells they touch, in
    vectors and figures.
``rasters``
    Whether the raw rasters (``data/rasters/*.tif``) are included.
``leads``
    How a community lead the check cites appears: ``full`` (location, claim, dates),
    ``details`` (the same, location rounded to ``coarsen_m``), or ``reference`` (lead id,
    dates and whether the check corroborated it; location and claim as commitments).
``names``
    Whether personal names and contacts (lead reporters) appear; otherwise commitments.
``paths``
    Whether local file paths of the request appear; otherwise their file names only.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.errors import ConfigError
from monitor.yamlstrict import path_text, problem_report, read_yaml

__all__ = ["DisclosurePolicy", "TierRules", "default_disclosure_path", "load_disclosure"]

FORMAT = "concession-monitor/disclosure/1"
TIER_ORDER = ("public", "coalition", "regulator")


class TierRules(BaseModel):
    """What one tier's packages may contain (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    geometry: Literal["exact", "coarsened"] = "coarsened"
    coarsen_m: float = Field(default=1000.0, gt=0, le=50_000)
    sensitive_zones: tuple[Literal["exclusion_zone", "tailings_facility", "water_reach",
                                   "permitted_footprint"], ...] = ("exclusion_zone",)
    rasters: bool = False
    leads: Literal["full", "details", "reference"] = "reference"
    names: bool = False
    paths: bool = False

    def withholds_anything(self) -> bool:
        """Whether any rule of the tier withholds or coarsens something."""
        return (self.geometry != "exact" or not self.rasters or self.leads != "full"
                or not self.names or not self.paths)

    def digest(self) -> str:
        """sha256 of the rules (part of a tier package's id)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class DisclosurePolicy(BaseModel):
    """The tiers of a disclosure policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["concession-monitor/disclosure/1"]
    tiers: dict[str, TierRules]
    source: str = ""

    def tier(self, name: str) -> TierRules:
        """The rules of tier ``name``.

        Raises
        ------
        ConfigError
            If the policy has no such tier.
        """
        if name not in self.tiers:
            raise ConfigError(f"{self.source or 'the disclosure policy'} defines no tier "
                              f"{name!r}; its tiers are {sorted(self.tiers)}")
        return self.tiers[name]


def default_disclosure_path() -> Path:
    """``configs/disclosure.yaml`` of the source tree (beside the ``monitor`` package)."""
    return Path(__file__).resolve().parents[1] / "configs" / "disclosure.yaml"


def load_disclosure(path: str | Path | None = None) -> DisclosurePolicy:
    """Read and validate a disclosure policy file (strict YAML).

    Raises
    ------
    ConfigError
        If the file is missing or unreadable, or breaks the schema; the message lists
        every problem with its field path and line.
    """
    file = Path(path) if path is not None else default_disclosure_path()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the disclosure policy {file}: {exc.strerror or exc}; "
                          "give one with --disclosure FILE (see configs/disclosure.yaml)"
                          ) from exc
    data, lines = read_yaml(text, str(file))
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: a disclosure policy is a mapping with 'format' and "
                          "'tiers' (see configs/disclosure.yaml)")
    try:
        policy = DisclosurePolicy.model_validate({**data, "source": str(file)})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = lines.get(loc) or lines.get(loc[:-1]) or 1
            problems.append(f"{path_text(loc)} (line {line}): {err['msg']}")
        raise ConfigError(problem_report(str(file), problems)) from None
    bad = [name for name in policy.tiers if not name.replace("-", "").isalnum()
           or name != name.lower()]
    if bad:
        raise ConfigError(f"{file}: tier names are lower-case slugs (they name folders): "
                          f"{bad}")
    return policy
