"""Atlas regions built from the shipped recipes (meshes/atlas/recipes/*.toml) and the real atlas.

Recipe checks run everywhere; the builds use the session's converted atlas (`atlas` fixture) and
skip cleanly when ../shared/atlas-source is absent. What each region promises the exercises:
landmarks on their bone's surface, trigger points inside their muscle (ray parity votes, an
independent test from the builder's winding number), at least 3 mm from bone and outside every
danger margin, a closed skin at the recipe's fat thickness, the danger structures critical, and the
data's credit and licence in the pack.
"""
from __future__ import annotations

import numpy as np
import pytest
import trimesh

from needlesafe.geometry.bvh import TriangleBVH
from needlesafe.meshes.atlas import build, sources
from needlesafe.meshes.atlas.recipe import RECIPES_DIR, load_recipe, recipe_ids
from needlesafe.meshes.habitus import HABITUS_PRESETS
from needlesafe.meshes.types import PackError, faces_closed, signed_volume

HABITUS = list(HABITUS_PRESETS)
REGIONS = recipe_ids()
MIN_BONE_MM = 3.0
#: danger structures each region must hold, critical, with at least this margin (mm)
DANGER = {
    "gluteal": {"sciatic_nerve_r": 5.0, "superior_gluteal_nerve_r": 3.0},
    "interscapular": {"pleura": 5.0},
    "lumbar": {"spinal_dura": 3.0, "pleura": 5.0, "generated_kidney_r": 5.0},
}
#: landmarks each region must hold (the issue's names)
LANDMARKS = {
    "gluteal": {"PSIS", "ASIS", "iliac crest", "greater trochanter", "ischial tuberosity", "sacral margin",
                "coccyx tip"},
    "interscapular": {"C7 spinous process", "T1 spinous process", "T4 spinous process", "T8 spinous process",
                      "medial border of scapula", "inferior angle of scapula", "spine of scapula"},
    "lumbar": {"L1 spinous process", "L5 spinous process", "12th rib tip", "iliac crest", "PSIS"},
}


def tri(s):
    return trimesh.Trimesh(s.vertices, s.faces, process=False)


def inside_by_votes(structure, points, n_rays=9):
    """Ray-parity votes over `n_rays` fixed directions: True where most rays cross the surface an odd
    number of times (robust inside test for open, pieced meshes)."""
    mesh = tri(structure)
    rng = np.random.default_rng(7)
    dirs = rng.normal(size=(n_rays, 3))
    dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    points = np.atleast_2d(points)
    votes = np.zeros(len(points), int)
    for d in dirs:
        origins = np.repeat(points, 1, axis=0)
        _, idx_ray, _ = mesh.ray.intersects_location(origins, np.repeat(d[None], len(points), axis=0),
                                                     multiple_hits=True)
        counts = np.bincount(idx_ray, minlength=len(points))
        votes += counts % 2
    return votes > n_rays // 2


# --- recipes (no data needed) -----------------------------------------------------------------------

def test_every_shipped_recipe_loads():
    assert {"gluteal"} <= set(REGIONS)
    for region in REGIONS:
        r = load_recipe(RECIPES_DIR / f"{region}.toml")
        assert r.id == region and r.title and r.body_area
        assert set(r.fat_mm) == set(HABITUS) and r.fat_mm["lean"] < r.fat_mm["average"] < r.fat_mm["high"]
        assert r.fat_source in r.facts
        assert len(r.trigger_points) >= 1 and len(r.landmarks) >= 3


def test_every_recipe_fact_is_in_the_facts_table():
    from pathlib import Path

    import needlesafe.meshes as m

    table = (Path(m.__file__).parent / "anatomy_facts.md").read_text(encoding="utf-8")
    ids = {line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")}
    for region in REGIONS:
        r = load_recipe(RECIPES_DIR / f"{region}.toml")
        for key in (*r.facts, r.fat_source):
            assert key in ids, f"{region}: '{key}' is not a row of anatomy_facts.md"


GOOD = RECIPES_DIR / "gluteal.toml"


def write_variant(tmp_path, old, new, name="gluteal.toml"):
    text = GOOD.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('view = "posterior"', 'view = "posterior"\ncolour = "red"', "'colour': unknown key"),
        ("lean = 9.0", "lean = nan", "'fat.lean': expected a finite number"),
        ("lean = 9.0", "lean = -2.0", "'fat.lean'"),
        ("lean = 9.0\n", "", "'fat.lean': missing"),
        ("min = [-175.0, -70.0, 690.0]", "min = [-175.0, -70.0, 1690.0]", "'crop'"),
        ("within_mm = 25.0", "within_mm = \"far\"", "'landmark[0].within_mm'"),
        ('near = [-90.0, 40.0, 885.0]', 'near = [-90.0, 40.0]', "'trigger_point[0].near'"),
        ('[[trigger_point]]\nname = "piriformis"', '[[trigger_point]]\nname = "piriformis"\nmuscel = "x"',
         "'trigger_point[0].muscel': unknown key"),
        ('id = "gluteal"', 'id = "buttock"', "'id'"),
    ],
)
def test_bad_recipe_names_the_file_and_the_key(tmp_path, old, new, key):
    with pytest.raises(PackError) as e:
        load_recipe(write_variant(tmp_path, old, new))
    assert "gluteal.toml" in str(e.value) and key in str(e.value)


