"""Where the lesions of a case go, how big and how dense: one plan per case class.

- ``covid``: multifocal, bilateral, peripheral (subpleural) ground-glass
  opacities, posterior and lower zones preferred; some with a consolidated
  core, crazy paving or a subpleural consolidation band.
- ``cap`` (common pneumonia): lobar or segmental consolidation, usually in
  one lung, with air bronchograms and a thin ground-glass halo.
- ``normal``: no lesions.

Lengths are chest millimetres (see :mod:`core_models.phantom.frame`), HU for levels.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from core_models.phantom.anatomy_params import Anatomy
from core_models.phantom.frame import Frame
from core_models.phantom.thorax import cavity_depth

GGO, CONSOLIDATION = "ggo", "consolidation"


@dataclass(frozen=True)
class Lesion:
    """One lesion: an irregular ellipsoid blob with a soft or sharp edge.

    Attributes
    ----------
    kind : ``ggo`` or ``consolidation``.
    centre : (z, y, x) chest mm.
    radii : (z, along, across) semi-axes, mm; ``along`` lies at ``angle`` in-plane.
    angle : in-plane direction of the ``along`` axis, radians.
    level_hu : intensity of the lesion's core, HU.
    edge_mm : width of the blended edge, mm.
    irregularity : amplitude of the shape noise, as a share of the mean radius.
    side : +1 left lung, -1 right lung.
    lobe : ``""`` (anywhere in the lung) or ``upper``, ``middle``, ``lower``.
    rim_mm : width of a ground-glass halo around a consolidation (0 = none), mm.
    crazy_paving : draw a reticular pattern inside (GGO).
    bronchogram : draw air bronchograms inside (consolidation).
    """

    kind: str
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    angle: float
    level_hu: float
    edge_mm: float
    irregularity: float
    side: float
    lobe: str = ""
    rim_mm: float = 0.0
    crazy_paving: bool = False
    bronchogram: bool = False

    @property
    def mean_radius(self) -> float:
        return float(np.prod(self.radii) ** (1.0 / 3.0))


@dataclass
class DepthMap:
    """Depth (mm) of lung voxels from the lung surface, on a coarse in-plane grid."""

    depth: np.ndarray
    step: int
    frame: Frame

    @classmethod
    def of(cls, lung: np.ndarray, frame: Frame) -> DepthMap:
        step = max(1, int(round(4.0 / frame.dx)))
        sub = lung[:, step // 2::step, step // 2::step]
        depth = ndimage.distance_transform_edt(sub, sampling=(frame.slab_mm, step * frame.dx, step * frame.dx))
        return cls(depth.astype(np.float32), step, frame)

    def point(self, k: int, i: int, j: int) -> np.ndarray:
        """Chest position (z, y, x) mm of coarse voxel (k, i, j)."""
        f = self.frame
        return np.array([f.z[k], f.y[i * self.step + self.step // 2], f.x[j * self.step + self.step // 2]], float)

    def inward_angle(self, k: int, i: int, j: int) -> float:
        """In-plane direction (radians, atan2(y, x)) in which the depth grows at (k, i, j)."""
        gy, gx = np.gradient(self.depth[k])
        return float(np.arctan2(gy[i, j], gx[i, j]))


def pick_site(rng: np.random.Generator, depth_map: DepthMap, lo: float, hi: float,
              allowed: np.ndarray | None = None, weight: np.ndarray | None = None
              ) -> tuple[np.ndarray, float] | None:
    """A random lung site whose depth is within lo..hi mm; returns (centre, inward angle)."""
    d = depth_map.depth
    ok = (d >= lo) & (d <= hi)
    if allowed is not None:
        ok &= allowed
    cand = np.flatnonzero(ok)
    if len(cand) == 0:
        return None
    p = None
    if weight is not None:
        p = weight.ravel()[cand].astype(float)
        p /= p.sum()
    k, i, j = np.unravel_index(rng.choice(cand, p=p), d.shape)
    jitter = np.array([0.0, *rng.uniform(-0.5, 0.5, 2) * depth_map.step * depth_map.frame.dx])
    return depth_map.point(k, i, j) + jitter, depth_map.inward_angle(k, i, j)


def coarse_coords(depth_map: DepthMap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable chest coordinates (z, y, x) mm of the coarse grid."""
    f, s = depth_map.frame, depth_map.step
    z = f.z.reshape(-1, 1, 1)
    y = f.y[s // 2::s].reshape(1, -1, 1)
    x = f.x[s // 2::s].reshape(1, 1, -1)
    return z, y, x


def lobe_depth(anat: Anatomy, lobe: str, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Signed distance (mm, + inside) to the fissures bounding ``lobe`` (``""``: everywhere)."""
    if not lobe:
        return np.full(np.broadcast_shapes(np.shape(z), np.shape(y), np.shape(x)), 1e3, dtype=np.float32)
    hilum_z, hilum_y, slope = anat.carina_z - 25.0, anat.trachea_xy[1], 0.7
    below_oblique = (hilum_z + slope * (y - hilum_y) - z) / np.sqrt(1.0 + slope * slope)
    if lobe == "lower":
        return below_oblique
    horizontal = z - (hilum_z - 5.0)
    right = np.asarray(x) < 0
    if lobe == "middle":
        return np.where(right, np.minimum(-below_oblique, -horizontal), -1e3)
    return np.where(right, np.minimum(-below_oblique, horizontal), -below_oblique)


def plan_lesions(kind: str, rng: np.random.Generator, depth_map: DepthMap, anat: Anatomy) -> list[Lesion]:
    """The lesions of one case of class ``kind``."""
    if kind == "covid":
        return _plan_covid(rng, depth_map, anat)
    if kind == "cap":
        return _plan_cap(rng, depth_map, anat)
    return []


def _side_masks(depth_map: DepthMap) -> dict[float, np.ndarray]:
    _, _, x = coarse_coords(depth_map)
    shape = depth_map.depth.shape
    return {-1.0: np.broadcast_to(x < 0, shape), 1.0: np.broadcast_to(x >= 0, shape)}


def _covid_weight(depth_map: DepthMap) -> np.ndarray:
    """Preference for posterior and lower lung."""
    f = depth_map.frame
    z, y, _ = coarse_coords(depth_map)
    back = np.clip((y + 60.0) / 140.0, 0.0, 1.0)
    low = np.clip((f.z_hi - z) / max(f.z_hi - f.z_lo, 1.0), 0.0, 1.0)
    return np.broadcast_to(1.0 + 2.0 * back + low, depth_map.depth.shape)


def _near_chest_wall(depth_map: DepthMap, anat: Anatomy, within_mm: float = 30.0) -> np.ndarray:
    """Coarse voxels within ``within_mm`` of the rib cage (the costal pleura)."""
    z, y, x = coarse_coords(depth_map)
    return np.broadcast_to(cavity_depth(anat, z, y, x) < within_mm, depth_map.depth.shape)


def _plan_covid(rng: np.random.Generator, depth_map: DepthMap, anat: Anatomy) -> list[Lesion]:
    sides = _side_masks(depth_map)
    weight = _covid_weight(depth_map)
    wall = _near_chest_wall(depth_map, anat)
    count = int(rng.integers(2, 9))
    lesions: list[Lesion] = []
    for n in range(count):
        side = (-1.0, 1.0)[n] if n < 2 else float(rng.choice([-1.0, 1.0]))
        site = pick_site(rng, depth_map, 3.0, 18.0, sides[side] & wall, weight)
        if site is None:
            site = pick_site(rng, depth_map, 3.0, 18.0, sides[side], weight)
        if site is None:
            continue
        ggo = _covid_ggo(rng, site, side)
        lesions.append(ggo)
        if rng.random() < 0.35:
            lesions.append(_core_of(rng, ggo))
    if rng.random() < 0.25:
        side = float(rng.choice([-1.0, 1.0]))
        site = pick_site(rng, depth_map, 2.0, 6.0, sides[side] & wall, weight)
        if site is not None:
            lesions.append(_band(rng, site, side))
    return lesions


def _covid_ggo(rng: np.random.Generator, site: tuple[np.ndarray, float], side: float) -> Lesion:
    centre, inward = site
    along = rng.uniform(15.0, 42.0)
    return Lesion(GGO, tuple(centre), (rng.uniform(12.0, 35.0), along, along * rng.uniform(0.45, 0.8)),
                  inward + np.pi / 2.0, rng.uniform(-660.0, -420.0), rng.uniform(5.0, 10.0),
                  rng.uniform(0.25, 0.5), side, crazy_paving=bool(rng.random() < 0.3))


def _core_of(rng: np.random.Generator, ggo: Lesion) -> Lesion:
    """A consolidated core inside a ground-glass lesion."""
    shrink = rng.uniform(0.4, 0.6)
    return replace(ggo, kind=CONSOLIDATION, radii=tuple(max(8.0, r * shrink) for r in ggo.radii),
                   level_hu=rng.uniform(-50.0, 30.0), edge_mm=1.0, irregularity=0.3,
                   crazy_paving=False, bronchogram=bool(rng.random() < 0.25))


def _band(rng: np.random.Generator, site: tuple[np.ndarray, float], side: float) -> Lesion:
    """A thin subpleural consolidation band along the pleura."""
    centre, inward = site
    radii = (rng.uniform(8.0, 15.0), rng.uniform(15.0, 30.0), rng.uniform(3.0, 6.0))
    return Lesion(CONSOLIDATION, tuple(centre), radii,
                  inward + np.pi / 2.0, rng.uniform(-60.0, 30.0), 1.0, 0.2, side)


def _plan_cap(rng: np.random.Generator, depth_map: DepthMap, anat: Anatomy) -> list[Lesion]:
    sides = _side_masks(depth_map)
    side = float(rng.choice([-1.0, 1.0]))
    lesions: list[Lesion] = []
    for n in range(1 if rng.random() < 0.7 else 2):
        this_side = side if n == 0 or rng.random() < 0.9 else -side
        lobe = _pick_lobe(rng, this_side)
        z, y, x = coarse_coords(depth_map)
        in_lobe = lobe_depth(anat, lobe, z, y, x) > 5.0
        site = pick_site(rng, depth_map, 8.0, 1e3, sides[this_side] & in_lobe)
        if site is None:
            site = pick_site(rng, depth_map, 5.0, 1e3, sides[this_side])
            lobe = ""
        if site is not None:
            lesions.append(_lobar(rng, site, this_side, lobe))
    if lesions and rng.random() < 0.3:
        site = pick_site(rng, depth_map, 4.0, 20.0, sides[side])
        if site is not None:
            along = rng.uniform(8.0, 14.0)
            lesions.append(Lesion(GGO, tuple(site[0]), (along, along, along * 0.7), site[1],
                                  rng.uniform(-650.0, -450.0), 4.0, 0.35, side))
    return lesions


def _pick_lobe(rng: np.random.Generator, side: float) -> str:
    lobe = str(rng.choice(["lower", "upper", "middle"], p=[0.55, 0.3, 0.15]))
    return "lower" if lobe == "middle" and side > 0 else lobe


def _lobar(rng: np.random.Generator, site: tuple[np.ndarray, float], side: float, lobe: str) -> Lesion:
    centre, inward = site
    along = rng.uniform(30.0, 55.0)
    return Lesion(CONSOLIDATION, tuple(centre), (rng.uniform(30.0, 60.0), along, along * rng.uniform(0.6, 0.9)),
                  inward + np.pi / 2.0, rng.uniform(-60.0, 40.0), 1.5, rng.uniform(0.2, 0.3), side,
                  lobe=lobe, rim_mm=rng.uniform(2.0, 4.5), bronchogram=bool(rng.random() < 0.85))
