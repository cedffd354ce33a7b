"""A corpus of broken packs and meshes: each gives a clear PackError naming the file and the problem."""
import json

import numpy as np
import pytest

from needlesafe.meshes.io import write_ply
from needlesafe.meshes.pack import write_pack
from needlesafe.meshes.resolve import load_pack
from needlesafe.meshes.types import PackError

from ..conftest import box_mesh, scene_of, structure

V, F = box_mesh((0, 0, 0), (40, 30, 20))


def make_pack(folder, structures=None, **manifest):
    folder.mkdir(parents=True, exist_ok=True)
    write_ply(folder / "bone.ply", V, F)
    data = {
        "format": "needlesafe-pack",
        "name": "t",
        "units": "mm",
        "frame": "LPS",
        "structures": structures if structures is not None else [{"name": "bone", "file": "bone.ply", "role": "bone"}],
    }
    data.update(manifest)
    (folder / "pack.json").write_text(json.dumps(data))
    return folder


def test_good_pack_loads(tmp_path):
    scene = load_pack(make_pack(tmp_path / "p"))
    assert scene.structure("bone").n_triangles == 12
    assert scene.structure("bone").is_closed


def test_round_trip_keeps_everything(tmp_path):
    scene = load_pack("default")
    write_pack(scene, tmp_path / "copy")
    again = load_pack(tmp_path / "copy")
    assert [s.name for s in again.structures] == [s.name for s in scene.structures]
    for a, b in zip(scene.structures, again.structures, strict=True):
        assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.faces, b.faces)
        assert (a.role, a.critical, a.margin_mm, a.colour) == (b.role, b.critical, b.margin_mm, b.colour)
    assert [lm.name for lm in again.landmarks] == [lm.name for lm in scene.landmarks]


def _broken_mesh(tmp_path, kind):
    p = make_pack(tmp_path / kind)
    mesh = p / "bone.ply"
    if kind == "truncated":
        data = mesh.read_bytes()
        mesh.write_bytes(data[: len(data) - 30])
    elif kind == "nan":
        v = V.copy()
        v[3, 1] = np.nan
        write_ply(mesh, v, F)
    elif kind == "inf":
        v = V.copy()
        v[0, 0] = np.inf
        write_ply(mesh, v, F)
    elif kind == "bad_indices":
        f = F.copy()
        f[2, 1] = 500
        write_ply(mesh, V, f)
    elif kind == "negative_indices":
        f = F.copy()
        f[2, 1] = -1
        write_ply(mesh, V, f)
    elif kind == "no_triangles":
        write_ply(mesh, V, F[:0])
    elif kind == "zero_bytes":
        mesh.write_bytes(b"")
    elif kind == "garbage":
        mesh.write_bytes(b"ply\nformat binary_little_endian 1.0\nthis is not a header\n")
    return p


@pytest.mark.parametrize(
    "kind, message",
    [
        ("truncated", "cannot read mesh"),
        ("nan", "NaN or infinite"),
        ("inf", "NaN or infinite"),
        ("bad_indices", "face indices out of range"),
        ("negative_indices", "face indices out of range"),
        ("no_triangles", "empty"),
        ("zero_bytes", "file is empty"),
        ("garbage", "cannot read mesh"),
    ],
)
def test_broken_meshes(tmp_path, kind, message):
    with pytest.raises(PackError, match=message) as err:
        load_pack(_broken_mesh(tmp_path, kind))
    assert "bone.ply" in str(err.value)


