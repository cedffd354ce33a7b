"""Unmodelled zones on the real atlas regions: danger structures the atlas lacks (subclavian artery,
vertebral artery, superior and inferior gluteal vessels) are marked by capsules where they really
run; each exists, is closed, lies where its note says, and a needle through it reads "unknown".

The recipe checks run everywhere; the builds need ../shared/atlas-source (the `atlas` fixture skips
cleanly without it).
"""
from __future__ import annotations

import numpy as np
import pytest
import trimesh

from needlesafe.geometry.measure import surface_distance
from needlesafe.geometry.needle import Needle
from needlesafe.meshes.atlas.recipe import CapsuleRule, load_recipe, recipe_path
from needlesafe.meshes.facts import read_facts
from needlesafe.meshes.types import PackError, faces_closed, signed_volume

#: region -> the zones it must hold (name prefix "unmodelled_")
ZONES = {
    "anterior_lateral_neck": ["subclavian_artery_r", "subclavian_artery_3rd_part_r", "subclavian_vein_r",
                              "subclavian_vein_medial_r", "vertebral_artery_c6_c3_r", "vertebral_artery_c3_c1_r"],
    "neck_shoulder": ["subclavian_artery_r", "subclavian_artery_3rd_part_r", "subclavian_vein_r",
                      "subclavian_vein_medial_r"],
    "posterior_neck": [f"vertebral_artery_{part}_{side}" for side in "rl"
                       for part in ("c6_c3", "c3_c1", "atlas", "atlas_groove", "arch")],
    "gluteal": ["superior_gluteal_vessels_r", "inferior_gluteal_vessels_r"],
}
UP = np.array([[0.0, 0.0, 1.0]])
CASES = [(region, f"unmodelled_{z}") for region, zs in ZONES.items() for z in zs]


def fact(fact_id):
    rows = [f for f in read_facts() if f.id == fact_id]
    assert len(rows) == 1, fact_id
    return rows[0]


def axis(scene, name) -> np.ndarray:
    g = scene.metadata["generated"][name]
    return np.array([g["start_mm"], g["end_mm"]])


# --- recipes (no data needed) -------------------------------------------------------------------------

@pytest.mark.parametrize("region", sorted(ZONES))
def test_recipes_declare_their_zones_with_a_note_and_a_source_row(region):
    rules = {g.name: g for g in load_recipe(recipe_path(region)).generated if isinstance(g, CapsuleRule)}
    assert {f"unmodelled_{z}" for z in ZONES[region]} <= set(rules)
    for g in rules.values():
        assert "not in this model" in g.note, g.name
        f = fact(g.source)
        assert f.source and f.population, g.source
        if f.quantity.startswith("diameter"):  # the zone's diameter is the published calibre
            assert f.low <= 2 * g.radius_mm <= f.high, (g.name, f.range_text())


@pytest.mark.parametrize(("old", "new", "key"), [
    ("radius_mm = 5.0\nnote = \"the superior", "note = \"the superior", "'generated[0].radius_mm': missing"),
    ('shape = "capsule"', 'shape = "tube"', "'generated[0].shape'"),
    ("start = [-38.0, 28.0, 913.0]", 'start = "no such landmark"', "no [[landmark]] named 'no such landmark'"),
    ("start = [-38.0, 28.0, 913.0]", 'start = { bone = "hip_bone_r" }', "'generated[0].start'"),
    ("start = [-38.0, 28.0, 913.0]", 'start = { landmark = "PSIS", near = [0.0, 0.0, 0.0] }',
     "'generated[0].start.near'"),
    ("end = [-72.0, 33.0, 908.0]", "end = [-38.0, 28.0, 913.5]", "at least 1 mm apart"),
])
def test_bad_capsules_name_the_file_and_the_key(tmp_path, old, new, key):
    text = recipe_path("gluteal").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "gluteal.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PackError) as e:
        load_recipe(path)
    assert "gluteal.toml" in str(e.value) and key in str(e.value)


# --- built regions (the real atlas) ------------------------------------------------------------------

