"""Grading metrics of a scored attempt (no Qt, no VTK): what an instructor grades with.

An `AttemptTracker` is fed every needle of an attempt as it happens (`add(t_s, needle, report)`, the
Session calls it on each needle update during an exercise) and keeps only running totals and the
latest sample, so its memory does not grow with the attempt's length (it holds one closest distance
per danger structure of the scene). `result()` gives the attempt's metrics, stored in the log:

- ``first_pass``: the final tip reaches the target (within the exercise's tolerance, as scored) and
  the attempt had no redirection;
- ``redirections``: changes of angle of more than REDIRECT_DEGREES with the tip deeper than
  REDIRECT_MIN_DEPTH_MM (the Session reads its count from the tracker);
- ``time_s``: from the first insertion (the first needle with depth > 0) to the final position (the
  last sample that moved the needle); None when the needle never went in;
- ``depth_error_mm`` and ``angle_error_deg``: against the exercise's REFERENCE TRAJECTORY, the line
  the exercise opens with (app/exercise_check.py `start_needle`: an entry on the skin aimed at the
  target), whose reference depth is the entry-to-target distance. Depth error = final depth minus
  reference depth (signed: + too deep); angle error = angle between the final and the reference
  directions. None without a reference;
- ``path_mm``: the tip's path length while in tissue (between successive samples, straight);
- ``margin_time_s``: time with the needle in (depth > 0) and any danger structure's shaft distance
  below its margin (the exercise's clearance when larger, as scored; unknown distance or
  penetration counts as contact, distance 0). A sample's state holds until the next sample, the
  last one until `result(t_end)`;
- ``deepest_intrusion_mm``: the largest margin - distance over the attempt (0.0: never inside);
- ``near_misses``: {structure: closest shaft distance (mm)} over the samples with the needle in;
  unknown distances count as contact (0.0);
- ``events``: {kind: count} of the attempt's events (each event once per attempt).

Millimetres are rounded toward danger to 0.01 mm: distances down; intrusions, errors and the path
up (a signed error away from zero); times and angles up to 0.01.
"""
from __future__ import annotations

import math

from needlesafe.geometry.tolerances import FLOOR_GUARD

REDIRECT_DEGREES = 5.0  # a redirection (the Session reads the count here): a change of angle larger than this ...
REDIRECT_MIN_DEPTH_MM = 2.0  # ... with the tip deeper than this
_COS_REDIRECT = math.cos(math.radians(REDIRECT_DEGREES))

#: The metric keys of a log record's "metrics" (app/attempt_log.py validates them).
METRIC_KEYS = ("first_pass", "redirections", "time_s", "depth_error_mm", "angle_error_deg", "path_mm",
               "margin_time_s", "deepest_intrusion_mm", "near_misses", "events")


def floor2(x: float) -> float:
    """Down to 0.01 (a distance, toward danger)."""
    return math.floor(float(x) * 100.0 + FLOOR_GUARD) / 100.0


def ceil2(x: float) -> float:
    """Up to 0.01 (an intrusion, an error, toward danger)."""
    return math.ceil(float(x) * 100.0 - FLOOR_GUARD) / 100.0


def away2(x: float) -> float:
    """A signed error rounded away from zero to 0.01 (its size toward danger)."""
    return math.copysign(ceil2(abs(x)), x) if x else 0.0


def reference_trajectory(start, target) -> tuple | None:
    """(entry (3,), unit direction (3,), depth mm) of the reference line: from the start needle's skin
    entry straight to the target point; None when either is missing or they coincide."""
    if start is None or target is None:
        return None
    e = [float(v) for v in start.entry_lps]
    t = [float(v) for v in target]
    d = [b - a for a, b in zip(e, t, strict=True)]
    n = math.sqrt(sum(x * x for x in d))
    if not math.isfinite(n) or n == 0.0:
        return None
    return e, [x / n for x in d], n


