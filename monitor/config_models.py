"""The schema of a standard: frozen, strict pydantic models, one per section.

A standard file (format in ``configs/README.md``) validates into :class:`Standard`: its
``id``, ``version`` and ``effective_date``, the parameters and limits of each indicator
(:class:`VegetationSection`, :class:`TurbiditySection`, :class:`TailingsSection`) and the
:class:`SeverityLadder`. Every section forbids unknown fields and reads numbers, booleans
and texts strictly; parameter defaults are the indicators' own (SCIENCE.md), so a standard
that omits ``parameters`` runs the indicators exactly as documented.

Reading files and turning validation errors into messages is :mod:`monitor.config`'s job;
comparing versions of one standard is :mod:`monitor.config_versions`'. This module only
declares the models, the version syntax (:data:`VERSION_PATTERN`, :func:`version_key`) and
the conversion to the indicators' frozen parameter dataclasses.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from monitor import indices
from monitor.geometry import SLUG_PATTERN, slugify
from monitor.indicators.base import TailingsParams, VegetationParams, WaterParams

__all__ = [
    "VEGETATION_ZONES",
    "VERSION_PATTERN",
    "SeverityLadder",
    "Standard",
    "TailingsLimits",
    "TailingsParameters",
    "TailingsSection",
    "TurbidityLimits",
    "TurbiditySection",
    "VegetationLimits",
    "VegetationParameters",
    "VegetationSection",
    "WaterParameters",
    "version_key",
]

#: A version: one to four dot-separated numbers (``"1.0"``, ``"2.1.3"``).
VERSION_PATTERN = re.compile(r"^\d+(\.\d+){0,3}$")
#: Zone kinds a vegetation-loss limit is set for.
VEGETATION_ZONES = ("permitted_footprint", "licence_outside_footprint", "buffer_ring",
                    "exclusion_zone")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


_VEG = VegetationParams()
_WAT = WaterParams()
_TAI = TailingsParams()
Unit = Annotated[float, Field(ge=-1.0, le=1.0)]
Limit = Annotated[float, Field(ge=0.0)]


class VegetationParameters(_Section):
    """Vegetation-loss method (SCIENCE.md section 5); exactly the VegetationParams fields."""

    baseline_days: int = Field(default=_VEG.baseline_days, gt=0, le=3660)
    doy_window_days: int = Field(default=_VEG.doy_window_days, ge=0, le=183)
    min_baseline_obs: int = Field(default=_VEG.min_baseline_obs, ge=1)
    spread_floor: float = Field(default=_VEG.spread_floor, gt=0.0, le=1.0)
    z_threshold: float = Field(default=_VEG.z_threshold, lt=0.0)
    min_drop: float = Field(default=_VEG.min_drop, gt=0.0, le=2.0)
    vegetated_centre: Unit = _VEG.vegetated_centre
    confirm_k: int = Field(default=_VEG.confirm_k, ge=1)
    confirm_window_days: int = Field(default=_VEG.confirm_window_days, gt=0)
    two_date_dndvi: float = Field(default=_VEG.two_date_dndvi, ge=-2.0, lt=0.0)
    mmu_ha: float = Field(default=_VEG.mmu_ha, ge=0.0)
    burn_dnbr: float = Field(default=_VEG.burn_dnbr, gt=0.0, le=2.0)


class VegetationLimits(_Section):
    """Largest loss area allowed per zone in a period, ha (null: no limit)."""

    permitted_footprint: Limit | None
    licence_outside_footprint: Limit | None
    buffer_ring: Limit | None
    exclusion_zone: Limit | None

    def for_zone(self, zone: str) -> float | None:
        """The limit of one zone kind (one of :data:`VEGETATION_ZONES`)."""
        if zone not in VEGETATION_ZONES:
            raise KeyError(zone)
        value: float | None = getattr(self, zone)
        return value


class VegetationSection(_Section):
    """``vegetation_loss``: parameters and limits."""

    parameters: VegetationParameters = VegetationParameters()
    limits: VegetationLimits


class WaterParameters(_Section):
    """Turbidity method (SCIENCE.md sections 4, 6); WaterParams minus ``baseline_factor``."""

    turbidity_index: str = _WAT.turbidity_index
    persistent_fraction: float = Field(default=_WAT.persistent_fraction, gt=0.0, le=1.0)
    min_water_px: int = Field(default=_WAT.min_water_px, ge=1)
    baseline_quantile: float = Field(default=_WAT.baseline_quantile, gt=0.0, lt=1.0)
    confirm_k: int = Field(default=_WAT.confirm_k, ge=1)

    @field_validator("turbidity_index")
    @classmethod
    def _known_turbidity(cls, value: str) -> str:
        known = [i for i in indices.available() if indices.get(i).unit == "FNU"]
        if value not in known:
            raise ValueError(f"{value!r} is not a turbidity algorithm; choose one of {known}")
        return value


class TurbidityLimits(_Section):
    """Turbidity limits on downstream reaches."""

    downstream_minus_upstream_fnu: Limit | None
    baseline_factor: float = Field(ge=1.0)


class TurbiditySection(_Section):
    """``turbidity``: parameters and limits."""

    parameters: WaterParameters = WaterParameters()
    limits: TurbidityLimits


class TailingsParameters(_Section):
    """Tailings classes and composites (SCIENCE.md section 7); the TailingsParams fields."""

    water_mndwi: Unit = _TAI.water_mndwi
    vegetation_ndvi: Unit = _TAI.vegetation_ndvi
    bare_ndvi: Unit = _TAI.bare_ndvi
    bare_bsi: Unit = _TAI.bare_bsi
    composite_days: int = Field(default=_TAI.composite_days, gt=0)
    min_clear_obs: int = Field(default=_TAI.min_clear_obs, ge=1)
    mmu_ha: float = Field(default=_TAI.mmu_ha, ge=0.0)

    @model_validator(mode="after")
    def _classes_disjoint(self) -> TailingsParameters:
        if self.bare_ndvi > self.vegetation_ndvi:
            raise ValueError(f"bare_ndvi ({self.bare_ndvi}) must not exceed vegetation_ndvi "
                             f"({self.vegetation_ndvi}): the classes would overlap")
        return self


class TailingsLimits(_Section):
    """Tailings limits (null: no limit)."""

    growth_outside_footprint_ha: Limit | None
    facility_growth_fraction: Limit | None


class TailingsSection(_Section):
    """``tailings``: parameters and limits."""

    parameters: TailingsParameters = TailingsParameters()
    limits: TailingsLimits


class SeverityLadder(_Section):
    """The severity ladder (SCIENCE.md section 8), applied mechanically."""

    violation_multiple: Annotated[float, Field(gt=1.0)] | None
    exclusion_zone_is_violation: bool
    repeated_periods: Annotated[int, Field(ge=2)] | None


def _version_text(value: object) -> object:
    if isinstance(value, str) and not VERSION_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not a version like \"1.0\" or \"2.1.3\"")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"write the version as quoted text, e.g. \"{value}\" (unquoted, "
                         "1.10 would read as the number 1.1)")
    return value


def version_key(version: str) -> tuple[int, ...]:
    """Sortable key of a version (``"1.10"`` after ``"1.9"``; ``"1"`` equals ``"1.0"``)."""
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


class Standard(_Section):
    """One version of one standard: parameters, limits and severity ladder.

    Build it with :func:`load_standard` or :func:`parse_standard`. Frozen.
    """

    id: str
    version: str
    effective_date: date
    supersedes: str | None = None
    title: str = ""
    description: str = ""
    buffer_m: float = Field(ge=0.0, le=100_000.0)
    min_clear_obs: int = Field(ge=1)
    vegetation_loss: VegetationSection
    turbidity: TurbiditySection
    tailings: TailingsSection
    severity: SeverityLadder

    _source: str | None = PrivateAttr(default=None)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if SLUG_PATTERN.fullmatch(value) is None:
            hint = slugify(value) or "default"
            raise ValueError(f"{value!r} is not a safe id (lower-case letters, digits, '_' "
                             f"and '-'); use e.g. {hint!r}")
        return value

    @field_validator("version", "supersedes", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        return _version_text(value)

    @field_validator("effective_date", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        if isinstance(value, datetime):
            raise ValueError("give a date without a time, e.g. 2020-01-01")
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None
        return value

    @model_validator(mode="after")
    def _supersedes_older(self) -> Standard:
        if self.supersedes is not None and (version_key(self.supersedes)
                                            >= version_key(self.version)):
            raise ValueError(f"supersedes {self.supersedes!r} must be an earlier version "
                             f"than {self.version!r}")
        return self

    @property
    def ref(self) -> str:
        """``id@version``, e.g. ``default@1.0``."""
        return f"{self.id}@{self.version}"

    @property
    def source(self) -> str | None:
        """The file the standard was read from (None when parsed from a string)."""
        return self._source

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the canonical content, for provenance.

        The content is the fully resolved model (defaults filled in) as JSON with sorted
        keys: comments and layout do not change it; any value that reaches the code does.
        """
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True,
                               separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def vegetation_params(self) -> VegetationParams:
        """The vegetation-loss parameters as the indicator's frozen dataclass."""
        return VegetationParams(**self.vegetation_loss.parameters.model_dump())

    def water_params(self) -> WaterParams:
        """The turbidity parameters; ``baseline_factor`` comes from the limits."""
        return WaterParams(**self.turbidity.parameters.model_dump(),
                           baseline_factor=self.turbidity.limits.baseline_factor)

    def tailings_params(self) -> TailingsParams:
        """The tailings parameters as the indicator's frozen dataclass."""
        return TailingsParams(**self.tailings.parameters.model_dump())
