"""The needle plane's cross-sections against analytic shapes (geometry/slice.py)."""
from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import example, given, settings
from hypothesis import strategies as st

from needlesafe.geometry.needle import Needle
from needlesafe.geometry.slice import (
    NEAR_AXIAL_DEG,
    Slicer,
    cross_sections,
    needle_plane,
    polygon_area,
    section_of,
)
from tests.conftest import box_mesh, cylinder_mesh, scene_of, structure

R = 20.0


def sphere(centre=(0.0, 0.0, 0.0), radius=R, subdivisions=4):
    m = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return np.asarray(m.vertices) + np.asarray(centre, float), np.asarray(m.faces, np.int32)


def chord_error(mesh, radius):
    """How far inside the sphere a point of an edge can lie: R - sqrt(R² - (longest edge / 2)²)."""
    v, f = mesh
    edges = np.concatenate([v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 1]], v[f[:, 0]] - v[f[:, 2]]])
    half = np.linalg.norm(edges, axis=1).max() / 2.0
    return radius - np.sqrt(radius**2 - half**2)


# a needle entering at y = 50 and running anterior (-y): depth = 50 - y; at angle 0 lateral = z
NEEDLE = Needle([0.0, 50.0, 0.0], [0.0, -1.0, 0.0], 30.0, 75.0)


def only_section(scene, angle=0.0, extent=100.0):
    res = cross_sections(scene, needle_plane(NEEDLE, angle), extent)
    assert len(res.sections) == 1
    return res.sections[0]


def test_plane_axes_are_orthonormal_and_default_holds_superior():
    pl = needle_plane(NEEDLE, 0.0)
    np.testing.assert_allclose(pl.origin, NEEDLE.entry_lps)
    np.testing.assert_allclose(pl.u, [0, -1, 0])
    np.testing.assert_allclose(pl.v, [0, 0, 1], atol=1e-12)  # the patient's superior axis
    np.testing.assert_allclose(pl.normal, np.cross(pl.u, pl.v))
    assert pl.side_names() == ("superior", "inferior")
    np.testing.assert_allclose(pl.to_plane(pl.to_world([[12.5, -3.0]])), [[12.5, -3.0]])


def test_needle_along_the_superior_axis_orients_by_the_left():
    n = Needle([0, 0, 0], [0, np.sin(np.radians(NEAR_AXIAL_DEG / 2)), -np.cos(np.radians(NEAR_AXIAL_DEG / 2))], 5)
    pl = needle_plane(n, 0.0)
    assert pl.v[0] > 0.99  # +x, the patient's left
    assert abs(pl.u @ pl.v) < 1e-12


def test_non_finite_angle_and_extent_are_refused():
    with pytest.raises(ValueError, match="angle"):
        needle_plane(NEEDLE, float("nan"))
    scene = scene_of(structure("ball", "muscle", sphere((0, 0, 0))))
    with pytest.raises(ValueError, match="extent"):
        cross_sections(scene, needle_plane(NEEDLE), 0.0)


def test_sphere_through_its_centre_is_a_circle_of_its_radius():
    mesh = sphere((0.0, 0.0, 0.0))
    sec = only_section(scene_of(structure("ball", "muscle", mesh)))
    assert sec.closed and len(sec.loops) == 1 and not sec.nonmanifold
    r = np.linalg.norm(sec.loops[0] - [50.0, 0.0], axis=1)  # centre at depth 50, lateral 0
    err = chord_error(mesh, R)
    assert 0 < err < 0.1
    assert r.max() <= R + 1e-9
    assert r.min() >= R - err - 1e-9
    assert polygon_area(sec.loops[0]) == pytest.approx(np.pi * R**2, rel=2e-3)


def test_offset_plane_gives_the_smaller_circle():
    offset = 12.0  # the sphere's centre 12 mm off the plane x = 0
    mesh = sphere((offset, 0.0, 0.0))
    sec = only_section(scene_of(structure("ball", "muscle", mesh)))
    small = np.sqrt(R**2 - offset**2)  # 16 mm
    r = np.linalg.norm(sec.loops[0] - [50.0, 0.0], axis=1)
    err = chord_error(mesh, R)
    assert r.max() <= small + 1e-9
    # a point of a chord lies at most `err` inside the sphere: inside the circle by at most err*R/small
    assert r.min() >= small - err * R / small - 1e-9


def test_box_gives_a_rectangle():
    # x in [-10, 10], y in [-20, 20] (depth 30..70), z in [-5, 15] (lateral)
    sec = only_section(scene_of(structure("block", "bone", box_mesh([-10, -20, -5], [10, 20, 15]))))
    assert sec.closed and len(sec.loops) == 1
    q = sec.loops[0]
    np.testing.assert_allclose(q.min(axis=0), [30.0, -5.0], atol=1e-12)
    np.testing.assert_allclose(q.max(axis=0), [70.0, 15.0], atol=1e-12)
    assert polygon_area(q) == pytest.approx(40.0 * 20.0, rel=1e-12)