class AttemptTracker:
    """Running metrics of one attempt. `margins`: {structure: the exercise's clearance (mm)}, which
    raises (never lowers) a structure's own margin; `target` (3,) and `tolerance_mm` decide whether
    the final tip reached the target; `reference` is `reference_trajectory(...)` or None."""

    def __init__(self, target=None, tolerance_mm: float = 0.0, reference=None, margins=None):
        self.target = None if target is None else [float(v) for v in target]
        self.tolerance_mm = float(tolerance_mm)
        self.reference = reference
        self.margins = dict(margins or {})
        self.redirections = 0
        self._ref_dir = None  # the direction redirections are measured from
        self._last = None  # (t, entry, direction, depth, tip) of the latest sample
        self._t_first = None  # first insertion
        self._t_final = None  # the last sample that moved the needle
        self._inside_since = None  # the latest sample's time when it was inside a margin
        self.path_mm = 0.0
        self.margin_time_s = 0.0
        self.deepest_intrusion_mm = 0.0
        self.near_misses: dict = {}

    @classmethod
    def for_exercise(cls, exercise, start) -> AttemptTracker:
        """A tracker for `exercise` whose reference line starts at `start` (its opening needle)."""
        return cls(exercise.target_point, exercise.tolerance_mm, reference_trajectory(start, exercise.target_point),
                   exercise.clearance_mm)

    def next_attempt(self, t_s: float, needle, report=None) -> AttemptTracker:
        """A tracker for the next attempt of the same exercise, starting from `needle` (the one just
        scored); as in the Session, its redirections are measured from the next needle on."""
        nxt = AttemptTracker(self.target, self.tolerance_mm, self.reference, self.margins)
        nxt.add(t_s, needle, report)
        nxt._ref_dir = None
        return nxt

    def add(self, t_s: float, needle, report=None) -> None:
        """One needle of the attempt at time `t_s` (seconds, any origin, not decreasing) with its
        report (None: the structures are not updated)."""
        t = float(t_s)
        entry = needle.entry_lps.tolist()
        d = needle.direction.tolist()
        depth = float(needle.depth_mm)
        tip = [entry[0] + depth * d[0], entry[1] + depth * d[1], entry[2] + depth * d[2]]
        last = self._last
        if last is not None:
            _, e0, d0, depth0, tip0 = last
            if self._inside_since is not None:
                self.margin_time_s += max(0.0, t - self._inside_since)
            moved = e0 != entry or d0 != d or depth0 != depth
            if moved:
                self._t_final = t
                if depth0 > 0.0 and depth > 0.0:
                    self.path_mm += math.dist(tip0, tip)
                elif depth0 > 0.0 or depth > 0.0:  # in from the skin or out to it
                    self.path_mm += math.dist(tip0, tip) if e0 == entry else max(depth0, depth)
        else:
            self._t_final = t
        if depth > 0.0 and self._t_first is None:
            self._t_first = t
        if depth > REDIRECT_MIN_DEPTH_MM:
            if self._ref_dir is None:
                self._ref_dir = d
            else:
                r = self._ref_dir
                if d[0] * r[0] + d[1] * r[1] + d[2] * r[2] < _COS_REDIRECT:
                    self.redirections += 1
                    self._ref_dir = d
        inside = False
        if report is not None and depth > 0.0:
            margins, near = self.margins, self.near_misses
            worst = 0.0
            for row in report.structures:
                dist = row.shaft_distance_mm
                if dist is None or row.penetrated or not math.isfinite(dist) or dist < 0.0:
                    dist = 0.0
                name = row.name
                old = near.get(name)
                if old is None or dist < old:
                    near[name] = dist
                need = margins.get(name, 0.0)
                if row.margin_mm > need:
                    need = row.margin_mm
                if dist < need or dist == 0.0:
                    inside = True
                    if need - dist > worst:
                        worst = need - dist
            if worst > self.deepest_intrusion_mm:
                self.deepest_intrusion_mm = worst
        self._inside_since = t if inside else None
        self._last = (t, entry, d, depth, tip)

    def result(self, t_end: float | None = None, events=()) -> dict:
        """The attempt's metrics (module docstring); `t_end`: when it was scored (the final state's
        margin time runs until then); `events`: the attempt's events (geometry.events.Event)."""
        margin_time = self.margin_time_s
        if t_end is not None and self._inside_since is not None:
            margin_time += max(0.0, float(t_end) - self._inside_since)
        last = self._last
        counts: dict = {}
        for e in events:
            counts[e.kind] = counts.get(e.kind, 0) + 1
        out = {"first_pass": False, "redirections": self.redirections, "time_s": None, "depth_error_mm": None,
               "angle_error_deg": None, "path_mm": ceil2(self.path_mm),
               "margin_time_s": ceil2(margin_time), "deepest_intrusion_mm": ceil2(self.deepest_intrusion_mm),
               "near_misses": {k: floor2(v) for k, v in sorted(self.near_misses.items())}, "events": counts}
        if last is None:
            return out
        _, entry, d, depth, tip = last
        if self.target is not None:
            reached = math.dist(tip, self.target) <= self.tolerance_mm
            out["first_pass"] = bool(reached and self.redirections == 0)
        if self._t_first is not None and self._t_final is not None:
            out["time_s"] = ceil2(max(0.0, self._t_final - self._t_first))
        if self.reference is not None:
            _, rd, rdepth = self.reference
            out["depth_error_mm"] = away2(depth - rdepth)
            cos = max(-1.0, min(1.0, d[0] * rd[0] + d[1] * rd[1] + d[2] * rd[2]))
            out["angle_error_deg"] = ceil2(math.degrees(math.acos(cos)))
        return out


def metrics_line(m: dict | None) -> str:
    """One plain sentence of an attempt's metrics for the feedback ('' without metrics)."""
    if not m:
        return ""
    parts = ["first pass" if m.get("first_pass") else "not a first pass", f"{m.get('redirections', 0)} redirection(s)"]
    if m.get("time_s") is not None:
        parts.append(f"{m['time_s']:.2f} s from first insertion")
    if m.get("depth_error_mm") is not None:
        parts.append(f"depth error {m['depth_error_mm']:+.2f} mm, angle error {m['angle_error_deg']:.2f}°")
    parts.append(f"path in tissue {m.get('path_mm', 0.0):.2f} mm")
    parts.append(f"{m.get('margin_time_s', 0.0):.2f} s inside a margin "
                 f"(deepest {m.get('deepest_intrusion_mm', 0.0):.2f} mm)")
    return "Metrics: " + ", ".join(parts) + "."
