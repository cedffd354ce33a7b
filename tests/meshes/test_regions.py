"""The generated regions, measured with the engine against meshes/anatomy_facts.md, for every habitus."""
from pathlib import Path

import numpy as np
import pytest
import trimesh

from needlesafe.geometry.bvh import TriangleBVH
from needlesafe.geometry.measure import surface_distance
from needlesafe.meshes.builtin import build_region, builtin_scene
from needlesafe.meshes.habitus import HABITUS_PRESETS
from needlesafe.meshes.regions.gluteal import PIRIFORMIS, piriformis_axis
from needlesafe.meshes.regions.shoulder import THORACIC_Z

FACTS = Path(__file__).resolve().parents[2] / "meshes" / "anatomy_facts.md"
DOWN_Y = np.array([0.0, -1.0, 0.0])  # from behind, into the body
DOWN_Z = np.array([0.0, 0.0, -1.0])  # from above


def read_facts():
    rows = []
    for line in FACTS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 10 or cells[0] in ("id", "---") or set(cells[0]) <= {"-"}:
            continue
        rows.append(dict(zip(["id", "region", "habitus", "quantity", "low", "high", "unit", "published",
                              "population", "source"], cells, strict=True)))
    return rows


# the rows of the generated regions (atlas regions' rows name their recipe and are measured elsewhere)
FACT_ROWS = [row for row in read_facts() if row["region"] in ("gluteal", "shoulder")]
CASES = [
    (row, h)
    for row in FACT_ROWS
    for h in (HABITUS_PRESETS if row["habitus"] == "all" else [row["habitus"]])
]


def bvh(scene, name):
    s = scene.structure(name)
    return TriangleBVH(s.vertices, s.faces)


def first_hit(scene, name, origin, direction):
    return bvh(scene, name).ray_hits(origin, direction)[0]


def landmark(scene, name):
    return next(lm.point for lm in scene.landmarks if lm.name == name)


def depth_from_behind(scene, name, x, z):
    o = np.array([x, 1000.0, z])
    return first_hit(scene, name, o, DOWN_Y) - first_hit(scene, "skin", o, DOWN_Y)


def thickness_from_behind(scene, name, x, z):
    o = np.array([x, 1000.0, z])
    b = bvh(scene, name)
    t0 = b.ray_hits(o, DOWN_Y)[0]
    return b.ray_hits(o, DOWN_Y, t0 + 1e-6)[1] - t0


T4_TP_Z = THORACIC_Z["T4"] + 2.0  # the transverse process's middle height at T4


def gb21_entry(scene):
    """The skin point straight above the upper trapezius (GB21) trigger point."""
    tp = next(t for t in scene.trigger_points if t.name == "upper trapezius (GB21)")
    o = np.array([tp.point[0], tp.point[1], 1000.0])
    return o + first_hit(scene, "skin", o, DOWN_Z) * DOWN_Z


def sciatic_projection(scene):
    """Where the nerve crosses the IT-GT line seen from behind: distances (mm) from IT and from GT."""
    it, gt = landmark(scene, "ischial tuberosity"), landmark(scene, "greater trochanter")
    nerve = bvh(scene, "sciatic_nerve")
    s = np.linspace(0.0, 1.0, 801)
    hit = [np.isfinite(nerve.ray_hits(np.array([p[0], 1000.0, p[2]]), DOWN_Y)[0]) for p in it + s[:, None] * (gt - it)]
    s_hit = s[np.array(hit)]
    assert len(s_hit), "the sciatic nerve does not cross the IT-GT line"
    length = float(np.linalg.norm(gt - it))
    centre = 0.5 * (s_hit.min() + s_hit.max())
    return centre * length, (1.0 - centre) * length


