"""The report of an evidence package: one self-contained HTML page for non-specialists.

:func:`render_report` turns a check's result and its figures into ``report.html``: a
verdict at the top, then what was found, where, when and how sure, every finding, the
figures (embedded as data URIs), what the data could not see, how to verify the package,
and where the data came from. CSS is inline; there are no scripts, fonts or external
links, so the page reads the same offline, on a phone and on paper. Every value passes
through Jinja2's autoescaping.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import pyproj
from shapely.geometry.base import BaseGeometry

from monitor.checking import CheckResult
from monitor.evidence.figures import (
    MOSTLY_CLEAR,
    Figure,
    exceedances,
    licence_clear_fraction,
    main_finding,
)
from monitor.evidence.figures_charts import QA_LABELS
from monitor.findings import Finding
from monitor.indicators.base import ChangeEvent

__all__ = ["VERIFY_COMMANDS", "render_report", "report_view"]

#: The commands that verify a package (PACKAGE: its folder or archive; KEY: public key).
VERIFY_COMMANDS = ("monitor verify PACKAGE --public-key KEY", "monitor verify PACKAGE --reproduce")
_INDICATOR_WORDS = {"vegetation_loss": "Vegetation loss", "turbidity": "River turbidity",
                    "tailings": "Tailings and bare ground"}
_LEVEL_WORDS = {"violation": "Violation", "warning": "Warning", "notice": "Notice",
                "compliant": "Compliant", "indeterminate": "Indeterminate"}


# ------------------------------------------------------------------------ words


def _day(value: date | None) -> str:
    return "unknown date" if value is None else f"{value.day} {value:%b %Y}"


def _span(start: date | None, end: date | None) -> str:
    """``25 Aug and 4 Sep 2022`` (years shown once when equal)."""
    if start is None or end is None or start == end:
        return _day(end or start)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day} and {_day(end)}"
    first = f"{start.day} {start:%b}" if start.year == end.year else _day(start)
    return f"{first} and {_day(end)}"


def _range(start: date | None, end: date | None) -> str:
    """``9–19 Sep 2022``, ``25 Aug – 4 Sep 2022``, ``28 Dec 2021 – 4 Jan 2022``."""
    if start is None or end is None or start == end:
        return _day(end or start)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{_day(end)}"
    return _span(start, end).replace(" and ", " – ")


def _limit_words(limit: float | None, unit: str, rule: str = "") -> str:
    if limit is None:
        return "none set"
    if unit == "1" and "fraction" in rule:
        return f"{limit:.0%}"
    return f"{limit:g}" + ("" if unit in ("1", "") else f" {unit}")


def _violation_words(reason: str) -> str:
    """``value 9.73 >= 2 x the limit 0.5`` -> ``at least 2 times the limit``."""
    match = re.fullmatch(r"value \S+ >= (\S+) x the limit \S+", reason.strip())
    return f"the value is at least {match[1]} times the limit" if match else reason


def where_words(zone: str, zone_id: str, buffer_m: float | None = None) -> str:
    """Where a finding is, in words: ``inside exclusion zone app-1``..."""
    ring = f"within {buffer_m:g} m outside the licence" if buffer_m else "around the licence"
    fixed = {"exclusion_zone": f"inside exclusion zone {zone_id}",
             "licence_outside_footprint": "inside the licence but outside the permitted footprint",
             "permitted_footprint": "inside the permitted footprint", "buffer_ring": ring,
             "water_reach": f"in river reach {zone_id}",
             "tailings_facility": f"at tailings facility {zone_id}",
             "licence": "inside the licence"}
    return fixed.get(zone, f"in {zone.replace('_', ' ')} {zone_id}")


def _rule(f: Finding) -> str:
    return str(f.details.get("rule") or f.details.get("criterion") or "")


def value_words(value: float | None, unit: str, rule: str = "") -> str:
    """A value with its unit, rounded for reading (percent for fractions)."""
    if value is None or not np.isfinite(value):
        return "no value"
    if unit == "ha":
        return f"{value:.2f} ha"
    if unit == "FNU":
        return f"{value:.1f} FNU"
    if unit == "1" and "fraction" in rule:
        return f"{value:.0%}"
    return f"{value:.3g}" + ("" if unit in ("1", "") else f" {unit}")


def _sure(f: Finding) -> str:
    status = f.event_status or ("confirmed" if f.severity in ("warning", "violation") else "")
    return ", ".join(p for p in (status, f"{f.confidence} confidence") if p)


def finding_sentence(f: Finding, buffer_m: float | None = None,
                     window: tuple[date | None, date] | None = None) -> str:
    """One plain sentence for an exceedance: what, where, when, how sure.

    ``window`` is the event window (last clear view before, first detection); without it
    the finding's own ``event_window`` detail is used, else the detection date.
    """
    where, rule = where_words(f.zone, f.zone_id, buffer_m), _rule(f)
    window = window or _detail_window(f)
    when = (f"between {_span(window[0], window[1])}" if window is not None
            and window[0] is not None else f"by {_day(f.onset or f.observed)}")
    limit = _limit_words(f.limit, f.unit, rule)
    if f.indicator == "vegetation_loss":
        text = f"{value_words(f.value, f.unit)} of vegetation cleared {where} {when}"
    elif f.indicator == "turbidity" and rule == "downstream_minus_upstream":
        dates = [date.fromisoformat(str(d)) for d in f.details.get("dates", [])]
        run = (f" on {len(dates)} consecutive clear dates, {_range(dates[0], dates[-1])}"
               if len(dates) > 1 else "")
        text = (f"river reach {f.zone_id}, downstream of the mine, was up to "
                f"{value_words(f.value, f.unit)} more turbid than upstream (limit {limit})"
                f"{run}; the plume began {when}")
    elif f.indicator == "tailings" and "fraction" in rule:
        text = (f"the tailings area {where} grew by {value_words(f.value, f.unit, rule)} of "
                f"its baseline (limit {limit}) by {_day(f.observed)}")
    elif f.indicator == "tailings":
        text = (f"{value_words(f.value, f.unit)} of new bare ground or tailings {where} "
                f"since the baseline (limit {limit}), appearing {when}")
    else:
        text = (f"{_INDICATOR_WORDS.get(f.indicator, f.indicator)} {where}: "
                f"{value_words(f.value, f.unit, rule)} against a limit of {limit}")
    return f"{text} ({_sure(f)})"


# ------------------------------------------------------------------------ pieces


def _detail_window(f: Finding) -> tuple[date | None, date] | None:
    window = f.details.get("event_window")
    if isinstance(window, tuple | list) and len(window) == 2 and isinstance(window[1], date):
        start = window[0] if isinstance(window[0], date) else None
        return (start, window[1])
    return None


def _window(result: CheckResult, f: Finding) -> tuple[date | None, date] | None:
    event = _event_of(result, f)
    return event.window if event is not None else _detail_window(f)


def _event_of(result: CheckResult, f: Finding | None) -> ChangeEvent | None:
    if f is None or not f.event_id:
        return None
    return next((e for r in result.results for e in r.events
                 if e.indicator == f.indicator and e.event_id == f.event_id), None)


def _lonlat(result: CheckResult, geom: BaseGeometry | None) -> str:
    if geom is None or geom.is_empty or result.concession is None:
        return ""
    point = geom.representative_point()
    to_ll = pyproj.Transformer.from_crs(result.concession.crs, 4326, always_xy=True)
    lon, lat = to_ll.transform(point.x, point.y)
    return (f"{abs(lat):.4f}° {'S' if lat < 0 else 'N'}, "
            f"{abs(lon):.4f}° {'W' if lon < 0 else 'E'}")


def _buffer_m(result: CheckResult) -> float | None:
    if result.cube is None:
        return None
    return float(result.cube.attrs.get("buffer_m", 0.0)) or None


def _verdict(result: CheckResult) -> dict[str, Any]:
    worst, buffer_m = main_finding(result), _buffer_m(result)
    counts = Counter(f.outcome for f in result.findings)
    others = (f"{len(result.findings)} checks in all: {counts['exceedance']} over a limit, "
              f"{counts['compliant']} within limits, {counts['indeterminate']} undecided "
              "(the data could not tell).")
    span = _span(*result.period)
    if worst is not None and worst.severity:
        sentence = finding_sentence(worst, buffer_m, _window(result, worst))
        also = [f"{_LEVEL_WORDS.get(f.severity or '', 'Exceedance')}: "
                f"{finding_sentence(f, buffer_m, _window(result, f))}."
                for f in exceedances(result)[1:]]
        return {"level": worst.severity, "label": _LEVEL_WORDS[worst.severity],
                "headline": f"{_LEVEL_WORDS[worst.severity]}: {sentence[0].upper()}"
                            f"{sentence[1:]}.", "detail": others, "also": also}
    if counts["indeterminate"]:
        return {"level": "indeterminate", "label": "Indeterminate",
                "headline": f"Indeterminate: no limit was found exceeded between {span}, "
                            f"but {counts['indeterminate']} check(s) could not be decided "
                            "from the data.", "detail": others, "also": []}
    return {"level": "compliant", "label": "Compliant",
            "headline": f"Compliant: no limit of {result.standard} was exceeded between "
                        f"{span}.", "detail": others, "also": []}


def _facts(result: CheckResult) -> list[tuple[str, str]]:
    worst, buffer_m = main_finding(result), _buffer_m(result)
    event = _event_of(result, worst)
    digest = result.standard_digest or "not recorded"
    standard = ("Under which standard", f"{result.standard} (sha256 {digest})")
    if worst is None:
        obs = [f.n_clear_obs for f in result.findings]
        return [("What was found", "No limit of the standard was exceeded."),
                ("Where", f"the licence of {_name(result)} and its surroundings"),
                ("When", f"checked between {_span(*result.period)}"),
                ("How sure", f"at least {min(obs) if obs else 0} clear observations per "
                             "check; see the table for each"), standard]
    geom = event.geometry if event is not None else worst.geometry
    place = where_words(worst.zone, worst.zone_id, buffer_m)
    coords = _lonlat(result, geom)
    window = _window(result, worst)
    if window is not None:
        when = (f"between {_span(window[0], window[1])}: the last clear view before the "
                f"change and the first that shows it (first detected {_day(worst.onset)}")
        confirmed = worst.details.get("event_confirmed")
        when += f", confirmed {_day(confirmed)})" if isinstance(confirmed, date) else ")"
    else:
        when = f"observed {_day(worst.observed)} in the period {_range(*result.period)}"
    return [("What was found", _what(worst)),
            ("Where", place + (f", around {coords}" if coords else "")),
            ("When", when),
            ("How sure", f"{_sure(worst)}; {worst.n_clear_obs} clear observations behind "
                         f"the value ({worst.n_clear_px} clear pixels)"),
            standard]


def _what(f: Finding) -> str:
    rule = _rule(f)
    limit = "no limit" if f.limit is None else f"limit {_limit_words(f.limit, f.unit, rule)}"
    why = ([_violation_words(str(v)) for v in f.details.get("violation", [])]
           if f.severity == "violation" else [])
    rating = {"violation": "a violation", "warning": "a warning (confirmed exceedance)",
              "notice": "a notice (provisional: not yet seen twice)"}.get(f.severity or "", "")
    text = (f"{_INDICATOR_WORDS.get(f.indicator, f.indicator)}: "
            f"{value_words(f.value, f.unit, rule)} measured, {limit}.")
    if rating:
        text += f" Rated {rating}" + (f" because: {'; '.join(why)}." if why else ".")
    return text


def _name(result: CheckResult) -> str:
    return result.concession.name if result.concession is not None else result.concession_id


def _finding_rows(result: CheckResult) -> list[dict[str, str]]:
    order = {id(f): i for i, f in enumerate(exceedances(result))}
    rank = {"exceedance": 0, "indeterminate": 1, "compliant": 2}
    rows = []
    for f in sorted(result.findings, key=lambda f: (rank[f.outcome], order.get(id(f), 0))):
        level = f.severity or f.outcome
        window = _window(result, f)
        when = (_range(window[0], window[1]) if window is not None and window[0] is not None
                else _range(*f.period))
        rows.append({
            "level": level, "result": _LEVEL_WORDS.get(level, level),
            "check": _INDICATOR_WORDS.get(f.indicator, f.indicator),
            "where": where_words(f.zone, f.zone_id, _buffer_m(result)),
            "value": value_words(f.value, f.unit, _rule(f)),
            "limit": _limit_words(f.limit, f.unit, _rule(f)),
            "when": when, "sure": f"{_sure(f)}; {f.n_clear_obs} clear obs.",
            "why": f.reason})
    return rows


def _availability(result: CheckResult) -> list[str]:
    if result.cube is None or result.concession is None or not result.cube.sizes.get("time"):
        return ["No imagery was available for the period."]
    dates = [pd.Timestamp(t).date() for t in result.cube["time"].values]
    frac = licence_clear_fraction(result)
    lo, hi = result.period
    inside = [i for i, d in enumerate(dates) if lo <= d <= hi]
    good = [dates[i] for i in inside if frac[i] >= MOSTLY_CLEAR]
    lines = [f"{len(dates)} acquisitions from {_day(dates[0])} to {_day(dates[-1])} were "
             f"used, {len(inside)} of them in the checked period; {len(good)} of these saw at "
             f"least {MOSTLY_CLEAR:.0%} of the licence clearly (median clear share "
             f"{float(np.median(frac[inside])) if inside else 0.0:.0%})."]
    edges = [lo, *good, hi]
    gaps = [(b - a).days for a, b in itertools.pairwise(edges)]
    if gaps:
        k = int(np.argmax(gaps))
        lines.append(f"The longest stretch without a mostly clear view of the licence was "
                     f"{gaps[k]} days ({_range(edges[k], edges[k + 1])}): a change in that "
                     "stretch is dated only to within it.")
    return lines


def _provenance(result: CheckResult, context: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [("Imagery source", result.source or str(result.request.get("source", "unknown")))]
    cube = result.cube
    if cube is not None and cube.sizes.get("time"):
        def counts(name: str) -> str:
            if name not in cube.coords:
                return "not recorded"
            c = Counter(str(v) for v in cube[name].values)
            return ", ".join(f"{k} ({n})" for k, n in sorted(c.items()))
        rows.append(("Acquisitions", f"{cube.sizes['time']} used, {len(result.skipped_scenes)} "
                                     f"left out; platforms: {counts('platform')}"))
        rows.append(("Processing baselines", counts("processing_baseline")))
        if "offset" in cube.coords:
            offsets = np.asarray(cube["offset"].values, np.float64)
            shifted = int(np.count_nonzero(offsets))
            given = (int(np.asarray(cube["offset_applied"].values, bool).sum())
                     if "offset_applied" in cube.coords else 0)
            rows.append(("Radiometric offset", f"reflectance = DN x scale + offset; a non-zero "
                         f"offset (the BOA offset of Sentinel-2 processing baseline 04.00 and "
                         f"later) was applied to {shifted} of {offsets.size} scene(s); "
                         f"{given} came with it already applied by the provider"))
        if "qa_kind" in cube.coords:
            kinds = Counter(str(v) for v in cube["qa_kind"].values)
            rows.append(("Cloud masks", ", ".join(f"{QA_LABELS.get(k, k)}: {n} scene(s)"
                                                   for k, n in sorted(kinds.items()))))
    rows.append(("Method", "seasonal baseline of the two years before the period"
                 if result.mode == "baseline" else "two dates compared (low confidence)"))
    rows.append(("Standard", f"{result.standard}, sha256 {result.standard_digest or '-'}"))
    rows.append(("Software", str(context.get("generated_by") or "Concession Monitor")))
    rows.append(("Package", str(context.get("package_id") or "not packaged")))
    return rows


def _rerun(result: CheckResult) -> str:
    r = result.request
    if not r:
        return ""
    parts = ["monitor check", str(r.get("concession_id", result.concession_id)),
             "--aoi", Path(str(r.get("aoi", "AOI"))).name, "--source", str(r.get("source", ""))]
    if r.get("before"):
        parts += ["--before", str(r["before"]), "--after", str(r.get("after"))]
    else:
        parts += ["--from", str(r.get("start")), "--to", str(r.get("end"))]
    return " ".join(parts)


def _figure_view(fig: Figure, report_dir: Path | None) -> dict[str, Any]:
    data = base64.b64encode(fig.path.read_bytes()).decode("ascii")
    href = (Path(os.path.relpath(fig.csv, report_dir)).as_posix()
            if report_dir is not None else "")
    return {"name": fig.name, "src": f"data:image/png;base64,{data}", "alt": fig.alt,
            "caption": fig.caption, "kind": fig.kind, "width": fig.size[0],
            "height": fig.size[1], "csv": fig.csv.name, "csv_href": href}


def report_view(result: CheckResult, figures: Sequence[Figure],
                context: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the template shows, as plain strings and lists (for tests and reuse)."""
    concession = result.concession
    attrs = dict(concession.attributes) if concession is not None else {}
    report_dir = context.get("report_dir")
    indeterminate = [(f"{_INDICATOR_WORDS.get(f.indicator, f.indicator)}, "
                      f"{where_words(f.zone, f.zone_id, _buffer_m(result))}", f.reason)
                     for f in result.findings if f.outcome == "indeterminate"]
    return {
        "name": _name(result), "concession_id": result.concession_id,
        "holder": attrs.get("holder") or "", "licence_number": attrs.get("licence_number") or "",
        "period": _range(*result.period), "standard": result.standard,
        "digest": result.standard_digest, "verdict": _verdict(result),
        "facts": _facts(result), "findings": _finding_rows(result),
        "maps": [_figure_view(f, None if report_dir is None else Path(report_dir))
                 for f in figures if f.kind == "map"],
        "charts": [_figure_view(f, None if report_dir is None else Path(report_dir))
                   for f in figures if f.kind != "map"],
        "availability": _availability(result), "notes": list(result.notes),
        "indeterminate": indeterminate, "skipped": [dict(s) for s in result.skipped_scenes],
        "fingerprint": context.get("fingerprint"), "package_id": context.get("package_id"),
        "verify_commands": VERIFY_COMMANDS, "rerun": _rerun(result),
        "provenance": _provenance(result, context),
        "generated_by": context.get("generated_by") or "Concession Monitor",
        "created": context.get("created") or "", "tier": context.get("tier") or "",
        "alert_id": context.get("alert_id") or "",
        "leads": [lead_words(lead) for lead in context.get("leads") or ()],
        "withheld": list(context.get("withheld") or ()),
    }


