"""Events along a needle's pass against shapes with known answers: tube nerves and vessels, box bones
and pleura, a muscle box with a trigger point (mm; depths to 0.01 mm, rounded toward danger)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.events import (
    HAEMATOMA_MAX_RADIUS_MM,
    HAEMATOMA_NERVE_MM,
    PNEUMOTHORAX_TIMELINE,
    TWITCH_RADIUS_MM,
    Event,
    depth_floor_mm,
    events_along,
    events_for,
    haematoma_radius_mm,
    haematoma_seconds,
)
from needlesafe.geometry.needle import Needle
from needlesafe.geometry.nerves import (
    ALONG_THE_NERVE,
    DISTAL_BEHIND_MM,
    distal_direction,
    distal_faces,
    nerve_territory,
)
from needlesafe.meshes.types import AnatomyScene, TriggerPoint

from ..conftest import box_mesh, cylinder_mesh, scene_of, structure

R_NERVE = 5.0
MARGIN = 3.0
NEEDLE_R = 0.15
SIDES = 1024
FACET = R_NERVE * (1 - math.cos(math.pi / SIDES))  # tube facets lie this far inside the true cylinder
SKIN = box_mesh((-150, -150, -150), (150, 60, 150))


def kinds(events):
    return [(e.kind, e.structure) for e in events]


def slope_bound(h, rho):
    """How far a first-within depth may lie beyond the true cylinder's (facet error / slope)."""
    return FACET / math.sqrt(1 - (h / rho) ** 2) + 1e-9


@pytest.fixture(scope="module")
def nerve_scene():
    """A sciatic nerve (tube along x, radius 5, margin 3) above a bony box (y in [-40, -20])."""
    nerve = structure("sciatic_nerve", "nerve", cylinder_mesh(R_NERVE, -100, 100, SIDES), margin=MARGIN)
    bone = structure("hip_bone", "bone", box_mesh((-60, -40, -60), (60, -20, 60)))
    return ClearanceEngine(scene_of(structure("skin", "skin", SKIN), nerve, bone))


def analytic_depth(entry_y, h, rho):
    """Depth along -y from (x, entry_y, h) to where the line comes within rho of the x axis."""
    return entry_y - math.sqrt(rho * rho - h * h)


@pytest.mark.parametrize("h", [0.0, 2.5, 4.0])
def test_nerve_margin_then_contact_at_analytic_depths(nerve_scene, h):
    n = Needle((10, 40, h), (0, -1, 0), 45, 60, 2 * NEEDLE_R)
    evs = events_for(nerve_scene, n)
    assert kinds(evs) == [("nerve_margin", "sciatic_nerve"), ("nerve_contact", "sciatic_nerve")]
    margin, contact = evs
    for e, rho in ((margin, R_NERVE + MARGIN + NEEDLE_R), (contact, R_NERVE + NEEDLE_R)):
        exact = analytic_depth(40, h, rho)
        assert exact - 1e-9 <= e.detail["exact_depth_mm"] <= exact + slope_bound(h, rho)
        assert abs(e.depth_mm - exact) < 0.01  # to 0.01 mm ...
        assert e.depth_mm <= e.detail["exact_depth_mm"] + 1e-9  # ... rounded toward danger (FLOOR_GUARD)
        assert e.depth_mm == depth_floor_mm(e.detail["exact_depth_mm"])
        assert e.point == pytest.approx([10, 40 - e.detail["exact_depth_mm"], h], abs=1e-9)
    assert contact.territory == "the back of the thigh, the leg and the foot"
    assert "back of the thigh" in contact.message
    assert "electric" in margin.message.lower()


def test_nerve_events_only_once_reached(nerve_scene):
    exact = analytic_depth(40, 0.0, R_NERVE + MARGIN + NEEDLE_R)  # 31.85
    assert events_for(nerve_scene, Needle((0, 40, 0), (0, -1, 0), exact - 0.01, 60)) == []
    evs = events_for(nerve_scene, Needle((0, 40, 0), (0, -1, 0), exact + 0.01, 60))
    assert kinds(evs) == [("nerve_margin", "sciatic_nerve")]
    # beside the nerve, 9 mm off its axis: outside margin + radius (8.15), nothing
    assert events_for(nerve_scene, Needle((0, 40, 9), (0, -1, 0), 55, 60)) == []


