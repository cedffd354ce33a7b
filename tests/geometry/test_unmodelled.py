"""Unmodelled zones (role "unmodelled"): where a danger structure the model does not contain really
runs. Touching the zone or entering its margin reads "unknown" (shown as danger), never safe; the safe
depth stops at its margin; it is never a bony backstop. Analytic: a capsule along x of radius 5 mm
(margin 2 mm) at y = z = 0, a needle of radius 0.15 mm coming down the -y axis."""
import json

import numpy as np
import pytest

from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.needle import Needle
from needlesafe.meshes.atlas.build import capsule
from needlesafe.meshes.types import DEFAULT_COLOUR, DEFAULT_MARGIN_MM, AnatomyScene, Structure, faces_closed

from ..conftest import box_mesh, structure

R = 5.0
MARGIN = 2.0
NEEDLE_R = 0.15
TOL = 0.01  # depths and distances to 0.01 mm, never on the safe side
NOTE = "the test artery is not in this model; it runs along the x axis"
ZONE = "unmodelled_test_artery_r"


def zone_structure(a=(-50.0, 0.0, 0.0), b=(50.0, 0.0, 0.0), name=ZONE):
    v, f = capsule(a, b, R, sides=256, cap_rings=64)
    return Structure(name, "unmodelled", v, f, DEFAULT_COLOUR["unmodelled"], True, MARGIN)


def scene(with_bone=True):
    parts = [structure("skin", "skin", box_mesh((-150, -150, -150), (150, 60, 150))), zone_structure()]
    if with_bone:
        parts.append(structure("bone", "bone", box_mesh((-60, -40, -60), (60, -20, 60))))
    return AnatomyScene("test", parts, [], {"unmodelled": {ZONE: {"note": NOTE, "source": "test"}}})


@pytest.fixture(scope="module")
def engine():
    return ClearanceEngine(scene())


@pytest.fixture(scope="module")
def engine_no_bone():
    return ClearanceEngine(scene(with_bone=False))


def down(depth, x=0.0, z=0.0, length=80.0):
    """From y = 40 straight down (-y), the axis at (x, ., z)."""
    return Needle((x, 40.0, z), (0.0, -1.0, 0.0), depth, length, 2 * NEEDLE_R)


def close(measured, expected):
    """`measured` within 0.01 mm of `expected` and never larger (the zone's mesh contains the true capsule)."""
    return expected - TOL <= measured <= expected + 1e-9


def test_the_role_is_critical_with_a_margin_and_a_colour():
    from needlesafe.meshes.types import CRITICAL_ROLES, ROLES

    assert "unmodelled" in ROLES and "unmodelled" in CRITICAL_ROLES
    assert DEFAULT_MARGIN_MM["unmodelled"] > 0 and DEFAULT_COLOUR["unmodelled"].startswith("#")


def test_capsule_is_closed_outward_and_contains_the_true_capsule():
    a, b = np.array([-10.0, 3.0, 2.0]), np.array([25.0, -4.0, 12.0])
    v, f = capsule(a, b, 4.0)  # the recipes' resolution
    assert faces_closed(f)
    length = np.linalg.norm(b - a)
    true_volume = np.pi * 16.0 * length + 4.0 / 3.0 * np.pi * 64.0
    vol = float(np.einsum("ij,ij->i", v[f][:, 0], np.cross(v[f][:, 1], v[f][:, 2])).sum() / 6.0)
    assert true_volume < vol < 1.05 * true_volume  # outward, and never smaller than the capsule
    # every facet keeps the whole capsule on its inner side: n . p >= max(n . a, n . b) + r
    tris = v[f]
    n = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    n /= np.linalg.norm(n, axis=1)[:, None]
    slack = np.einsum("ij,ij->i", n, tris[:, 0]) - np.maximum(n @ a, n @ b) - 4.0
    assert slack.min() >= -1e-9 and slack.max() < 0.1


def test_needle_far_outside_reads_safe(engine):
    rep = engine.report(down(20.0, z=30.0))  # beside the zone, onto the bone
    row = rep.structure(ZONE)
    assert row.level == "safe" and not row.penetrated
    assert close(row.shaft_distance_mm, np.hypot(20.0, 30.0) - R - NEEDLE_R)  # nearest at the tip
    assert rep.level == "safe"
    assert rep.path.bracketing.verdict == "bone"


