"""Safety maps against single clearance reports and against analytic geometry."""
import numpy as np
import pytest

from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.needle import Needle
from needlesafe.geometry.safety_map import compute_safety_map, skin_of, vertex_normals
from needlesafe.meshes.builtin import builtin_scene
from needlesafe.meshes.errors import Cancelled

from ..conftest import box_mesh, cylinder_mesh, scene_of, structure


def test_flat_skin_over_a_nerve_and_a_bone():
    # skin: a box whose top face is y = 40; nerve (radius 5, margin 3) along x at y = z = 0; bone plate at y = -30
    import trimesh

    box = trimesh.Trimesh(*box_mesh((-100, -80, -100), (100, 40, 100)), process=False)
    v, f = trimesh.remesh.subdivide_to_size(box.vertices, box.faces, max_edge=4.0)
    skin = structure("skin", "skin", (v, f))
    nerve = structure("nerve", "nerve", cylinder_mesh(5.0, -60, 60, sides=256), margin=3.0)
    bone = structure("bone", "bone", box_mesh((-90, -35, 20), (90, -30, 90)))
    eng = ClearanceEngine(scene_of(skin, nerve, bone))
    smap = compute_safety_map(eng, direction=(0, -1, 0), needle_gauge_mm=0.3)
    top = np.isclose(smap.points[:, 1], 40.0)
    checked = 0
    for i in np.flatnonzero(top):
        p, depth, bone_depth = smap.points[i], smap.safe_depth_mm[i], smap.bone_depth_mm[i]
        if abs(p[0]) < 50 and abs(p[2]) < 1e-9:  # straight over the nerve: 40 - (5 + 3 + 0.15), facets aside
            assert 40 - 8.15 - 1e-6 <= depth <= 40 - 8.15 + 5 * (1 - np.cos(np.pi / 256)) + 1e-6
            checked += 1
        if abs(p[0]) < 50 and 30 < p[2] < 80:  # over the bone plate (top at y = -30): 70 mm down, a backstop
            assert bone_depth == pytest.approx(70.0, abs=1e-5)
            assert depth == pytest.approx(smap.max_depth_mm) and smap.backstop[i]
            checked += 1
    assert checked > 20
    # vertices on the box's sides run along the skin and leave the body at its bottom edge: not modelled
    # (unknown counts as danger once the needle reaches past the exit); none on the top face
    assert not smap.not_modelled[top].any()
    side = np.isclose(np.abs(smap.points[:, 0]), 100.0) & (smap.points[:, 1] > -75.0) & (smap.points[:, 1] < 15.0)
    assert smap.not_modelled[side].all()
    assert np.allclose(smap.exit_mm[side], smap.points[side, 1] + 80.0, atol=1e-5)
    assert smap.danger_zone(40.0)[top].any() and not smap.danger_zone(10.0)[top].any()
    assert not (smap.danger_zone(10.0) & ~smap.not_modelled).any()


@pytest.mark.parametrize("region", ["gluteal", "shoulder"])
def test_map_agrees_with_single_checks(region):
    scene = builtin_scene(region)
    eng = ClearanceEngine(scene)
    smap = compute_safety_map(eng)
    idx = np.random.default_rng(7).choice(len(smap.points), 40, replace=False)
    for i in idx:
        rep = eng.report(Needle(smap.points[i], smap.directions[i], 0.0, smap.max_depth_mm, 0.30))
        assert rep.path.safe_depth_mm == pytest.approx(smap.safe_depth_mm[i], abs=1e-4)
        first_bone = min((h.depth_mm for h in rep.path.first_hits if h.role == "bone"), default=np.inf)
        assert first_bone == pytest.approx(smap.bone_depth_mm[i], abs=1e-4) or (
            np.isinf(first_bone) and np.isinf(smap.bone_depth_mm[i])
        )


def test_normals_point_out_and_progress_can_cancel():
    scene = builtin_scene("gluteal")
    skin = skin_of(scene)
    n = vertex_normals(skin.vertices, skin.faces)
    from needlesafe.geometry.bvh import TriangleBVH

    bvh = TriangleBVH(skin.vertices, skin.faces)
    up = np.array([0.3, 0.2, 0.93])
    for i in np.random.default_rng(3).choice(len(n), 200, replace=False):
        outside = sum(bvh.ray_hits(skin.vertices[i] + 0.5 * n[i], up)[2:]) % 2 == 0
        inside = sum(bvh.ray_hits(skin.vertices[i] - 0.5 * n[i], up)[2:]) % 2 == 1
        assert outside and inside
    seen = []

    def stop_half_way(fraction):
        seen.append(fraction)
        return fraction < 0.5

    with pytest.raises(Cancelled):
        compute_safety_map(ClearanceEngine(scene), progress=stop_half_way)
    assert seen and seen[-1] >= 0.5 and seen == sorted(seen)