def test_not_toml_and_missing_file(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_text("id = [", encoding="utf-8")
    with pytest.raises(PackError, match="x.toml: not valid TOML"):
        load_recipe(bad)
    with pytest.raises(PackError, match="cannot read"):
        load_recipe(tmp_path / "none.toml")


class FakeAtlas:
    """Two tiny parts: enough to see how a recipe's names meet an atlas."""

    def __init__(self, names):
        from dataclasses import dataclass

        @dataclass
        class Part:
            name: str
            source: str
            vertices: np.ndarray
            faces: np.ndarray

        v = np.array([[0.0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]]) + np.array([-100.0, 50, 900])
        f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]] * 6, np.int32)
        self.parts = {n: Part(n, "uoft-lower-limb.glb", v, f) for n in names}

    def names(self, pattern=None):
        import fnmatch

        return sorted(n for n in self.parts if pattern is None or fnmatch.fnmatchcase(n, pattern))

    def get(self, name):
        return self.parts[name]


def test_a_structure_missing_from_the_atlas_is_named():
    recipe = load_recipe(GOOD)
    with pytest.raises(PackError) as e:
        build.select_parts(recipe, FakeAtlas(["gluteus_maximus_muscle_r"]))
    assert "gluteal.toml" in str(e.value) and "'structures'" in str(e.value)
    assert "gluteus_medius_muscle_r" in str(e.value)


def test_a_part_without_a_role_in_the_mapping_table_is_refused(tmp_path):
    path = write_variant(tmp_path, 'structures = [', 'structures = ["mystery_organ_r", ')
    recipe = load_recipe(path)
    names = [*recipe.structures, *recipe.optional]
    with pytest.raises(PackError, match="structures.toml: no entry for atlas part 'mystery_organ_r'"):
        build.build_scene(recipe, FakeAtlas(names), "lean")


def test_atlas_names_and_bad_names():
    names = build.atlas_names()
    assert "atlas:gluteal:lean" in names and len(names) == 3 * len(REGIONS)
    assert build.parse_name("atlas:gluteal") == ("gluteal", "average")
    with pytest.raises(PackError, match="no atlas region 'knee'"):
        build.parse_name("atlas:knee:lean")
    with pytest.raises(PackError, match="unknown habitus 'huge'"):
        build.parse_name("atlas:gluteal:huge")


def test_load_pack_without_the_atlas_says_how_to_fetch_it(tmp_path, monkeypatch):
    from needlesafe.meshes.resolve import load_pack

    monkeypatch.setenv("NEEDLESAFE_DATA", str(tmp_path / "no-atlas"))
    with pytest.raises(PackError, match="needlesafe atlas fetch"):
        load_pack("atlas:gluteal:lean")
    with pytest.raises(PackError, match="no atlas region"):
        load_pack("atlas:elbow")


def test_winding_number_and_distance_helpers():
    from tests.conftest import box_mesh

    v, f = box_mesh((0, 0, 0), (10, 10, 10))
    w = build.winding_number(v, f, np.array([[5.0, 5, 5], [15.0, 5, 5]]))
    assert w[0] == pytest.approx(1.0) and w[1] == pytest.approx(0.0, abs=1e-9)
    d, p = build.SurfaceDistance(v, f)(np.array([[5.0, 5, 12], [5.0, 5, 5]]))
    assert d == pytest.approx([2.0, 5.0]) and p[0] == pytest.approx([5.0, 5, 10])


# --- built regions (real atlas) ----------------------------------------------------------------------

