# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     notebook_metadata_filter: -jupytext.text_representation
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Portfolio overview
#
# A coalition-level view of one scheduled run (`monitor run CONFIG`): where each
# concession stands, which alerts are open and how serious they are, and how much the
# satellites could see. Everything here is read from the run's own records, without
# touching them: the run ledger, the indicator report, the alert exports and the check
# packages.
#
# It runs on the demo portfolio (`make demo`). For your own portfolio set
# `MONITOR_RUN_CONFIG` to its run config; `MONITOR_RUN_ID` picks a run (default: the
# latest run that read new imagery; a "nothing new" run has nothing to show).

# %%
import json
import os
from pathlib import Path

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.patches import Patch

from monitor.reporting.build import build_report
from monitor.reporting.data import ReportPeriod
from pipelines.config import load_run_config
from pipelines.ledger import Ledger

pd.set_option("display.max_colwidth", 90)

DEMO = Path(os.environ.get("MONITOR_DEMO_DIR", "../demo-output")).resolve()
CONFIG = Path(os.environ.get("MONITOR_RUN_CONFIG", DEMO / "run.yaml"))
if not CONFIG.is_file():
    raise FileNotFoundError(f"no run config {CONFIG}: run `make demo` in the project folder "
                            "first (about a minute), or set MONITOR_RUN_CONFIG")
config = load_run_config(CONFIG)
RUN_ID = os.environ.get("MONITOR_RUN_ID")

# %% [markdown]
# ## The runs
#
# The ledger (`STATE/ledger.sqlite`) records every run: when, which units of work
# (concession x indicator) succeeded or failed, and the run's summary.

# %%
with Ledger(config.ledger_path, create=False) as ledger:
    runs = ledger.runs()
    display(pd.DataFrame([{"run_id": r.run_id, "started": r.started_at, "status": r.status,
                           "since": r.since_mode, "units ok": r.counts.get("ok", 0),
                           "units failed": r.counts.get("failed", 0),
                           "scenes read": r.summary.get("scenes_read"),
                           "verdict": r.summary.get("verdict")} for r in runs]))
    worked = [r for r in runs if (r.summary.get("scenes_read") or 0) > 0]
    if RUN_ID is None and not worked:
        raise LookupError(f"no run in {config.ledger_path} read any imagery yet: run "
                          f"`monitor run {CONFIG}` first")
    chosen = ledger.run(RUN_ID) if RUN_ID else worked[0]
    units = pd.DataFrame([{"concession_id": u.concession_id, "indicator": u.indicator,
                           "status": u.status, "reason": u.reason, "scenes": len(u.scenes),
                           "last_acquisition": u.last_acquisition,
                           "clear_observations": u.stats.get("clear_observations"),
                           "findings": u.stats.get("findings"),
                           "exceedances": u.stats.get("exceedances"),
                           "seconds": u.seconds} for u in ledger.units(chosen.run_id)])
start, end = (pd.Timestamp(d).date() for d in chosen.summary["period"])
display(Markdown(f"**Run `{chosen.run_id}`**, period {start} to {end}: "
                 f"{chosen.summary.get('verdict')}"))
display(units)

# %% [markdown]
# ## Where each concession stands
#
# The indicator report of the run's period (the same numbers as `monitor report`) counts
# each concession's findings and alerts. A concession's status is the most serious thing
# about it, in this order:
#
# | status | meaning |
# | --- | --- |
# | failed | a unit of work failed: no verdict (see its reason; the next run retries) |
# | violation, warning, notice | the most serious alert with a finding in the period |
# | indeterminate | no exceedance, but some zone could not be seen well enough to judge |
# | compliant | every finding compliant |
# | not checked | in the registry, but no finding in the period |

# %%
report = build_report(config.alerts_path, ReportPeriod(start, end), aoi=config.registry)
rows = pd.DataFrame(report.concession_rows()).set_index("concession_id")
failed = set(units[units.status == "failed"].concession_id)


def status(cid: str, row: pd.Series) -> str:
    """The concession's status, by the table above."""
    if cid in failed:
        return "failed"
    for severity in ("violation", "warning", "notice"):
        if row[f"alerts_{severity}"] > 0:
            return severity
    if row["findings_recorded"] == 0:
        return "not checked"
    return "indeterminate" if row["indeterminate"] > 0 else "compliant"


rows["status"] = [status(cid, row) for cid, row in rows.iterrows()]
display(rows[["name", "member", "status", "findings_recorded", "exceedances",
              "indeterminate", "alerts_violation", "alerts_warning", "alerts_notice",
              "loss_ha_total", "turbidity_exceedance_days",
              "tailings_growth_outside_footprint_ha"]])

