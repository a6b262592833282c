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
# # Reproduce a finding
#
# An evidence package says that a mining company cleared forest where its licence does not
# allow it. Should you believe it? This notebook checks the claim in four steps, without
# taking the monitor's word for anything it can check itself:
#
# 1. **Verify** the package: nobody changed a byte since it was signed, and it was signed
#    by the key you trust.
# 2. **Read** what it claims: the finding, the limit, and the inputs it rests on.
# 3. **Re-compute** the numbers: run the same check again on the same imagery, and then
#    re-compute the key numbers *by hand*, straight from the satellite files, with
#    nothing but `rasterio` and `numpy`.
# 4. **Look**: the before/after images and the time series.
#
# It runs on the demo portfolio (`make demo`, synthetic imagery: no account, no network).
# For a real package, set the variables in the next cell (or the environment variables
# they read) to the package, the publisher's public key, and where its inputs are.

# %%
import json
import os
import warnings
from pathlib import Path

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import rasterio
from IPython.display import Image, Markdown, display
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import geometry_mask
from rasterio.windows import from_bounds
from scipy import ndimage

from monitor.evidence.reproduce import reproduce
from monitor.evidence.verify import verify_package

# rasterio says this of the in-memory arrays that 20 m bands are resampled through: harmless
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
pd.set_option("display.max_colwidth", 120)

DEMO = Path(os.environ.get("MONITOR_DEMO_DIR", "../demo-output")).resolve()


def demo(*parts: str) -> Path:
    """A path in the demo output (what the defaults below point at)."""
    if not (DEMO / "run.yaml").is_file():
        raise FileNotFoundError(f"no demo output in {DEMO}: run `make demo` in the project "
                                "folder first (about a minute), or set MONITOR_DEMO_DIR, "
                                "or name your own package, key and inputs below")
    return DEMO.joinpath(*parts)


# The package to check (default: the demo's most serious vegetation-loss alert), the key
# you trust (obtained from the publisher, not from the package), and where the inputs are
# (the concession registry and the imagery the publisher used).
PACKAGE = os.environ.get("MONITOR_PACKAGE")
PUBLIC_KEY = Path(os.environ.get("MONITOR_PUBLIC_KEY") or demo("keys", "demo.pub"))
AOI = Path(os.environ.get("MONITOR_AOI") or demo("concessions.geojson"))
SOURCE = os.environ.get("MONITOR_SOURCE") or f"local:{demo('scenes')}"

# %% [markdown]
# If no package is named, take the demo's alert packages and pick the most serious
# vegetation-loss alert (a `violation` before a `warning`, then the larger area).

# %%
RANK = {"violation": 3, "warning": 2, "notice": 1}


def alert_packages(folder: Path) -> pd.DataFrame:
    """One row per alert package in ``folder``: its alert, indicator, severity and value."""
    rows = []
    for path in sorted(p for p in folder.iterdir() if (p / "data" / "summary.json").is_file()):
        summary = json.loads((path / "data" / "summary.json").read_text(encoding="utf-8"))
        if summary["scope"]["kind"] != "alert":
            continue
        alert = summary["alerts"][0]
        rows.append({"package": path.name, "concession_id": alert["concession_id"],
                     "indicator": alert["indicator"], "zone_id": alert["zone_id"],
                     "severity": alert["severity"], "value": alert["value"],
                     "unit": alert["unit"], "path": path})
    return pd.DataFrame(rows)


if PACKAGE is None:
    found = alert_packages(demo("run", "packages"))
    display(found.drop(columns="path"))
    vegetation = found[found.indicator == "vegetation_loss"].assign(
        rank=lambda t: t.severity.map(RANK)).sort_values(["rank", "value", "package"],
                                                         ascending=[False, False, True])
    PACKAGE = vegetation.path.iloc[0]
PACKAGE = Path(PACKAGE)
DATA = PACKAGE / "data"
print("package:", PACKAGE)

# %% [markdown]
# ## 1. Verify the package
#
# A package is a [BagIt](https://www.rfc-editor.org/rfc/rfc8493) folder: every file is
# listed with its SHA-256 and SHA-512 checksums, and the list of lists is signed with the
# publisher's Ed25519 key. `verify_package` checks all of it (the same as
# `monitor verify PACKAGE --public-key KEY` on the command line). A failed check means the
# package was changed, damaged, or signed by someone else: then stop, do not cite it.

