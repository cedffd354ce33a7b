"""Safety rules against analytic geometry: the needle stops at bone, tissue beyond the skin is unknown,
inside/outside of open surfaces is decided by agreeing rays or reported unknown."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from needlesafe.geometry.clearance import EDGE_OF_MODEL, ClearanceEngine
from needlesafe.geometry.needle import Needle

from ..conftest import box_mesh, cylinder_mesh, scene_of, structure


def open_tube(radius, x0, x1, sides=64, rings=41):
    """A tube along x of `radius` with both ends open (no caps), outward facets."""
    xs = np.linspace(x0, x1, rings)
    ang = np.linspace(0.0, 2 * np.pi, sides, endpoint=False)
    v = np.array([[x, radius * np.cos(a), radius * np.sin(a)] for x in xs for a in ang])
    f = []
    for i in range(rings - 1):
        for j in range(sides):
            a, b = i * sides + j, i * sides + (j + 1) % sides
            c, d = a + sides, b + sides
            f += [[a, c, b], [b, c, d]]
    return v, np.array(f, np.int32)


def open_sphere(radius, hole_deg=30.0, n=64):
    """A sphere shell of `radius` at the origin with a round hole of half-angle hole_deg around +z."""
    th = np.radians(np.linspace(hole_deg, 180.0, n // 2))
    ph = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    v = np.array([[radius * np.sin(t) * np.cos(p), radius * np.sin(t) * np.sin(p), radius * np.cos(t)]
                  for t in th for p in ph])
    f = []
    for i in range(len(th) - 1):
        for j in range(n):
            a, b = i * n + j, i * n + (j + 1) % n
            f += [[a, b + n, b], [a, a + n, b + n]]
    return v, np.array(f, np.int32)


@pytest.fixture(scope="module")
def plate_over_nerve():
    """Skin box (top y = 60), a bone plate (y in [-25, -15]) over a nerve (radius 5 along x at y = -40)."""
    skin = structure("skin", "skin", box_mesh((-150, -150, -150), (150, 60, 150)))
    bone = structure("hip_bone", "bone", box_mesh((-60, -25, -60), (60, -15, 60)))
    nerve = structure("sciatic_nerve", "nerve", cylinder_mesh(5.0, -100, 100, 128, y=-40.0), margin=3.0)
    return ClearanceEngine(scene_of(skin, bone, nerve))


def test_needle_stops_where_its_line_first_enters_bone(plate_over_nerve):
    # straight down from y = 40: the plate's top is 55 mm in, its far cortex 65 mm, the nerve below it
    rep = plate_over_nerve.report(Needle((0, 40, 0), (0, -1, 0), 75.0, 100, 0.30))
    assert rep.path.bone_stop_mm == pytest.approx(55.0, abs=1e-9)
    assert rep.path.stopped_by == {"name": "hip_bone", "depth_mm": pytest.approx(55.0, abs=1e-9)}
    assert rep.needle.depth_mm == pytest.approx(55.0, abs=1e-9) and rep.requested_depth_mm == 75.0
    # the nerve beyond the bone is out of reach: its clearance is from the stopped needle
    row = rep.structure("sciatic_nerve")
    assert not row.penetrated and row.shaft_distance_mm == pytest.approx(40 - 55 + 40 - 5 - 0.15, abs=0.05)
    br = rep.path.bracketing
    assert br.verdict == "bone" and br.structure == "hip_bone" and br.distance_mm == 0.0 and br.backstop
    assert br.depth_mm == pytest.approx(55.0, abs=1e-9)
    assert "rests on hip_bone" in br.message
    data = json.loads(rep.to_json())
    assert data["needle"]["depth_mm"] == pytest.approx(55.0) and data["needle"]["requested_depth_mm"] == 75.0
    assert data["path"]["bone_stop_mm"] == pytest.approx(55.0) and data["path"]["stopped_by"]["name"] == "hip_bone"


def test_shallower_needle_is_not_stopped_and_sees_the_bone_ahead(plate_over_nerve):
    rep = plate_over_nerve.report(Needle((0, 40, 0), (0, -1, 0), 50.0, 100, 0.30))
    assert rep.needle.depth_mm == 50.0 and rep.path.stopped_by is None
    assert rep.path.bone_stop_mm == pytest.approx(55.0, abs=1e-9)
    br = rep.path.bracketing
    assert br.verdict == "bone" and br.distance_mm == pytest.approx(5.0, abs=1e-9) and br.backstop
    assert plate_over_nerve.bone_stop(rep.needle) == (pytest.approx(55.0, abs=1e-9), "hip_bone")
    assert plate_over_nerve.effective(Needle((0, 40, 0), (0, -1, 0), 90.0, 100, 0.30)).depth_mm == pytest.approx(55.0)


def test_bracketing_never_counts_the_far_cortex_or_a_bone_behind(plate_over_nerve):
    # start inside the plate's far half (entry below its top): the line is already past the near cortex;
    # the first crossing ahead is the far cortex at y = -25, which stops the needle there
    rep = plate_over_nerve.report(Needle((70, 40, 0), (0, -1, 0), 30.0, 100, 0.30))  # beside the plate
    assert rep.path.bone_stop_mm is None
    assert rep.path.bracketing.verdict == "danger" and rep.path.bracketing.structure == "sciatic_nerve"
    # a needle coming up from below the plate: the nerve is behind it, the plate ahead
    rep = plate_over_nerve.report(Needle((0, -55, 30), (0, 1, 0), 20.0, 60, 0.30))
    assert rep.path.bracketing.verdict == "bone" and rep.path.bracketing.depth_mm == pytest.approx(30.0)


def test_margin_before_bone_is_no_backstop():
    skin = structure("skin", "skin", box_mesh((-150, -150, -150), (150, 60, 150)))
    bone = structure("bone", "bone", box_mesh((-60, -60, -60), (60, -50, 60)))
    nerve = structure("nerve", "nerve", cylinder_mesh(5.0, -100, 100, 128, y=-30.0, z=8.0), margin=3.0)
    eng = ClearanceEngine(scene_of(skin, bone, nerve))
    rep = eng.report(Needle((0, 40, 0), (0, -1, 0), 20.0, 100, 0.30))
    br = rep.path.bracketing
    assert br.verdict == "bone" and not br.backstop and "margin of a danger structure is reached first" in br.message


def test_tip_beyond_the_skin_is_unknown():
    # a thin body: skin box y in [-20, 20]; a needle from the top straight through and out the bottom
    skin = structure("skin", "skin", box_mesh((-100, -20, -100), (100, 20, 100)))
    nerve = structure("nerve", "nerve", cylinder_mesh(3.0, -50, 50, 64, y=0.0, z=60.0), margin=3.0)
    eng = ClearanceEngine(scene_of(skin, nerve))
    inside = eng.report(Needle((0, 20, 0), (0, -1, 0), 39.0, 100, 0.30))
    assert inside.level == "safe" and inside.path.exit_mm == pytest.approx(40.0, abs=1e-9)
    assert inside.path.safe_depth_mm == pytest.approx(40.0) and inside.path.limiting_structure == EDGE_OF_MODEL
    out = eng.report(Needle((0, 20, 0), (0, -1, 0), 60.0, 100, 0.30))
    assert out.level == "unknown" and any("leaves the modelled body" in e for e in out.errors)
    assert out.path.safe_depth_mm == pytest.approx(40.0)
    # an entry just outside the skin (in the air) counts from where the line enters the body
    air = eng.report(Needle((0, 25, 0), (0, -1, 0), 50.0, 100, 0.30))
    assert air.path.exit_mm == pytest.approx(45.0, abs=1e-9) and air.level == "unknown"


def test_inside_an_open_nerve_tube_is_contact():
    # an open tube (no caps), radius 4, x in [-100, 100]; the needle enters through the open end
    nerve = structure("nerve", "nerve", open_tube(4.0, -100, 100), margin=3.0)
    eng = ClearanceEngine(scene_of(nerve))
    assert not eng.closed[0]
    rep = eng.report(Needle((-110, 0, 0), (1, 0, 0), 35.0, 50, 0.30))  # tip 25 mm inside the tube
    row = rep.structure("nerve")
    assert row.level == "contact" and row.penetrated and row.tip_inside and row.shaft_distance_mm == 0.0
    # wholly inside, far from both ends
    row = eng.report(Needle((-20, 0, 0), (1, 0, 0), 30.0, 50, 0.30)).structure("nerve")
    assert row.level == "contact" and row.shaft_distance_mm == 0.0
    # at the very opening the rays disagree: unknown, never safe
    rep = eng.report(Needle((-99.5, 0, 0), (-1, 0, 0), 0.0, 50, 0.30))
    assert rep.structure("nerve").level == "unknown" and rep.level == "unknown" and rep.path.safe_depth_mm is None
    # outside beside the tube: the ordinary distance, 15 - 4 - 0.15 plus at most the facet error
    row = eng.report(Needle((0, 15, -30), (0, 0, 1), 30.0, 50, 0.30)).structure("nerve")
    facet = 4 * (1 - math.cos(math.pi / 64))
    assert 15 - 4 - 0.15 <= row.shaft_distance_mm <= 15 - 4 - 0.15 + facet + 1e-9 and row.level == "safe"


def test_shaft_wholly_inside_an_open_lung_shell_is_contact():
    lung = structure("lung", "pleura", open_sphere(60.0), margin=5.0)
    eng = ClearanceEngine(scene_of(lung))
    assert not eng.closed[0]
    rep = eng.report(Needle((0, -10, -20), (0, 1, 0), 20.0, 40, 0.30))
    row = rep.structure("lung")
    assert row.level == "contact" and rep.level == "contact" and rep.path.safe_depth_mm == 0.0
    out = eng.report(Needle((0, 90, -20), (0, 1, 0), 20.0, 40, 0.30)).structure("lung")
    assert out.level == "safe" and out.shaft_distance_mm > 25.0


@settings(max_examples=40, deadline=None)
@given(x=st.floats(-50, 50), z=st.floats(-50, 50), tilt=st.floats(-0.5, 0.5), depth=st.floats(0, 100))
def test_no_tip_ever_lies_past_a_bone(plate_over_nerve, x, z, tilt, depth):
    n = Needle((x, 40, z), (tilt, -1, 0.3 * tilt), depth, 100, 0.30)
    rep = plate_over_nerve.report(n)
    tip = rep.needle.tip_lps
    assert rep.needle.depth_mm <= depth + 1e-12
    assert not (abs(tip[0]) < 60 - 1e-6 and abs(tip[2]) < 60 - 1e-6 and -25 + 1e-6 < tip[1] < -15 - 1e-6)
    if rep.path.bone_stop_mm is not None:
        assert rep.needle.depth_mm <= rep.path.bone_stop_mm + 1e-9
        assert rep.structure("sciatic_nerve").level != "contact"