@pytest.mark.parametrize("habitus", HABITUS)
@pytest.mark.parametrize("region", REGIONS)
def test_region_builds_with_danger_structures_and_credit(scenes, region, habitus):
    scene = scenes(region, habitus)
    names = {s.name for s in scene.structures}
    assert scene.structures[0].name == "skin" and scene.structures[0].role == "skin"
    for name, margin in DANGER.get(region, {}).items():
        assert name in names, f"{region}: no {name}"
        s = scene.structure(name)
        assert s.critical and s.margin_mm >= margin, name
    for s in scene.structures:
        assert len(s.faces) and np.isfinite(s.vertices).all()
        assert s.faces.max() < len(s.vertices)
    meta = scene.metadata
    assert meta["licence"] == sources.PACK_LICENCE
    assert meta["attribution"] == list(sources.ATTRIBUTION)
    assert meta["exporters"] and all(f in sources.BY_NAME for f in meta["exporters"])
    assert meta["recipe"] == region and meta["habitus"]["name"] == habitus
    assert meta["habitus"]["fat_mm"] == load_recipe(RECIPES_DIR / f"{region}.toml").fat_mm[habitus]
    lo, hi = np.array(meta["crop_mm"]["min"]), np.array(meta["crop_mm"]["max"])
    for s in scene.structures[1:]:
        assert (s.vertices.min(axis=0) >= lo - 60).all() and (s.vertices.max(axis=0) <= hi + 60).all()
    assert isinstance(meta["mirrored"], list)
    assert {lm.name for lm in scene.landmarks} >= LANDMARKS.get(region, set())


@pytest.mark.parametrize("region", REGIONS)
def test_landmarks_lie_on_their_bone(scenes, region):
    scene = scenes(region, "average")
    assert scene.landmarks
    for lm in scene.landmarks:
        bone = scene.structure(lm.bone)
        assert bone.role == "bone", lm.name
        d = TriangleBVH(bone.vertices, bone.faces).point_distance(np.asarray(lm.point, float))[0]
        assert d <= 0.5, f"{lm.name} is {d:.2f} mm from {lm.bone}"


@pytest.mark.parametrize("region", REGIONS)
def test_trigger_points_inside_muscle_clear_of_bone_and_danger(scenes, region):
    scene = scenes(region, "average")
    bones = [s for s in scene.structures if s.role == "bone"]
    critical = [s for s in scene.structures if s.critical]
    assert scene.trigger_points
    for tp in scene.trigger_points:
        p = np.asarray(tp.point, float)
        muscle = scene.structure(tp.muscle)
        assert muscle.role == "muscle"
        assert inside_by_votes(muscle, p)[0], f"{tp.name} is outside {tp.muscle}"
        for b in bones:
            d = TriangleBVH(b.vertices, b.faces).point_distance(p)[0]
            assert d >= MIN_BONE_MM, f"{tp.name} is {d:.1f} mm from {b.name}"
            assert not inside_by_votes(b, p)[0], f"{tp.name} lies inside {b.name}"
        for c in critical:
            d = TriangleBVH(c.vertices, c.faces).point_distance(p)[0]
            assert d > c.margin_mm, f"{tp.name} is {d:.1f} mm from {c.name}, inside its {c.margin_mm} mm margin"
            # a structure cut open by the crop (the pleura of the lumbar region) has no parity:
            # there, inside is the winding number's
            inside = (inside_by_votes(c, p)[0] if faces_closed(c.faces)
                      else build.winding_number(c.vertices, c.faces, p[None])[0] >= 0.5)
            assert not inside, f"{tp.name} lies inside {c.name}"


@pytest.mark.parametrize("habitus", HABITUS)
@pytest.mark.parametrize("region", REGIONS)
def test_skin_is_closed_at_the_recipes_fat(scenes, region, habitus):
    scene = scenes(region, habitus)
    skin = scene.structures[0]
    assert faces_closed(skin.faces) and signed_volume(skin.vertices, skin.faces) > 0
    fat = scene.metadata["habitus"]["fat_mm"]
    inner = scene.structures[1:]
    offsets = np.cumsum([0] + [len(s.vertices) for s in inner])[:-1]
    tissue = TriangleBVH(np.concatenate([s.vertices for s in inner]),
                         np.concatenate([s.faces + o for s, o in zip(inner, offsets, strict=True)]))
    idx = np.random.default_rng(1).choice(len(skin.vertices), 1500, replace=False)
    d = np.array([tissue.point_distance(skin.vertices[i])[0] for i in idx])
    assert d.min() >= fat - 0.5, f"fat {d.min():.2f} mm somewhere, asked {fat}"
    assert abs(np.median(d) - fat) <= 1.0, f"median fat {np.median(d):.2f} mm, asked {fat}"