def test_bad_direction_and_missing_skin():
    eng = ClearanceEngine(builtin_scene("gluteal"))
    for bad in ("sideways", (0, 0, 0), (np.nan, 1, 0)):
        with pytest.raises(ValueError):
            compute_safety_map(eng, bad)
    no_skin = scene_of(structure("nerve", "nerve", cylinder_mesh(5.0, -10, 10, sides=16), margin=3.0))
    with pytest.raises(ValueError, match="no skin"):
        compute_safety_map(ClearanceEngine(no_skin))


def test_open_skin_patch_normals_point_into_the_body():
    # an open, inside-out skin patch above a nerve: the map still needles toward the nerve
    v = np.array([[x, 40.0, z] for x in np.linspace(-40, 40, 9) for z in np.linspace(-40, 40, 9)])
    idx = np.arange(81).reshape(9, 9)
    f = np.array([[idx[i, j], idx[i + 1, j], idx[i + 1, j + 1]] for i in range(8) for j in range(8)]
                 + [[idx[i, j], idx[i + 1, j + 1], idx[i, j + 1]] for i in range(8) for j in range(8)])
    patch = structure("skin_patch", "skin", (v, f))
    nerve = structure("nerve", "nerve", cylinder_mesh(5.0, -60, 60, sides=64), margin=3.0)
    for faces in (f, f[:, ::-1]):
        patch.faces = faces.astype(np.int32)
        smap = compute_safety_map(ClearanceEngine(scene_of(patch, nerve)))
        assert np.all(smap.directions[:, 1] < -0.99)
        centre = np.flatnonzero((np.abs(smap.points[:, 0]) < 1) & (np.abs(smap.points[:, 2]) < 1))[0]
        assert smap.safe_depth_mm[centre] == pytest.approx(40 - 8.15, abs=0.05)


def test_scene_bvh_safe_depths_one_ray_and_its_checks():
    # a nerve box (margin 2) 10 mm below the origin: a needle of radius 0.5 going down is safe for 10 - 2.5 mm
    from needlesafe.geometry.scene_bvh import SceneBVH

    bvh = SceneBVH([box_mesh((-5, -30, -5), (5, -10, 5))], critical=[True], margins=[2.0])
    pts = np.zeros((1, 3))
    dirs = np.array([[0.0, -1.0, 0.0]])
    safe, bone_t, exit_t = np.empty(1), np.empty(1), np.empty(1)
    limiting = np.empty(1, dtype=np.int64)
    bvh.safe_depths(pts, dirs, 100.0, 0.5, -1, [False], 1e-3, 0, 1, safe, bone_t, limiting, exit_t)
    assert safe[0] == pytest.approx(7.5) and limiting[0] == 0 and np.isinf(exit_t[0]) and np.isinf(bone_t[0])
    with pytest.raises(ValueError):
        bvh.safe_depths(pts, dirs, 100.0, 0.5, -1, [False, True], 1e-3, 0, 1, safe, bone_t, limiting, exit_t)
    with pytest.raises(ValueError):
        bvh.safe_depths(pts, dirs, 100.0, 0.5, 3, [False], 1e-3, 0, 1, safe, bone_t, limiting, exit_t)


@pytest.mark.parametrize("length", [30.0, 50.0, 75.0])
def test_drawn_outline_follows_the_danger_zone_with_the_bone_stop(length):
    """The outline drawn on the skin is the zero contour of a field that is positive exactly on
    SafetyMap.danger_zone: where a bone stops the needle first, the skin is not outlined."""
    from needlesafe.app.render import danger_field
    from needlesafe.app.safety_export import map_polydata

    scene = builtin_scene("gluteal")
    smap = compute_safety_map(ClearanceEngine(scene))
    field = danger_field(map_polydata(scene, smap), length)
    zone = smap.danger_zone(length)
    assert np.array_equal(field > 0.0, zone)
    stopped = (smap.bone_depth_mm < length) & (smap.safe_depth_mm < length) & ~zone
    if length >= 50.0:  # long needles: skin where only the bone stop keeps the needle out of a margin
        assert stopped.any()
