"""Measurement rows: an indicator result read against the compliance contract.

:func:`read_rows` turns :attr:`~monitor.indicators.base.IndicatorResult.measurements` into
typed :class:`Row` records, refusing a result that breaks the contract (missing columns,
rows or events of another concession or indicator, undated rows) with
:class:`~monitor.errors.IndicatorResultError`; an unknown row status becomes
``indeterminate``. :func:`facility_fractions` derives the tailings
``facility_growth_fraction`` rows the indicator did not write, and :func:`usable` says why
a row cannot be relied on (the determinacy rule of :mod:`monitor.compliance`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import pandas as pd

from monitor.errors import IndicatorResultError
from monitor.indicators.base import MEASUREMENT_COLUMNS, IndicatorResult

__all__ = ["Row", "facility_fractions", "read_rows", "usable"]


@dataclass(frozen=True)
class Row:
    """One measurement row, typed; ``value`` is None when missing or not finite."""

    zone: str
    zone_id: str
    metric: str
    day: date
    period_start: date | None
    value: float | None
    n_clear_obs: int
    n_clear_px: int
    status: str
    reason: str


def _as_date(value: object) -> date:
    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise IndicatorResultError(f"measurement date {value!r} is not a date ({exc})") from None
    if pd.isna(stamp):
        raise IndicatorResultError("a measurement has no date (NaT); indicators must date "
                                   "every row")
    return stamp.date()


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _count(value: object) -> int:
    number = _number(value)
    return int(number) if number is not None and number > 0 else 0


def read_rows(result: IndicatorResult) -> list[Row]:
    """Every measurement, checked against the contract (all dates: baselines are needed)."""
    frame = result.measurements
    where = f"{result.indicator} result of concession {result.concession_id!r}"
    missing = [c for c in MEASUREMENT_COLUMNS if c not in frame.columns]
    if missing:
        raise IndicatorResultError(f"{where}: measurements lack columns {missing}; indicators "
                                   "return monitor.indicators.base.MEASUREMENT_COLUMNS")
    rows: list[Row] = []
    for rec in frame.to_dict("records"):
        if rec["concession_id"] != result.concession_id or rec["indicator"] != result.indicator:
            raise IndicatorResultError(f"{where}: a row belongs to {rec['indicator']!r} of "
                                       f"{rec['concession_id']!r}")
        status = str(rec["status"])
        reason = "" if rec["reason"] is None or pd.isna(rec["reason"]) else str(rec["reason"])
        if status not in ("ok", "indeterminate"):
            status, reason = "indeterminate", f"unknown measurement status {status!r}"
        start = rec["period_start"]
        rows.append(Row(str(rec["zone"]), str(rec["zone_id"]), str(rec["metric"]),
                         _as_date(rec["date"]), None if pd.isna(start) else _as_date(start),
                         _number(rec["value"]), _count(rec["n_clear_obs"]),
                         _count(rec["n_clear_px"]), status, reason))
    for event in result.events:
        if (event.concession_id, event.indicator) != (result.concession_id, result.indicator):
            raise IndicatorResultError(f"{where}: event {event.event_id!r} belongs to "
                                       f"{event.indicator!r} of {event.concession_id!r}")
    return rows


def facility_fractions(rows: list[Row]) -> list[Row]:
    """``facility_growth_fraction`` rows from ``growth_area`` and the baseline areas."""
    given = {(r.zone_id, r.day) for r in rows if r.metric == "facility_growth_fraction"}
    areas: dict[tuple[str, date | None, str], Row] = {(r.zone_id, r.day, r.metric): r for r in rows
             if r.zone == "tailings_facility" and r.metric in ("bare_area", "pond_area")}
    out: list[Row] = []
    for g in rows:
        if (g.zone != "tailings_facility" or g.metric != "growth_area"
                or (g.zone_id, g.day) in given):
            continue
        parts = [areas.get((g.zone_id, g.period_start, m)) for m in ("bare_area", "pond_area")]
        why = [r.reason or f"{r.metric} indeterminate" for r in (g, *parts)
               if r is not None and (r.status != "ok" or r.value is None)]
        base = sum(r.value or 0.0 for r in parts if r is not None)
        if any(r is None for r in parts):
            why.append(f"no baseline bare_area/pond_area of the facility on {g.period_start}")
        elif not why and base <= 0.0:
            why.append(f"the facility had no tailings area at baseline: a growth of "
                       f"{g.value:g} ha has no fraction (see the encroachment findings)")
        value = None if why or g.value is None else g.value / base
        out.append(Row(g.zone, g.zone_id, "facility_growth_fraction", g.day, g.period_start,
                        value, g.n_clear_obs, g.n_clear_px,
                        "indeterminate" if why else "ok", "; ".join(why)))
    return out


def usable(row: Row | None, min_obs: int, min_px: int = 1) -> str:
    """Why a row cannot be relied on ("" when it can)."""
    if row is None:
        return "no measurement for this zone in the period"
    if row.status != "ok":
        return row.reason or "the indicator marked the measurement indeterminate"
    if row.value is None:
        return "no value (NaN) for this zone"
    if row.n_clear_obs < min_obs:
        return (f"{row.n_clear_obs} clear observation(s) in the period, fewer than the "
                f"{min_obs} the standard requires (min_clear_obs)")
    if row.n_clear_px < min_px:
        return f"{row.n_clear_px} clear pixel(s), fewer than {min_px}"
    return ""
