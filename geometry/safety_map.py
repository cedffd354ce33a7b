"""Safety maps: for every skin vertex, how deep a needle may go before any critical clearance drops
below its margin, and whether a bone would stop it first (mm, LPS).

The per-vertex query is the one behind `ClearanceReport.path.safe_depth_mm` (the first depth at
which the needle's line comes within margin + radius of a critical surface, a swept-sphere query,
never past the point where the line leaves the modelled body) plus the first bone crossing (where
the needle stops) and the skin exit, run for all vertices in one compiled, parallel loop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from needlesafe.meshes.errors import Cancelled
from needlesafe.meshes.types import AnatomyScene, vertex_normals

from .needle import Needle
from .scene_bvh import SceneBVH
from .tolerances import ENTRY_TOL_MM, MIN_DIRECTION, SKIN_START_MM

#: The longest needle a map considers (mm): safe depths are capped here.
MAX_DEPTH_MM = 100.0


@dataclass
class SafetyMap:
    """Per skin vertex (n,): entry points, needle directions, safe depth, first bone depth, exit.

    safe_depth_mm is capped at `max_depth_mm` and at exit_mm; bone_depth_mm is inf where no bone
    lies within max_depth_mm (the needle stops there); exit_mm is where the line leaves the modelled
    body (inf: not within max_depth_mm); backstop is True where the bone comes before any margin;
    not_modelled where the line leaves the body before a bone or a margin stops it (beyond that the
    answer is unknown, never safe); limiting holds the index (into `critical_names`) of the
    structure that sets the safe depth, or -1.
    """

    pack: str
    mode: str
    points: np.ndarray
    directions: np.ndarray
    safe_depth_mm: np.ndarray
    bone_depth_mm: np.ndarray
    limiting: np.ndarray
    critical_names: list
    max_depth_mm: float
    needle_radius_mm: float
    exit_mm: np.ndarray

    @property
    def backstop(self) -> np.ndarray:
        return (self.bone_depth_mm <= self.safe_depth_mm) & ~self.not_modelled

    @property
    def not_modelled(self) -> np.ndarray:
        """(n,) bool: the line leaves the modelled body before a bone or a margin stops the needle."""
        return (self.exit_mm <= self.safe_depth_mm) & (self.exit_mm < self.bone_depth_mm) & np.isfinite(self.exit_mm)

    def danger_zone(self, needle_length_mm: float) -> np.ndarray:
        """(n,) bool: vertices where a needle of this length, pushed fully in (it stops at bone),
        breaks a margin or reaches tissue the model does not contain (unknown is danger)."""
        reach = np.minimum(needle_length_mm, self.bone_depth_mm)
        return self.safe_depth_mm < reach


def skin_of(scene: AnatomyScene):
    """The pack's skin surface (the closed one, else the largest), or raise ValueError."""
    skins = [s for s in scene.structures if s.role == "skin"]
    if not skins:
        raise ValueError(f"pack '{scene.name}' has no skin: import it with --skin-fat to build one")
    closed = [s for s in skins if s.is_closed]
    return max(closed or skins, key=lambda s: s.n_triangles)


def compute_safety_map(engine, direction="normal", needle_gauge_mm: float = 0.30,
                       max_depth_mm: float = MAX_DEPTH_MM, progress=None, chunks: int = 20) -> SafetyMap:
    """The safety map of `engine`'s scene.

    direction: "normal" (inward skin normal at each vertex) or a (3,) vector used for every vertex.
    needle_gauge_mm: the needle's shaft diameter (mm); margins are widened by half of it.
    progress: optional callable(fraction); a false (not None) return cancels (raises Cancelled).
    """
    scene = engine.scene
    skin = skin_of(scene)
    points = np.ascontiguousarray(skin.vertices, dtype=np.float64)
    if isinstance(direction, str):
        if direction != "normal":
            raise ValueError("direction must be 'normal' or three numbers")
        dirs = -vertex_normals(points, skin.faces)
        if not skin.is_closed:
            # an open skin patch has no reliable outside: point each normal toward the anatomy
            inner = [s.vertices for s in scene.structures if s.role != "skin"]
            if inner:
                centre = np.concatenate(inner).mean(axis=0)
                flip = np.einsum("ij,ij->i", dirs, centre - points) < 0
                dirs[flip] *= -1.0
        mode = "normal"
    else:
        d = np.asarray(direction, dtype=np.float64).reshape(-1)
        if d.shape != (3,) or not np.all(np.isfinite(d)) or np.linalg.norm(d) < MIN_DIRECTION:
            raise ValueError("direction must be three finite numbers, not all zero")
        d = d / np.linalg.norm(d)
        dirs = np.repeat(d[None], len(points), axis=0)
        mode = "direction " + " ".join(f"{x:.4f}" for x in d)
    # start a hair inside the skin so the skin itself is not counted
    points = np.ascontiguousarray(points + SKIN_START_MM * dirs)
    dirs = np.ascontiguousarray(dirs)
    bvh: SceneBVH = engine.bvh
    bone = engine.bones
    skin_i = -1 if engine.skin_index is None else int(engine.skin_index)
    n = len(points)
    safe = np.empty(n)
    bone_t = np.empty(n)
    exit_t = np.empty(n)
    limiting = np.empty(n, dtype=np.int64)
    edges = np.linspace(0, n, max(1, chunks) + 1).astype(int)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        bvh.safe_depths(points, dirs, float(max_depth_mm), 0.5 * needle_gauge_mm, skin_i, bone, ENTRY_TOL_MM,
                        lo, hi, safe, bone_t, limiting, exit_t)
        if progress is not None:
            go_on = progress(float(hi) / n)
            if go_on is not None and not go_on:
                raise Cancelled("safety map cancelled")
    names = [s.name for s in engine.structures if s.critical]
    return SafetyMap(scene.name, mode, skin.vertices.copy(), dirs, safe, bone_t, limiting, names,
                     float(max_depth_mm), 0.5 * needle_gauge_mm, exit_t)


def safe_depth_naive(engine, point, direction, needle_gauge_mm: float = 0.30,
                     max_depth_mm: float = MAX_DEPTH_MM) -> float:
    """The straightforward per-vertex answer: one full clearance report for a needle of the map's length
    (needle_gauge_mm: shaft diameter, mm)."""
    rep = engine.report(Needle(point, direction, 0.0, max_depth_mm, needle_gauge_mm))
    return rep.path.safe_depth_mm


__all__ = ["SafetyMap", "compute_safety_map", "safe_depth_naive", "vertex_normals", "skin_of"]