@settings(max_examples=40, deadline=None)
@given(
    theta=st.floats(0.2, math.pi - 0.2),
    dist=st.floats(15.0, 50.0),
    frac=st.floats(-0.9, 0.9),
    x=st.floats(-60, 60),
)
def test_contact_depth_equals_analytic_entry(nerve_scene, theta, dist, frac, x):
    """For random lines across the tube (in a plane across its axis), the nerve_contact depth is the
    analytic depth where the needle's surface reaches the cylinder, to 0.01 mm, never deeper."""
    rho = R_NERVE + NEEDLE_R
    entry = np.array([x, dist * math.sin(theta), dist * math.cos(theta)])  # above the axis, clear of the bone
    h = frac * rho
    to_axis = -entry[1:] / dist
    perp = np.array([-to_axis[1], to_axis[0]])
    phi = math.asin(h / dist)
    d2 = math.cos(phi) * to_axis + math.sin(phi) * perp
    d = np.array([0.0, d2[0], d2[1]])
    # the line's closest approach to the axis is dist * sin(phi) = h; the surface is reached at:
    exact = dist * math.cos(phi) - math.sqrt(rho * rho - h * h)
    n = Needle(entry, d, exact + 1.0, 60)
    contact = [e for e in events_for(nerve_scene, n) if e.kind == "nerve_contact"]
    assert len(contact) == 1
    assert exact - 1e-9 <= contact[0].detail["exact_depth_mm"] <= exact + slope_bound(h, rho)
    assert exact - 0.01 < contact[0].depth_mm <= contact[0].detail["exact_depth_mm"]


def test_bone_contact_is_a_firm_stop(nerve_scene):
    # beside the nerve, straight down onto the bone top at y = -20: 60 mm
    evs = events_for(nerve_scene, Needle((0, 40, 30), (0, -1, 0), 70, 75))
    assert kinds(evs) == [("bone_contact", "hip_bone")]
    assert evs[0].depth_mm == 60.0 and evs[0].point == pytest.approx([0, -20, 30])
    assert "firm stop" in evs[0].message.lower()
    assert kinds(events_for(nerve_scene, Needle((0, 40, 30), (0, -1, 0), 60, 75))) == [("bone_contact", "hip_bone")]
    assert events_for(nerve_scene, Needle((0, 40, 30), (0, -1, 0), 59.9, 75)) == []


def test_previous_gives_only_what_is_new(nerve_scene):
    line = ((0, 40, 0), (0, -1, 0))
    shallow, mid, deep = (Needle(*line, d, 60) for d in (20.0, 33.0, 37.0))
    assert events_for(nerve_scene, mid, previous=shallow)[0].kind == "nerve_margin"
    assert kinds(events_for(nerve_scene, deep, previous=mid)) == [("nerve_contact", "sciatic_nerve")]
    assert events_for(nerve_scene, mid, previous=deep) == []  # withdrawing: nothing new
    # another line: the whole pass counts again
    other = Needle((1, 40, 0), (0, -1, 0), 37.0, 60)
    assert len(events_for(nerve_scene, other, previous=mid)) == 2


@pytest.fixture(scope="module")
def vessel_scene():
    """An artery (tube along x, radius 3) with a nerve 12 mm beside it (tube along x at z = 12,
    radius 2) and a far nerve (z = 60); skin box around."""
    artery = structure("gluteal_artery", "vessel", cylinder_mesh(3.0, -100, 100, 512), margin=2.0)
    near = structure("sciatic_nerve", "nerve", cylinder_mesh(2.0, -100, 100, 512, z=12.0), margin=3.0)
    far = structure("pudendal_nerve", "nerve", cylinder_mesh(2.0, -100, 100, 512, z=60.0), margin=3.0)
    return ClearanceEngine(scene_of(structure("skin", "skin", SKIN), artery, near, far))


