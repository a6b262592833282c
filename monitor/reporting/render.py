"""Write an indicator report: report.html, concessions.csv, members.csv and report.json.

Every file is written atomically (:func:`monitor.fsio.write_atomic`). The CSV and JSON
files hold no wall-clock time, so the same store and period give byte-identical files;
the HTML page carries its generation time in a separate footer only. The page is
self-contained (inline CSS, no scripts, fonts or links) and every value passes through
Jinja2's autoescaping.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from monitor.errors import ReportWriteError
from monitor.findings import SEVERITIES
from monitor.fsio import write_atomic
from monitor.reporting.build import NO_FINDINGS, IndicatorReport
from monitor.reporting.indicators import ALERT_STATES, INDICATORS, LOSS_ZONES, REVIEWS

__all__ = ["FILES", "ReportWriteError", "render_csv", "render_html", "render_json",
           "write_report"]

#: The files of a report, in the order they are written.
FILES = ("concessions.csv", "members.csv", "report.json", "report.html")
_ZONE_WORDS = {"permitted_footprint": "Inside permitted footprint",
               "licence_outside_footprint": "Licence outside footprint",
               "exclusion_zone": "Exclusion zones", "buffer_ring": "Buffer ring"}
_INDICATOR_WORDS = {"vegetation_loss": "vegetation", "turbidity": "turbidity",
                    "tailings": "tailings"}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " | ".join(str(v) for v in value)
    return str(value)


def render_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> bytes:
    """CSV bytes: UTF-8, LF line ends, empty cell = not available, lists joined by ``|``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in columns])
    return buffer.getvalue().encode("utf-8")


def render_json(report: IndicatorReport) -> bytes:
    """``report.json`` bytes (sorted by the report, not by key; two-space indent)."""
    return (json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _ha(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def _num(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("monitor.reporting", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(ha=_ha, num=_num, share=_share)
    return env


def render_html(report: IndicatorReport, generated_at: datetime | None = None) -> str:
    """The self-contained HTML page (``generated_at`` goes into the footer only)."""
    when = (generated_at or datetime.now(UTC)).astimezone(UTC)
    template = _environment().get_template("indicator_report.html.j2")
    return template.render(
        report=report, data=report.to_dict(), no_findings=NO_FINDINGS,
        loss_zones=[(z, _ZONE_WORDS[z]) for z in LOSS_ZONES], severities=SEVERITIES,
        alert_states=ALERT_STATES, reviews=REVIEWS,
        indicators=[(i, _INDICATOR_WORDS[i]) for i in INDICATORS],
        generated_at=when.strftime("%Y-%m-%d %H:%M UTC"))


def write_report(report: IndicatorReport, out: Path,
                 generated_at: datetime | None = None) -> dict[str, Path]:
    """Write the four files into ``out`` (created when missing); return their paths.

    Raises
    ------
    ReportWriteError
        The folder cannot be created or a file cannot be written; files already written
        stay complete (each is replaced atomically).
    """
    concessions = report.concession_rows()
    members = report.member_rows()
    contents = {
        "concessions.csv": render_csv(concessions, report.concession_columns()),
        "members.csv": render_csv(members, report.member_columns()),
        "report.json": render_json(report),
        "report.html": render_html(report, generated_at).encode("utf-8"),
    }
    paths: dict[str, Path] = {}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            path = out / name
            write_atomic(path, contents[name], mode=0o644)
            paths[name] = path
    except OSError as exc:
        raise ReportWriteError(f"cannot write the report into {out} ({exc}); pass another "
                               "--out folder or fix its permissions") from exc
    return paths