def test_tube_nerve_crossed_by_the_plane_appears_at_its_depth():
    # a nerve along x, 3 mm radius, 32 mm under the entry and 5 mm superior to the needle
    nerve = cylinder_mesh(3.0, -40.0, 40.0, sides=128, y=18.0, z=5.0)
    sec = only_section(scene_of(structure("sciatic_nerve", "nerve", nerve, margin=3.0)))
    assert sec.role == "nerve" and sec.critical and sec.margin_mm == 3.0
    assert sec.closed and len(sec.loops) == 1
    r = np.linalg.norm(sec.loops[0] - [32.0, 5.0], axis=1)
    assert r.max() <= 3.0 + 1e-9 and r.min() >= 3.0 * np.cos(np.pi / 128) - 1e-9
    # its shallowest point is where the needle's line would meet it if moved 5 mm superior
    assert sec.loops[0][:, 0].min() == pytest.approx(29.0, abs=3.0 * (1 - np.cos(np.pi / 128)) + 1e-9)


def test_turning_the_plane_by_90_degrees_swaps_what_is_seen():
    along_x = structure("nerve_x", "nerve", cylinder_mesh(2.0, -30.0, 30.0, sides=64, y=20.0))
    along_z = structure("vessel_z", "vessel", cylinder_mesh(2.0, -30.0, 30.0, sides=64, y=0.0))
    # cylinder_mesh runs along x; turn the second to run along z (superior)
    along_z.vertices = along_z.vertices[:, [2, 1, 0]]
    scene = scene_of(along_x, along_z)

    def lateral_span(angle):
        res = cross_sections(scene, needle_plane(NEEDLE, angle), 100.0)
        return {s.name: float(np.ptp(np.concatenate(s.loops)[:, 1])) for s in res.sections}

    at0, at90 = lateral_span(0.0), lateral_span(90.0)
    assert at0["nerve_x"] == pytest.approx(4.0, abs=0.01) and at0["vessel_z"] == pytest.approx(60.0)
    assert at90["nerve_x"] == pytest.approx(60.0) and at90["vessel_z"] == pytest.approx(4.0, abs=0.01)
    # 90 degrees is right-handed about the needle's direction: v = u x v0 = -x (the patient's right)
    np.testing.assert_allclose(needle_plane(NEEDLE, 90.0).v, [-1.0, 0.0, 0.0], atol=1e-12)


def test_open_mesh_gives_open_chains_never_closed_loops():
    v, f = box_mesh([-10, -20, -5], [10, 20, 15])
    # drop the two triangles of the z = 15 side: the mesh is open there
    keep = [k for k in range(len(f)) if not np.all(v[f[k], 2] == 15)]
    assert len(keep) == 10
    sec = only_section(scene_of(structure("sheet", "muscle", (v, f[keep]))))
    assert not sec.closed and not sec.loops and len(sec.open_chains) == 1
    chain = sec.open_chains[0]
    # the chain runs from one open edge to the other, down, across and up: its ends at z = 15
    np.testing.assert_allclose(sorted(chain[[0, -1], 1]), [15.0, 15.0])
    assert cross_sections(scene_of(structure("sheet", "muscle", (v, f[keep]))), needle_plane(NEEDLE), 100.0) \
        .open_structures == ["sheet"]


def test_structures_the_plane_misses_or_far_outside_the_window_are_left_out():
    near = structure("near", "muscle", sphere((0.0, 0.0, 0.0), 10.0, 3))
    off_plane = structure("off", "muscle", sphere((30.0, 0.0, 0.0), 10.0, 3))  # does not reach x = 0
    far = structure("far", "muscle", sphere((0.0, 0.0, 400.0), 10.0, 3))      # 400 mm superior
    res = cross_sections(scene_of(near, off_plane, far), needle_plane(NEEDLE), 100.0)
    assert [s.name for s in res.sections] == ["near"]
    assert [s.name for s in cross_sections(scene_of(near, off_plane, far), needle_plane(NEEDLE), 1000.0)
            .sections] == ["near", "far"]