# %%
report = verify_package(PACKAGE, PUBLIC_KEY)
display(pd.DataFrame([{"check": c.name, "status": c.status, "what it checked": c.detail}
                      for c in report.checks]))
print("key fingerprint:", report.fingerprint)
if not report.ok:
    raise RuntimeError(f"{PACKAGE} failed verification "
                       f"({', '.join(c.name for c in report.failed)}): do not trust its "
                       "numbers; ask the publisher for an intact copy")
print("VERIFIED: intact, and signed by the trusted key")

# %% [markdown]
# ## 2. What the package claims
#
# `data/summary.json` holds the findings: which zone, what was measured, the limit of the
# standard, and the verdict. `data/provenance.json` holds everything needed to redo the
# work: the request, the satellite scenes (with their processing baselines and how their
# pixel values convert to reflectance), the grid, and checksums of the concession
# boundaries and of the standard.

# %%
summary = json.loads((DATA / "summary.json").read_text(encoding="utf-8"))
provenance = json.loads((DATA / "provenance.json").read_text(encoding="utf-8"))
claims = pd.DataFrame(summary["findings"])[
    ["indicator", "zone", "zone_id", "value", "limit", "unit", "outcome", "severity",
     "onset", "event_id", "n_clear_obs", "reason"]]
display(claims)


def worst_first(f: dict) -> tuple:
    """Rank findings as the package's own figures do.

    Severity first, then exclusion zones, then the ratio to the limit, then the value.
    """
    value = f["value"] or 0.0
    ratio = value / f["limit"] if f["limit"] else (np.inf if value > 0 else 0.0)
    return RANK.get(f["severity"], 0), f["zone"] == "exclusion_zone", ratio, value


# the finding the package is about: an alert package's own, or a check package's worst
exceeding = [f for f in summary["findings"] if f["outcome"] == "exceedance"]
finding = max(exceeding, key=worst_first) if exceeding else summary["findings"][0]
display(Markdown(
    f"**The claim.** In *{summary['concession']['name']}* (licence "
    f"{summary['concession']['licence_number']}, held by {summary['concession']['holder']}),"
    f" zone *{finding['zone_id'].replace('_', ' ')}*, first seen on {finding['onset']}, "
    f"under the standard `{finding['standard']}`: {finding['reason']}."))
scenes = pd.DataFrame(provenance["inputs"])
print(f"{len(scenes)} scenes from {scenes.datetime.min()} to {scenes.datetime.max()}; "
      f"processing baselines {sorted(scenes.processing_baseline.unique())}; "
      f"{len(provenance['skipped_scenes'])} skipped")
display(pd.DataFrame(provenance["skipped_scenes"]))
display(pd.DataFrame([provenance["request"]]))

# %% [markdown]
# ## 3a. Re-run the same check
#
# `reproduce` reads the recorded request, checks that the concession boundaries and the
# standard here are byte-for-byte the ones used (their checksums), runs the check again,
# and compares every finding: outcomes, severities and counts must be identical, values
# may differ by at most 0.01 of their unit (the package writes rounded values).

# %%
again = reproduce(PACKAGE, source=SOURCE, aoi=AOI)
display(pd.DataFrame([{"check": c.name, "status": c.status, "detail": c.detail}
                      for c in again.checks]))
display(again.table())
print("REPRODUCED" if again.ok else "NOT REPRODUCED: see the problems above")

# %% [markdown]
# ## 3b. Re-compute by hand, without the monitor
#
# A re-run with the same software proves the numbers are what the software gives, not
# that the software is right. So here are the key numbers again, with only `rasterio`,
# `numpy` and `scipy`, following the method in the project's SCIENCE.md.
#
# This part re-computes vegetation-loss findings (the demo's default). For a turbidity or
# tailings package, steps 1 and 3a above have verified and reproduced it; its own time
# series and figures are shown in step 4.
#
# **The area.** A full (or coalition) package holds the map of confirmed loss
# (`rasters/vegetation_loss_confirmed.tif`, 10 m pixels: 1 pixel = 0.01 ha) and the exact
# zones (`vectors/zones.geojson`). Exclusion zones are judged on their own, so they are
# taken out of the other zones. A public package withholds the rasters and coarsens the
# exclusion zones (to protect sensitive places): then the area is not re-computed here,
# and the re-run above, from the imagery, is the check of it.