def lead_words(lead: Mapping[str, Any]) -> dict[str, str]:
    """A cited community lead in plain words (only what the package's tier shows)."""
    events = ", ".join(lead.get("events") or ()) or "none"
    answer = (f"Corroborated: a change over a limit lies within {lead['radius_m']:.0f} m of "
              f"the reported place (changes there: {events})." if lead.get("corroborated")
              else f"Not corroborated: no change over a limit within {lead['radius_m']:.0f} m "
                   f"of the reported place (changes there: {events}).")
    where = ""
    location = lead.get("location")
    if location:
        precision = float(location.get("precision_m") or 0)
        where = (f"{location['lat']:.6f}, {location['lon']:.6f}" if precision == 0 else
                 f"about {location['lat']:.4f}, {location['lon']:.4f} (to {precision:.0f} m)")
    reporter = lead.get("reporter") or {}
    who = ", ".join(str(v) for v in (reporter.get("name"), reporter.get("org"),
                                     reporter.get("contact")) if v)
    withheld = ", ".join(lead.get("withheld") or ())
    return {"lead_id": str(lead["lead_id"]), "seen_on": str(lead["seen_on"]),
            "answer": answer, "claim": str(lead.get("claim") or ""), "where": where,
            "who": who, "withheld": withheld}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("monitor.evidence", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_report(result: CheckResult, figures: Sequence[Figure],
                  context: Mapping[str, Any]) -> str:
    """Render the self-contained HTML report of a check.

    Parameters
    ----------
    result
        The result of :func:`monitor.check` (with its cube and concession).
    figures
        The figures from :func:`monitor.evidence.figures.make_figures` (embedded).
    context
        ``package_id``, ``fingerprint`` (None when unsigned), ``generated_by``; optional
        ``created`` (a date-time string), ``tier`` and ``report_dir`` (the folder the
        report is written to, for relative links to the CSVs). Missing keys are fine.

    Returns
    -------
    str
        The HTML page.
    """
    return _environment().get_template("report.html.j2").render(
        **report_view(result, figures, context))
