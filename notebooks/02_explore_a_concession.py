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
# # Explore a concession
#
# Load one concession and its satellite imagery, watch its indicators through time, and
# then ask "what if": what would the verdict be under another limit, under the standard's
# next version, or with a stricter detection rule?
#
# It runs on the demo portfolio (`make demo`: synthetic imagery, no account, no network).
# The default concession is `demo-plume`, an alluvial gold mine on a river; set
# `MONITOR_CONCESSION` (or `CONCESSION` below) to look at another one.

# %%
import os
import tempfile
import warnings
from datetime import timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml
from IPython.display import Markdown, display
from rasterio.errors import NotGeoreferencedWarning

import monitor
from monitor.compliance import evaluate, reevaluate
from monitor.config import default_standard_path, load_standards, parse_standard
from monitor.config_versions import StandardSet
from monitor.evidence.figures import draw_figures
from monitor.zonal import burn, zone_masks
from pipelines.config import load_run_config

# rasterio says this of the in-memory arrays that 20 m bands are resampled through: harmless
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
pd.set_option("display.max_colwidth", 100)

DEMO = Path(os.environ.get("MONITOR_DEMO_DIR", "../demo-output")).resolve()
if not (DEMO / "run.yaml").is_file():
    raise FileNotFoundError(f"no demo output in {DEMO}: run `make demo` in the project "
                            "folder first (about a minute), or set MONITOR_DEMO_DIR")
CONCESSION = os.environ.get("MONITOR_CONCESSION", "demo-plume")
# The registry, the imagery and the period of the demo's scheduled run (DEMO/run.yaml).
run = load_run_config(DEMO / "run.yaml")
AOI, SOURCE = run.registry, run.source
START, END = run.period.resolved()
print(f"{CONCESSION}: {START} to {END}, imagery from {SOURCE}")

# %% [markdown]
# ## 1. The concession
#
# The registry holds each concession's licence boundary and what lies inside and around
# it: the permitted footprint (where clearing is allowed), exclusion zones (no clearing at
# all), tailings facilities and river reaches upstream and downstream of the mine. The
# monitor turns them into *zones*, each judged by its own limit; the buffer ring is the
# band outside the licence, as wide as the standard says (500 m here).

# %%
registry = monitor.load_concessions(AOI)
concession = registry[CONCESSION]
display(pd.DataFrame([{k: v for k, v in concession.attributes.items() if v is not None}]))
zones = concession.zones(500.0)
outlines = zones.as_geodataframe(concession.crs)
display(outlines.drop(columns="geometry"))

colours = {"permitted_footprint": "tab:olive", "licence_outside_footprint": "tab:orange",
           "buffer_ring": "0.85", "exclusion_zone": "tab:red", "tailings_facility": "tab:brown",
           "water_reach": "tab:blue"}
ax = outlines.plot(color=outlines.zone.map(colours).fillna("0.5"), edgecolor="k",
                   linewidth=0.4, alpha=0.8, figsize=(6, 6))
for zone, colour in colours.items():
    if zone in set(outlines.zone):
        ax.plot([], [], "s", color=colour, label=zone.replace("_", " "))
ax.legend(loc="upper left", fontsize=8)
ax.set_title(concession.name, fontsize=10)
ax.set_axis_off()
plt.show()

# %% [markdown]
# ## 2. Its imagery
#
# `monitor.load_cube` reads every Sentinel-2 scene over the licence and its buffer into one
# data cube: reflectance bands through time on a 10 m grid, plus masks of which pixels are
# clear (no cloud, shadow or haze) for each indicator. Scenes are converted to reflectance
# according to their processing baseline, so the January 2022 change in how Sentinel-2
# numbers are offset does not look like change on the ground.

# %%
cube = monitor.load_cube(SOURCE, concession, START - timedelta(days=365), END,
                         buffer_m=zones.buffer_m).compute()
