"""Assemble an indicator report: concessions, coalition members, the portfolio.

:func:`build_report` reads the store (read-only), applies the counting rules of
:mod:`monitor.reporting`, names each concession and its coalition member from the
registry when one is given, and returns a frozen :class:`IndicatorReport`, whose
:meth:`~IndicatorReport.to_dict` is ``report.json`` and whose rows are the CSV files.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor.concessions import Registry, load_concessions
from monitor.findings import SEVERITIES
from monitor.reporting.data import ReportPeriod, StoreExtract, counted_findings, read_store
from monitor.reporting.indicators import (
    ALERT_STATES,
    INDICATORS,
    LOSS_ZONES,
    REVIEWS,
    Indicators,
    concession_indicators,
    total,
)

__all__ = ["FORMAT_VERSION", "MEMBER_NOT_IN_REGISTRY", "MEMBER_UNKNOWN", "NO_FINDINGS",
           "ConcessionSummary", "IndicatorReport", "MemberSummary", "build_report", "combine",
           "indicator_columns", "summarise"]

#: Version of the report.json / CSV layout.
FORMAT_VERSION = 1
#: Member of every concession when no registry is given.
MEMBER_UNKNOWN = "unknown (give --aoi)"
#: Member of a concession of the store that the registry does not hold.
MEMBER_NOT_IN_REGISTRY = "unknown (not in the registry)"
#: What the report says when the period holds no finding.
NO_FINDINGS = "no findings recorded for this period"


@dataclass(frozen=True)
class ConcessionSummary:
    """One concession's row: who, and its indicators."""

    concession_id: str
    name: str | None
    member: str
    indicators: Indicators


@dataclass(frozen=True)
class MemberSummary:
    """One coalition member: its concessions and their summed indicators."""

    member: str
    concession_ids: tuple[str, ...]
    indicators: Indicators