def test_vessel_puncture_and_haematoma_compression(vessel_scene):
    evs = events_for(vessel_scene, Needle((0, 40, 0), (0, -1, 0), 40, 60))
    assert kinds(evs) == [("vessel_puncture", "gluteal_artery"), ("haematoma_compression", "sciatic_nerve")]
    puncture, warning = evs
    exact = 40 - 3.0 - NEEDLE_R
    assert abs(puncture.depth_mm - exact) < 0.01 and puncture.depth_mm <= exact + 1e-3
    assert "bleeding" in puncture.message.lower()
    # the haematoma grows around the puncture (the artery's top, y = 3); the near nerve's surface lies
    # |(3, -12)| - 2 from it, and the warning comes when the sphere is within 3 mm of it
    gap = math.hypot(3.0, 12.0) - 2.0
    assert warning.detail["nerve_distance_mm"] == pytest.approx(gap, abs=0.01)
    assert warning.detail["vessel"] == "gluteal_artery"
    seconds = warning.detail["seconds_to_reach"]
    assert seconds == pytest.approx(haematoma_seconds(gap - HAEMATOMA_NERVE_MM), rel=1e-3)
    assert haematoma_radius_mm(seconds) + HAEMATOMA_NERVE_MM == pytest.approx(warning.detail["nerve_distance_mm"])
    assert warning.depth_mm == puncture.depth_mm
    assert "sciatic nerve" in warning.message
    # the far nerve (57 mm away) is never reached by a haematoma of at most 15 mm
    assert all(e.structure != "pudendal_nerve" for e in evs)


def test_vessel_puncture_without_a_near_nerve():
    artery = structure("artery", "vessel", cylinder_mesh(3.0, -100, 100, 256), margin=2.0)
    far = structure("nerve", "nerve", cylinder_mesh(2.0, -100, 100, 256, z=30.0), margin=3.0)
    eng = ClearanceEngine(scene_of(structure("skin", "skin", SKIN), artery, far))
    evs = events_for(eng, Needle((0, 40, 0), (0, -1, 0), 40, 60))
    assert kinds(evs) == [("vessel_puncture", "artery")]
    # the far nerve: gap 30 - 3 - 2 > 15 + 3, out of the haematoma's reach
    assert math.hypot(3.0, 30.0) - 2.0 - HAEMATOMA_NERVE_MM > HAEMATOMA_MAX_RADIUS_MM


def test_haematoma_model():
    assert haematoma_radius_mm(0) == 0.0
    r = [haematoma_radius_mm(t) for t in (1, 10, 60, 300, 3600)]
    assert r == sorted(r) and r[-1] < HAEMATOMA_MAX_RADIUS_MM
    for radius in (0.5, 5.0, 14.0):
        assert haematoma_radius_mm(haematoma_seconds(radius)) == pytest.approx(radius)
    assert haematoma_seconds(HAEMATOMA_MAX_RADIUS_MM) is None
    assert haematoma_seconds(0.0) == 0.0


def test_pleura_puncture_with_timeline():
    pleura = structure("pleura", "pleura", box_mesh((-100, -100, -100), (100, -10, 100)), margin=5.0)
    eng = ClearanceEngine(scene_of(structure("skin", "skin", SKIN), pleura))
    assert events_for(eng, Needle((0, 40, 0), (0, -1, 0), 49.8, 60)) == []
    evs = events_for(eng, Needle((0, 40, 0), (0, -1, 0), 52, 60))
    assert kinds(evs) == [("pleura_puncture", "pleura")]
    e = evs[0]
    assert e.depth_mm == pytest.approx(50 - NEEDLE_R, abs=1e-9)  # 49.85: the needle's surface meets it
    assert "no pain" in e.message.lower() and "breathlessness" in e.message
    assert [s["when"] for s in e.detail["timeline"]] == [w for w, _ in PNEUMOTHORAX_TIMELINE]


@pytest.fixture(scope="module")
def muscle_scene():
    """A muscle box (y in [0, 30]) with a trigger point at its middle (0, 15, 0), one at its edge
    (0, 2, 0) and one claimed by it that lies outside it (0, -10, 0)."""
    muscle = structure("piriformis", "muscle", box_mesh((-50, 0, -50), (50, 30, 50)))
    tps = [TriggerPoint("middle", np.array([0.0, 15.0, 0.0]), "piriformis"),
           TriggerPoint("edge", np.array([20.0, 2.0, 0.0]), "piriformis"),
           TriggerPoint("outside", np.array([-20.0, -10.0, 0.0]), "piriformis")]
    scene = AnatomyScene("test", [structure("skin", "skin", SKIN), muscle], [], {}, tps)
    return ClearanceEngine(scene)


