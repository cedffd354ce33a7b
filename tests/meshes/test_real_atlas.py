"""Import the real Z-Anatomy-derived regions beside the repository and check the engine on them.

Reference distances are those of ../shared/anatomy-data/SOURCES.md (closest surface to surface, mm).
Skipped cleanly when that folder is absent.
"""
import numpy as np
import pytest

from needlesafe.app.cli import main
from needlesafe.geometry import reference
from needlesafe.geometry.bvh import TriangleBVH
from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.measure import surface_distance
from needlesafe.geometry.needle import Needle
from needlesafe.meshes.importer import import_folder
from needlesafe.meshes.resolve import load_pack


def mesh_mesh_distance(a, b):
    return surface_distance(a.vertices, a.faces, b.vertices, b.faces)[0]


def fcl_distance(a, b):
    fcl = pytest.importorskip("fcl")

    def obj(s):
        m = fcl.BVHModel()
        m.beginModel(len(s.vertices), len(s.faces))
        m.addSubModel(s.vertices, s.faces)
        m.endModel()
        return fcl.CollisionObject(m, fcl.Transform())

    return fcl.distance(obj(a), obj(b), fcl.DistanceRequest(), fcl.DistanceResult())


@pytest.fixture(scope="module")
def gluteal(real_packs):
    return load_pack(real_packs["gluteal"])


@pytest.fixture(scope="module")
def shoulder(real_packs):
    return load_pack(real_packs["shoulder"])


def test_import_reports_roles_units_and_axes(anatomy_data, tmp_path):
    scene, rep = import_folder(anatomy_data / "shoulder", "m", "LSA", tmp_path / "s")
    text = rep.text()
    assert "units: m -> mm (x1000)" in text and "axes: LSA -> LPS" in text
    roles = {s.name: s.role for s in scene.structures}
    assert roles["brachial_plexus_inf_trunk_ant_div_r"] == "nerve"
    assert roles["dorsal_scapular_nerve_r"] == "nerve"
    assert roles["first_rib_r"] == "bone" and roles["vertebra_C7"] == "bone"
    assert roles["pleura_r"] == "pleura" and roles["lung_right_superior_lobe"] == "pleura"
    assert roles["axillary_artery_r"] == "vessel"
    assert roles["skin_patch_scapular_region_r"] == "skin"
    assert roles["first_costal_cartilage_r"] == "other"
    assert roles["trapezius_descending_r"] == "muscle"
    assert any("open patches" in w for w in rep.warnings)


def test_import_gluteal_warns_about_missing_buttock_skin(anatomy_data, tmp_path):
    _, rep = import_folder(anatomy_data / "gluteal", "m", "LSA", tmp_path / "g")
    assert rep.counts["nerve"] == 5 and rep.counts["bone"] == 5
    assert any("skin" in w for w in rep.warnings)


def test_lps_orientation(gluteal, shoulder):
    # right-side structures lie at patient right (-x in LPS); the shoulder is superior to the hip
    assert gluteal.structure("femur_r").vertices[:, 0].mean() < 0
    hip_top_z = gluteal.structure("hip_bone_r").vertices[:, 2].max()
    assert shoulder.structure("first_rib_r").vertices[:, 2].mean() > hip_top_z
    # the scapula lies posterior (+y) to the first rib's anterior end
    assert shoulder.structure("scapula_r").vertices[:, 1].mean() > shoulder.structure("manubrium").vertices[:, 1].mean()
    # millimetres: a femur is a few hundred mm long
    assert 300 < np.ptp(gluteal.structure("femur_r").vertices[:, 2]) < 600


@pytest.mark.parametrize(
    "region, a, b, expected",
    [
        ("gluteal", "sciatic_nerve_r", "hip_bone_r", 0.55),
        ("gluteal", "sciatic_nerve_r", "femur_r", 15.72),
        ("gluteal", "sciatic_nerve_r", "quadratus_femoris_r", 20.47),
        ("gluteal", "sciatic_nerve_r", "sacrotuberous_ligament_r", 1.35),
        ("shoulder", "brachial_plexus_inferior_trunk_r", "first_rib_r", 3.27),
        ("shoulder", "brachial_plexus_inferior_trunk_r", "pleura_r", 11.26),
        ("shoulder", "brachial_plexus_superior_trunk_r", "clavicle_r", 8.71),
        ("shoulder", "brachial_plexus_roots_r", "scalenus_anterior_r", 2.62),
    ],
)
def test_reference_distances(gluteal, shoulder, region, a, b, expected):
    """SOURCES.md's figures come from vertex sampling, an upper bound of the exact surface distance;
    the exact one (edges included) must agree with python-fcl and lie at most 0.1 mm below them."""
    scene = gluteal if region == "gluteal" else shoulder
    sa, sb = scene.structure(a), scene.structure(b)
    d = mesh_mesh_distance(sa, sb)
    assert d == pytest.approx(fcl_distance(sa, sb), abs=1e-6)
    assert expected - 0.1 <= d <= expected + 0.005


