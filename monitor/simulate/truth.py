"""Ground truth of the demo portfolio: event rasters, areas, dates and per-scene facts.

Truth rasters are on the 10 m grid of the scenes (zeros outside the demo block), restricted
to each concession's licence (pixel-centre rule, as the registry is rasterised):

``<id>/vegetation_loss.tif``
    uint8, 1 where forest became soil or tailings between the first and the last
    acquisition (pixel majority, i.e. at least half the pixel changed).
``<id>/vegetation_loss_date.tif``
    uint16, onset of that loss in days since 1970-01-01 (0 elsewhere).
``<id>/water.tif``
    uint8, 1 where the pixel is at least half water on every date (persistent water).
``demo-tailings/tailings_before.tif``, ``tailings_after.tif``
    uint8, 1 bare tailings, 2 tailings pond, at the first and the last acquisition.

Areas are pixel counts x 0.01 ha and therefore match the rasters exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import Polygon

from monitor.simulate import layout as lay
from monitor.simulate import spectra as sp
from monitor.simulate.fields import upsample2
from monitor.simulate.surface import EPOCH, Block, block_fractions, centre_mask, epoch_day

BoolA = NDArray[np.bool_]
HA_PER_PX = 0.01
N = lay.BLOCK_PX


def _ha(mask: BoolA) -> float:
    return round(float(mask.sum()) * HA_PER_PX, 2)


def _union(masks: list[BoolA]) -> BoolA:
    out = np.zeros((N, N), bool)
    for m in masks:
        out |= m
    return out


@dataclass
class ConcessionZones:
    """Pixel-centre masks of one concession's registry features (demo block)."""

    licence: BoolA
    footprint: BoolA
    exclusion: BoolA
    facility: BoolA
    reaches: dict[str, tuple[str, BoolA]]  # role -> (reach_id, mask)

    def zone_of(self) -> dict[str, BoolA]:
        """Exclusive zones inside the licence (exclusion zones take precedence)."""
        excl = self.exclusion & self.licence
        foot = self.footprint & self.licence & ~excl
        return {"permitted_footprint": foot, "exclusion_zone": excl,
                "licence_outside_footprint": self.licence & ~foot & ~excl}