def test_gluteal_sciatic_nerve_is_below_piriformis_and_critical(scenes):
    scene = scenes("gluteal", "lean")
    nerve = scene.structure("sciatic_nerve_r")
    assert nerve.role == "nerve" and nerve.critical and nerve.margin_mm == 5.0
    # it leaves the pelvis below piriformis and runs down beside the ischial tuberosity
    it = next(lm.point for lm in scene.landmarks if lm.name == "ischial tuberosity")
    gt = next(lm.point for lm in scene.landmarks if lm.name == "greater trochanter")
    assert gt[0] < nerve.vertices[:, 0].mean() < it[0] + 40.0


def test_lumbar_kidney_is_generated_from_published_dimensions(scenes):
    """The atlas kidney may not be used: the lumbar kidney is the recipe's ellipsoid, of the published
    length, closed, critical, clear of every other structure, and the pack says where it comes from."""
    scene = scenes("lumbar", "average")
    kidney = scene.structure("generated_kidney_r")
    assert kidney.is_closed and kidney.critical and kidney.margin_mm >= 5.0
    axis = np.array([0.25, 0.2, 1.0]) / np.linalg.norm([0.25, 0.2, 1.0])
    length = np.ptp(kidney.vertices @ axis)
    assert 92.0 <= length <= 116.0  # anatomy_facts.md: kidney_dimensions
    assert "generated_kidney_l" in scene.metadata["mirrored"]
    assert "kidney_dimensions" in scene.metadata["generated"]["generated_kidney_r"]["source"]
    assert not any("kidney" in s.name and not s.name.startswith("generated_") for s in scene.structures)
    for s in scene.structures:
        if s.name.startswith("generated_kidney") or s.role == "skin":
            continue
        d = min(TriangleBVH(s.vertices, s.faces).point_distance(p)[0] for p in kidney.vertices[::20])
        assert d > 5.0, f"the kidney is {d:.1f} mm from {s.name}"


def test_fat_rows_of_the_facts_table():
    """Each region's fat figure of anatomy_facts.md, per habitus: the recipe lies in the row's range."""
    from needlesafe.meshes.facts import FACTS_MD

    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in FACTS_MD.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    for region in ("interscapular", "lumbar"):
        recipe = load_recipe(RECIPES_DIR / f"{region}.toml")
        for h in HABITUS:
            row = next(r for r in rows if r[0] == recipe.fat_source and r[1] == region and r[2] == h)
            assert float(row[4]) <= recipe.fat_mm[h] <= float(row[5]), (region, h)


def test_cached_pack_loads_without_the_atlas(scenes, monkeypatch):
    first = scenes("gluteal", "lean")
    build._SCENES.clear()

    def refuse(*a, **k):
        raise AssertionError("rebuilt instead of read from the cache")

    monkeypatch.setattr(build, "build_scene", refuse)
    again = build.atlas_scene("atlas:gluteal:lean")
    assert again.name == "atlas:gluteal:lean"
    assert [s.name for s in again.structures] == [s.name for s in first.structures]
    for a, b in zip(again.structures, first.structures, strict=True):
        assert np.allclose(a.vertices, b.vertices, atol=1e-4) and np.array_equal(a.faces, b.faces)
        assert (a.role, a.critical, a.margin_mm, a.colour) == (b.role, b.critical, b.margin_mm, b.colour)
    assert [(lm.name, lm.bone) for lm in again.landmarks] == [(lm.name, lm.bone) for lm in first.landmarks]
    assert again.metadata["licence"] == sources.PACK_LICENCE


def test_load_pack_by_atlas_name(scenes, atlas_data, monkeypatch):
    from needlesafe.meshes.resolve import load_pack

    scenes("gluteal", "lean")  # built and cached from the session's atlas
    build._SCENES.clear()
    monkeypatch.setenv("NEEDLESAFE_DATA", str(atlas_data))
    scene = load_pack("atlas:gluteal:lean")
    assert scene.name == "atlas:gluteal:lean" and scene.structure("sciatic_nerve_r").critical


def test_packs_command_lists_atlas_packs_only_when_present(tmp_path, monkeypatch, capsys):
    from needlesafe.app.cli import main

    monkeypatch.setenv("NEEDLESAFE_DATA", str(tmp_path / "no-atlas"))
    assert main(["packs"]) == 0
    out = capsys.readouterr().out
    assert "needlesafe atlas fetch" in out and "atlas:gluteal" not in out


def test_packs_command_with_the_atlas(atlas_data, monkeypatch, capsys):
    from needlesafe.app.cli import main

    monkeypatch.setenv("NEEDLESAFE_DATA", str(atlas_data))
    assert main(["packs"]) == 0
    out = capsys.readouterr().out
    assert "atlas:gluteal:lean" in out and "CC BY-SA 4.0" in out