@pytest.mark.parametrize(
    "structures, manifest, message",
    [
        ([{"name": "bone", "file": "../bone.ply", "role": "bone"}], {}, "outside the pack folder"),
        ([{"name": "bone", "file": "sub/../../x/bone.ply", "role": "bone"}], {}, "outside the pack folder"),
        ([{"name": "bone", "file": "/etc/passwd.ply", "role": "bone"}], {}, "absolute path"),
        ([{"name": "bone", "file": "missing.ply", "role": "bone"}], {}, "'missing.ply' not found"),
        ([{"name": "bone", "file": "bone.ply", "role": "tendon"}], {}, "unknown role 'tendon'"),
        ([{"name": "bone", "file": "bone.ply"}, {"name": "bone", "file": "bone.ply"}], {}, "duplicate name"),
        ([{"name": "", "file": "bone.ply"}], {}, "non-empty string"),
        ([{"name": "bone", "file": "bone.ply", "colour": "red"}], {}, "colour"),
        ([{"name": "bone", "file": "bone.ply", "margin_mm": "NaN"}], {}, "finite number"),
        ([{"name": "bone", "file": "bone.ply", "margin_mm": -1}], {}, "must not be negative"),
        ([{"name": "bone", "file": "bone.ply", "critical": "yes"}], {}, "true or false"),
        ([{"name": "bone", "file": "bone.txt"}], {}, "not a supported mesh"),
        ([], {}, "non-empty list"),
        (None, {"units": "inch"}, "units are 'inch'"),
        (None, {"frame": "RAS"}, "frame is 'RAS'"),
        (None, {"format": "something-else"}, "format"),
        (None, {"landmarks": [{"name": "x", "point": [0, 0], "bone": "bone"}]}, "three coordinates"),
        (None, {"landmarks": [{"name": "x", "point": [0, 0, 0], "bone": "nope"}]}, "not a structure"),
    ],
)
def test_bad_manifests(tmp_path, structures, manifest, message):
    p = make_pack(tmp_path / "p", structures, **manifest)
    with pytest.raises(PackError, match=message) as err:
        load_pack(p)
    assert "pack.json" in str(err.value)


def test_metres_declared_as_millimetres(tmp_path):
    p = make_pack(tmp_path / "p")
    write_ply(p / "bone.ply", V / 1000.0, F)  # a 40 mm box written in metres
    with pytest.raises(PackError, match="look like metres"):
        load_pack(p)


def test_corrupt_manifest(tmp_path):
    p = make_pack(tmp_path / "p")
    (p / "pack.json").write_text('{"structures": [ {"name": "bone", ')
    with pytest.raises(PackError, match="not valid JSON"):
        load_pack(p)
    (p / "pack.json").write_text("[1, 2, 3]")
    with pytest.raises(PackError, match="top level"):
        load_pack(p)


def test_missing_folder_and_manifest(tmp_path):
    with pytest.raises(PackError, match="no such pack folder"):
        load_pack(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackError, match="no pack manifest"):
        load_pack(tmp_path / "empty")


def test_toml_manifest(tmp_path):
    p = make_pack(tmp_path / "p")
    (p / "pack.json").unlink()
    (p / "pack.toml").write_text(
        'name = "toml pack"\nunits = "mm"\n[[structures]]\nname = "bone"\nfile = "bone.ply"\nrole = "bone"\n'
    )
    assert load_pack(p).name == "toml pack"


def test_open_and_multi_piece_meshes_are_valid(tmp_path):
    v2, f2 = box_mesh((100, 0, 0), (110, 10, 10))
    v = np.vstack([V, v2])
    f = np.vstack([F, f2 + len(V)])[:-1]  # two pieces, one face missing: open
    p = make_pack(tmp_path / "p")
    write_ply(p / "bone.ply", v, f)
    s = load_pack(p).structure("bone")
    assert not s.is_closed and s.n_triangles == 23


def test_failed_write_leaves_the_old_pack(tmp_path, monkeypatch):
    scene = scene_of(structure("bone", "bone", (V, F)))
    write_pack(scene, tmp_path / "p")
    before = (tmp_path / "p" / "pack.json").read_bytes()
    import needlesafe.meshes.io as io

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(io.os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_pack(scene_of(structure("bone", "bone", box_mesh((0, 0, 0), (1, 1, 1)))), tmp_path / "p")
    assert (tmp_path / "p" / "pack.json").read_bytes() == before
    assert not [x for x in (tmp_path / "p").iterdir() if x.name.endswith(".tmp")]
