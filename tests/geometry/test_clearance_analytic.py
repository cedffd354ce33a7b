"""The clearance engine against shapes with known answers: boxes (bones), tubes (nerves), spheres, planes."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from needlesafe.geometry.clearance import EDGE_OF_MODEL, ClearanceEngine
from needlesafe.geometry.needle import Needle, NeedleError
from needlesafe.meshes.shapes import superellipsoid
from needlesafe.meshes.types import Landmark

from ..conftest import box_mesh, cylinder_mesh, scene_of, structure

R_NERVE = 5.0
SIDES = 256
FACET = R_NERVE * (1 - math.cos(math.pi / SIDES))  # tube facets lie this far inside the true cylinder


@pytest.fixture(scope="module")
def nerve_and_bone():
    """A nerve (tube along x, radius 5 at y = z = 0) above a bony box (y in [-40, -20])."""
    nerve = structure("nerve", "nerve", cylinder_mesh(R_NERVE, -100, 100, SIDES), margin=3.0)
    bone = structure("bone", "bone", box_mesh((-60, -40, -60), (60, -20, 60)))
    skin = structure("skin", "skin", box_mesh((-150, -150, -150), (150, 60, 150)))
    lms = [Landmark("bone corner", np.array([60.0, -20.0, 60.0]), "bone")]
    return ClearanceEngine(scene_of(skin, nerve, bone, landmarks=lms))


def test_needle_parallel_to_nerve(nerve_and_bone):
    # shaft parallel to the nerve 12 mm above its axis: surface gap 12 - 5 - 0.15
    n = Needle((-40, 12, 0), (1, 0, 0), 30, 50, 0.30)
    row = nerve_and_bone.report(n).structure("nerve")
    expected = 12 - R_NERVE - 0.15
    assert expected <= row.shaft_distance_mm <= expected + FACET + 1e-9
    assert expected <= row.tip_distance_mm <= expected + FACET + 1e-9
    assert row.level == "safe" and not row.penetrated


def test_needle_aimed_at_nerve_depths(nerve_and_bone):
    # straight down from y = 40 toward the nerve axis
    n = Needle((0, 40, 10), (0, -1, 0), 20, 60, 0.30)
    rep = nerve_and_bone.report(n)
    row = rep.structure("nerve")
    # the tube's top facet at z=10 lies at sqrt(R^2 - 10^2) -> the line misses? no: z=10 > R, so it passes beside
    assert not row.penetrated
    n = Needle((0, 40, 0), (0, -1, 0), 20, 60, 0.30)
    rep = nerve_and_bone.report(n)
    row = rep.structure("nerve")
    gap = 40 - 20 - R_NERVE - 0.15  # tip at y = 20
    assert gap <= row.tip_distance_mm <= gap + FACET + 1e-9
    assert row.shaft_distance_mm == pytest.approx(row.tip_distance_mm, abs=1e-12)
    hit = {h.name: h.depth_mm for h in rep.path.first_hits}
    assert 35.0 <= hit["nerve"] <= 35.0 + FACET + 1e-9
    # deepest insertion keeping 3 mm: tip at y = 5 + 3 + 0.15
    assert 40 - (R_NERVE + 3.15) <= rep.path.safe_depth_mm <= 40 - (R_NERVE + 3.15) + FACET + 1e-9
    assert rep.path.limiting_structure == "nerve"
    assert rep.path.bracketing.verdict == "danger"
    assert rep.path.bracketing.structure == "nerve"
    assert rep.path.bracketing.distance_mm == pytest.approx(hit["nerve"] - 20, abs=1e-9)


def test_crossing_needle_penetrates(nerve_and_bone):
    n = Needle((0, 40, 0), (0, -1, 0), 42, 60, 0.30)  # tip at y = -2, inside the nerve
    row = nerve_and_bone.report(n).structure("nerve")
    assert row.penetrated and row.tip_inside
    assert row.shaft_distance_mm == 0.0 and row.tip_distance_mm == 0.0
    assert row.level == "contact"
    n = Needle((0, 40, 0), (0, -1, 0), 50, 60, 0.30)  # through and out the far side
    row = nerve_and_bone.report(n).structure("nerve")
    assert row.penetrated and not row.tip_inside and row.shaft_distance_mm == 0.0
    assert row.tip_distance_mm > 0.0


def test_bone_backstop(nerve_and_bone):
    # beside the nerve (z = 30), straight down onto the bone top at y = -20
    n = Needle((0, 40, 30), (0, -1, 0), 45, 75, 0.30)
    rep = nerve_and_bone.report(n)
    br = rep.path.bracketing
    assert br.verdict == "bone" and br.structure == "bone"
    assert br.distance_mm == pytest.approx(60 - 45, abs=1e-9)
    assert br.backstop
    assert br.landmark == "bone corner"
    assert br.landmark_distance_mm == pytest.approx(np.linalg.norm([60, 0, 30]), abs=1e-6)


def test_zero_depth_and_far_away(nerve_and_bone):
    n = Needle((0, 40, 0), (0, 1, 0), 0.0, 50, 0.30)  # pointing away, not inserted
    rep = nerve_and_bone.report(n)
    row = rep.structure("nerve")
    assert 40 - R_NERVE - 0.15 <= row.shaft_distance_mm <= 40 - R_NERVE - 0.15 + FACET + 1e-9
    assert row.shaft_distance_mm == row.tip_distance_mm
    # the skin box's top is at y = 60: the line leaves the modelled body 20 mm out, where the safe depth ends
    assert rep.path.exit_mm == pytest.approx(20.0, abs=1e-9)
    assert rep.path.safe_depth_mm == pytest.approx(20.0, abs=1e-9)
    assert rep.path.limiting_structure == EDGE_OF_MODEL
    assert rep.path.bracketing.verdict == "none" and rep.level == "safe"
    n = Needle((0, 40, 60), (0, 0, -1), 0.0, 50, 0.30)  # beside the nerve, nothing ahead within 50 mm
    rep = nerve_and_bone.report(n)
    assert rep.path.safe_depth_mm == 50.0 and rep.path.limiting_structure is None and rep.path.exit_mm is None
    assert rep.path.bracketing.verdict == "none"


def test_entry_inside_closed_structure(nerve_and_bone):
    n = Needle((50, 0, 0), (1, 0, 0), 10, 50, 0.30)  # starts on the nerve's axis
    rep = nerve_and_bone.report(n)
    row = rep.structure("nerve")
    assert row.penetrated and row.shaft_distance_mm == 0.0 and row.tip_distance_mm == 0.0
    assert rep.path.safe_depth_mm == 0.0


def test_sphere_distance_is_within_facet_error():
    sph = superellipsoid((0, 0, 0), (10, 10, 10), 2.0, subdivisions=6)
    facet_bound = 10 * (1 - math.cos(math.radians(1.2)))  # icosphere(6) edges span < 1.2 degrees
    eng = ClearanceEngine(scene_of(structure("pleura", "pleura", sph, margin=5.0)))
    rng = np.random.default_rng(3)
    for _ in range(50):
        e = rng.uniform(-40, 40, 3)
        if np.linalg.norm(e) < 12:
            continue
        d = rng.normal(size=3)
        n = Needle(e, d, 20.0, 40.0, 0.25)
        row = eng.report(n).structure("pleura")
        seg = n.tip_lps - n.entry_lps
        t = np.clip(np.dot(-n.entry_lps, seg) / np.dot(seg, seg), 0, 1)
        true = max(0.0, np.linalg.norm(n.entry_lps + t * seg) - 10 - 0.125)
        if true > 0.5:
            # the polyhedron lies inside the sphere: never closer than the sphere, at most a facet farther
            assert true - 1e-9 <= row.shaft_distance_mm <= true + facet_bound


def test_open_plane_patch_is_crossed():
    # a pleura patch: two triangles in the plane y = 0 (open surface)
    v = np.array([[-50, 0, -50], [50, 0, -50], [50, 0, 50], [-50, 0, 50]], float)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    eng = ClearanceEngine(scene_of(structure("pleura", "pleura", (v, f), margin=5.0)))
    rep = eng.report(Needle((3, 30, 4), (0, -1, 0), 20, 50, 0.30))
    assert rep.structure("pleura").shaft_distance_mm == pytest.approx(10 - 0.15, abs=1e-12)
    assert rep.path.safe_depth_mm == pytest.approx(30 - 5.15, abs=1e-9)
    rep = eng.report(Needle((3, 30, 4), (0, -1, 0), 35, 50, 0.30))
    row = rep.structure("pleura")
    # the shaft crossed the patch: contact; a flat patch encloses nothing, so the tip is not "inside" it
    assert row.penetrated and row.level == "contact" and row.shaft_distance_mm == 0.0
    assert row.tip_inside is not True
    assert row.closest_point_structure == pytest.approx([3, 0, 4], abs=1e-9)


def test_report_is_json(nerve_and_bone):
    rep = nerve_and_bone.report(Needle((0, 40, 0), (0, -1, 0), 20, 60, 0.30))
    data = json.loads(rep.to_json())
    assert data["structures"][0]["name"] == "nerve"
    assert set(data["structures"][0]) >= {
        "name", "role", "shaft_distance_mm", "tip_distance_mm", "closest_point_needle",
        "closest_point_structure", "penetrated",
    }
    assert set(data["path"]) >= {"first_hits", "safe_depth_mm", "bracketing"}


def test_failed_computation_reports_unknown(nerve_and_bone, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(nerve_and_bone.bvh, "query", boom)
    rep = nerve_and_bone.report(Needle((0, 40, 0), (0, -1, 0), 20, 60, 0.30))
    assert rep.level == "unknown"
    assert rep.path.safe_depth_mm is None
    assert all(r.level == "unknown" and r.shaft_distance_mm is None for r in rep.structures)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(entry_lps=(np.nan, 0, 0), direction=(0, 0, 1), depth_mm=1),
        dict(entry_lps=(0, 0, 0), direction=(0, 0, 0), depth_mm=1),
        dict(entry_lps=(0, 0, 0), direction=(0, 0, 1), depth_mm=-1),
        dict(entry_lps=(0, 0, 0), direction=(0, 0, 1), depth_mm=60, length_mm=50),
        dict(entry_lps=(0, 0, 0), direction=(0, 0, 1), depth_mm=1, gauge_mm=30),
        dict(entry_lps=(0, 0), direction=(0, 0, 1), depth_mm=1),
    ],
)
def test_bad_needles_are_refused(kwargs):
    with pytest.raises(NeedleError):
        Needle(**kwargs)


def _random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 100_000))
def test_rigid_motion_invariance(seed, nerve_and_bone):
    rng = np.random.default_rng(seed)
    rot = _random_rotation(rng)
    shift = rng.uniform(-500, 500, 3)
    moved = scene_of(
        *[
            structure(s.name, s.role, (s.vertices @ rot.T + shift, s.faces), s.critical, s.margin_mm)
            for s in nerve_and_bone.structures
        ]
    )
    eng2 = ClearanceEngine(moved)
    e = rng.uniform(-30, 30, 3) + np.array([0, 35, 0])
    d = rng.normal(size=3)
    n1 = Needle(e, d, rng.uniform(0, 50), 50, 0.3)
    n2 = Needle(rot @ n1.entry_lps + shift, rot @ n1.direction, n1.depth_mm, 50, 0.3)
    a, b = nerve_and_bone.report(n1), eng2.report(n2)
    for ra, rb in zip(a.structures, b.structures, strict=True):
        assert ra.shaft_distance_mm == pytest.approx(rb.shaft_distance_mm, abs=1e-6)
        assert ra.tip_distance_mm == pytest.approx(rb.tip_distance_mm, abs=1e-6)
    assert a.path.safe_depth_mm == pytest.approx(b.path.safe_depth_mm, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 100_000))
def test_safe_depth_is_monotone_and_tight(seed, nerve_and_bone):
    """Clearance never grows with depth; at the safe depth it equals the margin (unless the whole
    length is safe), and just past it the margin is broken."""
    rng = np.random.default_rng(seed)
    e = rng.uniform(-30, 30, 3) + np.array([0, 35, 0])
    d = -e / np.linalg.norm(e) + rng.normal(0, 0.3, 3)
    base = Needle(e, d, 0.0, 60, 0.3)
    prev = math.inf
    for depth in np.linspace(0, 60, 25):
        row = nerve_and_bone.report(base.at_depth(depth)).structure("nerve")
        assert row.shaft_distance_mm <= prev + 1e-9
        prev = row.shaft_distance_mm
    safe = nerve_and_bone.report(base).path.safe_depth_mm
    at = nerve_and_bone.report(base.at_depth(safe)).structure("nerve")
    if safe == 0.0:  # the entry itself is already inside the margin
        assert at.shaft_distance_mm <= 3.0 + 1e-6
        return
    assert at.shaft_distance_mm >= 3.0 - 1e-6
    if safe < 60 - 0.01:
        assert at.shaft_distance_mm <= 3.0 + 1e-6
        past = nerve_and_bone.report(base.at_depth(safe + 0.01)).structure("nerve")
        assert past.shaft_distance_mm < 3.0


def test_profile_matches_reports(nerve_and_bone):
    base = Needle((0, 40, 3), (0.1, -1, 0), 0.0, 60, 0.30)
    depths, curves = nerve_and_bone.profile(base, 31)
    assert depths[0] == 0.0 and depths[-1] == 60.0
    curve = curves["nerve"]
    assert np.all(np.diff(curve) <= 1e-12)  # clearance never grows with depth
    for t, c in zip(depths[::5], curve[::5], strict=True):
        row = nerve_and_bone.report(base.at_depth(t)).structure("nerve")
        # sampled: never below the exact shaft clearance, and equal where the tip is the closest point
        assert c >= row.shaft_distance_mm - 1e-9
        assert c <= row.shaft_distance_mm + 2.0 + 1e-9  # within one sample step (2 mm) of it


@settings(max_examples=40, deadline=None)
@given(
    cx=st.floats(-30, 30), cy=st.floats(-30, 30), cz=st.floats(-30, 30), radius=st.floats(2.0, 15.0),
    dx=st.floats(-1, 1), dy=st.floats(-1, 1),
)
def test_profile_is_the_running_minimum_to_a_sphere(cx, cy, cz, radius, dx, dy):
    """The pruned profile kernel gives, at every sample, the smallest sampled point distance so far:
    against a sphere, min over s <= t of |entry + s d - c| - R, within the facet depth."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=4)
    v, f = np.asarray(sphere.vertices), np.asarray(sphere.faces)
    c = np.array([cx, cy, cz])
    ball = structure("ball", "nerve", (v * radius + c, f), margin=1.0)
    engine = ClearanceEngine(scene_of(ball))
    d = np.array([dx, dy, -1.0])
    d /= np.linalg.norm(d)
    entry = np.array([0.0, 0.0, 60.0])
    ts = np.linspace(0.0, 120.0, 61)
    got = engine.bvh.profile(entry, d, ts)[0]
    pts = entry + ts[:, None] * d
    exact = np.minimum.accumulate(np.abs(np.linalg.norm(pts - c, axis=1) - radius))
    facet = radius * (1 - math.cos(math.radians(3.0)))  # an icosphere of level 4 is within 3 degrees
    assert np.all(np.diff(got) <= 0.0)
    assert np.all(got <= exact + 1e-9 + facet) and np.all(got >= exact - facet - 1e-9)