# %%
VEGETATION = finding["indicator"] == "vegetation_loss"
grid = provenance["grid"]
crs = grid["crs"]
height, width = grid["shape"]
transform = rasterio.Affine(*grid["transform"])
pixel_ha = abs(transform.a * transform.e) / 10_000
bounds = (transform.c, transform.f + height * transform.e, transform.c + width * transform.a,
          transform.f)


def burn(geometry) -> np.ndarray:
    """The grid's pixels whose centre lies inside ``geometry`` (True = inside)."""
    return ~geometry_mask([geometry], (height, width), transform)


def confirmed_loss_ha(zone: str, zone_id: str) -> float:
    """Confirmed loss in one zone, from the package's raster and zone outlines."""
    zones = gpd.read_file(DATA / "vectors" / "zones.geojson").to_crs(crs)
    with rasterio.open(DATA / "rasters" / "vegetation_loss_confirmed.tif") as src:
        confirmed = src.read(1).astype(bool)
    in_zone = burn(zones[(zones.zone == zone) & (zones.zone_id == zone_id)].geometry.iloc[0])
    if zone != "exclusion_zone":
        for geom in zones[zones.zone == "exclusion_zone"].geometry:
            in_zone &= ~burn(geom)
    return round(float((confirmed & in_zone).sum() * pixel_ha), 2)


tier = summary["edition"]["tier"]
AREA_BY_HAND = VEGETATION and (DATA / "rasters" / "vegetation_loss_confirmed.tif").is_file()
if AREA_BY_HAND:
    by_hand_ha = confirmed_loss_ha(finding["zone"], finding["zone_id"])
    print(f"confirmed loss in the {finding['zone'].replace('_', ' ')}: {by_hand_ha} ha by "
          f"hand, {finding['value']} ha in the package")
elif VEGETATION:
    print(f"a {tier} package: no loss raster to count (the tier withholds rasters)")
else:
    print(f"a {finding['indicator']} finding: the by-hand part is for vegetation loss")

# %% [markdown]
# **The time series.** For every scene the package lists, read the red and near-infrared
# bands and the scene classification (SCL) from the satellite files, over the package's
# grid. A pixel counts when it holds data, is not cloud, cirrus, shadow or saturated, is
# at least 3 pixels from a cloud or shadow (SCL misses their edges), and is vegetation,
# bare soil or unclassified (SCL 4, 5, 7). Convert to reflectance with each scene's own
# scale and offset (recorded in the provenance: the offset changed with processing
# baseline 04.00 in January 2022), compute NDVI = (nir - red) / (nir + red), and take the
# median over the clear pixels of the change area.

# %%
# The scene files are read where a local source keeps them (a folder per scene with its
# scene.json); for imagery from a STAC API or Sentinel Hub, the re-run above is the check.
SERIES_BY_HAND = VEGETATION and bool(finding.get("event_id")) and SOURCE.startswith("local:")
folder_of = {}  # scene id -> its folder of band files
for folder in Path(SOURCE.removeprefix("local:")).iterdir() if SERIES_BY_HAND else ():
    if (folder / "scene.json").is_file():
        folder_of[json.loads((folder / "scene.json").read_text())["scene_id"]] = folder
disc = np.add.outer(np.arange(-3, 4) ** 2, np.arange(-3, 4) ** 2) <= 9  # 3-pixel disc


def read_band(folder: Path, band: str) -> np.ndarray:
    """One band of a scene on the package's grid (nearest neighbour for 20 m bands)."""
    with rasterio.open(folder / f"{band}.tif") as src:
        window = from_bounds(*bounds, transform=src.transform)
        return src.read(1, window=window, boundless=True, fill_value=0,
                        out_shape=(height, width), resampling=Resampling.nearest)


