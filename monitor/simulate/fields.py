"""Smooth periodic random fields and a noise bank, sampled cheaply by window.

Every spatial pattern of the simulator (cloud blobs, canopy texture, land cover outside the
demo block) is a sum of a few precomputed *periodic* Gaussian random fields, each sampled at
shifted, wrapped-around indices. A field is therefore a function of global pixel
coordinates: any window of any tile (up to a full 10980 x 10980 Sentinel-2 tile) can be
produced independently, in any order, with no FFT per date and bounded memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]


def periodic_field(
    rng: np.random.Generator,
    n: int,
    *,
    beta: float,
    longest_px: float,
    shortest_px: float,
) -> F32:
    """Make an ``n x n`` periodic Gaussian random field with zero mean and unit variance.

    White noise is filtered in the Fourier domain with a power-law power spectrum
    ``P(k) ~ k**-beta`` between the wavelengths ``shortest_px`` and ``longest_px``
    (a Gaussian taper above ``1 / shortest_px``), which gives fractal-looking blobs when
    thresholded (cumulus-like clouds, canopy texture).

    Parameters
    ----------
    rng
        Random generator (consumed).
    n
        Side of the square field, pixels; the field wraps around with this period.
    beta
        Spectral slope of the power spectrum.
    longest_px, shortest_px
        Longest and shortest wavelengths kept, pixels.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(n, n)``.
    """
    white = rng.standard_normal((n, n))
    spec = np.fft.rfft2(white)
    ky = np.fft.fftfreq(n)[:, None]
    kx = np.fft.rfftfreq(n)[None, :]
    k = np.hypot(ky, kx)
    k_low = 1.0 / longest_px
    amp = np.where(k > 0, np.maximum(k, k_low) ** (-beta / 2.0), 0.0)
    amp *= np.exp(-((k * shortest_px) ** 2))
    field = np.fft.irfft2(spec * amp, s=(n, n))
    field -= field.mean()
    field /= field.std()
    return field.astype(np.float32)


@dataclass(frozen=True)
class WrappedField:
    """A periodic field evaluated at global pixel coordinates with a shift and orientation.

    Parameters
    ----------
    data
        The periodic field (square).
    dy, dx
        Shift added to row and column coordinates before wrapping.
    transpose
        Swap the roles of rows and columns (a cheap way to get more distinct patterns out
        of one precomputed field).
    stretch
        Integer stretch factor: coordinates are divided by it before lookup, so features
        grow by that factor (nearest-neighbour; used only for large, smooth patterns).
    """

    data: F32
    dy: int = 0
    dx: int = 0
    transpose: bool = False
    stretch: int = 1

    def sample(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> F32:
        """Values at the grid ``rows x cols`` (1-D global pixel indices), shape (rows, cols)."""
        n = self.data.shape[0]
        if self.transpose:
            rows, cols = cols, rows
        ri = ((rows // self.stretch) + self.dy) % n
        ci = ((cols // self.stretch) + self.dx) % n
        out = self.data[np.ix_(ri, ci)]
        return out.T if self.transpose else out


class NoiseBank:
    """A long vector of standard normal deviates, sliced at random offsets.

    Drawing fresh normals for every pixel of every band of a full tile costs seconds per
    date; slicing a 4-million-value bank at a random offset per window and band costs a
    copy. Adjacent windows and bands use unrelated offsets, so no pattern is visible.
    """

    def __init__(self, rng: np.random.Generator, size: int = 1 << 22) -> None:
        self._bank = rng.standard_normal(size, dtype=np.float32)

    def take(self, rng: np.random.Generator, shape: tuple[int, int]) -> F32:
        """Return ``shape`` standard normal deviates starting at a random offset."""
        n = shape[0] * shape[1]
        if n > self._bank.size:
            reps = -(-n // self._bank.size)
            flat = np.tile(self._bank, reps)[:n]
            return flat.reshape(shape)
        start = int(rng.integers(0, self._bank.size - n + 1))
        return self._bank[start : start + n].reshape(shape)


def smoothstep(x: F32, lo: float, hi: float) -> F32:
    """Hermite smooth step from 0 (``x <= lo``) to 1 (``x >= hi``), float32."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    out: F32 = t * t * (3.0 - 2.0 * t)
    return out


def block_mean(a: F32) -> F32:
    """Mean over 2 x 2 blocks (10 m -> 20 m); both sides of ``a`` must be even."""
    h, w = a.shape
    out: F32 = a.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3), dtype=np.float32)
    return out


def block_any(a: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Logical OR over 2 x 2 blocks (10 m -> 20 m); both sides of ``a`` must be even."""
    h, w = a.shape
    out: NDArray[np.bool_] = np.asarray(a.reshape(h // 2, 2, w // 2, 2).any(axis=(1, 3)))
    return out


def upsample2(a: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Repeat every pixel of a mask 2 x 2 (20 m -> 10 m)."""
    out: NDArray[np.bool_] = np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)
    return out
