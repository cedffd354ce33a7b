"""Mesh reading fast paths agree with the general readers."""
import numpy as np
import pytest
import trimesh

from needlesafe.meshes.io import _read_own_ply, _read_trimesh, read_mesh, write_ply
from needlesafe.meshes.types import faces_closed


def _closed_reference(faces) -> bool:
    """The obvious definition: every undirected edge used by exactly two faces."""
    f = np.asarray(faces)
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return bool(np.all(counts == 2))


def test_own_ply_round_trip_is_exact_and_matches_trimesh(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=7.3)
    v = sphere.vertices + np.array([0.1234567891234, -50.0, 1e-7])
    path = tmp_path / "s.ply"
    write_ply(path, v, sphere.faces)
    own = _read_own_ply(path)
    assert own is not None
    assert np.array_equal(own[0], v) and np.array_equal(own[1], sphere.faces)
    general = _read_trimesh(path)
    assert np.array_equal(own[0], general[0]) and np.array_equal(own[1], general[1])
    rv, rf = read_mesh(path)
    assert rv.dtype == np.float64 and rf.dtype == np.int32 and np.array_equal(rv, v)


def test_other_ply_layouts_go_to_the_general_reader(tmp_path):
    box = trimesh.creation.box(extents=(10, 20, 30))
    path = tmp_path / "b.ply"
    path.write_bytes(trimesh.exchange.ply.export_ply(box, encoding="binary"))  # float32, no comment
    assert _read_own_ply(path) is None
    v, f = read_mesh(path)
    assert np.allclose(v, box.vertices) and np.array_equal(f, box.faces)
    ascii_path = tmp_path / "a.ply"
    ascii_path.write_bytes(trimesh.exchange.ply.export_ply(box, encoding="ascii"))
    assert _read_own_ply(ascii_path) is None
    assert np.array_equal(read_mesh(ascii_path)[1], box.faces)


def test_a_file_cut_short_is_not_read_by_the_fast_path(tmp_path):
    path = tmp_path / "s.ply"
    sphere = trimesh.creation.icosphere(subdivisions=1)
    write_ply(path, sphere.vertices, sphere.faces)
    path.write_bytes(path.read_bytes()[:-7])
    assert _read_own_ply(path) is None


@pytest.mark.parametrize("case", ["closed", "open", "doubled_face", "fin", "two_spheres"])
def test_faces_closed_matches_the_definition(case):
    f = trimesh.creation.icosphere(subdivisions=2).faces.copy()
    if case == "open":
        f = f[1:]
    elif case == "doubled_face":
        f = np.vstack([f, f[:1]])  # three edges then used four times
    elif case == "fin":
        f = np.vstack([f, [[f[0, 0], f[0, 1], f.max() + 1]]])  # an edge used three times
    elif case == "two_spheres":
        f = np.vstack([f, f + f.max() + 1])
    assert faces_closed(f) == _closed_reference(f)
    assert faces_closed(f) == (case in ("closed", "two_spheres"))