def test_profile_of_the_nearest_structures_only():
    """`nearest=k` draws the k critical tubes nearest to the whole line, with exactly the curves of
    the full profile; the others get none."""
    from needlesafe.geometry.clearance import ClearanceEngine
    from needlesafe.meshes.shapes import tube
    from needlesafe.meshes.types import AnatomyScene, Structure

    tubes = []
    for k, x in enumerate((4.0, -9.0, 15.0, -22.0, 30.0)):  # nerves beside the line x = 0, nearest first: 0, 1, 2 ...
        v, f = tube(np.array([(x, -50.0, 0.0), (x, 50.0, 0.0)]), 1.0, sides=16)
        tubes.append(Structure(f"nerve{k}", "nerve", v, f, critical=True, margin_mm=3.0))
    engine = ClearanceEngine(AnatomyScene("tubes", tubes))
    n = Needle((0.0, 0.0, 40.0), (0.0, 0.0, -1.0), 10.0, 60.0, 0.30)
    depths, every = engine.profile(n, 41)
    d2, two = engine.profile(n, 41, nearest=2)
    assert np.array_equal(depths, d2) and set(two) == {"nerve0", "nerve1"}
    for name in two:
        assert np.array_equal(two[name], every[name])
    assert set(engine.profile(n, 41, nearest=10)[1]) == set(every)


@pytest.mark.parametrize("x, decimals, text", [
    (2.999, 2, "2.99"), (0.3, 2, "0.30"), (57.06, 1, "57.0"), (0.0, 2, "0.00"), (None, 2, "unknown"),
    (float("nan"), 1, "unknown"), (12.3456, 2, "12.34"),
])
def test_display_rounds_toward_danger(x, decimals, text):
    from needlesafe.geometry.report import format_mm

    assert format_mm(x, decimals) == text