# %% [markdown]
# ### Map
#
# Licence boundaries coloured by status; the alerts' change areas (from
# `exports/alerts.geojson`) in black.

# %%
COLOURS = {"failed": "black", "violation": "#c0392b", "warning": "#e67e22",
           "notice": "#f1c40f", "indeterminate": "#95a5a6", "compliant": "#27ae60",
           "not checked": "white"}
registry = gpd.read_file(config.registry)
licences = registry[registry.feature_type == "licence"].merge(
    rows[["status"]], left_on="concession_id", right_index=True, how="left")
licences["status"] = licences.status.fillna("not checked")
alerts = gpd.read_file(config.output / "exports" / "alerts.geojson")
crs = licences.estimate_utm_crs()
licences, alerts = licences.to_crs(crs), alerts.to_crs(crs)
ax = licences.plot(color=licences.status.map(COLOURS), edgecolor="k", linewidth=0.8,
                   alpha=0.75, figsize=(7, 7))
if len(alerts):
    alerts.boundary.plot(ax=ax, color="black", linewidth=0.6)
for _, lic in licences.iterrows():
    point = lic.geometry.representative_point()
    ax.annotate(f"{lic.concession_id}\n{lic.status}", (point.x, point.y), fontsize=8,
                ha="center", va="center")
ax.legend(handles=[Patch(facecolor=c, edgecolor="k", label=s) for s, c in COLOURS.items()
                   if s in set(licences.status)], loc="upper left", fontsize=8)
ax.set_title(f"Concessions by status, {start} to {end}")
ax.set_axis_off()
plt.show()

# %% [markdown]
# ## Alerts by severity
#
# Each alert is one change event in one zone that broke a limit: `notice` while it is
# provisional, `warning` once confirmed, `violation` when confirmed and at least twice
# the limit (or repeated). The full list is in `exports/alerts.geojson` and `.gpkg`, and
# `monitor alerts --state STATE list` reviews them.

# %%
severities = ["violation", "warning", "notice"]
counts = rows[[f"alerts_{s}" for s in severities]].set_axis(severities, axis=1)
ax = counts.plot.barh(stacked=True, color=[COLOURS[s] for s in severities], figsize=(8, 3))
ax.set_xlabel("alerts with a finding in the period")
ax.set_ylabel("")
ax.invert_yaxis()
plt.show()
columns = ["concession_id", "indicator", "zone_id", "severity", "state", "review", "onset",
           "value", "limit", "unit", "standard"]
display(pd.DataFrame(alerts.drop(columns="geometry"))[columns].sort_values(
    ["concession_id", "severity", "onset"]))

# %% [markdown]
# ## Data availability
#
# Clouds decide what a satellite can see. Each check package holds, per acquisition, the
# share of the licence seen clear (`stats/data_availability.csv`); the chart shows them
# for the run's period, one row per concession. Long pale stretches are when nothing
# could be judged, which is why a finding can be `indeterminate` rather than compliant.

# %%
availability = {}
for path in sorted((config.output / "packages").iterdir()):
    summary_file = path / "data" / "summary.json"
    if not summary_file.is_file():
        continue
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    if summary["scope"]["kind"] != "check" or summary["period"] != chosen.summary["period"]:
        continue
    table = pd.read_csv(path / "data" / "stats" / "data_availability.csv")
    table = table[table.in_period & (table.status == "used")]
    availability[summary["concession"]["concession_id"]] = table.set_index("date")[
        "clear_fraction"]
if not availability:
    display(Markdown("No check package for this run's period (`packages.build` is off in "
                     "the run config): no availability to show."))
else:
    grid = pd.DataFrame(availability).T.sort_index()
    _, ax = plt.subplots(figsize=(10, 0.5 * len(grid) + 1.5))
    image = ax.imshow(np.ma.masked_invalid(grid.to_numpy(float)), aspect="auto",
                      cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(range(len(grid)), grid.index)
    ticks = list(range(0, grid.shape[1], max(1, grid.shape[1] // 8)))
    ax.set_xticks(ticks, [grid.columns[i] for i in ticks], rotation=30, ha="right")
    plt.colorbar(image, ax=ax, label="clear share of the licence")
    ax.set_title("What the satellites saw, per acquisition")
    plt.show()
    display(pd.DataFrame({"acquisitions": grid.notna().sum(axis=1),
                          "mostly clear (>= 80 %)": (grid >= 0.8).sum(axis=1),
                          "median clear share": grid.median(axis=1).round(2)}))
