"""The BVH kept on disk: a cached tree answers exactly as a built one; a damaged file is rebuilt."""
from __future__ import annotations

import numpy as np
import pytest

from needlesafe.geometry import bvh
from needlesafe.geometry.bvh import TriangleBVH
from needlesafe.meshes.shapes import superellipsoid


@pytest.fixture()
def sphere():
    return superellipsoid((1.0, 2.0, 3.0), (20.0, 20.0, 20.0))


def _queries(tree: TriangleBVH):
    rng = np.random.default_rng(7)
    out = []
    for p in rng.uniform(-40, 40, size=(25, 3)):
        d, point, face = tree.point_distance(p)
        out.append((d, *point, face, tree.first_within(p, np.array([0.0, 0.0, 1.0]), 2.0, 80.0)))
    return np.array(out)


def test_cached_tree_answers_as_built(tmp_path, sphere):
    v, f = sphere
    built = TriangleBVH(v, f)
    first = TriangleBVH(v, f, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    again = TriangleBVH(v, f, cache_dir=tmp_path)
    for a, b in ((built, first), (built, again)):
        assert np.array_equal(a.face_index, b.face_index)
        assert np.array_equal(a.tris, b.tris)
    np.testing.assert_array_equal(_queries(built), _queries(again))


def test_other_mesh_other_file(tmp_path, sphere):
    v, f = sphere
    TriangleBVH(v, f, cache_dir=tmp_path)
    TriangleBVH(v + 1e-3, f, cache_dir=tmp_path)  # a vertex moved by a micrometre is another mesh
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_cached_tree_is_read_not_built(tmp_path, sphere, monkeypatch):
    v, f = sphere
    TriangleBVH(v, f, cache_dir=tmp_path)

    def no_build(*_):
        raise AssertionError("built again although cached")

    monkeypatch.setattr(bvh, "_build", no_build)
    TriangleBVH(v, f, cache_dir=tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_order", "empty"])
def test_damaged_cache_is_rebuilt(tmp_path, sphere, damage):
    v, f = sphere
    built = TriangleBVH(v, f)
    TriangleBVH(v, f, cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.npz")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 64)
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a well-formed file whose face order is not a permutation
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["order"] = np.zeros_like(arrays["order"])
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
    again = TriangleBVH(v, f, cache_dir=tmp_path)
    assert np.array_equal(again.face_index, built.face_index)
    np.testing.assert_array_equal(_queries(built), _queries(again))


def test_unwritable_cache_only_builds(tmp_path, sphere):
    v, f = sphere
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    tree = TriangleBVH(v, f, cache_dir=blocker / "bvh")
    assert tree.n_triangles == len(f)
