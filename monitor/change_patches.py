"""Change patches: minimum mapping unit, connected components and pixel polygons.

Shared by the indicators that map change on the cube grid (vegetation loss, tailings
growth): :func:`mmu_pixels` turns a minimum mapping unit in hectares into pixels,
:func:`label_components` finds 8-neighbour patches and drops those below it, and the
union of a mask's pixels becomes a (multi)polygon in the grid's CRS, either by the grid's
full affine transform (:func:`pixels_to_polygon`, collinear vertices removed) or, on a
north-up grid, by placing each row run directly (:func:`vectorise`). Both merge each
row's runs of pixels (:func:`row_runs`) into one rectangle first, so that the union
handles few boxes. Pure: numpy, scipy and shapely only. :mod:`monitor.change` re-exports
:func:`mmu_pixels`, :func:`label_components` and :func:`pixels_to_polygon`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from affine import Affine
from scipy import ndimage
from shapely import affinity
from shapely.geometry.base import BaseGeometry

from monitor.geometry_primitives import polygonal

__all__ = ["label_components", "mmu_pixels", "pixels_to_polygon", "row_runs", "vectorise"]

IntArray = npt.NDArray[np.intp]


def mmu_pixels(mmu_ha: float, pixel_area_ha: float) -> int:
    """Smallest number of pixels whose area reaches the minimum mapping unit (>= 1)."""
    if pixel_area_ha <= 0:
        raise ValueError(f"pixel area must be positive, got {pixel_area_ha} ha")
    return max(1, math.ceil(mmu_ha / pixel_area_ha - 1e-9))


def label_components(mask: Any, *, min_pixels: int = 1) -> tuple[npt.NDArray[np.int32], int]:
    """8-neighbour connected components of a 2-D mask, dropping those below ``min_pixels``.

    Returns
    -------
    tuple
        ``(labels, n)``: int32 labels 1..n (0 = background) numbered in raster order of
        each component's first pixel (north to south, then west to east), and ``n``.
    """
    labels, n = ndimage.label(np.asarray(mask, bool), structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_pixels
    keep[0] = False
    remap = np.zeros(n + 1, np.int32)
    remap[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return remap[labels], int(keep.sum())


def row_runs(mask: Any) -> tuple[IntArray, IntArray, IntArray]:
    """Runs of True pixels along the rows of a 2-D mask, in raster order.

    Returns
    -------
    tuple
        ``(row, start, stop)``: per run its row, first column and the column after its last.
    """
    padded = np.pad(np.asarray(mask, bool).astype(np.int8), ((0, 0), (1, 1)))
    rows, cols = np.nonzero(np.diff(padded, axis=1))
    # nonzero scans row by row, so run starts and ends alternate within each row
    return rows[0::2], cols[0::2], cols[1::2]


def pixels_to_polygon(mask: Any, transform: Affine) -> BaseGeometry:
    """The union of a 2-D mask's pixels as a (multi)polygon in the grid's CRS.

    Each row's runs of True become one rectangle in pixel space; shapely merges them,
    the grid's affine transform places them, and collinear vertices are removed.

    Parameters
    ----------
    mask
        Boolean ``(row, col)`` array.
    transform
        The grid's affine transform (pixel corner at ``(col, row)`` -> map x, y).

    Returns
    -------
    shapely geometry
        Polygon or MultiPolygon (empty when the mask is).
    """
    r0, c0, c1 = row_runs(mask)
    if r0.size == 0:
        return shapely.Polygon()
    boxes = shapely.box(c0, r0, c1, r0 + 1)
    merged = shapely.union_all(boxes)
    t = transform
    placed = affinity.affine_transform(merged, [t.a, t.b, t.d, t.e, t.c, t.f])
    return shapely.simplify(placed, 0.0)


def vectorise(mask: npt.NDArray[np.bool_], affine: Any) -> BaseGeometry:
    """Union of the pixels of ``mask`` as (Multi)Polygons in the grid's CRS.

    Pixels are merged into row runs first, so the union handles few boxes. ``affine`` is the
    grid's (north-up) affine transform, e.g. ``cube.odc.geobox.affine``.
    """
    r, c0, c1 = row_runs(mask)
    if r.size == 0:
        return shapely.Polygon()
    xa, xb = affine.c + affine.a * c0, affine.c + affine.a * c1
    ya, yb = affine.f + affine.e * r, affine.f + affine.e * (r + 1)
    boxes = shapely.box(np.minimum(xa, xb), np.minimum(ya, yb), np.maximum(xa, xb),
                        np.maximum(ya, yb))
    return polygonal(shapely.union_all(boxes))