@pytest.mark.parametrize(("region", "name"), CASES)
def test_zone_exists_closed_critical_and_said(scenes, region, name):
    scene = scenes(region)
    z = scene.structure(name)
    assert z.role == "unmodelled" and z.critical and z.margin_mm >= 2.0
    assert faces_closed(z.faces) and signed_volume(z.vertices, z.faces) > 0
    info = scene.metadata["unmodelled"][name]
    assert "not in this model" in info["note"] and info["source"].startswith("meshes/anatomy_facts.md: ")
    assert scene.metadata["generated"][name]["shape"] == "capsule"
    # the skin encloses every zone (it stands for tissue inside the body)
    skin = trimesh.Trimesh(scene.structure("skin").vertices, scene.structure("skin").faces, process=False)
    assert skin.contains(z.vertices).all()


@pytest.mark.parametrize("region", ["anterior_lateral_neck", "neck_shoulder"])
def test_subclavian_zone_lies_on_the_upper_surface_of_the_first_rib(scenes, region):
    scene = scenes(region)
    rib = scene.structure("first_rib_r")
    zone = scene.structure("unmodelled_subclavian_artery_r")
    d, _ = surface_distance(zone.vertices, zone.faces, rib.vertices, rib.faces)
    assert d <= 0.5  # it touches the rib
    groove = axis(scene, "unmodelled_subclavian_artery_r")[1]
    rib_tri = trimesh.Trimesh(rib.vertices, rib.faces, process=False)
    below, _, _ = rib_tri.ray.intersects_location([groove], [[0.0, 0.0, -1.0]])
    assert len(below) and groove[2] - below[:, 2].max() == pytest.approx(5.0, abs=0.5)  # one radius above
    above, _, _ = rib_tri.ray.intersects_location([groove], [[0.0, 0.0, 1.0]])
    assert not len(above)  # on the rib's UPPER surface
    # the third part ends over the rib's outer border, where the atlas axillary artery begins
    end = axis(scene, "unmodelled_subclavian_artery_3rd_part_r")[1]
    assert end[0] <= rib.vertices[:, 0].min() + 1.0
    # the vein crosses the rib too, in front of the artery (the anterior scalene between them), and
    # joins the internal jugular vein
    vein = scene.structure("unmodelled_subclavian_vein_r")
    d, _ = surface_distance(vein.vertices, vein.faces, rib.vertices, rib.faces)
    assert d <= 0.5
    vein_on_rib = axis(scene, "unmodelled_subclavian_vein_r")[1]
    assert vein_on_rib[1] < groove[1] - 8.0  # anterior (-y) to the artery
    if "internal_jugular_vein_r" in {s.name for s in scene.structures}:
        medial = scene.structure("unmodelled_subclavian_vein_medial_r")
        jugular = scene.structure("internal_jugular_vein_r")
        d, _ = surface_distance(medial.vertices, medial.faces, jugular.vertices, jugular.faces)
        assert d <= 1.0
    # the lowest trunk of the plexus lies behind (posterior to) the artery on the rib
    if "inferior_trunk_of_brachial_plexus_r" in {s.name for s in scene.structures}:
        trunk = scene.structure("inferior_trunk_of_brachial_plexus_r").vertices
        assert np.median(trunk[:, 1]) > groove[1]


def test_vertebral_zone_runs_through_the_transverse_foramina(scenes):
    scene = scenes("posterior_neck")
    for side, sign in (("r", 1.0), ("l", -1.0)):
        a, b = axis(scene, f"unmodelled_vertebral_artery_c6_c3_{side}")
        pts = a + np.linspace(0.0, 1.0, 200)[:, None] * (b - a)
        for vert in ("vertebra_c6", "vertebra_c5", "vertebra_c4", "vertebra_c3"):
            # the transverse foramen as seen from above: a vertical line through the axis misses the
            # vertebra while vertical lines 5 mm around it, on all sides, hit it (its bony ring)
            bone = scene.structure(vert)
            mesh = trimesh.Trimesh(bone.vertices, bone.faces, process=False)
            lo, hi = bone.vertices[:, 2].min(), bone.vertices[:, 2].max()
            ang = np.linspace(0.0, 2 * np.pi, 8, endpoint=False)
            ring = 5.0 * np.stack([np.cos(ang), np.sin(ang), np.zeros(8)], axis=1)

            def hits(q, mesh=mesh, lo=lo):
                return bool(mesh.ray.intersects_any(np.array([[q[0], q[1], lo - 5.0]]), UP)[0])

            ringed = [not hits(p) and all(hits(p + r) for r in ring) for p in pts[(pts[:, 2] > lo) & (pts[:, 2] < hi)]]
            assert any(ringed), f"{side}: the zone's axis finds no transverse foramen in {vert}"
        assert sign * a[0] < 0 and 10.0 < abs(a[0]) < 35.0  # beside the body, on its own side
    # upward to the atlas: its transverse foramen, then over the posterior arch toward the midline
    c1 = scene.structure("atlas_c1")
    top = axis(scene, "unmodelled_vertebral_artery_c3_c1_r")[1]
    assert c1.vertices[:, 2].min() < top[2] < c1.vertices[:, 2].max()
    arch = scene.structure("unmodelled_vertebral_artery_arch_r")
    d, _ = surface_distance(arch.vertices, arch.faces, c1.vertices, c1.faces)
    assert d <= 2.5  # it lies on the arch
    assert abs(axis(scene, "unmodelled_vertebral_artery_arch_r")[1][0]) < 12.0


