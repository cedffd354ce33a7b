"""Needle clearance: distances to every critical structure, depth along the path, safe depth and
bracketing, for one needle against one anatomy scene (mm, LPS)."""
from __future__ import annotations

import math

import numpy as np

from needlesafe.meshes.types import AnatomyScene

from .bvh import SceneBVH
from .needle import Needle
from .report import (
    Bracketing,
    ClearanceReport,
    FirstHit,
    PathReport,
    StructureClearance,
    format_mm,
    level_for,
    worst_level,
)


class ClearanceEngine:
    """Builds the acceleration structures of a scene once; `report(needle)` answers each update.

    Inside/outside of a closed surface comes from the parity of the needle line's crossings; for an
    open surface (most atlas nerves are open tubes) the entry is taken as outside and the tip is inside
    after an odd number of crossings of the inserted shaft.
    """

    def __init__(self, scene: AnatomyScene):
        self.scene = scene
        self.structures = list(scene.structures)
        self.closed = np.array([s.is_closed for s in self.structures], dtype=bool)
        self.bvh = SceneBVH(
            [(s.vertices, s.faces) for s in self.structures],
            critical=[s.critical for s in self.structures],
            margins=[s.margin_mm if s.critical else 0.0 for s in self.structures],
        )
        self._landmarks = [(lm.name, np.asarray(lm.point, float), lm.bone) for lm in scene.landmarks]
        # compile and warm the queries once, so the first user update is fast
        self.query(Needle(scene.bounds().mean(axis=0), (0.0, 0.0, 1.0), 1.0, 2.0, 0.3))

    def query(self, needle: Needle) -> dict:
        """Raw per-structure arrays for `needle` (see `SceneBVH.query`)."""
        return self.bvh.query(needle.entry_lps, needle.direction, needle.depth_mm, needle.length_mm, needle.radius_mm)

    def profile(self, needle: Needle, n_samples: int = 121):
        """Clearance against insertion depth along the needle's line, for the plot.

        Returns (depths (m,) mm from 0 to the needle's length, {structure name: clearance (m,) mm}):
        the clearance at depth t is the shaft's (the smallest point distance over [0, t], minus the
        needle radius, never below 0), sampled every length/(m-1) mm; exact numbers at the current
        depth come from `report`.
        """
        ts = np.linspace(0.0, needle.length_mm, n_samples)
        dist = self.bvh.profile(needle.entry_lps, needle.direction, ts)
        out = {}
        for i, s in enumerate(self.structures):
            if s.critical:
                out[s.name] = np.maximum(np.minimum.accumulate(dist[i]) - needle.radius_mm, 0.0)
        return ts, out

    def report(self, needle: Needle) -> ClearanceReport:
        """The full clearance report of `needle`. Never raises for a valid Needle: a failed
        computation gives status "unknown" (shown as danger)."""
        try:
            q = self.query(needle)
        except Exception as exc:  # noqa: BLE001 - any engine failure must read as unknown, not safe
            return self._unknown_report(needle, f"clearance computation failed: {exc}")
        return self._assemble(needle, q)

    def _unknown_report(self, needle: Needle, message: str) -> ClearanceReport:
        rows = [
            StructureClearance(s.name, s.role, s.margin_mm, None, None, None, None, None, None, "unknown", message)
            for s in self.structures
            if s.critical
        ]
        path = PathReport([], None, None, Bracketing("unknown", message=message))
        return ClearanceReport(self.scene.name, needle, rows, path, "unknown", [message])

    def _assemble(self, needle: Needle, q: dict) -> ClearanceReport:
        r = needle.radius_mm
        length = needle.length_mm
        errors = []
        rows = []
        safe_depth = length
        limiting = None
        any_unknown = False
        tip_in_danger = None
        for i, s in enumerate(self.structures):
            if not s.critical:
                continue
            n_to_tip = int(q["n_hits_to_tip"][i])
            n_total = n_to_tip + int(q["n_hits_beyond_tip"][i])
            entry_inside = bool(self.closed[i] and n_total % 2 == 1)
            tip_inside = entry_inside != (n_to_tip % 2 == 1)
            axis_d = float(q["shaft_axis_distance"][i])
            tip_d = float(q["tip_axis_distance"][i])
            if not (math.isfinite(axis_d) and math.isfinite(tip_d)):
                msg = f"{s.name}: distance could not be computed"
                errors.append(msg)
                any_unknown = True
                rows.append(StructureClearance(s.name, s.role, s.margin_mm, None, None, None, None, None, None, "unknown", msg))
                continue
            penetrated = axis_d <= r or entry_inside or tip_inside
            shaft_mm = 0.0 if (entry_inside or tip_inside) else max(0.0, axis_d - r)
            tip_mm = 0.0 if tip_inside else max(0.0, tip_d - r)
            a = q["shaft_point"][i]
            b = q["structure_point"][i]
            gap = b - a
            gn = float(np.linalg.norm(gap))
            needle_pt = a + (min(r, gn) / gn) * gap if gn > 0 else a
            rows.append(
                StructureClearance(
                    name=s.name,
                    role=s.role,
                    margin_mm=s.margin_mm,
                    shaft_distance_mm=shaft_mm,
                    tip_distance_mm=tip_mm,
                    closest_point_needle=[float(x) for x in needle_pt],
                    closest_point_structure=[float(x) for x in b],
                    penetrated=bool(penetrated),
                    tip_inside=bool(tip_inside),
                    level=level_for(shaft_mm, s.margin_mm, penetrated),
                )
            )
            t_margin = 0.0 if entry_inside else float(q["margin_entry"][i])
            if t_margin < safe_depth:
                safe_depth = t_margin
                limiting = s.name
            if tip_inside:
                tip_in_danger = s
        first_hits = sorted(
            (
                FirstHit(s.name, s.role, float(q["first_hit"][i]))
                for i, s in enumerate(self.structures)
                if q["first_hit"][i] <= length
            ),
            key=lambda h: h.depth_mm,
        )
        if any_unknown:
            path = PathReport(first_hits, None, None, Bracketing("unknown", message="; ".join(errors)))
        else:
            bracketing = self._bracketing(needle, q, safe_depth, tip_in_danger)
            path = PathReport(first_hits, float(safe_depth), limiting, bracketing)
        level = worst_level([row.level for row in rows])
        return ClearanceReport(self.scene.name, needle, rows, path, level, errors)

    def _bracketing(self, needle: Needle, q: dict, safe_depth: float, tip_in_danger) -> Bracketing:
        if tip_in_danger is not None:
            return Bracketing(
                "danger",
                structure=tip_in_danger.name,
                role=tip_in_danger.role,
                distance_mm=0.0,
                depth_mm=needle.depth_mm,
                point=[float(x) for x in needle.tip_lps],
                message=f"tip is inside {tip_in_danger.name}",
            )
        best_i = -1
        best_t = math.inf
        for i, s in enumerate(self.structures):
            if not (s.critical or s.role == "bone"):
                continue
            t = float(q["first_hit_beyond_tip"][i])
            if t <= needle.length_mm and t < best_t:
                best_t = t
                best_i = i
        if best_i < 0:
            return Bracketing("none", message="no bone or danger structure ahead within the needle's length")
        s = self.structures[best_i]
        point = needle.entry_lps + best_t * needle.direction
        ahead = best_t - needle.depth_mm
        if s.critical:
            return Bracketing(
                "danger",
                structure=s.name,
                role=s.role,
                distance_mm=ahead,
                depth_mm=best_t,
                point=[float(x) for x in point],
                message=f"no bony backstop: {s.name} ahead at {format_mm(ahead, 1)} mm",
            )
        lm_name, lm_dist = self._nearest_landmark(point, s.name)
        backstop = best_t <= safe_depth + 1e-9
        near = f" (near {lm_name}, {lm_dist:.0f} mm)" if lm_name else ""
        caveat = "" if backstop else "; the margin of a danger structure is reached first"
        return Bracketing(
            "bone",
            structure=s.name,
            role=s.role,
            distance_mm=ahead,
            depth_mm=best_t,
            point=[float(x) for x in point],
            landmark=lm_name,
            landmark_distance_mm=lm_dist,
            backstop=backstop,
            message=f"bone ahead at {format_mm(ahead, 1)} mm: {s.name}{near}{caveat}",
        )

    def _nearest_landmark(self, point, bone: str):
        """Nearest landmark on `bone` (else any landmark) to point: (name, distance mm)."""
        on_bone = [lm for lm in self._landmarks if lm[2] == bone] or self._landmarks
        if not on_bone:
            return None, None
        d = [float(np.linalg.norm(lm[1] - point)) for lm in on_bone]
        k = int(np.argmin(d))
        return on_bone[k][0], d[k]
