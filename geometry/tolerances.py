"""Every tolerance of the geometry engine, in one place (mm unless stated).

The compiled kernels (`kernels.py`, `bvh.py`, `scene_bvh.py`) read these module-level floats as compile-time
constants. numba's on-disk cache is keyed on the source file of each kernel, not on this module:
after changing a value here, delete the `__pycache__` folders of `geometry/` (or touch `kernels.py`,
`bvh.py` and `scene_bvh.py`) so the kernels are compiled again with the new value.
"""
from __future__ import annotations

# --- compiled kernels (kernels.py, bvh.py, scene_bvh.py) -----------------------------------------
#: Zero for squared lengths (mm²) and products of them in the closest-point kernels; also the
#: relative zero of a degenerate triangle's or segment pair's determinant.
EPS = 1e-12
#: Ray–triangle determinant (mm², unit ray direction) below which the ray is parallel to the triangle.
RAY_PARALLEL_DET = 1e-18
#: Crossings of one mesh whose ray parameters differ by at most this × (1 + |t|) mm are one crossing
#: (a ray through a shared edge or vertex meets several triangles at the same t). Relative, no unit.
DUPLICATE_HIT_REL = 1e-9
#: Slack (mm) added to the distance bound carried from one profile sample to the next.
BOUND_SLACK_MM = 1e-9

# --- clearance (clearance.py, safety_map.py) ---------------------------------------------------
#: Crossings of the skin closer than this to the entry (mm) are the entry itself.
ENTRY_TOL_MM = 1e-3
#: Share of voting rays (0..1) that must agree before a point counts as inside / outside an open surface.
VOTE_INSIDE = 0.6
VOTE_OUTSIDE = 0.4
#: Rays (a count) that must agree to settle the vote early: with 32 rays, 20 odd means >= 60 % whatever
#: the rest say, 20 even means <= 40 %.
VOTE_DECISIVE = 20
#: Two depths along the needle (mm) closer than this are equal (the tip rests on a bone, a backstop).
SAME_DEPTH_MM = 1e-9
#: A safety-map ray starts this far (mm) inside the skin so the skin itself is not counted.
SKIN_START_MM = 1e-6

# --- input checks (needle.py, placement.py, safety_map.py) -------------------------------------
#: The smallest a direction's largest component (or its length) may be; below it the vector is
#: taken as zero and refused (no unit: directions are normalised).
MIN_DIRECTION = 1e-9
#: Entry and target closer than this (mm) coincide: no direction can be aimed between them.
COINCIDENT_MM = 1e-6

# --- display (report.py) -----------------------------------------------------------------------
#: Added before rounding a distance down for display (in units of the last shown digit), so a value
#: such as 2.3 stored as 2.2999999999999998 still reads 2.30.
FLOOR_GUARD = 1e-9