def test_twitch_within_the_radius(muscle_scene):
    # 3 mm off the trigger point's line: the tip enters the 5 mm ball at y = 15 + 4, depth 21
    evs = events_for(muscle_scene, Needle((0, 40, 3), (0, -1, 0), 22, 60))
    assert kinds(evs) == [("twitch", "piriformis")]
    assert evs[0].depth_mm == pytest.approx(21.0, abs=1e-9)
    assert evs[0].detail["trigger_point"] == "middle"
    assert evs[0].detail["distance_mm"] == pytest.approx(TWITCH_RADIUS_MM)
    assert events_for(muscle_scene, Needle((0, 40, 3), (0, -1, 0), 20.9, 60)) == []
    # 6 mm off: outside the radius, no twitch however deep
    assert events_for(muscle_scene, Needle((0, 40, 6), (0, -1, 0), 50, 60)) == []


def test_twitch_only_inside_the_target_muscle(muscle_scene):
    # the edge point's ball reaches out of the muscle (y in [-3, 7]); inside only above y = 0
    evs = events_for(muscle_scene, Needle((20, 40, 0), (0, -1, 0), 50, 60))
    assert kinds(evs) == [("twitch", "piriformis")] and evs[0].depth_mm == pytest.approx(33.0)
    # a needle from below enters the ball outside the muscle and the muscle at y = 0: depth 40
    evs = events_for(muscle_scene, Needle((20, -40, 0), (0, 1, 0), 45, 60))
    assert evs[0].depth_mm == pytest.approx(40.0)
    # the point claimed by the muscle but lying outside it: the tip passes through it, no twitch
    assert events_for(muscle_scene, Needle((-20, 40, 0), (0, -1, 0), 55, 60)) == []
    # a target other than this trigger point: no twitch here
    assert events_for(muscle_scene, Needle((0, 40, 0), (0, -1, 0), 30, 60), target="edge") == []
    assert len(events_for(muscle_scene, Needle((0, 40, 0), (0, -1, 0), 30, 60), target="piriformis")) == 1


def test_history_gives_each_event_once_in_order():
    nerve = structure("sciatic_nerve", "nerve", cylinder_mesh(R_NERVE, -100, 100, 256), margin=MARGIN)
    muscle = structure("piriformis", "muscle", box_mesh((-50, 10, -50), (50, 30, 50)))
    tps = [TriggerPoint("piriformis", np.array([0.0, 20.0, 0.0]), "piriformis")]
    scene = AnatomyScene("test", [structure("skin", "skin", SKIN), nerve, muscle], [], {}, tps)
    eng = ClearanceEngine(scene)
    line = ((0, 40, 0), (0, -1, 0))
    history = [Needle(*line, d, 60) for d in (5.0, 18.0, 25.0, 33.0, 20.0, 37.0, 15.0, 37.0)]
    history.append(Needle((2, 40, 0), (0, -1, 0), 38.0, 60))  # a second pass: the same events again
    evs = events_along(eng, history)
    assert kinds(evs) == [("twitch", "piriformis"), ("nerve_margin", "sciatic_nerve"),
                          ("nerve_contact", "sciatic_nerve")]
    assert [e.depth_mm for e in evs] == pytest.approx([15.0, 31.85, 34.85], abs=0.01)
    # the same as one needle pushed straight to 37 mm: depths do not depend on the steps
    assert [e.to_dict() for e in evs] == [e.to_dict() for e in events_for(eng, Needle(*line, 37.0, 60))]


