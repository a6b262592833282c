"""Duplicate scenes and acquisitions: what Sentinel-2 itself does to fake change.

The same tile at the same time can arrive twice (reprocessed, or delivered twice); counting
both would double an observation. Tiles of one acquisition (same platform and time) are
mosaicked into one time step, but only when they share one radiometric recipe.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.sources.base import Scene, SkippedScene
from monitor.sources.radiometry import parse_baseline


def _rank(scene: Scene) -> tuple[tuple[int, int], str]:
    return parse_baseline(scene.processing_baseline) or (0, 0), scene.scene_id


def collapse_duplicates(scenes: Sequence[Scene]) -> tuple[list[Scene], list[SkippedScene]]:
    """Keep one scene per (platform, tile, sensing second).

    The newest processing (highest baseline, then the greatest scene id) is kept; the others
    are returned as skipped with the id of the scene kept.
    """
    best: dict[tuple[str, str, str], Scene] = {}
    dropped: list[Scene] = []
    for scene in scenes:
        key = (scene.platform, scene.tile, scene.datetime.strftime("%Y%m%dT%H%M%S"))
        other = best.get(key)
        if other is None:
            best[key] = scene
        elif _rank(scene) > _rank(other):
            best[key] = scene
            dropped.append(other)
        else:
            dropped.append(scene)
    kept_by_key = {k: s.scene_id for k, s in best.items()}
    skipped = [
        SkippedScene(s.scene_id, "duplicate of "
                     f"{kept_by_key[(s.platform, s.tile, s.datetime.strftime('%Y%m%dT%H%M%S'))]}"
                     " (same platform, tile and time)")
        for s in dropped
    ]
    kept = sorted(best.values(), key=lambda s: (s.datetime, s.scene_id))
    return kept, skipped


def group_by_time(scenes: Sequence[Scene]) -> tuple[list[list[Scene]], list[SkippedScene]]:
    """Group scenes with identical timestamps (tiles of one acquisition), in time order.

    A scene whose scale, offset or quality layer differs from the first of its group cannot
    be mosaicked with it and is skipped with the reason.
    """
    groups: dict[object, list[Scene]] = {}
    skipped: list[SkippedScene] = []
    for scene in sorted(scenes, key=lambda s: (s.datetime, s.scene_id)):
        group = groups.setdefault(scene.datetime, [])
        if group and (group[0].scale, group[0].offset, group[0].qa_kind) != (
                scene.scale, scene.offset, scene.qa_kind):
            skipped.append(SkippedScene(
                scene.scene_id, f"same acquisition time as {group[0].scene_id} but a different "
                "radiometric recipe or quality layer; cannot mosaic them"))
            continue
        group.append(scene)
    return list(groups.values()), skipped
