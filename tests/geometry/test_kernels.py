"""BVH queries against brute force and python-fcl on random meshes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from needlesafe.geometry import reference
from needlesafe.geometry.bvh import TriangleBVH

from ..conftest import box_mesh


def random_soup(seed, n=60):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-30, 30, (n, 1, 3))
    v = (centres + rng.normal(0, 6, (n, 3, 3))).reshape(-1, 3)
    f = np.arange(3 * n).reshape(-1, 3)
    return v, f


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_segment_distance_matches_brute_force(seed, data):
    v, f = random_soup(seed)
    bvh = TriangleBVH(v, f)
    coords = st.floats(-60, 60, allow_nan=False)
    p = np.array(data.draw(st.tuples(coords, coords, coords)))
    q = np.array(data.draw(st.tuples(coords, coords, coords)))
    d, cs, ct, face = bvh.segment_distance(p, q)
    expected = reference.segment_distance_naive(v, f, p, q)
    assert d == pytest.approx(expected, abs=1e-9)
    # the reported pair realises the distance, lies on the segment and on the reported triangle
    assert np.linalg.norm(cs - ct) == pytest.approx(d, abs=1e-9)
    assert reference.segment_distance_naive(v, f[[face]], ct, ct) == pytest.approx(0.0, abs=1e-9)
    s = np.dot(cs - p, q - p) / max(np.dot(q - p, q - p), 1e-300)
    assert -1e-9 <= s <= 1 + 1e-9
    assert np.linalg.norm(p + s * (q - p) - cs) < 1e-7


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_ray_hits_match_brute_force(seed):
    v, f = random_soup(seed)
    bvh = TriangleBVH(v, f)
    rng = np.random.default_rng(seed + 1)
    o = rng.uniform(-50, 50, 3)
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    split = float(rng.uniform(0, 60))
    first, first_after, n_before, n_after = bvh.ray_hits(o, d, split)
    hits = reference.ray_hits_naive(v, f, o, d)
    assert n_before == int(np.sum(hits <= split))
    assert n_after == int(np.sum(hits > split))
    if len(hits):
        assert first == pytest.approx(hits[0], abs=1e-7)
    after = hits[hits > split]
    if len(after):
        assert first_after == pytest.approx(after[0], abs=1e-7)
    else:
        assert first_after == np.inf


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), radius=st.floats(0.2, 8.0))
def test_first_within_is_the_first_point_within_radius(seed, radius):
    v, f = random_soup(seed, n=25)
    bvh = TriangleBVH(v, f)
    rng = np.random.default_rng(seed + 2)
    o = rng.uniform(-50, 50, 3)
    d = -o / np.linalg.norm(o) + rng.normal(0, 0.3, 3)
    d /= np.linalg.norm(d)
    t = bvh.first_within(o, d, radius, 120.0)
    if np.isfinite(t):
        # at the entry the distance is the radius (or less when the ray starts inside) ...
        dist_at = reference.point_distance_naive(v, f, o + t * d)
        assert dist_at <= radius + 1e-7
        if t > 0:
            assert dist_at == pytest.approx(radius, abs=1e-6)
        # ... and every earlier point is farther away
        for s in np.linspace(0, t, 40, endpoint=False) if t > 0 else []:
            assert reference.point_distance_naive(v, f, o + s * d) >= radius - 1e-7
    else:
        for s in np.linspace(0, 120, 400):
            assert reference.point_distance_naive(v, f, o + s * d) > radius - 1e-7


def test_agrees_with_fcl_capsule():
    fcl = pytest.importorskip("fcl")
    v, f = box_mesh((-10, -10, -10), (10, 10, 10))
    bvh = TriangleBVH(v, f)
    model = fcl.BVHModel()
    model.beginModel(len(v), len(f))
    model.addSubModel(v, f)
    model.endModel()
    obj = fcl.CollisionObject(model, fcl.Transform())
    rng = np.random.default_rng(5)
    for _ in range(50):
        p = rng.uniform(-40, 40, 3)
        q = p + rng.normal(0, 15, 3)
        seg = q - p
        length = float(np.linalg.norm(seg))
        z = np.array([0.0, 0.0, 1.0])
        axis = np.cross(z, seg / length)
        s = np.linalg.norm(axis)
        if s < 1e-9:
            rot = np.eye(3)
        else:
            axis /= s
            ang = np.arctan2(s, z @ (seg / length))
            k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
            rot = np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * k @ k
        cap = fcl.CollisionObject(fcl.Capsule(1e-9, length), fcl.Transform(rot, (p + q) / 2))
        d_fcl = fcl.distance(cap, obj, fcl.DistanceRequest(), fcl.DistanceResult())
        d, *_ = bvh.segment_distance(p, q)
        if d_fcl < 0:  # fcl reports -1 for a crossing
            assert d == 0.0
        else:
            assert d == pytest.approx(d_fcl, abs=1e-6)


def test_rejects_bad_arrays():
    with pytest.raises(ValueError):
        TriangleBVH(np.zeros((3, 3)), np.zeros((0, 3), int))