def measure(fact_id, scene):
    if fact_id == "sciatic_from_it":
        return sciatic_projection(scene)[0]
    if fact_id == "sciatic_from_gt":
        return sciatic_projection(scene)[1]
    if fact_id == "sciatic_csa":
        nerve = scene.structure("sciatic_nerve")
        seg = trimesh.intersections.mesh_plane(
            trimesh.Trimesh(nerve.vertices, nerve.faces, process=False), (0, 0, 1), (0, 0, -45.0)
        )
        pts = seg.reshape(-1, 3)[:, :2]
        c = pts.mean(axis=0)
        ring = pts[np.argsort(np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0]))]  # the section is convex
        x, y = ring[:, 0], ring[:, 1]
        return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 100.0  # mm2 -> cm2
    if fact_id == "sciatic_depth_transgluteal":
        m = 0.5 * (landmark(scene, "ischial tuberosity") + landmark(scene, "greater trochanter"))
        return depth_from_behind(scene, "sciatic_nerve", m[0], m[2])
    if fact_id == "piriformis_depth_centre":
        c = scene.structure("piriformis").vertices.mean(axis=0)
        return depth_from_behind(scene, "piriformis", c[0], c[2])
    if fact_id == "gluteal_fat":
        c = scene.structure("gluteus_maximus").vertices.mean(axis=0)
        return depth_from_behind(scene, "gluteus_maximus", c[0], c[2])
    if fact_id == "supraclavicular_plexus_depth":
        skin = bvh(scene, "skin")
        return min(skin.point_distance(p)[0] for p in scene.structure("brachial_plexus").vertices)
    if fact_id == "gb21_skin_to_pleura":
        return bvh(scene, "pleura").point_distance(gb21_entry(scene))[0]
    if fact_id == "gb21_vertical_skin_to_pleura":
        return first_hit(scene, "pleura", gb21_entry(scene), DOWN_Z)
    if fact_id == "tp_to_pleura":
        # T4, 25 mm from the midline, straight forward: back of the transverse process to the pleura
        o = np.array([-25.0, 1000.0, T4_TP_Z])
        return first_hit(scene, "pleura", o, DOWN_Y) - first_hit(scene, "vertebrae_T1_T8", o, DOWN_Y)
    c7 = landmark(scene, "C7 spinous process")
    x, z = c7[0] - 65.0, c7[2] - 70.0  # beside the medial border of the scapula, about T3-T4
    if fact_id == "interscapular_skin_to_pleura":
        return depth_from_behind(scene, "pleura", x, z)
    if fact_id == "middle_trapezius_thickness":
        return thickness_from_behind(scene, "middle_trapezius", x, z)
    if fact_id == "rhomboid_thickness":
        return thickness_from_behind(scene, "rhomboid", x, z)
    if fact_id == "plexus_to_pleura":
        a, b = scene.structure("brachial_plexus"), scene.structure("pleura")
        return surface_distance(a.vertices, a.faces, b.vertices, b.faces)[0]
    if fact_id == "plexus_to_first_rib":
        a, b = scene.structure("brachial_plexus"), scene.structure("first_rib")
        return surface_distance(a.vertices, a.faces, b.vertices, b.faces)[0]
    raise KeyError(f"no measurement for fact '{fact_id}'")


def test_facts_table_is_complete():
    assert len(FACT_ROWS) >= 12
    for row in FACT_ROWS:
        assert float(row["low"]) < float(row["high"]), row["id"]
        assert row["source"] and row["published"] or row["habitus"] != "all", row["id"]
        assert row["region"] in ("gluteal", "shoulder")


@pytest.mark.parametrize("row, habitus", CASES, ids=[f"{r['id']}-{h}" for r, h in CASES])
def test_published_figure(row, habitus):
    scene = builtin_scene(f"{row['region']}:{habitus}")
    value = measure(row["id"], scene)
    assert float(row["low"]) <= value <= float(row["high"]), (
        f"{row['quantity']} = {value:.2f} {row['unit']} for habitus {habitus}; "
        f"published {row['published']} ({row['source']})"
    )


def test_depths_grow_with_habitus():
    depths = [measure("sciatic_depth_transgluteal", builtin_scene(f"gluteal:{h}")) for h in ("lean", "average", "high")]
    assert depths[0] < depths[1] < depths[2]
    depths = [measure("gb21_skin_to_pleura", builtin_scene(f"shoulder:{h}")) for h in ("lean", "average", "high")]
    assert depths[0] < depths[1] < depths[2]