def ndvi_by_hand(scene: dict, area: np.ndarray) -> tuple[float, int]:
    """Median NDVI of the clear pixels of ``area`` in one scene, and how many there are."""
    folder = folder_of[scene["scene_id"]]
    dn = {b: read_band(folder, b) for b in ("blue", "green", "red", "nir", "nir08",
                                           "swir16", "swir22")}
    scl = read_band(folder, "scl")
    has_data = np.all([v != 0 for v in dn.values()], axis=0)
    near_cloud = ndimage.binary_dilation(np.isin(scl, (8, 9)), structure=disc)
    near_shadow = ndimage.binary_dilation(np.isin(scl, (3, 10)), structure=disc)
    clear = has_data & ~near_cloud & ~near_shadow & np.isin(scl, (4, 5, 7))
    red = dn["red"] * scene["scale"] + scene["offset"]
    nir = dn["nir"] * scene["scale"] + scene["offset"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (nir - red) / (nir + red)
    values = ndvi[area & clear]
    return (float(np.median(values)) if values.size else np.nan), int(values.size)


if SERIES_BY_HAND:
    changes = gpd.read_file(DATA / "vectors" / "changes.geojson").to_crs(crs)
    event_area = burn(changes[changes.event_id == finding["event_id"]].geometry.iloc[0])
    print(f"change area: {event_area.sum() * pixel_ha:.2f} ha")
    by_hand = pd.DataFrame(
        [{"date": s["datetime"][:10], "scene_id": s["scene_id"],
          **dict(zip(("ndvi_by_hand", "clear_px_by_hand"), ndvi_by_hand(s, event_area),
                     strict=True))} for s in provenance["inputs"]])
    recorded = pd.read_csv(DATA / "stats" / "timeseries_vegetation_loss.csv")
    both = recorded.merge(by_hand, on=["date", "scene_id"], how="outer", indicator=True)
    ndvi_diff = float((both.ndvi_by_hand - both.median_ndvi_event_area).abs().max())
    px_diff = int((both.clear_px_by_hand - both.n_clear_px_event_area).abs().max())
    print(f"{len(by_hand)} scenes by hand, {len(recorded)} in the package, "
          f"{int((both._merge != 'both').sum())} on one side only")
    print(f"largest difference: NDVI {ndvi_diff:.1e}, clear pixels {px_diff}")

# %% [markdown]
# ## 4. Look at it
#
# The before/after pair the package chose (the clearest scenes on either side of the
# change), drawn with the concession's zones, and the package's time series; for
# vegetation loss, the NDVI of the change area by hand over the package's own numbers.

# %%
for name in ("before_true_colour", "after_true_colour", "ndvi_change",
             f"timeseries_{finding['indicator']}"):
    if (DATA / "figures" / f"{name}.png").is_file():
        display(Image(filename=str(DATA / "figures" / f"{name}.png"), width=560))

# %%
def plot_by_hand(both: pd.DataFrame) -> None:
    """The change area's NDVI, by hand over the package's numbers."""
    series = both.assign(date=pd.to_datetime(both.date)).sort_values("date")
    _, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(series.date, series.median_ndvi_event_area, "o", color="0.6", ms=7,
            label="in the package")
    ax.plot(series.date, series.ndvi_by_hand, ".-", color="tab:green", lw=1,
            label="re-computed by hand")
    ax.axvline(pd.Timestamp(finding["onset"]), color="tab:red", ls="--",
               label=f"first seen {finding['onset']}")
    ax.axvspan(*[pd.Timestamp(d) for d in summary["period"]], color="0.92", zorder=0,
               label="period checked")
    ax.set_ylabel("median NDVI, change area")
    ax.set_title("Vegetation in the change area, clear observations only")
    ax.legend(loc="lower left", fontsize=8)
    plt.show()


if SERIES_BY_HAND:
    plot_by_hand(both)

# %% [markdown]
# ## Conclusion

# %%
steps = [("verified (intact, trusted signature)", report.ok),
         ("re-run gives the same findings", again.ok)]
if AREA_BY_HAND:
    steps += [("area re-computed by hand", abs(by_hand_ha - float(finding["value"])) <= 0.01)]
if SERIES_BY_HAND:
    steps += [("time series re-computed by hand",
               ndvi_diff < 1e-4 and px_diff == 0 and bool((both._merge == "both").all()))]
verdict = pd.DataFrame(steps, columns=["step", "result"])
display(verdict)
if verdict.result.all():
    display(Markdown(
        f"**Reproduced.** The package is intact and signed by the trusted key, and the same "
        f"check on the same scenes gives the same findings ({finding['value']} "
        f"{finding['unit']} against a limit of {finding['limit']} {finding['unit']}"
        f"{'; by hand too' if AREA_BY_HAND else ''}"
        f"{'; and by hand, the same time series from the scene files' if SERIES_BY_HAND else ''}"
        "). What remains is what no satellite can "
        "say: who did it, and whether a permit missing from the registry allowed it."))
else:
    display(Markdown("**Not reproduced**: see the steps marked False above."))