@dataclass
class BlockTruth:
    """Static truth of the demo block plus what each scene showed of it."""

    block: Block
    first_day: date
    last_day: date
    zones: dict[str, ConcessionZones]
    water_persistent: BoolA
    patches: dict[str, BoolA]  # event id -> event pixels (whole event, majority rule)
    clear: dict[str, dict[str, float]] = field(default_factory=dict)  # scene -> cid -> frac
    patch_clear: dict[str, dict[str, float]] = field(default_factory=dict)
    reach_obs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def make(cls, block: Block, registry: lay.Registry, first_day: date, last_day: date
             ) -> BlockTruth:
        """Rasterise the registry zones and the event patches of the demo block."""
        zones: dict[str, ConcessionZones] = {}
        for c in lay.CONCESSIONS:
            feats = [f for f in registry.features if f.concession_id == c.concession_id]

            def m(ft: str, fs: list[lay.Feature] = feats) -> BoolA:
                return _union([centre_mask(f.geometry, N, N) for f in fs if f.feature_type == ft])

            reaches = {f.role or "": (f.reach_id or "", centre_mask(f.geometry, N, N))
                       for f in feats if f.feature_type == "water_reach"}
            zones[c.concession_id] = ConcessionZones(
                m("licence"), m("permitted_footprint"), m("exclusion_zone"),
                m("tailings_facility"), reaches)
        first = block_fractions(block, first_day)
        last = block_fractions(block, last_day)

        def water(fr: dict[str, NDArray[np.float32]]) -> BoolA:
            out: BoolA = (fr["river"] + fr["lake"] + fr["pond"]) >= 0.5
            return out

        patches = {tr.event_id: tr.fraction >= 0.5 for tr in block.transitions
                   if tr.source == "forest"}
        return cls(block, first_day, last_day, zones, water(first) & water(last), patches)

    # -- per scene -----------------------------------------------------------------------
    def observe(self, acq: Any, rw: Any, r0: int, c0: int) -> None:
        """Record what scene ``acq`` showed of the block (window rendered at r0, c0 = 0)."""
        if r0 != 0 or c0 != 0:  # the block always lies in the first window
            return
        truth = rw.truth[:N, :N]
        clear = truth == 0
        self.clear[acq.scene_id] = {
            cid: round(float(clear[z.licence].mean()), 4) for cid, z in self.zones.items()}
        self.patch_clear[acq.scene_id] = {
            eid: round(float(clear[m].mean()), 4) for eid, m in self.patches.items()}
        scl6 = upsample2(rw.scl[: N // 2, : N // 2] == 6).astype(bool)
        obs: dict[str, Any] = {}
        for role, (reach_id, mask) in self.zones["demo-plume"].reaches.items():
            pw = mask & self.water_persistent
            c = rw.turbidity[:N, :N][pw] if rw.turbidity is not None else np.zeros(0)
            cmed = float(np.median(c)) if c.size else float("nan")
            spec = sp.water_spectrum(cmed)
            obs[role] = {
                "reach_id": reach_id,
                "persistent_water_px": int(pw.sum()),
                "clear_water_px": int((pw & clear).sum()),
                "scl_water_px": int((pw & scl6).sum()),
                "turbidity_fnu": round(sp.nechad_turbidity_b04(float(spec[2])), 2),
                "red": round(float(spec[2]), 4),
                "ndti": round(float((spec[2] - spec[1]) / (spec[2] + spec[1])), 4),
            }
        self.reach_obs[acq.scene_id] = obs

    def clear_fractions(self, scene_id: str) -> dict[str, float]:
        """Truly clear fraction of each licence in a scene."""
        return self.clear.get(scene_id, {})


def _iso(d: date) -> str:
    return d.isoformat()


def _from_epoch(day: int) -> date:
    return EPOCH + timedelta(days=int(day))


def build_truth(*, spec_info: dict[str, Any], acqs: list[Any],
                scene_records: list[dict[str, Any]], block: BlockTruth, spec_size: int,
                write_raster: Callable[[str, NDArray[Any]], None]) -> dict[str, Any]:
    """Assemble ``truth.json`` and write the truth rasters through ``write_raster``."""
    del spec_size
    first, last = block.first_day, block.last_day
    unique = [a for a in acqs if a.kind != "duplicate"]
    rasters: dict[str, str] = {}
    concessions: dict[str, Any] = {}
    bt = block.block
    for c in lay.CONCESSIONS:
        cid = c.concession_id
        z = block.zones[cid]
        zone_masks = z.zone_of()
        loss = np.zeros((N, N), bool)
        loss_date = np.zeros((N, N), np.uint16)
        events: list[dict[str, Any]] = []
        for tr in bt.transitions:
            if tr.concession_id != cid or tr.source != "forest":
                continue
            px = (tr.fraction >= 0.5) & z.licence
            in_series = px & (tr.onset > epoch_day(first)) & (tr.onset <= epoch_day(last))
            loss |= in_series
            loss_date[in_series] = tr.onset[in_series].astype(np.uint16)
            onset = _from_epoch(int(tr.onset[px].min())) if px.any() else None
            complete = _from_epoch(int(tr.onset[px].max())) if px.any() else None
            by_zone = {k: _ha(in_series & v) for k, v in zone_masks.items()}
            zone = max(by_zone, key=lambda k: by_zone[k]) if in_series.any() else None
            after = [a for a in unique if onset is not None and a.day >= onset]
            clear_after = [a for a in after
                           if block.patch_clear.get(a.scene_id, {}).get(tr.event_id, 0) >= 0.8]
            ev: dict[str, Any] = {
                "event_id": tr.event_id,
                "type": "vegetation_loss" if tr.target == "soil" else "tailings_growth",
                "attribution": "soil_exposure",
                "onset": _iso(onset) if onset else None,
                "complete": _iso(complete) if complete else None,
                "in_series": bool(in_series.any()),
                "zone": zone,
                "area_ha": _ha(in_series),
                "area_ha_by_zone": by_zone,
                "first_acquisition_after": _iso(after[0].day) if after else None,
                "first_clear_acquisition_after": (_iso(clear_after[0].day)
                                                  if clear_after else None),
            }
            if tr.target == "tailings":
                ev["facility_id"] = lay.TAILINGS_FACILITY_ID
            if tr.event_id.startswith("clearing"):
                cl = next(x for x in lay.CLEARINGS if x.event_id == tr.event_id)
                ev["polygon_area_ha"] = round(Polygon(cl.polygon).area / 1e4, 2)
            events.append(ev)
        write_raster(f"{cid}/vegetation_loss.tif", loss.astype(np.uint8))
        write_raster(f"{cid}/vegetation_loss_date.tif", loss_date)
        water = block.water_persistent & z.licence
        write_raster(f"{cid}/water.tif", water.astype(np.uint8))
        rasters[f"{cid}/vegetation_loss.tif"] = "uint8 mask, 1 = forest lost within the series"
        rasters[f"{cid}/vegetation_loss_date.tif"] = "uint16 onset, days since 1970-01-01"
        rasters[f"{cid}/water.tif"] = "uint8 mask, 1 = persistent water (>= half water)"
        entry: dict[str, Any] = {
            "name": c.name,
            "licence_area_ha": _ha(z.licence),
            "zones_area_ha": {k: _ha(v) for k, v in zone_masks.items()},
            "events": events,
            "vegetation_loss": {"area_ha": _ha(loss),
                                "area_ha_by_zone": {k: _ha(loss & v)
                                                    for k, v in zone_masks.items()}},
            "persistent_water_ha": _ha(water),
        }
        if cid == "demo-compliant":
            entry["expected"] = ("no change: no alert for any indicator across the baseline "
                                 "switch, clouds, the duplicate and the partial scene")
            entry["stable_features"] = {"pit_ha": round(Polygon(lay.PIT_COMPLIANT).area / 1e4, 2),
                                        "pit_lake_ha": round(Polygon(lay.PIT_LAKE).area / 1e4, 2)}
        if cid == "demo-tailings":
            entry["tailings"] = _tailings_truth(block, z, write_raster, rasters)
        if cid == "demo-plume":
            entry["plume"] = _plume_truth(block, unique)
            entry["events"] = entry["plume"].pop("events")
        concessions[cid] = entry
    return {
        **spec_info,
        "baseline_switch": _iso(sp.BASELINE_SWITCH),
        "first_acquisition": _iso(first),
        "last_acquisition": _iso(last),
        "special_scenes": {
            "collection_1": [a.scene_id for a in acqs if a.kind == "collection-1"],
            "duplicates": [[a.duplicate_of, a.scene_id] for a in acqs if a.kind == "duplicate"],
            "partial_nodata": [a.scene_id for a in acqs if a.kind == "partial"],
        },
        "concessions": concessions,
        "rasters": rasters,
        "scenes": scene_records,
    }


def _tailings_truth(block: BlockTruth, z: ConcessionZones,
                    write_raster: Callable[[str, NDArray[Any]], None],
                    rasters: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"facility_id": lay.TAILINGS_FACILITY_ID}
    maps: dict[str, NDArray[np.uint8]] = {}
    for name, day in (("before", block.first_day), ("after", block.last_day)):
        fr = block_fractions(block.block, day)
        cls = np.zeros((N, N), np.uint8)
        cls[(fr["tailings"] >= 0.5) & z.licence] = 1
        cls[(fr["pond"] >= 0.5) & z.licence] = 2
        maps[name] = cls
        ext = cls > 0
        out[name] = {"date": _iso(day), "bare_ha": _ha(cls == 1), "pond_ha": _ha(cls == 2),
                     "extent_ha": _ha(ext),
                     "extent_outside_footprint_ha": _ha(ext & ~z.footprint),
                     "extent_outside_facility_ha": _ha(ext & ~z.facility)}
        write_raster(f"demo-tailings/tailings_{name}.tif", cls)
        rasters[f"demo-tailings/tailings_{name}.tif"] = "uint8, 1 bare tailings, 2 pond"
    grown = (maps["after"] > 0) & (maps["before"] == 0)
    out["growth_ha"] = _ha(grown)
    out["encroachment_ha"] = _ha(grown & ~z.footprint)
    out["pond_growth_ha"] = round(out["after"]["pond_ha"] - out["before"]["pond_ha"], 2)
    out["onset"] = _iso(lay.TAILINGS_ONSET)
    out["growth_days"] = lay.GROWTH_DAYS
    return out


def _plume_truth(block: BlockTruth, unique: list[Any]) -> dict[str, Any]:
    series: list[dict[str, Any]] = []
    episodes: dict[int, list[str]] = {}
    for a in unique:
        obs = block.reach_obs.get(a.scene_id, {})
        if a.plume_episode is not None and a.plume > 0:
            episodes.setdefault(a.plume_episode, []).append(_iso(a.day))
        series.append({
            "date": _iso(a.day), "scene_id": a.scene_id, "plume": a.plume > 0,
            "plume_strength": round(a.plume, 3),
            "scl_false_cloud_on_plume": bool(
                a.plume_episode == lay.PLUME_FALSE_CLOUD_EPISODE and a.plume >= 0.9 *
                lay.PLUME_EPISODES[lay.PLUME_FALSE_CLOUD_EPISODE][2]),
            **{role: v for role, v in obs.items()}})
    events = [{"event_id": f"plume-{i + 1}", "type": "turbidity_plume",
               "reach_id": lay.REACH_IDS["downstream"], "onset": ds[0], "end": ds[-1],
               "dates": ds} for i, ds in sorted(episodes.items())]
    return {
        "reaches": lay.REACH_IDS,
        "plume_dates": [d for _, ds in sorted(episodes.items()) for d in ds],
        "events": events,
        "series": series,
        "turbidity_model": "Nechad et al. 2016 B04 (A=366.14, C=0.19563) on noise-free "
                           "median reach reflectance",
    }