@dataclass(frozen=True)
class IndicatorReport:
    """Everything a report shows, with no wall-clock time in it.

    Attributes
    ----------
    period
        The period (findings count by their observation date).
    store, registry
        File names of the alert store and of the registry (None without one).
    standards
        Every ``id@version`` of a finding observed in the period.
    concessions, members
        Rows per concession (by member, then id) and per member (by name).
    portfolio
        Indicators summed over every concession.
    """

    period: ReportPeriod
    store: str
    registry: str | None
    standards: tuple[str, ...]
    concessions: tuple[ConcessionSummary, ...]
    members: tuple[MemberSummary, ...]
    portfolio: Indicators

    @property
    def empty(self) -> bool:
        """True when no finding was observed in the period."""
        return self.portfolio.findings_recorded == 0

    def concession_columns(self) -> list[str]:
        """Columns of ``concessions.csv`` (the keys of each concession in report.json)."""
        return ["member", "concession_id", "name", *indicator_columns(self.portfolio)]

    def member_columns(self) -> list[str]:
        """Columns of ``members.csv`` (the keys of each member in report.json)."""
        return ["member", "n_concessions", "concessions", *indicator_columns(self.portfolio)]

    def concession_rows(self) -> list[dict[str, Any]]:
        """One flat dict per concession (the columns of ``concessions.csv``)."""
        return [{"member": c.member, "concession_id": c.concession_id, "name": c.name,
                 **indicator_columns(c.indicators)} for c in self.concessions]

    def member_rows(self) -> list[dict[str, Any]]:
        """One flat dict per member (the columns of ``members.csv``)."""
        return [{"member": m.member, "n_concessions": len(m.concession_ids),
                 "concessions": list(m.concession_ids), **indicator_columns(m.indicators)}
                for m in self.members]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content of ``report.json`` (deterministic for a given store)."""
        return {
            "report": "indicator-report", "format_version": FORMAT_VERSION,
            "software": f"concession-monitor {__version__}",
            "period": {"label": self.period.label, "start": self.period.start.isoformat(),
                       "end": self.period.end.isoformat()},
            "store": self.store, "registry": self.registry, "standards": list(self.standards),
            "empty": self.empty, "notes": [NO_FINDINGS] if self.empty else [],
            "portfolio": {"n_members": len(self.members),
                          "n_concessions": len(self.concessions),
                          **indicator_columns(self.portfolio)},
            "members": self.member_rows(), "concessions": self.concession_rows(),
        }


def indicator_columns(ind: Indicators) -> dict[str, Any]:
    """The indicator columns of a CSV row / JSON object, in order (lists stay lists)."""
    out: dict[str, Any] = {
        "findings_recorded": ind.findings_recorded, "findings_counted": ind.findings_counted,
        "exceedances": ind.exceedances}
    out |= {f"loss_ha_{z}": ind.loss_ha[z] for z in LOSS_ZONES}
    out |= {"loss_ha_total": ind.loss_ha_total, "loss_ha_provisional": ind.loss_ha_provisional,
            "turbidity_exceedance_days": ind.turbidity_exceedance_days,
            "turbidity_episodes": ind.turbidity_episodes,
            "turbidity_exceedance_dates": _list(ind.turbidity_exceedance_dates),
            "turbidity_isolated_dates": _list(ind.turbidity_isolated_dates),
            "tailings_growth_outside_footprint_ha": ind.tailings_growth_ha,
            "tailings_facility_growth_fraction": ind.tailings_facility_growth}
    out |= {f"alerts_{s}": ind.alerts_by_severity[s] for s in SEVERITIES}
    out["alerts_total"] = sum(ind.alerts_by_severity.values())
    out |= {f"alerts_{s}": ind.alerts_by_state[s] for s in ALERT_STATES}
    out |= {f"alerts_{r}": ind.alerts_by_review[r] for r in REVIEWS}
    out |= {f"clear_obs_min_{i}": ind.clear_obs_min[i] for i in INDICATORS}
    out |= {"indeterminate": ind.indeterminate, "indeterminate_share": ind.indeterminate_share,
            "indeterminate_reasons": [f"{r} ({n})" for r, n in ind.indeterminate_reasons],
            "not_available": list(ind.not_available), "notes": list(ind.notes)}
    return out


def combine(parts: Mapping[str, Indicators]) -> Indicators:
    """Sum the indicators of several concessions (keys: concession ids, for the notes).

    Counts, areas and days add up (days become concession-days: the same date in two
    concessions counts twice); the facility growth is the largest; the clear observations
    the fewest. A sum over values some of which are unknown is a lower bound, noted.
    """
    items = sorted(parts.items())
    missing = [f"{cid}: {why}" for cid, ind in items for why in ind.not_available]
    notes = [f"{cid}: {why}" for cid, ind in items for why in ind.notes]

    def add(get: str) -> int:
        return sum(int(getattr(ind, get)) for _, ind in items)

    def dates(get: str) -> tuple[str, ...] | None:
        known = [getattr(ind, get) for _, ind in items if getattr(ind, get) is not None]
        return tuple(f"{cid}:{d}" for cid, ind in items for d in (getattr(ind, get) or ())
                     ) if known else None

    def count(get: str, keys: Sequence[str]) -> dict[str, int]:
        return {k: sum(getattr(ind, get)[k] for _, ind in items) for k in keys}

    reasons: Counter[str] = Counter()
    for _, ind in items:
        reasons.update(dict(ind.indeterminate_reasons))
    clear = {i: min((v for _, ind in items if (v := ind.clear_obs_min[i]) is not None),
                    default=None) for i in INDICATORS}
    episodes = [ind.turbidity_episodes for _, ind in items if ind.turbidity_episodes is not None]
    fractions = [ind.tailings_facility_growth for _, ind in items
                 if ind.tailings_facility_growth is not None]
    return Indicators(
        findings_recorded=add("findings_recorded"), findings_counted=add("findings_counted"),
        exceedances=add("exceedances"), indeterminate=add("indeterminate"),
        loss_ha={z: total(ind.loss_ha[z] for _, ind in items) for z in LOSS_ZONES},
        loss_ha_total=total(ind.loss_ha_total for _, ind in items),
        loss_ha_provisional=total(ind.loss_ha_provisional for _, ind in items),
        turbidity_exceedance_dates=dates("turbidity_exceedance_dates"),
        turbidity_isolated_dates=dates("turbidity_isolated_dates"),
        turbidity_episodes=sum(episodes) if episodes else None,
        tailings_growth_ha=total(ind.tailings_growth_ha for _, ind in items),
        tailings_facility_growth=max(fractions) if fractions else None,
        alerts_by_severity=count("alerts_by_severity", SEVERITIES),
        alerts_by_state=count("alerts_by_state", ALERT_STATES),
        alerts_by_review=count("alerts_by_review", REVIEWS), clear_obs_min=clear,
        indeterminate_reasons=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        not_available=tuple(missing), notes=tuple(notes))


def _list(values: tuple[str, ...] | None) -> list[str] | None:
    return None if values is None else list(values)


def _who(cid: str, registry: Registry | None) -> tuple[str | None, str]:
    """(name, member) of a concession: ``coalition_member``, else ``holder``."""
    if registry is None:
        return None, MEMBER_UNKNOWN
    if cid not in registry:
        return None, MEMBER_NOT_IN_REGISTRY
    concession = registry[cid]
    for key in ("coalition_member", "holder"):
        value = concession.attributes.get(key)
        if isinstance(value, str) and value.strip():
            return concession.name, value.strip()
    return concession.name, "unknown (no coalition_member or holder in the registry)"


def summarise(extract: StoreExtract, registry: Registry | None = None,
              registry_name: str | None = None) -> IndicatorReport:
    """The report of a store extract (pure: no file is read)."""
    ids = {f.concession_id for f in extract.findings} | {a.concession_id for a in extract.alerts}
    if registry is not None:
        ids |= {c.concession_id for c in registry}
    counted = counted_findings(extract.findings)
    rows: list[ConcessionSummary] = []
    for cid in ids:
        name, member = _who(cid, registry)
        ind = concession_indicators(
            [f for f in extract.findings if f.concession_id == cid],
            [f for f in counted if f.concession_id == cid],
            [a for a in extract.alerts if a.concession_id == cid], extract.period)
        rows.append(ConcessionSummary(cid, name, member, ind))
    rows.sort(key=lambda c: (c.member, c.concession_id))
    by_member: dict[str, dict[str, Indicators]] = {}
    for c in rows:
        by_member.setdefault(c.member, {})[c.concession_id] = c.indicators
    members = tuple(MemberSummary(m, tuple(sorted(parts)), combine(parts))
                    for m, parts in sorted(by_member.items()))
    return IndicatorReport(
        period=extract.period, store=extract.store, registry=registry_name,
        standards=tuple(sorted({f.standard for f in extract.findings})),
        concessions=tuple(rows), members=members,
        portfolio=combine({c.concession_id: c.indicators for c in rows}))


def build_report(state: str | os.PathLike[str], period: ReportPeriod, *,
                 aoi: str | os.PathLike[str] | None = None) -> IndicatorReport:
    """Read the alert store ``state`` (read-only) and summarise ``period``.

    Parameters
    ----------
    state
        The alert store (SQLite) that ``monitor check --state`` wrote.
    period
        The period (see :func:`~monitor.reporting.data.parse_period`).
    aoi
        Optional concession registry: names, and each concession's coalition member
        (attribute ``coalition_member``, else ``holder``); its concessions without findings
        get a row that says so.

    Raises
    ------
    AlertStoreError
        The store is missing, not an alert store, or unreadable (the message names it).
    RegistryError
        The registry cannot be used.
    """
    extract = read_store(Path(state), period)
    registry = None if aoi is None else load_concessions(Path(aoi))
    return summarise(extract, registry, None if aoi is None else Path(aoi).name)

