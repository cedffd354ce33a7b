"""Importer units, axes, role guessing and overrides on small generated folders."""
import json

import numpy as np
import pytest

from needlesafe.meshes.importer import axes_matrix, guess_role, import_folder
from needlesafe.meshes.io import write_ply
from needlesafe.meshes.resolve import load_pack
from needlesafe.meshes.types import PackError

from ..conftest import box_mesh, cylinder_mesh


@pytest.mark.parametrize(
    "axes, src, lps",
    [
        ("LPS", (1, 2, 3), (1, 2, 3)),
        ("LSA", (1, 2, 3), (1, -3, 2)),  # +x left, +y superior, +z anterior
        ("RAS", (1, 2, 3), (-1, -2, 3)),
        ("SLP", (1, 2, 3), (2, 3, 1)),
    ],
)
def test_axes(axes, src, lps):
    assert np.allclose(axes_matrix(axes) @ np.array(src, float), lps)


@pytest.mark.parametrize("bad", ["LL", "LPX", "LRS", "", "LPSA"])
def test_bad_axes(bad):
    with pytest.raises(PackError):
        axes_matrix(bad)


@pytest.mark.parametrize(
    "name, role",
    [
        ("sciatic_nerve_r", "nerve"), ("brachial_plexus_inf_trunk_ant_div_r", "nerve"),
        ("dorsal_scapular_nerve_r", "nerve"), ("brachial_plexus_posterior_cord_r", "nerve"),
        ("hip_bone_r", "bone"), ("first_rib_r", "bone"), ("Vertebra_C5", "bone"), ("sacrum", "bone"),
        ("pleura_r", "pleura"), ("lung_right_superior_lobe", "pleura"), ("axillary_artery_r", "vessel"),
        ("femoral vein", "vessel"), ("skin_patch_sacral_region", "skin"), ("sacrotuberous_ligament_r", "other"),
        ("gluteus_maximus_r", "muscle"), ("piriformis_r", "muscle"),
    ],
)
def test_role_guessing(name, role):
    assert guess_role(name) == role


def _folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    v, f = box_mesh((0, 0, 0), (0.04, 0.02, 0.03))  # metres
    write_ply(src / "hip_bone_r.ply", v, f)
    v, f = cylinder_mesh(0.005, -0.05, 0.05, sides=16, y=0.05)
    write_ply(src / "sciatic_nerve_r.ply", v, f)
    write_ply(src / "mystery_thing.ply", *box_mesh((0.1, 0, 0), (0.11, 0.01, 0.01)))
    return src


def test_import_scales_rotates_and_keeps_outward_normals(tmp_path):
    scene, rep = import_folder(_folder(tmp_path), "m", "RAS", tmp_path / "out")  # a mirroring change
    bone = scene.structure("hip_bone_r")
    assert np.allclose(bone.vertices.min(axis=0), [-40, -20, 0])
    tris = bone.vertices[bone.faces]
    volume = np.einsum("ij,ij->i", tris[:, 0], np.cross(tris[:, 1], tris[:, 2])).sum() / 6
    assert volume == pytest.approx(40 * 20 * 30)  # positive: outward
    assert rep.counts["nerve"] == 1 and rep.counts["muscle"] == 1
    assert any("no skin" in w for w in rep.warnings)
    again = load_pack(tmp_path / "out")
    assert again.metadata["import"]["axes_in"] == "RAS"
    assert again.structure("sciatic_nerve_r").critical and again.structure("sciatic_nerve_r").margin_mm == 3.0


def test_overrides(tmp_path):
    ov = tmp_path / "ov.json"
    ov.write_text(json.dumps({
        "roles": {"mystery_thing": "vessel"},
        "critical": {"sciatic_nerve_r": True},
        "margins_mm": {"nerve": 6.0, "mystery_thing": 1.5},
        "landmarks": [{"name": "corner", "point": [0, 0, 0], "bone": "hip_bone_r"}],
    }))
    scene, _ = import_folder(_folder(tmp_path), "m", "LSA", tmp_path / "out", ov)
    assert scene.structure("mystery_thing").role == "vessel"
    assert scene.structure("mystery_thing").margin_mm == 1.5
    assert scene.structure("sciatic_nerve_r").margin_mm == 6.0
    assert load_pack(tmp_path / "out").landmarks[0].name == "corner"


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"roles": {"nope": "bone"}}', "names no mesh"),
        ('{"roles": {"hip_bone_r": "cartilage"}}', "is not one of"),
        ('{"rolez": {}}', "unknown keys"),
        ("{not json", "cannot read the override file"),
    ],
)
def test_bad_overrides(tmp_path, content, message):
    ov = tmp_path / "ov.json"
    ov.write_text(content)
    with pytest.raises(PackError, match=message):
        import_folder(_folder(tmp_path), "m", "LSA", None, ov)


def test_wrong_units_warn(tmp_path):
    _, rep = import_folder(_folder(tmp_path), "mm", "LSA", None)  # metres read as mm
    assert any("were the units right" in w for w in rep.warnings)


def test_empty_folder(tmp_path):
    with pytest.raises(PackError, match="no mesh files"):
        import_folder(tmp_path, "m", "LSA", None)