@pytest.mark.parametrize("region", ["gluteal", "shoulder"])
def test_mesh_quality(region):
    scene = builtin_scene(region)
    for s in scene.structures:
        m = trimesh.Trimesh(s.vertices, s.faces, process=False)
        assert s.is_closed and m.is_winding_consistent, s.name
        assert m.volume > 0, f"{s.name} is inside out"
    nerves = [s for s in scene.structures if s.role in ("nerve", "vessel")]
    bones = [s for s in scene.structures if s.role == "bone"]
    for n in nerves:
        for b in bones:
            d = surface_distance(n.vertices, n.faces, b.vertices, b.faces)[0]
            assert d > 0.5, f"{n.name} touches {b.name} ({d:.2f} mm)"
    # every other structure lies inside the closed skin
    skin = bvh(scene, "skin")
    for s in scene.structures[1:]:
        centre = s.vertices.mean(axis=0)
        _, _, n_before, n_after = skin.ray_hits(centre, np.array([0.0, 0.0, 1.0]))
        assert (n_before + n_after) % 2 == 1, f"{s.name} is not inside the skin"


def test_landmarks_lie_on_their_bones():
    for region in ("gluteal", "shoulder"):
        scene = builtin_scene(region)
        for lm in scene.landmarks:
            d = bvh(scene, lm.bone).point_distance(lm.point)[0]
            assert d < 8.0, f"{region}: landmark {lm.name} is {d:.1f} mm from {lm.bone}"


def test_generation_is_deterministic():
    a = build_region("gluteal", "lean")
    b = build_region("gluteal", "lean")
    for sa, sb in zip(a.structures, b.structures, strict=True):
        assert np.array_equal(sa.vertices, sb.vertices) and np.array_equal(sa.faces, sb.faces)


def test_sciatic_nerve_leaves_below_piriformis():
    scene = builtin_scene("gluteal")
    nerve = scene.structure("sciatic_nerve").vertices
    a, b = PIRIFORMIS[0], PIRIFORMIS[1]
    # where the nerve comes nearest the muscle it lies under it: below the axis, within a few mm
    pir = bvh(scene, "piriformis")
    d = np.array([pir.point_distance(p)[0] for p in nerve])
    near = nerve[np.argmin(d)]
    t = (near[0] - a[0]) / (b[0] - a[0])
    assert 0.2 < t < 0.6, "the nerve should meet the medial half of piriformis"
    assert d.min() < 4.0 and near[2] < piriformis_axis(t)[2]
    # from the nerve's upper course, a ray toward the muscle's axis meets piriformis first
    for p in nerve[(nerve[:, 0] < -60.0) & (nerve[:, 0] > -85.0)][::7]:
        t = (p[0] - a[0]) / (b[0] - a[0])
        toward = piriformis_axis(t) - p
        toward /= np.linalg.norm(toward)
        hit = first_hit(scene, "piriformis", p, toward)
        assert np.isfinite(hit)
        for other in ("gluteus_maximus", "hip_bone"):
            assert first_hit(scene, other, p, toward) > hit


def test_plexus_between_scalenes_and_pleura_above_first_rib():
    scene = builtin_scene("shoulder")

    def mean_y(name, z):
        v = scene.structure(name).vertices
        sel = v[(np.abs(v[:, 2] - z) < 4.0) & (v[:, 0] > -80.0) & (v[:, 0] < -45.0)]
        assert len(sel), f"{name} has no vertices near z={z}"
        return sel[:, 1].mean()

    for z in (10.0, 20.0, 30.0):
        # anterior scalene in front (-y), middle scalene behind (+y)
        assert mean_y("anterior_scalene", z) < mean_y("brachial_plexus", z) < mean_y("middle_scalene", z)
    pleura_top = scene.structure("pleura").vertices[:, 2].max()
    assert pleura_top > scene.structure("first_rib").vertices[:, 2].max()
    # the plexus passes over the first rib: from part of it a ray straight down meets rib 1 before the pleura
    rib, pleura = bvh(scene, "first_rib"), bvh(scene, "pleura")
    over = [
        p for p in scene.structure("brachial_plexus").vertices
        if rib.ray_hits(p, DOWN_Z)[0] < min(pleura.ray_hits(p, DOWN_Z)[0], 15.0)
    ]
    assert len(over) >= 5


def test_trigger_points_lie_inside_their_muscles():
    for region in ("gluteal", "shoulder"):
        scene = builtin_scene(region)
        assert len(scene.trigger_points) >= 4
        for tp in scene.trigger_points:
            b = bvh(scene, tp.muscle)
            _, _, before, after = b.ray_hits(tp.point, np.array([0.0, 0.0, 1.0]))
            assert (before + after) % 2 == 1, f"{region}: trigger point {tp.name} is outside {tp.muscle}"
