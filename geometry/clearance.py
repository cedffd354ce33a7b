"""Needle clearance: distances to every critical structure, depth along the path, safe depth and
bracketing, for one needle against one anatomy scene (mm, LPS)."""
from __future__ import annotations

import math

import numpy as np

from needlesafe.meshes.types import AnatomyScene

from .needle import Needle
from .report import (
    UNMODELLED,
    Bracketing,
    ClearanceReport,
    FirstHit,
    PathReport,
    StructureClearance,
    format_mm,
    level_for,
    worst_level,
)
from .scene_bvh import SceneBVH
from .tolerances import ENTRY_TOL_MM, SAME_DEPTH_MM, VOTE_DECISIVE, VOTE_INSIDE, VOTE_OUTSIDE

#: limiting_structure when the safe depth ends where the needle leaves the modelled body.
EDGE_OF_MODEL = "edge of the model"


class ClearanceEngine:
    """Builds the acceleration structures of a scene once; `report(needle)` answers each update.

    Rules (see ../shared/DESIGN.md, "Safety semantics"):
    - the needle stops where its line first enters a bone (the report's needle is the effective one);
    - beyond the closed skin the tissue is not modelled: a tip there is "unknown";
    - inside/outside of a closed surface comes from the parity of the needle line's crossings; for an
      open surface (atlas nerves are open tubes, atlas lungs open shells) from rays cast in 32
      directions, which must agree (>= 60 % odd: inside, <= 40 %: outside), else "unknown";
    - an unmodelled zone (role "unmodelled": where a danger structure the model lacks really runs)
      is measured like any critical structure, but touching it or entering its margin is "unknown"
      (the whole report then reads unknown, shown as danger) and its row carries the pack's note
      (``metadata["unmodelled"][name]["note"]``); the safe depth stops at its margin. It never
      stops the needle (only bones do).

    `cache_dir` (a folder, or None) keeps each structure's BVH between runs (see `bvh.TriangleBVH`).
    """

    def __init__(self, scene: AnatomyScene, cache_dir=None):
        self.scene = scene
        self.structures = list(scene.structures)
        self.closed = np.array([s.is_closed for s in self.structures], dtype=bool)
        self.bvh = SceneBVH(
            [(s.vertices, s.faces) for s in self.structures],
            critical=[s.critical for s in self.structures],
            margins=[s.margin_mm if s.critical else 0.0 for s in self.structures],
            cache_dir=cache_dir,
        )
        self._bones = np.array([s.role == "bone" for s in self.structures], dtype=bool)
        skins = [i for i, s in enumerate(self.structures) if s.role == "skin" and self.closed[i]]
        self._skin = max(skins, key=lambda i: self.structures[i].n_triangles) if skins else None
        self._landmarks = [(lm.name, np.asarray(lm.point, float), lm.bone) for lm in scene.landmarks]
        self._notes = {s.name: unmodelled_note(scene, s.name) for s in self.structures if s.role == UNMODELLED}
        self._votes: dict = {}  # (structure, x, y, z) -> inside an open surface (True/False/None)
        self._boxes = np.array([part.bounds for part in self.bvh.parts])  # (k, 2, 3) mm
        # compile and warm the queries once, so the first user update is fast
        self.report(Needle(scene.bounds().mean(axis=0), np.array([0.0, 0.0, 1.0]), 1.0, 2.0, 0.3))

    @property
    def skin_index(self) -> int | None:
        """Index into `structures` of the closed skin that bounds the modelled body (the largest
        closed skin), or None when the pack has no closed skin."""
        return self._skin

    @property
    def bones(self) -> np.ndarray:
        """(k,) bool, one per structure: the bones, which stop the needle."""
        return self._bones.copy()

    def query(self, needle: Needle) -> dict:
        """Raw per-structure arrays for `needle` (see `SceneBVH.query`)."""
        return self.bvh.query(needle.entry_lps, needle.direction, needle.depth_mm, needle.length_mm, needle.radius_mm)

    def _first_bone(self, q: dict, length: float):
        """(depth mm, structure index) of the first bone crossing along the line within `length`, or (None, -1)."""
        if not self._bones.any():
            return None, -1
        t = np.where(self._bones, q["first_hit"], np.inf)
        i = int(np.argmin(t))
        return (float(t[i]), i) if t[i] <= length else (None, -1)

    def bone_stop(self, needle: Needle):
        """(depth mm, bone name) where the needle's line first enters a bone within its length, or
        (None, None): the deepest the needle can be pushed."""
        depth, i = self._first_bone(self.query(needle.at_depth(0.0)), needle.length_mm)
        return (depth, self.structures[i].name) if i >= 0 else (None, None)

    def effective(self, needle: Needle) -> Needle:
        """`needle` with its depth clamped to the bone stop (a needle cannot pass through bone)."""
        depth, _ = self.bone_stop(needle)
        return needle.at_depth(depth) if depth is not None and needle.depth_mm > depth else needle

    def body_exit(self, needle: Needle):
        """Depth (mm) where the needle's line leaves the modelled body (the closed skin) within its
        length, or None (it stays inside, or the pack has no closed skin)."""
        if self._skin is None:
            return None
        t = self.bvh.body_exit(self._skin, needle.entry_lps, needle.direction, ENTRY_TOL_MM)
        return t if t <= needle.length_mm else None

    def distance_to_skin(self, point, direction):
        """Distance (mm) from `point` along `direction` (unit, (3,)) to the closed skin, or None."""
        if self._skin is None:
            return None
        hits = self.bvh.crossings(self._skin, point, direction)
        return float(hits[0]) if len(hits) else None

    def inside(self, name: str, point):
        """Is `point` (3,) mm inside structure `name`? True, False, or None when an open surface's
        rays disagree (see `SceneBVH.inside_fraction`; a closed surface's rays always agree)."""
        i = next(k for k, s in enumerate(self.structures) if s.name == name)
        return self._open_inside(i, point)

    def profile(self, needle: Needle, n_samples: int = 121, nearest: int | None = None):
        """Clearance against insertion depth along the needle's line, for the plot.

        Returns (depths (m,) mm from 0 to the needle's length, {structure name: clearance (m,) mm}):
        the clearance at depth t is the shaft's (the smallest point distance over [0, t], minus the
        needle radius, never below 0), sampled every length/(m-1) mm; exact numbers at the current
        depth come from `report`. With `nearest`, only the critical structures nearest to the whole
        line (the needle at its full length; exact distances, one query) get a curve: a plot of the
        few nearest costs a fraction of every structure's on a large region.
        """
        ts = np.linspace(0.0, needle.length_mm, n_samples)
        only = None
        critical = self.bvh.critical  # (k,) bool, one per structure
        if nearest is not None and critical.sum() > nearest:
            q = self.bvh.query(needle.entry_lps, needle.direction, needle.length_mm, needle.length_mm,
                               needle.radius_mm)
            full = np.where(critical, q["shaft_axis_distance"], np.inf)
            only = np.zeros(len(critical), dtype=bool)
            only[np.argsort(full, kind="stable")[: max(int(nearest), 0)]] = True
        dist = self.bvh.profile(needle.entry_lps, needle.direction, ts, only)
        out = {}
        for i, s in enumerate(self.structures):
            if s.critical and (only is None or only[i]):
                out[s.name] = np.maximum(dist[i] - needle.radius_mm, 0.0)
        return ts, out

    def report(self, needle: Needle) -> ClearanceReport:
        """The full clearance report of `needle`, stopped at the first bone along its line. Never
        raises for a valid Needle: a failed computation gives level "unknown" (shown as danger)."""
        try:
            q = self.query(needle)
            stop, stop_i = self._first_bone(q, needle.length_mm)
            effective = needle
            if stop is not None and needle.depth_mm > stop:
                effective = needle.at_depth(stop)
                q = self.query(effective)
            exit_mm = self.body_exit(needle)
            return self._assemble(effective, q, needle.depth_mm, stop, stop_i, exit_mm)
        except Exception as exc:  # noqa: BLE001 - any engine failure must read as unknown, not safe
            return self._unknown_report(needle, f"clearance computation failed: {exc}")

    def _unknown_report(self, needle: Needle, message: str) -> ClearanceReport:
        rows = [
            StructureClearance(s.name, s.role, s.margin_mm, None, None, None, None, None, None, "unknown", message,
                               self._notes.get(s.name))
            for s in self.structures
            if s.critical
        ]
        path = PathReport([], None, None, Bracketing("unknown", message=message))
        return ClearanceReport(self.scene.name, needle, rows, path, "unknown", [message], needle.depth_mm)

    def _open_inside(self, i: int, point):
        """Is `point` inside structure i? The vote of `SceneBVH.inside_fraction`: True, False, or None
        when the rays disagree (near an opening of an open surface)."""
        key = (i, *(float(x) for x in point))
        if key in self._votes:
            return self._votes[key]
        f = self.bvh.inside_fraction(i, point, VOTE_DECISIVE)
        answer = True if f >= VOTE_INSIDE else False if f <= VOTE_OUTSIDE else None
        if len(self._votes) > 4096:  # the entry rarely moves between updates: keep recent answers
            self._votes.clear()
        self._votes[key] = answer
        return answer

    def _assemble(self, needle: Needle, q: dict, requested: float, stop, stop_i: int, exit_mm) -> ClearanceReport:
        r = needle.radius_mm
        length = needle.length_mm
        errors = []
        rows = []
        safe_depth = length
        limiting = None
        any_unknown = False
        tip_in_danger = None
        ends = np.stack([needle.entry_lps, needle.tip_lps])[:, None, :]  # (2, 1, 3)
        in_box = np.all((ends >= self._boxes[None, :, 0]) & (ends <= self._boxes[None, :, 1]), axis=2)  # (2, k)
        for i, s in enumerate(self.structures):
            if not s.critical:
                continue
            n_to_tip = int(q["n_hits_to_tip"][i])
            n_total = n_to_tip + int(q["n_hits_beyond_tip"][i])
            axis_d = float(q["shaft_axis_distance"][i])
            tip_d = float(q["tip_axis_distance"][i])
            if not (math.isfinite(axis_d) and math.isfinite(tip_d)):
                msg = f"{s.name}: distance could not be computed"
                errors.append(msg)
                any_unknown = True
                rows.append(StructureClearance(s.name, s.role, s.margin_mm, None, None, None, None, None, None,
                                               "unknown", msg))
                continue
            if self.closed[i]:
                # parity along the needle's line; a line grazing the surface (through a facet edge at a
                # tangent) can make it odd outside, so an "inside" is confirmed by the ray vote
                entry_inside = n_total % 2 == 1 and self._open_inside(i, needle.entry_lps) is not False
                tip_inside = (n_total - n_to_tip) % 2 == 1 and self._open_inside(i, needle.tip_lps) is not False
            else:  # outside an open surface's bounding box is outside: vote only within it
                entry_inside = bool(in_box[0, i]) and self._open_inside(i, needle.entry_lps)
                tip_inside = bool(in_box[1, i]) and self._open_inside(i, needle.tip_lps)
                crossed = axis_d <= r
                if not crossed and (entry_inside is None or tip_inside is None):
                    msg = (f"{s.name}: cannot tell whether the needle is inside this open surface "
                           "(the rays cast from it disagree)")
                    errors.append(msg)
                    any_unknown = True
                    rows.append(StructureClearance(s.name, s.role, s.margin_mm, None, None, None, None, None, None,
                                                   "unknown", msg))
                    continue
                # the shaft crosses the surface: contact whatever the vote; an undecided entry counts as inside
                entry_inside = True if entry_inside is None else entry_inside
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
                    tip_inside=None if tip_inside is None else bool(tip_inside),
                    level=level_for(shaft_mm, s.margin_mm, penetrated, s.role),
                    note=self._notes.get(s.name),
                )
            )
            t_margin = 0.0 if entry_inside else float(q["margin_depth"][i])
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
        margin_depth = safe_depth
        if exit_mm is not None and exit_mm < safe_depth:
            safe_depth, limiting = exit_mm, EDGE_OF_MODEL
        stopped_by = None
        if stop is not None and requested > stop:
            stopped_by = {"name": self.structures[stop_i].name, "depth_mm": float(stop)}
        if any_unknown:
            path = PathReport(first_hits, None, None, Bracketing("unknown", message="; ".join(errors)),
                              stop, stopped_by, exit_mm)
        else:
            bracketing = self._bracketing(needle, q, margin_depth, tip_in_danger, stop, stop_i, exit_mm)
            path = PathReport(first_hits, float(safe_depth), limiting, bracketing, stop, stopped_by, exit_mm)
        level = worst_level([row.level for row in rows])
        if exit_mm is not None and needle.depth_mm > exit_mm + ENTRY_TOL_MM:
            errors.append(f"the needle leaves the modelled body at {format_mm(exit_mm)} mm: "
                          "the tissue around its tip is not modelled")
            level = "unknown"
        return ClearanceReport(self.scene.name, needle, rows, path, level, errors, float(requested))

    def _bracketing(self, needle: Needle, q: dict, margin_depth: float, tip_in_danger, stop, stop_i: int,
                    exit_mm) -> Bracketing:
        """The first thing ahead of the tip: a bone (the bone stop, reached before any margin is a
        backstop), or a critical structure; nothing past the bone stop or the edge of the model counts."""
        if tip_in_danger is not None:
            return Bracketing(
                "danger",
                structure=tip_in_danger.name,
                role=tip_in_danger.role,
                distance_mm=0.0,
                depth_mm=needle.depth_mm,
                point=[float(x) for x in needle.tip_lps],
                message=f"tip is inside {tip_in_danger.name}"
                        + (" (not modelled: unknown tissue)" if tip_in_danger.role == UNMODELLED else ""),
            )
        reach = needle.length_mm
        if stop is not None:
            reach = min(reach, stop)
        if exit_mm is not None:
            reach = min(reach, exit_mm)
        danger_i = -1
        danger_t = math.inf
        for i, s in enumerate(self.structures):
            t = float(q["first_hit_beyond_tip"][i])
            if s.critical and t <= reach and t < danger_t:
                danger_t = t
                danger_i = i
        if danger_i >= 0:
            s = self.structures[danger_i]
            ahead = danger_t - needle.depth_mm
            return Bracketing(
                "danger",
                structure=s.name,
                role=s.role,
                distance_mm=ahead,
                depth_mm=danger_t,
                point=[float(x) for x in needle.entry_lps + danger_t * needle.direction],
                message=f"no bony backstop: {s.name}"
                        + (" (not modelled: unknown tissue)" if s.role == UNMODELLED else "")
                        + f" ahead at {format_mm(ahead, 1)} mm",
            )
        if stop is None or (exit_mm is not None and exit_mm < stop):
            if exit_mm is not None:
                return Bracketing("none", message=f"no bony backstop: the needle's line leaves the modelled body "
                                                  f"at {format_mm(exit_mm, 1)} mm")
            return Bracketing("none", message="no bone or danger structure ahead within the needle's length")
        s = self.structures[stop_i]
        point = needle.entry_lps + stop * needle.direction
        ahead = max(0.0, stop - needle.depth_mm)
        lm_name, lm_dist = self._nearest_landmark(point, s.name)
        backstop = stop <= margin_depth + SAME_DEPTH_MM
        near = f" (near {lm_name}, {lm_dist:.0f} mm)" if lm_name else ""
        caveat = "" if backstop else "; the margin of a danger structure is reached first"
        if ahead <= SAME_DEPTH_MM:
            where = f"the tip rests on {s.name}"
        else:
            where = f"bone ahead at {format_mm(ahead, 1)} mm: {s.name}"
        return Bracketing(
            "bone",
            structure=s.name,
            role=s.role,
            distance_mm=ahead,
            depth_mm=stop,
            point=[float(x) for x in point],
            landmark=lm_name,
            landmark_distance_mm=lm_dist,
            backstop=backstop,
            message=f"{where}{near}{caveat}",
        )

    def _nearest_landmark(self, point, bone: str):
        """Nearest landmark on `bone` (else any landmark) to point: (name, distance mm)."""
        on_bone = [lm for lm in self._landmarks if lm[2] == bone] or self._landmarks
        if not on_bone:
            return None, None
        d = [float(np.linalg.norm(lm[1] - point)) for lm in on_bone]
        k = int(np.argmin(d))
        return on_bone[k][0], d[k]


def unmodelled_note(scene: AnatomyScene, name: str) -> str:
    """What the unmodelled zone `name` of `scene` stands for and where it really runs: the pack's
    ``metadata["unmodelled"][name]["note"]``, else a plain sentence saying it is not modelled."""
    info = scene.metadata.get("unmodelled", {}) if isinstance(scene.metadata, dict) else {}
    entry = info.get(name) if isinstance(info, dict) else None
    note = entry.get("note") if isinstance(entry, dict) else None
    if isinstance(note, str) and note.strip():
        return note.strip()
    return f"what runs in {name} is not in this model"
