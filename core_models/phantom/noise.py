"""Random fields: smooth noise for shapes and texture, and the scanner model.

Smooth noise is white noise on a coarse lattice of knots, interpolated with
Gaussian weights that are separable along z, y and x. Each weight row is
scaled to unit L2 norm, so the field has unit variance everywhere, and one
slice costs two small matrix products: no full-resolution filtering.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def _knots(coords: np.ndarray, scale: float) -> np.ndarray:
    """Knot positions covering ``coords`` with a margin, spaced 0.7 x ``scale``."""
    step = 0.7 * scale
    lo = float(np.min(coords)) - 2.5 * scale
    hi = float(np.max(coords)) + 2.5 * scale
    count = max(2, int(np.ceil((hi - lo) / step)) + 1)
    return (lo + step * np.arange(count)).astype(np.float32)


def _weights(coords: np.ndarray, knots: np.ndarray, scale: float) -> np.ndarray:
    """Gaussian interpolation weights (len(coords), len(knots)), rows of unit L2 norm."""
    d = (np.asarray(coords, dtype=np.float32)[:, None] - knots[None, :]) / np.float32(scale)
    w = np.exp(-0.5 * d * d)
    w /= np.sqrt(np.sum(w * w, axis=1, keepdims=True))
    return w.astype(np.float32)


class SmoothField:
    """A smooth random field of unit variance on a grid, correlation length ``scale_mm``.

    Parameters
    ----------
    rng : random generator (consumed once, at construction).
    z, y, x : 1-D coordinates (mm) of the grid along each axis.
    scale_mm : Gaussian correlation length in mm (a tuple gives one per axis z, y, x).
    """

    def __init__(self, rng: np.random.Generator, z: np.ndarray, y: np.ndarray, x: np.ndarray,
                 scale_mm: float | tuple[float, float, float]) -> None:
        sz, sy, sx = scale_mm if isinstance(scale_mm, tuple) else (scale_mm,) * 3
        kz, ky, kx = _knots(z, sz), _knots(y, sy), _knots(x, sx)
        self._wz = _weights(z, kz, sz)
        self._wy = _weights(y, ky, sy)
        self._wx_t = _weights(x, kx, sx).T.copy()
        self._coef = rng.standard_normal((len(kz), len(ky), len(kx)), dtype=np.float32)

    def slice(self, k: int) -> np.ndarray:
        """The field on slice ``k`` (len(y), len(x)), float32."""
        plane = np.tensordot(self._wz[k], self._coef, axes=(0, 0))
        return self._wy @ plane @ self._wx_t

    def volume(self) -> np.ndarray:
        """The field on the whole grid (len(z), len(y), len(x)), float32."""
        side = np.einsum("abc,cx->abx", self._coef, self._wx_t)
        side = np.einsum("yb,abx->ayx", self._wy, side)
        return np.tensordot(self._wz, side, axes=(1, 0))


def box_field(rng: np.random.Generator, z: np.ndarray, y: np.ndarray, x: np.ndarray,
              scale_mm: float) -> np.ndarray:
    """Unit-variance smooth noise on a small box given by broadcastable coordinates (mm)."""
    return SmoothField(rng, z.ravel(), y.ravel(), x.ravel(), scale_mm).volume()


def fine_texture(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Unit-variance, finely correlated 2-D noise (Gaussian-filtered white noise)."""
    white = rng.standard_normal(shape, dtype=np.float32)
    if sigma_px <= 0.3:
        return white
    smooth = ndimage.gaussian_filter(white, sigma_px, mode="wrap")
    return smooth / np.float32(_kernel_energy(sigma_px))


def _kernel_energy(sigma_px: float) -> float:
    """Factor by which ``gaussian_filter(sigma_px)`` shrinks the std of 2-D white noise."""
    if sigma_px <= 0:
        return 1.0
    radius = int(4.0 * sigma_px + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_px) ** 2)
    taps /= taps.sum()
    return float(np.sum(taps * taps))


def scanner_slice(plane: np.ndarray, rng: np.random.Generator, noise_hu: float, blur_px: float) -> np.ndarray:
    """One slice as the scanner sees it: add white noise, then blur in-plane.

    The noise is scaled up before the blur so that ``noise_hu`` is its
    standard deviation afterwards (HU).
    """
    out = plane
    if noise_hu > 0:
        gain = noise_hu / _kernel_energy(blur_px) if blur_px > 0 else noise_hu
        out = out + rng.standard_normal(plane.shape, dtype=np.float32) * np.float32(gain)
    if blur_px > 0:
        out = ndimage.gaussian_filter(out, blur_px, mode="nearest")
    return out
