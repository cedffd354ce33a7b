"""Needle placement helpers: aiming, tilting, and a sensible first needle for a scene (mm, LPS)."""
from __future__ import annotations

import math

import numpy as np

from needlesafe.meshes.types import AnatomyScene

from .needle import Needle, NeedleError
from .tolerances import COINCIDENT_MM

POSTERIOR = np.array([0.0, 1.0, 0.0])


def _bvh(vertices, faces):
    # imported on first use: `aim` and `tilt` are plain numpy, and the window imports them before
    # its first frame, while numba's kernels (with the BVH) load after it
    from .bvh import TriangleBVH

    return TriangleBVH(vertices, faces)


def aim(entry, target) -> np.ndarray:
    """Unit direction (3,) from entry to target (mm); NeedleError if they coincide."""
    d = np.asarray(target, float) - np.asarray(entry, float)
    n = float(np.linalg.norm(d))
    if not math.isfinite(n) or n < COINCIDENT_MM:
        raise NeedleError("the target coincides with the entry point")
    return d / n


def tilt(direction, axis, degrees: float) -> np.ndarray:
    """Rotate unit `direction` (3,) about `axis` (3,) by `degrees` (Rodrigues' formula)."""
    k = np.asarray(axis, float)
    k = k / np.linalg.norm(k)
    v = np.asarray(direction, float)
    a = math.radians(degrees)
    out = v * math.cos(a) + np.cross(k, v) * math.sin(a) + k * (k @ v) * (1 - math.cos(a))
    return out / np.linalg.norm(out)


def skin_entry(scene: AnatomyScene, towards, from_direction=POSTERIOR, standoff_mm: float = 300.0):
    """Where a line from outside, along -from_direction through `towards` (3,), first meets the skin.

    Returns the entry point (3,) mm, or None when the scene has no skin on that line.
    """
    towards = np.asarray(towards, float)
    d = -np.asarray(from_direction, float)
    d /= np.linalg.norm(d)
    origin = towards - standoff_mm * d
    best = math.inf
    for s in scene.structures:
        if s.role != "skin":
            continue
        t = _bvh(s.vertices, s.faces).ray_hits(origin, d, 0.0)[0]
        best = min(best, t)
    return origin + best * d if math.isfinite(best) else None


def initial_needle(scene: AnatomyScene, length_mm: float = 50.0, gauge_mm: float = 0.30) -> Needle:
    """A first needle for a newly opened scene: from the posterior skin toward the middle of the
    critical structures (or of the scene), inserted 15 mm. gauge_mm: shaft diameter (mm)."""
    crit = scene.critical
    if crit:
        target = np.concatenate([s.vertices for s in crit]).mean(axis=0)
    else:
        target = scene.bounds().mean(axis=0)
    entry = skin_entry(scene, target)
    if entry is None:  # no skin: start 60 mm posterior of the target
        entry = target + 60.0 * POSTERIOR
    return Needle(entry, -POSTERIOR, min(15.0, length_mm), length_mm, gauge_mm)
