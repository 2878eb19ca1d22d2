"""Branching trees (pulmonary vessels, bronchi, air bronchograms) grown from a root outwards.

Branches advance generation by generation, all at once (vectorised): each
takes a few steps of a gently wandering walk, pulled away from the root,
and dies where it would leave the allowed region (the lung). At its end a
surviving branch forks into a straight-on child and a thinner side child.
Radii shrink each generation, so the tree thins towards the periphery.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core_models.phantom.tubes import Tubes

#: depth (mm, + inside) of points (z, y, x) in the region a tree may grow in
DepthFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

MAX_PIECES = 40_000


@dataclass(frozen=True)
class TreeStyle:
    """How a tree grows; lengths in mm, angles in degrees."""

    first_count: int = 5
    first_length: float = 30.0
    main_radius: tuple[float, float] = (0.78, 0.9)
    side_radius: tuple[float, float] = (0.55, 0.72)
    length_factor: tuple[float, float] = (0.7, 0.88)
    angle: tuple[float, float] = (22.0, 48.0)
    min_radius: float = 0.35
    step_mm: float = 5.0
    wander: float = 0.12
    pull: float = 0.18
    max_generations: int = 12
    first_spread: float = 1.0
    turn_radius: float = 1.0


@dataclass
class _Front:
    """The growing tips of one generation."""

    pos: np.ndarray
    dir: np.ndarray
    rad: np.ndarray
    length: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def first_directions(rng: np.random.Generator, count: int, side: float, spread: float) -> np.ndarray:
    """Directions (count, 3) of the first branches: fanned up and down, towards the side ``side``."""
    zs = np.linspace(-0.85, 0.85, count) + rng.uniform(-0.15, 0.15, count)
    rng.shuffle(zs)
    ys = rng.uniform(-0.8, 0.8, count) * spread
    xs = side * rng.uniform(0.35, 1.0, count)
    return _unit(np.stack([zs, ys, xs], axis=1))


def grow_tree(rng: np.random.Generator, root: np.ndarray, root_radius: float, directions: np.ndarray,
              style: TreeStyle, depth: DepthFn) -> Tubes:
    """Grow a tree from ``root`` (z, y, x mm) along ``directions`` inside the region ``depth`` > 0."""
    count = len(directions)
    front = _Front(np.repeat(np.asarray(root, float)[None], count, axis=0), _unit(directions),
                   np.full(count, root_radius), rng.uniform(0.8, 1.2, count) * style.first_length)
    pieces: list[Tubes] = []
    total = 0
    for _ in range(style.max_generations):
        grown, done = _grow_generation(rng, front, np.asarray(root, float), style, depth)
        pieces.append(grown)
        total += len(grown)
        front = _fork(rng, done, style)
        if len(front.rad) == 0 or total > MAX_PIECES:
            break
    return _concat(pieces)


def _grow_generation(rng: np.random.Generator, front: _Front, root: np.ndarray, style: TreeStyle,
                     depth: DepthFn) -> tuple[Tubes, _Front]:
    """Walk every tip its branch length; return the pieces and the tips that got through."""
    steps = np.maximum(1, np.ceil(front.length / np.maximum(style.step_mm, 2.0 * front.rad)).astype(int))
    step_len = front.length / steps
    taper = 0.97
    pos, direc, rad = front.pos.copy(), front.dir.copy(), front.rad.copy()
    alive = np.ones(len(rad), dtype=bool)
    p0s, p1s, r0s, r1s = [], [], [], []
    for i in range(int(steps.max(initial=0))):
        moving = alive & (i < steps)
        if not moving.any():
            break
        idx = np.nonzero(moving)[0]
        away = _unit(pos[idx] - root)
        noise = rng.standard_normal((len(idx), 3))
        direc[idx] = _unit(direc[idx] + style.pull * away + style.wander * noise)
        nxt, ok = _step_inside(pos[idx], direc, idx, step_len[idx], rad[idx], style.turn_radius, depth)
        alive[idx[~ok]] = False
        good = idx[ok]
        p0s.append(pos[good])
        p1s.append(nxt[ok])
        r0s.append(rad[good])
        r1s.append(rad[good] * taper)
        pos[good], rad[good] = nxt[ok], rad[good] * taper
    tubes = Tubes(np.concatenate(p0s), np.concatenate(p1s), np.concatenate(r0s), np.concatenate(r1s)) \
        if p0s else Tubes.empty()
    return tubes, _Front(pos[alive], direc[alive], rad[alive], front.length[alive])


def _step_inside(pos: np.ndarray, direc: np.ndarray, idx: np.ndarray, step: np.ndarray, radius: np.ndarray,
                 turn_radius: float, depth: DepthFn) -> tuple[np.ndarray, np.ndarray]:
    """Next points of the tips ``idx``; a thick tip about to leave the region turns inwards once.

    ``direc`` is updated in place for the tips that turn. Returns the next
    points and which of them lie ``margin`` mm inside.
    """
    nxt = pos + direc[idx] * step[:, None]
    margin = 0.5 * radius + 0.5
    ok = depth(nxt[:, 0], nxt[:, 1], nxt[:, 2]) > margin
    bad = np.nonzero(~ok & (radius >= turn_radius))[0]
    if len(bad):
        inward = _gradient(pos[bad], depth)
        turned = _unit(direc[idx[bad]] + 1.5 * inward)
        retry = pos[bad] + turned * step[bad, None]
        good = depth(retry[:, 0], retry[:, 1], retry[:, 2]) > margin[bad]
        direc[idx[bad[good]]] = turned[good]
        nxt[bad[good]] = retry[good]
        ok[bad[good]] = True
    return nxt, ok


def _gradient(pts: np.ndarray, depth: DepthFn, eps: float = 1.5) -> np.ndarray:
    """Unit direction (m, 3) in which the depth grows fastest at ``pts``."""
    grad = np.empty_like(pts)
    for axis in range(3):
        off = np.zeros(3)
        off[axis] = eps
        hi, lo = pts + off, pts - off
        grad[:, axis] = depth(hi[:, 0], hi[:, 1], hi[:, 2]) - depth(lo[:, 0], lo[:, 1], lo[:, 2])
    return _unit(grad)


def _fork(rng: np.random.Generator, done: _Front, style: TreeStyle) -> _Front:
    """Two children per surviving tip: straight on (thick) and to the side (thin)."""
    m = len(done.rad)
    if m == 0:
        return done
    perp = _unit(np.cross(done.dir, rng.standard_normal((m, 3))))
    a_main = np.deg2rad(rng.uniform(5.0, 20.0, m))[:, None]
    a_side = np.deg2rad(rng.uniform(*style.angle, m))[:, None]
    d_main = _unit(np.cos(a_main) * done.dir - np.sin(a_main) * perp)
    d_side = _unit(np.cos(a_side) * done.dir + np.sin(a_side) * perp)
    r_main = done.rad * rng.uniform(*style.main_radius, m)
    r_side = done.rad * rng.uniform(*style.side_radius, m)
    length = done.length * rng.uniform(*style.length_factor, m)
    front = _Front(np.concatenate([done.pos, done.pos]), np.concatenate([d_main, d_side]),
                   np.concatenate([r_main, r_side]), np.concatenate([length, length * 0.85]))
    keep = front.rad >= style.min_radius
    return _Front(front.pos[keep], front.dir[keep], front.rad[keep], front.length[keep])


def _concat(parts: list[Tubes]) -> Tubes:
    tubes = Tubes.empty()
    for part in parts:
        if len(part):
            tubes = tubes + part
    return tubes


def find_inside(root: np.ndarray, towards: np.ndarray, margin: float, depth: DepthFn,
                max_mm: float = 60.0) -> np.ndarray | None:
    """First point from ``root`` along ``towards`` that lies ``margin`` mm inside the region."""
    unit = _unit(np.asarray(towards, float))
    dist = np.arange(0.0, max_mm, 1.0)
    pts = np.asarray(root, float)[None] + dist[:, None] * unit[None]
    ok = np.nonzero(depth(pts[:, 0], pts[:, 1], pts[:, 2]) > margin)[0]
    return pts[ok[0]] if len(ok) else None