def test_lengths_match_trimesh_mesh_plane():
    """The naive reference: trimesh's segments have the same total length as our chained loops."""
    meshes = [sphere((3.0, 5.0, -2.0), 15.0, 3), cylinder_mesh(2.5, -30, 30, sides=48, y=-10.0, z=4.0),
              box_mesh([-8, -30, -12], [9, 25, 7])]
    scene = scene_of(*[structure(f"s{k}", "muscle", m) for k, m in enumerate(meshes)])
    for angle in (0.0, 33.0, 90.0, 147.0):
        pl = needle_plane(NEEDLE, angle)
        for s in cross_sections(scene, pl, 1000.0).sections:
            ours = sum(np.linalg.norm(np.diff(np.vstack([q, q[:1]]), axis=0), axis=1).sum() for q in s.loops)
            segs = trimesh.intersections.mesh_plane(trimesh.Trimesh(*meshes[int(s.name[1:])], process=False),
                                                    pl.normal, pl.origin)
            assert ours == pytest.approx(np.linalg.norm(segs[:, 1] - segs[:, 0], axis=1).sum(), rel=1e-9)


def test_section_of_one_structure_equals_the_slicer():
    st_ = structure("ball", "muscle", sphere((0.0, 0.0, 0.0)))
    pl = needle_plane(NEEDLE, 20.0)
    a = section_of(st_, pl)
    b = Slicer(scene_of(st_)).cross_sections(pl, 100.0).sections[0]
    assert len(a.loops) == len(b.loops) == 1
    assert polygon_area(a.loops[0]) == pytest.approx(polygon_area(b.loops[0]), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(angle=st.floats(-720.0, 720.0), dx=st.floats(-0.5, 0.5), dz=st.floats(-0.5, 0.5))
@example(angle=0.0, dx=-0.4929189269759968, dz=0.0)  # vertices exactly on the plane: once dropped by a box test
def test_any_plane_through_a_sphere_centre_is_a_closed_circle(angle, dx, dz):
    """Whatever the needle's tilt and the plane's turn, a plane holding the sphere's centre cuts a
    closed circle of the sphere's radius (to the chord error)."""
    mesh = sphere((0.0, 0.0, 0.0), R, 3)
    needle = Needle([50.0 * dx, 50.0, 50.0 * dz], [-dx, -1.0, -dz], 10.0, 100.0)
    pl = needle_plane(needle, angle)
    for a, b in ((pl.u, pl.v), (pl.u, pl.normal), (pl.v, pl.normal)):
        assert abs(a @ b) < 1e-12
    sec = Slicer(scene_of(structure("ball", "muscle", mesh))).cross_sections(pl, 200.0).sections[0]
    assert sec.closed and len(sec.loops) == 1
    centre = pl.to_plane(np.zeros((1, 3)))[0]
    r = np.linalg.norm(sec.loops[0] - centre, axis=1)
    assert r.max() <= R + 1e-9 and r.min() >= R - chord_error(mesh, R) - 1e-9


def test_inconsistent_winding_still_closes_the_loop():
    """A mesh whose triangles are wound both ways (common in atlas meshes) takes the general chaining
    and still gives the one closed loop of the right area."""
    mesh = sphere((0.0, 0.0, 0.0), R, 3)
    v, f = mesh
    f = f.copy()
    f[::3] = f[::3, ::-1]  # every third triangle wound the other way
    sec = only_section(scene_of(structure("ball", "muscle", (v, f))))
    assert sec.closed and len(sec.loops) == 1 and not sec.nonmanifold
    reference = only_section(scene_of(structure("ball", "muscle", mesh)))
    assert polygon_area(sec.loops[0]) == pytest.approx(polygon_area(reference.loops[0]), rel=1e-12)


def test_sheets_meeting_at_an_edge_are_flagged_nonmanifold():
    """Two boxes sharing a face (x = 0) in one mesh: the plane crosses edges of that face, each
    belonging to four triangles."""
    a = box_mesh([0, -10, 0], [10, 10, 10])
    b = box_mesh([-10, -10, 0], [0, 10, 10])
    # one mesh of the two boxes, their corner vertices merged where they coincide
    verts = np.concatenate([a[0], b[0]])
    faces = np.concatenate([a[1], b[1] + 8])
    uniq, inv = np.unique(verts.round(9), axis=0, return_inverse=True)
    needle = Needle([3.0, 50.0, 2.0], [0.0, -1.0, 0.0], 10.0, 75.0)
    pl = needle_plane(needle, 90.0)  # the plane z = 2 (holding the needle and x)
    sec = section_of(structure("blocks", "bone", (uniq, inv.reshape(-1)[faces])), pl)
    assert sec.nonmanifold
    # every segment is still used once: the outlines' total length is the two rectangles'
    total = sum(np.linalg.norm(np.diff(np.vstack([q, q[:1]]), axis=0), axis=1).sum() for q in sec.loops) + sum(
        np.linalg.norm(np.diff(q, axis=0), axis=1).sum() for q in sec.open_chains)
    assert total == pytest.approx(2 * (2 * 10 + 2 * 20), rel=1e-9)