def test_gluteal_vessel_zones_above_and_below_piriformis(scenes):
    scene = scenes("gluteal")
    sup = scene.structure("unmodelled_superior_gluteal_vessels_r")
    inf = scene.structure("unmodelled_inferior_gluteal_vessels_r")
    pir = scene.structure("piriformis_muscle_r").vertices
    hip = scene.structure("hip_bone_r")
    psis = next(lm.point for lm in scene.landmarks if lm.name == "PSIS")
    # superior: against the upper margin of the greater sciatic notch, above piriformis, the PSIS
    # at the published distance
    d, _ = surface_distance(sup.vertices, sup.faces, hip.vertices, hip.faces)
    assert d <= 1.0
    assert sup.vertices[:, 2].mean() > np.median(pir[:, 2])
    f = fact("gluteal_vessels_course")
    assert f.low <= float(np.linalg.norm(sup.vertices - psis, axis=1).min()) <= f.high
    # inferior: below piriformis, medial to the sciatic nerve and beside it
    nerve = scene.structure("sciatic_nerve_r")
    assert inf.vertices[:, 2].mean() < np.median(pir[:, 2])
    level = (nerve.vertices[:, 2] > inf.vertices[:, 2].min()) & (nerve.vertices[:, 2] < inf.vertices[:, 2].max())
    assert inf.vertices[:, 0].mean() > nerve.vertices[level, 0].mean()  # medial (x toward 0) on the right
    d, _ = surface_distance(inf.vertices, inf.faces, nerve.vertices, nerve.faces)
    g = fact("inferior_gluteal_vessels_course")
    assert g.low <= d <= g.high


def _needle_through(engine, a, b):
    """A needle from the skin to a point of the segment a-b (the zone's axis, middle first) with no
    bone before it (the vertebral artery hides in bone rings: some points have no such line):
    (needle with its tip there, depth)."""
    k = np.arange(300) + 0.5
    phi = np.arccos(1 - 2 * k / 300)
    theta = np.pi * (1 + 5**0.5) * k
    dirs = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)
    for f in (0.5, 0.35, 0.65, 0.2, 0.8, 0.1, 0.9):
        point = a + f * (b - a)
        for d in dirs:
            t = engine.distance_to_skin(point, -d)
            if t is None or t < 5.0:
                continue
            n = Needle(point - t * d, d, t, t + 15.0, 0.3)
            stop, _ = engine.bone_stop(n)
            if stop is None or stop > t + 2.0:
                return n, t
    raise AssertionError(f"no bone-free line reaches the axis {a} - {b}")


@pytest.mark.parametrize(("region", "name"), CASES)
def test_a_needle_through_the_zone_reads_unknown(engines, scenes, region, name):
    eng = engines(region)
    a, b = axis(scenes(region), name)
    needle, t = _needle_through(eng, a, b)
    rep = eng.report(needle)
    row = rep.structure(name)
    assert row.level == "unknown" and row.penetrated and rep.level == "unknown"
    assert "not in this model" in row.note
    assert rep.path.safe_depth_mm is not None and rep.path.safe_depth_mm < t
    # stopped well short of the zone (beyond twice its margin), the zone itself reads clear
    zone = scenes(region).structure(name)
    short = needle.at_depth(max(0.0, t - float(np.linalg.norm(b - a)) - 30.0))
    gap = eng.report(short).structure(name)
    if gap.shaft_distance_mm is not None and gap.shaft_distance_mm >= 2 * zone.margin_mm:
        assert gap.level == "safe"