display(cube)
licence = burn(concession.licence, cube.odc.geobox)
clear_share = cube["clear"].values[:, licence].mean(axis=1)
dates = pd.to_datetime(cube.time.values)
print(f"{len(dates)} acquisitions; the licence is mostly clear (>= 80 %) on "
      f"{int((clear_share >= 0.8).sum())} of them, fully clouded (< 5 %) on "
      f"{int((clear_share < 0.05).sum())}")
_, ax = plt.subplots(figsize=(9, 2.5))
ax.bar(dates, clear_share, width=3, color="tab:blue")
ax.set_ylabel("clear share of the licence")
ax.set_title("Data availability: how much of the licence each acquisition saw")
plt.show()

# %% [markdown]
# ## 3. Indicators through time
#
# First by hand, from the cube: the median NDVI (greenness) of the clear pixels of each
# zone on each date, and for river reaches the median turbidity (Nechad et al. 2016,
# from the red band) of their clear water pixels. A clearing shows as a drop in NDVI that
# stays; a sediment plume as downstream turbidity rising above upstream.

# %%
ndvi = monitor.indices.compute("ndvi", cube).values
masks = zone_masks(zones, cube.odc.geobox)


def zone_medians(values: np.ndarray, clear: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per date, the median of ``values`` over the clear pixels of ``mask`` (NaN if none)."""
    picked = np.where(clear[:, mask], values[:, mask], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # dates with no clear pixel
        return np.nanmedian(picked, axis=1)


_, ax = plt.subplots(figsize=(9, 3.5))
for zm in masks:
    if zm.zone != "water_reach":
        series = pd.Series(zone_medians(ndvi, cube["clear_vegetation"].values, zm.mask),
                           dates).dropna()
        ax.plot(series.index, series.values, ".-", lw=1,
                color=colours.get(zm.zone, "0.4"), label=zm.zone_id.replace("_", " "))
ax.axvspan(pd.Timestamp(START), pd.Timestamp(END), color="0.93", zorder=0,
           label="period checked")
ax.set_ylabel("median NDVI")
ax.legend(fontsize=8, loc="lower left")
ax.set_title("Greenness by zone")
plt.show()

reaches = [zm for zm in masks if zm.zone == "water_reach"]
if reaches:
    turbidity = monitor.indices.compute("turbidity_nechad2016_b04", cube).values
    _, ax = plt.subplots(figsize=(9, 3))
    for zm in reaches:
        series = pd.Series(zone_medians(turbidity, cube["clear_water"].values, zm.mask),
                           dates).dropna()
        role = zones.water_reaches[zm.zone_id].role
        ax.plot(series.index, series.values, ".-", lw=1, label=f"{zm.zone_id} ({role})")
    ax.axvspan(pd.Timestamp(START), pd.Timestamp(END), color="0.93", zorder=0)
    ax.set_ylabel("median turbidity, FNU")
    ax.legend(fontsize=8)
    ax.set_title("River turbidity, clear water pixels")
    plt.show()

# %% [markdown]
# Then the monitor's own check for the period: every indicator that applies, its findings
# against the standard, and the figures an evidence package would hold.

# %%
result = monitor.check(CONCESSION, aoi=AOI, source=SOURCE, start=START, end=END)
findings = pd.DataFrame([f.to_dict() for f in result.findings])
display(findings[["indicator", "zone", "zone_id", "value", "limit", "unit", "outcome",
                  "severity", "reason"]])
for name, drawn in draw_figures(result):
    if name.startswith("timeseries_"):
        display(Markdown(f"**{name}**: {drawn.caption}"))
        display(drawn.figure)

# %% [markdown]
# ## 4. What if?
#
# A verdict is a measurement compared with a limit. The limits live in the standard, a
# YAML file (`configs/standards/default.yaml`); here we change them and see what happens.
#
# **Other limits.** Limits are applied after the measurement, so the same indicator
# results can be judged again instantly: make a copy of the standard with its limits
# loosened (x 1.5, x 2, ...), and evaluate. Which limits depends on what the concession
# has: a turbidity episode has two criteria, the difference to the upstream reach and the
# ratio to the reach's own baseline, so both are loosened together.

# %%
base_text = default_standard_path().read_text(encoding="utf-8")
standards = load_standards(default_standard_path())
kinds = {r.indicator for r in result.results}
LIMITS = (["turbidity.limits.downstream_minus_upstream_fnu",
           "turbidity.limits.baseline_factor"] if "turbidity" in kinds else
          ["tailings.limits.facility_growth_fraction"] if "tailings" in kinds else
          ["vegetation_loss.limits.licence_outside_footprint"])


def what_if_text(changes: dict[str, object], standard_id: str = "what-if") -> str:
    """The default standard's YAML with some values changed, under another id."""
    doc = yaml.safe_load(base_text)
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        node = doc
        for key in path:
            node = node[key]
        node[last] = value
    doc.update(id=standard_id, title=f"what if: {changes}")
    return yaml.safe_dump(doc, sort_keys=False)


def what_if(changes: dict[str, object], standard_id: str = "what-if") -> StandardSet:
    """The default standard with some values changed, under another id, loaded."""
    return StandardSet((parse_standard(what_if_text(changes, standard_id), "what-if"),))


in_force = standards.in_force("default", END).model_dump(mode="json")
current = {key: float(in_force[key.split(".")[0]]["limits"][key.split(".")[-1]])
           for key in LIMITS}
indicator = LIMITS[0].split(".")[0]
chosen = next(r for r in result.results if r.indicator == indicator)
rows = []
for factor in (1, 1.5, 2, 3, 5):
    limits = {key: value * factor for key, value in current.items()}
    for f in evaluate(chosen, what_if(limits), "what-if"):
        if f.zone in ("water_reach", "tailings_facility") or f.zone == LIMITS[0].split(".")[-1]:
            rows.append({"factor": factor, **{k.split(".")[-1]: v for k, v in limits.items()},
                         "zone_id": f.zone_id, "outcome": f.outcome, "severity": f.severity,
                         "reason": f.reason})
sweep = pd.DataFrame(rows)
print("limits in the standard:", current)
display(sweep)

# %% [markdown]
# **The standard's next version.** Standards change. `default-v1.1.yaml` is a worked
# example of a revision: from 1 July 2022 the buffer-ring limit for vegetation loss falls
# from 0.5 to 0.25 ha. Findings always record the version they were made under; judging
# the same results under each version shows what the revision changes.

# %%
versions = load_standards([default_standard_path(),
                           default_standard_path().with_name("default-v1.1.yaml")])
vegetation = next(r for r in result.results if r.indicator == "vegetation_loss")
compare = []
for version in ("1.0", "1.1"):
    for f in reevaluate(vegetation, versions, version):
        compare.append({"version": version, "zone_id": f.zone_id, "value": f.value,
                        "limit": f.limit, "outcome": f.outcome, "severity": f.severity})
compare = pd.DataFrame(compare)
display(compare.pivot_table(index="zone_id", columns="version",
                            values=["limit", "outcome", "severity"], aggfunc="first"))

# %% [markdown]
# **A stricter detection rule.** Detection settings (how large a drop in NDVI counts as
# loss, how many observations confirm it) act on the pixels, so the check must run again.
# Here a pixel must lose 0.3 NDVI instead of 0.15 to be flagged.

# %%
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "stricter.yaml"
    path.write_text(what_if_text({"vegetation_loss.parameters.min_drop": 0.3}, "stricter"),
                    encoding="utf-8")
    strict = monitor.check(CONCESSION, aoi=AOI, source=SOURCE, start=START, end=END,
                           standard=path, standard_id="stricter",
                           indicators=["vegetation_loss"])
side = pd.DataFrame(
    [{"zone_id": f.zone_id, "rule": "min_drop 0.15 (standard)", "loss_ha": f.value,
      "outcome": f.outcome} for f in result.findings if f.indicator == "vegetation_loss"]
    + [{"zone_id": f.zone_id, "rule": "min_drop 0.3 (stricter)", "loss_ha": f.value,
        "outcome": f.outcome} for f in strict.findings])
display(side.pivot_table(index="zone_id", columns="rule", values=["loss_ha", "outcome"],
                         aggfunc="first"))