def test_unmodelled_zone_and_failures_read_unknown():
    zone = structure("superior_gluteal_artery_zone", "unmodelled", cylinder_mesh(3.0, -100, 100, 256),
                     critical=True, margin=2.0)
    eng = ClearanceEngine(scene_of(structure("skin", "skin", SKIN), zone))
    evs = events_for(eng, Needle((0, 40, 0), (0, -1, 0), 36, 60))
    assert [e.kind for e in evs] == ["unknown"] and evs[0].structure == "superior_gluteal_artery_zone"
    assert evs[0].depth_mm == pytest.approx(40 - 3 - 2 - NEEDLE_R, abs=0.01)

    class Broken:
        def report(self, needle):
            raise RuntimeError("no scene")

    evs = events_for(Broken(), Needle((0, 0, 0), (0, 0, 1), 5, 50))
    assert [e.kind for e in evs] == ["unknown"] and "treat as danger" in evs[0].message
    assert evs[0].detail == {"exact_depth_mm": 0.0, "error": "no scene"}


def test_leaving_the_model_reads_unknown():
    eng = ClearanceEngine(scene_of(structure("skin", "skin", box_mesh((-50, -50, -50), (50, 50, 50)))))
    evs = events_for(eng, Needle((0, 40, 0), (0, 1, 0), 20, 60))  # out through the top at y = 50
    assert [e.kind for e in evs] == ["unknown"] and evs[0].depth_mm == pytest.approx(10.0)


@pytest.mark.parametrize("name, where", [
    ("sciatic_nerve_r", "back of the thigh, the leg and the foot"),
    ("posterior_femoral_cutaneous_nerve_l", "back of the thigh"),
    ("roots_of_brachial_plexus_r", "arm and the hand"),
    ("radial_nerve_r", "back of the forearm and hand"),
    ("ulnar_nerve_l", "fourth and fifth fingers"),
    ("tibial_nerve_r", "sole of the foot"),
    ("common_fibular_nerve_r", "outer leg and the top of the foot"),
    ("femoral_nerve_l", "front of the thigh"),
])
def test_territory_table(name, where):
    territory, _ = nerve_territory(name)
    assert where in territory


def test_territory_motor_and_unknown():
    assert nerve_territory("accessory_nerve_xi_r") == (ALONG_THE_NERVE, "weakness of the shoulder shrug (trapezius)")
    assert "limp" in nerve_territory("superior_gluteal_nerve")[1]
    assert nerve_territory("mystery_nerve") == (ALONG_THE_NERVE, None)


def test_event_serialises():
    e = Event("twitch", "m", 1.23, "msg", [0.0, 1.0, 2.0], detail={"trigger_point": "a"})
    d = e.to_dict()
    assert d["kind"] == "twitch" and d["depth_mm"] == 1.23 and d["detail"]["trigger_point"] == "a"
    assert depth_floor_mm(2.3) == 2.3 and depth_floor_mm(2.3099) == 2.30 and depth_floor_mm(-0.0) == 0.0


def test_pleura_and_lung_are_one_puncture():
    pleura = structure("pleura", "pleura", box_mesh((-100, -100, -100), (100, -10, 100)), margin=5.0)
    lung = structure("upper_lobe_of_left_lung", "pleura", box_mesh((-90, -90, -90), (90, -15, 90)), margin=5.0)
    eng = ClearanceEngine(scene_of(structure("skin", "skin", SKIN), lung, pleura))  # the lung listed first
    evs = events_for(eng, Needle((0, 40, 0), (0, -1, 0), 58, 60))
    assert kinds(evs) == [("pleura_puncture", "pleura")]
    assert evs[0].depth_mm == pytest.approx(49.85) and evs[0].detail["also"] == ["upper_lobe_of_left_lung"]


def test_exercise_margins_raise_the_nerve_margin(nerve_scene):
    n = Needle((0, 40, 0), (0, -1, 0), 30, 60)
    assert events_for(nerve_scene, n) == []  # the 3 mm margin starts at 31.85 mm
    evs = events_for(nerve_scene, n, margins={"sciatic_nerve": 5.0})
    assert kinds(evs) == [("nerve_margin", "sciatic_nerve")]
    assert evs[0].depth_mm == pytest.approx(40 - 5 - 5 - NEEDLE_R, abs=0.01) and evs[0].detail["margin_mm"] == 5.0
    assert events_for(nerve_scene, n, margins={"sciatic_nerve": 1.0}) == []  # never lowered
    assert kinds(events_along(nerve_scene, [n], margins={"sciatic_nerve": 5.0})) == kinds(evs)


