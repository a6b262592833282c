"""Sediment-plume episodes of the water indicator: the exceedance rules, date by date.

For each downstream reach and date of the period, the two relative rules of
:mod:`monitor.indicators.water` (``downstream_minus_upstream`` against ``diff_limit_fnu``;
the downstream median over its own baseline quantile against ``params.baseline_factor``)
give a state: *candidate*, *clear*, or *skip* (indeterminate: neither extends nor breaks an
episode). :func:`episodes` writes the difference and candidate measurement rows and turns
runs of candidates into :class:`~monitor.indicators.base.ChangeEvent` episodes:
provisional after one candidate, confirmed after ``params.confirm_k`` on consecutive
determinate dates; a single candidate that the next determinate date does not repeat is
dropped. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.indicators.base import ChangeEvent, Confidence, WaterParams
from monitor.indicators.water_series import (
    OwnBaseline,
    ReachSeries,
    reach_row,
    why_indeterminate,
)
from monitor.zonal import ZoneMask

__all__ = ["episodes"]


def episodes(cid: str, reach: ZoneMask, down: ReachSeries, up: ReachSeries | None,
             bl: OwnBaseline, dates: Sequence[date], period_idx: NDArray[np.intp],
             params: WaterParams, diff_limit: float, weak: bool
             ) -> tuple[list[ChangeEvent], list[dict[str, Any]], list[str]]:
    """Difference and candidate rows of one downstream reach, and its episodes."""
    min_px = params.min_water_px
    zid = reach.zone_id
    up_total = up.n_total_px if up else 0
    rows: list[dict[str, Any]] = []
    # (date, state, excess, detail): state candidate | clear | skip
    steps: list[tuple[date, str, float, dict[str, Any]]] = []
    for t in period_idx:
        day = dates[int(t)]
        d_why = why_indeterminate(down, int(t), min_px)
        u_why = why_indeterminate(up, int(t), min_px) if up else "no upstream reach"
        diff = down.median[t] - up.median[t] if up and not (d_why or u_why) else np.nan
        n_px = int(down.count[t]) + (int(up.count[t]) if up else 0)
        rows.append(reach_row(cid, zid, "downstream_minus_upstream", day, None, diff, "FNU", 1,
                              n_px, reach.n_px + up_total,
                              "; ".join(w for w in (d_why, u_why) if w)))
        ratio = down.median[t] / bl.quantile if bl.quantile and not d_why else np.nan
        diff_hit = bool(np.isfinite(diff) and diff > diff_limit)
        ratio_hit = bool(np.isfinite(ratio) and ratio > params.baseline_factor)
        missing = [why for why, applies, value in
                   ((u_why, up is not None, diff), (bl.reason, bl.quantile is not None, ratio))
                   if applies and not np.isfinite(value)]
        detail = {"date": day.isoformat(), "downstream_fnu": _r(down.median[t]),
                  "upstream_fnu": _r(up.median[t]) if up else None, "difference_fnu": _r(diff),
                  "ratio_to_baseline": _r(ratio),
                  "rules": [n for n, hit in (("difference", diff_hit), ("baseline", ratio_hit))
                            if hit]}
        if d_why:
            state, reason = "skip", d_why
        elif diff_hit or ratio_hit:
            state, reason = "candidate", ""
        elif missing or not (np.isfinite(diff) or np.isfinite(ratio)):
            state = "skip"
            reason = "; ".join(missing) or "neither rule applies (no upstream reach, no baseline)"
        else:
            state, reason = "clear", ""
        value = {"candidate": 1.0, "clear": 0.0}.get(state, np.nan)
        rows.append(reach_row(cid, zid, "exceedance_candidate", day, None, value, "1", 1,
                              int(down.count[t]), reach.n_px, reason))
        excess = diff if np.isfinite(diff) else (
            down.median[t] - bl.quantile if bl.quantile else np.nan)
        steps.append((day, state, float(excess), detail))
    events, notes = _runs(cid, reach, steps, params.confirm_k, weak)
    return events, rows, notes


def _runs(cid: str, reach: ZoneMask, steps: Sequence[tuple[date, str, float, dict[str, Any]]],
          k: int, weak: bool) -> tuple[list[ChangeEvent], list[str]]:
    """Episodes from the per-date states: provisional after one candidate, confirmed after k."""
    events: list[ChangeEvent] = []
    dropped: list[date] = []
    run: list[tuple[date, float, dict[str, Any]]] = []
    last_clear: date | None = None
    before: date | None = None

    def close(closed_by: date | None) -> None:
        if not run:
            return
        if len(run) < k and closed_by is not None:
            dropped.append(run[0][0])
        else:
            events.append(_event(cid, reach, run, k, before, closed_by, weak))
        run.clear()

    for day, state, excess, detail in steps:
        if state == "candidate":
            if not run:
                before = last_clear
            run.append((day, excess, detail))
        elif state == "clear":
            close(day)
            last_clear = day
    close(None)
    notes = []
    if dropped:
        notes.append(f"Reach {reach.zone_id}: {len(dropped)} isolated candidate date(s) not "
                     f"repeated on the next determinate date were dropped "
                     f"({', '.join(d.isoformat() for d in dropped)}).")
    if not any(s in ("candidate", "clear") for _, s, _, _ in steps):
        notes.append(f"Reach {reach.zone_id}: no determinate date in the period (downstream or "
                     "upstream reach clouded on every date): no episode can be assessed.")
    return events, notes


def _event(cid: str, reach: ZoneMask, run: Sequence[tuple[date, float, dict[str, Any]]], k: int,
           before: date | None, closed_by: date | None, weak: bool) -> ChangeEvent:
    onset = run[0][0]
    confirmed = run[k - 1][0] if len(run) >= k else None
    excess = [e for _, e, _ in run if np.isfinite(e)]
    both_rules = all(d["difference_fnu"] is not None for _, _, d in run)
    confidence: Confidence = ("high" if confirmed and both_rules and not weak else
                              "medium" if confirmed or not weak else "low")
    return ChangeEvent(
        event_id=f"plume-{reach.zone_id}-{onset.isoformat()}",
        concession_id=cid, indicator="turbidity", zone="water_reach", zone_id=reach.zone_id,
        status="confirmed" if confirmed else "provisional", onset=onset, confirmed=confirmed,
        window=(before, onset), value=float(max(excess)) if excess else float("nan"),
        unit="FNU", n_clear_obs=len(run), confidence=confidence,
        details={"dates": [d.isoformat() for d, _, _ in run], "per_date": [d for _, _, d in run],
                 "last_candidate": run[-1][0].isoformat(),
                 "closed_by": closed_by.isoformat() if closed_by else None,
                 "value_basis": "largest downstream-minus-upstream difference (FNU); "
                                "downstream minus its baseline quantile where upstream was "
                                "clouded"})


def _r(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None
