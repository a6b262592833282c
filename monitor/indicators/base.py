"""What every indicator returns, and the method parameters a standard sets.

An indicator turns a cube (``monitor.load_cube``) and a concession's zones into an
:class:`IndicatorResult`: a tidy table of measurements (one row per zone and date or
period, each with its clear-observation and pixel counts), the change events it found
(provisional or confirmed, with onset, confirmation date, event window, area and geometry),
and the rasters behind them. Compliance (``monitor.compliance``) compares results with the
limits of a standard; nothing here knows about limits or severities.

Parameters are frozen dataclasses whose defaults are SCIENCE.md's; a standard file
(``configs/standards/*.yaml``, loaded by ``monitor.config``) overrides them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import pandas as pd
import xarray as xr
from shapely.geometry.base import BaseGeometry

Indicator = Literal["vegetation_loss", "turbidity", "tailings"]
EventStatus = Literal["provisional", "confirmed"]
Confidence = Literal["low", "medium", "high"]

#: Columns of :attr:`IndicatorResult.measurements`, in order.
MEASUREMENT_COLUMNS = (
    "concession_id",  # str
    "indicator",  # Indicator
    "zone",  # permitted_footprint | licence_outside_footprint | buffer_ring | exclusion_zone
    #          | tailings_facility | water_reach | licence
    "zone_id",  # str: the feature id (facility_id, reach_id, zone_id) or the zone name
    "metric",  # str, e.g. "loss_area", "median_turbidity", "ndti", "bare_area", "pond_area"
    "date",  # datetime.date of the observation, or the period end for period values
    "period_start",  # datetime.date or None
    "value",  # float or NaN (never 0 for "no data")
    "unit",  # "ha", "FNU", "1"
    "n_clear_obs",  # int: clear observations behind the value
    "n_clear_px",  # int: clear pixels behind the value
    "n_total_px",  # int: pixels of the zone on the grid
    "status",  # "ok" | "indeterminate"
    "reason",  # str: why indeterminate ("" when ok)
)


@dataclass(frozen=True)
class VegetationParams:
    """Vegetation-loss method parameters (SCIENCE.md section 5 defaults)."""

    baseline_days: int = 730
    doy_window_days: int = 30
    min_baseline_obs: int = 5
    spread_floor: float = 0.05
    z_threshold: float = -3.0
    min_drop: float = 0.15
    vegetated_centre: float = 0.4
    confirm_k: int = 2
    confirm_window_days: int = 90
    two_date_dndvi: float = -0.3
    mmu_ha: float = 0.5
    burn_dnbr: float = 0.27


@dataclass(frozen=True)
class WaterParams:
    """Turbidity method parameters (SCIENCE.md sections 4 and 6 defaults)."""

    turbidity_index: str = "turbidity_nechad2016_b04"
    persistent_fraction: float = 0.8
    min_water_px: int = 20
    baseline_quantile: float = 0.9
    baseline_factor: float = 1.5
    confirm_k: int = 2


@dataclass(frozen=True)
class TailingsParams:
    """Tailings-footprint method parameters (SCIENCE.md section 7 defaults)."""

    water_mndwi: float = 0.0
    vegetation_ndvi: float = 0.4
    bare_ndvi: float = 0.2
    bare_bsi: float = 0.0
    composite_days: int = 90
    min_clear_obs: int = 3
    mmu_ha: float = 0.5


@dataclass(frozen=True)
class ChangeEvent:
    """One change an indicator found: a loss patch, a tailings growth, a turbidity episode.

    Attributes
    ----------
    event_id
        Stable within a concession and indicator (e.g. ``"loss-3"``, ``"plume-2022-09-09"``).
    zone, zone_id
        Where it happened (a component spanning zones is split per zone, one event each).
    onset
        First detection date (the first flagged clear observation). The event happened in
        ``window``; the detection date is not the event date.
    confirmed
        Date of the confirming observation, None while provisional.
    window
        (last clear observation before, first flagged observation): when it happened.
    value, unit
        Area in ha for loss and growth; FNU excess for turbidity.
    geometry
        Change polygons in the concession's UTM CRS (None for turbidity episodes).
    attribution
        ``"soil-exposure"``, ``"burn-like"`` or ``""``.
    """

    event_id: str
    concession_id: str
    indicator: Indicator
    zone: str
    zone_id: str
    status: EventStatus
    onset: date
    confirmed: date | None
    window: tuple[date | None, date]
    value: float
    unit: str
    n_clear_obs: int
    confidence: Confidence
    geometry: BaseGeometry | None = None
    attribution: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IndicatorResult:
    """Everything one indicator computed for one concession and period.

    Attributes
    ----------
    measurements
        Tidy table with :data:`MEASUREMENT_COLUMNS`.
    events
        Change events, provisional and confirmed.
    rasters
        Named 2-D rasters on the cube grid (change masks, detection dates, classes...).
    parameters
        The parameters used (``dataclasses.asdict`` of the params object).
    mode
        ``"baseline"`` or ``"two-date"`` (vegetation), ``"series"`` otherwise.
    confidence
        Overall confidence of the method on this data (e.g. low for two-date mode or a
        spectral-screen quality layer).
    notes
        Plain sentences on what the data could not see.
    """

    indicator: Indicator
    concession_id: str
    period: tuple[date, date]
    measurements: pd.DataFrame
    events: tuple[ChangeEvent, ...]
    rasters: Mapping[str, xr.DataArray]
    parameters: Mapping[str, Any]
    mode: str = "series"
    confidence: Confidence = "high"
    notes: tuple[str, ...] = ()