@pytest.mark.parametrize("region, nerve", [("gluteal", "sciatic_nerve_r"), ("shoulder", "brachial_plexus_roots_r")])
def test_needles_agree_with_brute_force(gluteal, shoulder, region, nerve):
    scene = gluteal if region == "gluteal" else shoulder
    eng = ClearanceEngine(scene)
    s = scene.structure(nerve)
    centre = s.vertices.mean(axis=0)
    rng = np.random.default_rng(11)
    for _ in range(25):
        entry = centre + rng.normal(0, 30, 3)
        direction = centre + rng.normal(0, 10, 3) - entry
        needle = Needle(entry, direction, rng.uniform(5, 45), 50, 0.30)
        rep = eng.report(needle)
        needle = rep.needle  # stopped where its line first enters a bone
        row = rep.structure(nerve)
        if row.level == "unknown":  # inside/outside of the open nerve could not be decided: no number
            assert row.shaft_distance_mm is None and rep.level == "unknown"
            continue
        axis = reference.segment_distance_naive(s.vertices, s.faces, needle.entry_lps, needle.tip_lps)
        tip = reference.point_distance_naive(s.vertices, s.faces, needle.tip_lps)
        if not row.tip_inside and row.shaft_distance_mm > 0.0:
            assert row.shaft_distance_mm == pytest.approx(max(0.0, axis - 0.15), abs=1e-6)
            assert row.tip_distance_mm == pytest.approx(max(0.0, tip - 0.15), abs=1e-6)
        else:
            assert row.shaft_distance_mm == 0.0 and row.penetrated
        hits = reference.ray_hits_naive(s.vertices, s.faces, needle.entry_lps, needle.direction)
        first = {h.name: h.depth_mm for h in rep.path.first_hits}
        if len(hits) and hits[0] <= 50:
            assert first[nerve] == pytest.approx(hits[0], abs=1e-6)
        else:
            assert nerve not in first


def test_check_command_on_real_pack(real_packs, capsys):
    import json

    code = main(
        ["check", "--pack", str(real_packs["gluteal"]), "--entry", "-90", "150", "880",
         "--direction", "0", "-1", "0", "--depth", "40", "--length", "75", "--gauge", "0.30", "--json"]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    names = {s["name"] for s in data["structures"]}
    assert "sciatic_nerve_r" in names and "pudendal_nerve_r" in names
    assert all(s["role"] in ("nerve", "pleura", "vessel") for s in data["structures"])


@pytest.mark.parametrize("region", ["gluteal", "shoulder"])
def test_generated_skin_wraps_every_nerve_and_bone(anatomy_data, tmp_path, region):
    fat = 10.0
    scene, rep = import_folder(anatomy_data / region, "m", "LSA", tmp_path / region, skin_fat_mm=fat)
    skin = scene.structure("skin_envelope")
    assert skin.is_closed and skin.role == "skin"
    bvh = TriangleBVH(skin.vertices, skin.faces)
    up = np.array([0.0, 0.0, 1.0])
    depths = {}
    for s in scene.structures:
        if s.role not in ("nerve", "bone"):
            continue
        pts = s.vertices[:: max(1, len(s.vertices) // 400)]
        inside = [(sum(bvh.ray_hits(p, up)[2:]) % 2) == 1 for p in pts]
        assert all(inside), f"{s.name} pokes out of the generated skin"
        depths[s.name] = min(bvh.point_distance(p)[0] for p in s.vertices)
    shallowest = min(depths, key=depths.get)
    # the grid may round the fat by a fraction of a voxel, never below what was asked minus 0.5 mm
    assert depths[shallowest] >= fat - 0.5, f"{shallowest} only {depths[shallowest]:.2f} mm under the skin"
    assert depths[shallowest] <= fat + 6.0
    assert any("skin envelope" in w for w in rep.warnings)


def _open_end(structure, lowest=True):
    """Centre (3,) of the open end of a tube-like atlas mesh at its lowest (or highest) boundary, and
    the unit direction (3,) pointing into the tube from there."""
    f = np.asarray(structure.faces, np.int64)
    e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    keys, counts = np.unique(e, axis=0, return_counts=True)
    vb = structure.vertices[np.unique(keys[counts == 1])]
    p = vb[vb[:, 2].argmin() if lowest else vb[:, 2].argmax()]
    centre = vb[np.linalg.norm(vb - p, axis=1) < 15.0].mean(axis=0)
    inner = structure.vertices[np.linalg.norm(structure.vertices - centre, axis=1) < 40.0].mean(axis=0)
    return centre, (inner - centre) / np.linalg.norm(inner - centre)


def test_needle_inside_an_open_atlas_nerve_is_contact(gluteal):
    """The atlas sciatic nerve is an open tube: a needle entering through its open end, tip 25 mm in,
    touches the nerve (it used to read SAFE because no wall lies between the shaft and the opening)."""
    eng = ClearanceEngine(gluteal)
    nerve = gluteal.structure("sciatic_nerve_r")
    assert not nerve.is_closed
    centre, axis = _open_end(nerve)
    row = eng.report(Needle(centre - 10.0 * axis, axis, 35.0, 50.0, 0.30)).structure("sciatic_nerve_r")
    assert row.level == "contact" and row.shaft_distance_mm == 0.0


def test_shaft_wholly_inside_an_open_atlas_lung_is_contact(shoulder):
    eng = ClearanceEngine(shoulder)
    lobe = shoulder.structure("lung_right_superior_lobe")
    assert not lobe.is_closed
    centre = lobe.vertices.mean(axis=0)
    rep = eng.report(Needle(centre - np.array([0.0, 0.0, 5.0]), (0.0, 0.0, 1.0), 10.0, 40.0, 0.30))
    assert rep.structure("lung_right_superior_lobe").level == "contact" and rep.level == "contact"