def test_safe_depth_stops_at_the_zone_margin(engine):
    rep = engine.report(down(20.0))  # tip at y = 20: 14.85 mm from the zone
    row = rep.structure(ZONE)
    assert row.level == "safe" and row.role == "unmodelled"
    assert close(row.tip_distance_mm, 20.0 - R - NEEDLE_R)
    assert close(rep.path.safe_depth_mm, 40.0 - (R + MARGIN + NEEDLE_R))
    assert rep.path.limiting_structure == ZONE
    br = rep.path.bracketing
    assert br.verdict == "danger" and br.structure == ZONE and "not modelled" in br.message
    assert not br.backstop


def test_inside_twice_the_margin_is_caution(engine):
    rep = engine.report(down(40.0 - (R + NEEDLE_R + 3.0)))  # 3 mm from the zone: margin 2 < 3 < 4
    row = rep.structure(ZONE)
    assert close(row.shaft_distance_mm, 3.0)
    assert row.level == "caution" and rep.level == "caution"


def test_entering_the_margin_is_unknown_not_danger(engine):
    rep = engine.report(down(40.0 - (R + NEEDLE_R + 1.0)))  # 1 mm from the zone, inside its margin
    row = rep.structure(ZONE)
    assert close(row.shaft_distance_mm, 1.0)
    assert row.level == "unknown" and not row.penetrated
    assert row.note == NOTE
    assert rep.level == "unknown"
    assert close(rep.path.safe_depth_mm, 40.0 - (R + MARGIN + NEEDLE_R))  # still says where to stop
    assert rep.path.limiting_structure == ZONE


@pytest.mark.parametrize(("gap", "level"), [(0.5, "unknown"), (1.99, "unknown"), (2.01, "caution"),
                                            (4.01, "safe")])
def test_grazing_parallel_to_the_zone(engine, gap, level):
    # a shaft parallel to the zone's axis, `gap` mm from its surface
    y = R + NEEDLE_R + gap
    rep = engine.report(Needle((-30.0, y, 0.0), (1.0, 0.0, 0.0), 30.0, 50.0, 2 * NEEDLE_R))
    row = rep.structure(ZONE)
    assert close(row.shaft_distance_mm, gap)
    assert row.level == level
    assert rep.level == level


def test_needle_through_the_zone_is_unknown_and_never_a_backstop(engine, engine_no_bone):
    rep = engine.report(down(42.0))  # tip at y = -2, inside the zone
    row = rep.structure(ZONE)
    assert row.penetrated and row.tip_inside and row.shaft_distance_mm == 0.0
    assert row.level == "unknown" and rep.level == "unknown"
    assert rep.path.bracketing.verdict == "danger" and "inside" in rep.path.bracketing.message
    assert rep.path.stopped_by is None  # the zone does not stop the needle
    rep = engine.report(down(50.0))  # through and out the far side, above the bone (y = -20)
    row = rep.structure(ZONE)
    assert row.penetrated and not row.tip_inside and row.level == "unknown"
    assert rep.needle.depth_mm == 50.0 and rep.path.stopped_by is None
    # without a bone below, nothing stops the needle and nothing is a backstop
    rep = engine_no_bone.report(down(70.0))
    assert rep.path.bone_stop_mm is None and rep.needle.depth_mm == 70.0
    assert rep.path.bracketing.verdict != "bone" and rep.level == "unknown"
    hits = {h.name: h.depth_mm for h in rep.path.first_hits}
    assert close(hits[ZONE], 40.0 - R)


def test_entry_inside_the_zone_has_no_safe_depth(engine):
    rep = engine.report(Needle((0.0, 1.0, 0.0), (0.0, 1.0, 0.0), 5.0, 30.0, 2 * NEEDLE_R))
    assert rep.path.safe_depth_mm == 0.0 and rep.path.limiting_structure == ZONE
    assert rep.level == "unknown"


def test_report_json_carries_role_level_and_note(engine):
    data = json.loads(engine.report(down(36.0)).to_json())
    row = next(r for r in data["structures"] if r["name"] == ZONE)
    assert row["role"] == "unmodelled" and row["level"] == "unknown" and row["note"] == NOTE
    assert data["level"] == "unknown"
    assert data["path"]["limiting_structure"] == ZONE


def test_a_zone_without_a_note_still_says_it_is_not_modelled():
    s = AnatomyScene("bare", [structure("skin", "skin", box_mesh((-150, -150, -150), (150, 60, 150))),
                              zone_structure()], [], {})
    row = ClearanceEngine(s).report(down(36.0)).structure(ZONE)
    assert row.level == "unknown" and "not in this model" in row.note