def test_other_danger_structures_are_a_contact():
    kidney = structure("kidney", "other", box_mesh((-30, -60, -30), (30, -20, 30)), critical=True, margin=5.0)
    gut = structure("bowel", "other", box_mesh((-30, -100, -30), (30, -70, 30)), critical=False)
    eng = ClearanceEngine(scene_of(structure("skin", "skin", SKIN), kidney, gut))
    evs = events_for(eng, Needle((0, 40, 0), (0, -1, 0), 59, 150))
    assert evs == []
    evs = events_for(eng, Needle((0, 40, 0), (0, -1, 0), 120, 150))
    assert kinds(evs) == [("danger_contact", "kidney")]  # the non-critical structure gives none
    assert evs[0].depth_mm == pytest.approx(60 - NEEDLE_R)


def test_previous_within_the_last_hundredth(nerve_scene):
    """An event between the previous tip and this one fires even when both round to the same 0.01 mm."""
    line = ((0, 40, 1), (0, -1, 0))  # the margin at 40 - sqrt(8.15² - 1) = 31.9116 mm
    exact = next(e for e in events_for(nerve_scene, Needle(*line, 40, 60))
                 if e.kind == "nerve_margin").detail["exact_depth_mm"]
    before, after = (Needle(*line, exact + dt, 60) for dt in (-2e-4, 2e-4))
    assert depth_floor_mm(before.depth_mm) == depth_floor_mm(after.depth_mm)
    assert kinds(events_for(nerve_scene, after, previous=before)) == [("nerve_margin", "sciatic_nerve")]
    assert events_for(nerve_scene, after, previous=after) == []
    # resting on a bone: pushed again, no new firm stop
    on_bone = Needle((0, 40, 30), (0, -1, 0), 65, 75)
    assert kinds(events_for(nerve_scene, on_bone, previous=on_bone.at_depth(59))) == [("bone_contact", "hip_bone")]
    assert events_for(nerve_scene, on_bone.at_depth(70), previous=on_bone) == []


def test_every_event_has_its_exact_depth(vessel_scene, muscle_scene, nerve_scene):
    evs = (events_for(vessel_scene, Needle((0, 40, 0), (0, -1, 0), 40, 60))
           + events_for(muscle_scene, Needle((0, 40, 3), (0, -1, 0), 22, 60))
           + events_for(nerve_scene, Needle((0, 40, 30), (0, -1, 0), 70, 75)))
    assert {e.kind for e in evs} == {"vessel_puncture", "haematoma_compression", "twitch", "bone_contact"}
    for e in evs:
        assert e.depth_mm == depth_floor_mm(e.detail["exact_depth_mm"])


@pytest.mark.parametrize("name, expected", [
    ("sciatic_nerve", (0.0, 0.0, -1.0)),
    ("tibial_nerve_r", (0.0, 0.0, -1.0)),
    ("radial_nerve_l", (0.0, 0.0, -1.0)),
    ("superior_gluteal_nerve_r", (-1.0, 0.0, 0.0)),  # out to the patient's right: -x in LPS
    ("suprascapular_nerve_l", (1.0, 0.0, 0.0)),
    ("brachial_plexus_r", (-math.sqrt(0.5), 0.0, -math.sqrt(0.5))),
    ("brachial_plexus", (0.0, 0.0, -1.0)),  # side unknown: down only
    ("intercostal_nerve_5_r", None),
    ("pudendal_nerve", None),
])
def test_distal_direction_table(name, expected):
    got = distal_direction(name)
    if expected is None:
        assert got is None
    else:
        assert np.allclose(got, expected) and math.isclose(float(np.linalg.norm(got)), 1.0)


def test_distal_faces_of_a_tube():
    """A nerve along z: the faces below a point (the direction down), from 3 mm above it."""
    v, f = cylinder_mesh(2.0, -50.0, 50.0, sides=32)  # along x
    v = np.asarray(v)[:, [1, 2, 0]]  # now along z
    point = np.array([2.0, 0.0, 10.0])
    keep = distal_faces(v, f, point, np.array([0.0, 0.0, -1.0]))
    c = v[np.asarray(f)].mean(axis=1)
    assert np.array_equal(keep, c[:, 2] <= 10.0 + DISTAL_BEHIND_MM)
    assert 0 < keep.sum() < len(f)
