"""Space-filling vessel trees by space colonisation.

Attraction points are scattered through the region (a lung); every
iteration each point pulls the tree node nearest to it, each pulled node
grows one step towards the mean direction of its points, and points that a
node has reached are removed. The result fills the region evenly, as
pulmonary vessels do. Radii follow the pipe model: a parent's radius to the
power ``gamma`` is the sum of its children's, so the tree thins from the
hilum to the periphery.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from core_models.phantom.trees import DepthFn
from core_models.phantom.tubes import Tubes


@dataclass(frozen=True)
class ColonyStyle:
    """Growth settings (mm)."""

    spacing: float = 8.0
    step: float = 3.5
    influence: float = 26.0
    kill: float = 7.0
    leaf_radius: float = 0.45
    gamma: float = 2.6
    max_radius: float = 7.0
    max_iter: int = 160
    max_nodes: int = 30_000


def scatter_points(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, spacing: float,
                   depth: DepthFn, margin: float = 2.0) -> np.ndarray:
    """About one point per ``spacing``³ mm³ of the region ``depth > margin`` inside the box lo..hi."""
    size = np.asarray(hi, float) - np.asarray(lo, float)
    count = int(np.prod(size) / spacing ** 3)
    pts = np.asarray(lo, float) + rng.random((count, 3)) * size
    return pts[depth(pts[:, 0], pts[:, 1], pts[:, 2]) > margin]


def colonize(roots: np.ndarray, attractors: np.ndarray, style: ColonyStyle,
             depth: DepthFn) -> tuple[np.ndarray, np.ndarray]:
    """Grow from ``roots`` (r, 3) towards ``attractors`` (a, 3); return nodes (n, 3) and parents (n,).

    Roots have parent -1; every other node's parent index is smaller than its own.
    """
    nodes = [np.asarray(roots, float)]
    parents = [np.full(len(roots), -1)]
    count = len(roots)
    live = np.asarray(attractors, float)
    all_nodes = nodes[0]
    for _ in range(style.max_iter):
        if len(live) == 0 or count >= style.max_nodes:
            break
        grown, from_idx, used = _grow_once(all_nodes, live, style, depth)
        if len(grown) == 0:
            break
        nodes.append(grown)
        parents.append(from_idx)
        count += len(grown)
        all_nodes = np.concatenate([all_nodes, grown])
        reached, _ = cKDTree(grown).query(live, distance_upper_bound=style.kill)
        live = live[~np.isfinite(reached) & ~used]
    return all_nodes, np.concatenate(parents)


def _grow_once(nodes: np.ndarray, live: np.ndarray, style: ColonyStyle,
               depth: DepthFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One growth step; returns new nodes, their parents, and the attractors to drop."""
    dist, near = cKDTree(nodes).query(live, distance_upper_bound=style.influence)
    pulled = np.isfinite(dist)
    drop = np.zeros(len(live), dtype=bool)
    if not pulled.any():
        return np.zeros((0, 3)), np.zeros(0, dtype=int), drop
    near_p = near[pulled]
    pull = (live[pulled] - nodes[near_p]) / np.maximum(dist[pulled], 1e-6)[:, None]
    total = np.zeros((len(nodes), 3))
    np.add.at(total, near_p, pull)
    growing = np.unique(near_p)
    direction = total[growing]
    norm = np.linalg.norm(direction, axis=1)
    growing, direction = growing[norm > 1e-6], direction[norm > 1e-6] / norm[norm > 1e-6, None]
    new = nodes[growing] + style.step * direction
    inside = depth(new[:, 0], new[:, 1], new[:, 2]) > 0.5
    blocked = growing[~inside]
    if len(blocked):
        drop[pulled] = np.isin(near_p, blocked)
    return new[inside], growing[inside], drop


def pipe_radii(parents: np.ndarray, style: ColonyStyle) -> np.ndarray:
    """Radius (mm) of every node by the pipe model, leaves ``leaf_radius``."""
    n = len(parents)
    power = np.zeros(n)
    has_child = np.zeros(n, dtype=bool)
    has_child[parents[parents >= 0]] = True
    power[~has_child] = style.leaf_radius ** style.gamma
    for i in range(n - 1, -1, -1):
        p = parents[i]
        if p >= 0:
            power[p] += power[i]
    return np.minimum(power ** (1.0 / style.gamma), style.max_radius)


def tree_tubes(nodes: np.ndarray, parents: np.ndarray, radii: np.ndarray) -> Tubes:
    """One piece per parent-child link."""
    child = np.nonzero(parents >= 0)[0]
    par = parents[child]
    return Tubes(nodes[par], nodes[child], radii[par], radii[child])
