"""The atlas regions of the chest and limbs (anterior chest, anterior hip, upper arm, posterior knee
and calf), built from their recipes on the real Z-Anatomy atlas: danger structures, landmarks on
their bones, trigger points clear of bone and danger, a closed skin at the recipe's fat, credits,
and the published figures of meshes/anatomy_facts.md ("Atlas regions: chest and limbs").

Skips cleanly when ../shared/atlas-source is absent (the `atlas` fixture). Each region and habitus
is built once per session."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from needlesafe.geometry.bvh import TriangleBVH
from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.needle import Needle
from needlesafe.meshes.atlas.build import build_scene
from needlesafe.meshes.atlas.recipe import load_recipe, recipe_path
from needlesafe.meshes.habitus import HABITUS_PRESETS

FACTS = Path(__file__).resolve().parents[2] / "meshes" / "anatomy_facts.md"
FACTS_SECTION = "## Atlas regions: chest and limbs"
REGIONS = ("anterior_chest", "anterior_hip", "upper_arm", "posterior_knee_calf")
HABITUS = tuple(HABITUS_PRESETS)  # lean, average, high
#: the danger structures each region must show, as critical structures
DANGERS = {
    "anterior_chest": ("pleura", "superior_lobe_of_right_lung", "long_thoracic_nerve_r", "axillary_artery_r",
                       "axillary_vein_r", "intercostal_nerves_r"),
    "anterior_hip": ("femoral_nerve_r", "femoral_artery_r", "femoral_vein_r", "deep_femoral_artery_r"),
    "upper_arm": ("radial_nerve_r", "median_nerve_r", "ulnar_nerve_r", "brachial_artery_r"),
    "posterior_knee_calf": ("tibial_nerve_r", "common_fibular_nerve_r", "popliteal_artery_r", "popliteal_vein_r"),
}
LANDMARKS = {
    "anterior_chest": {"sternal notch", "xiphoid process", "clavicle midpoint", "first rib"},
    "anterior_hip": {"ASIS", "greater trochanter", "iliac crest"},
    "upper_arm": {"lateral epicondyle", "medial epicondyle", "olecranon"},
    "posterior_knee_calf": {"fibular head", "medial epicondyle", "lateral epicondyle"},
}
#: where the fat is measured: the skin straight over this trigger point, from this side
FAT_SITE = {
    "anterior_chest": ("pectoralis major, sternocostal head", (0.0, 1.0, 0.0)),
    "anterior_hip": ("rectus femoris", (0.0, 1.0, 0.0)),
    "upper_arm": ("triceps, long head", (0.0, -1.0, 0.0)),
    "posterior_knee_calf": ("gastrocnemius, medial head", (0.0, -1.0, 0.0)),
}
#: the skin envelope is contoured on 2.5 mm voxels and then fitted (build.fit_fat)
FAT_TOLERANCE_MM = 2.5
MIN_BONE_MM = 3.0
LANDMARK_ON_BONE_MM = 0.5


@pytest.fixture(scope="module")
def scenes(atlas):
    """{(region, habitus): AnatomyScene}, built lazily, each once."""
    cache: dict = {}

    def get(region: str, habitus: str = "average"):
        if (region, habitus) not in cache:
            cache[region, habitus] = build_scene(load_recipe(recipe_path(region)), atlas, habitus)
        return cache[region, habitus]

    return get


@pytest.fixture(scope="module")
def engines(scenes):
    cache: dict = {}

    def get(region: str, habitus: str = "average") -> ClearanceEngine:
        if (region, habitus) not in cache:
            cache[region, habitus] = ClearanceEngine(scenes(region, habitus))
        return cache[region, habitus]

    return get


def bvh(scene, name) -> TriangleBVH:
    s = scene.structure(name)
    return TriangleBVH(s.vertices, s.faces)


def trigger(scene, name):
    return next(np.asarray(t.point, float) for t in scene.trigger_points if t.name == name)


def landmark(scene, name):
    return next(np.asarray(lm.point, float) for lm in scene.landmarks if lm.name == name)


# --- measurements ----------------------------------------------------------------------------------

def fat_depth(scene, region: str) -> float:
    """Subcutaneous fat (mm): from the skin point straight over the region's fat site, the distance
    to the nearest structure under the skin."""
    tp_name, direction = FAT_SITE[region]
    d = np.asarray(direction)
    p = trigger(scene, tp_name)
    origin = p - 1000.0 * d
    t = bvh(scene, "skin").ray_hits(origin, d)[0]
    skin_pt = origin + t * d
    return min(bvh(scene, s.name).point_distance(skin_pt)[0] for s in scene.structures if s.role != "skin")


def _near_x(scene, name, x, width=3.0):
    v = scene.structure(name).vertices
    return v[np.abs(v[:, 0] - x) < width]


def chest_wall_2ics_mcl(scene) -> float:
    """Skin to pleura, shortest (perpendicular) distance, at the 2nd intercostal space in the
    midclavicular line (x of the clavicle midpoint; the space halfway between the anterior surfaces
    of the 2nd and 3rd ribs or cartilages there)."""
    x = landmark(scene, "clavicle midpoint")[0]
    zs = []
    for rib in ("second", "third"):
        pts = np.concatenate([_near_x(scene, f"{rib}_rib_r", x),
                              _near_x(scene, f"costal_cartilage_of_{rib}_rib_r", x)])
        pts = pts[pts[:, 1] < pts[:, 1].min() + 10.0]  # the anterior arc, not the back of the rib
        zs.append(pts[:, 2].mean())
    z = float(np.mean(zs))
    d = np.array([0.0, 1.0, 0.0])
    origin = np.array([x, -1000.0, z])
    skin_pt = origin + bvh(scene, "skin").ray_hits(origin, d)[0] * d
    return float(bvh(scene, "pleura").point_distance(skin_pt)[0])


def femoral_nerve_depth(scene) -> float:
    """Skin to femoral nerve straight from the front (0, 1, 0), through the nerve at the level of
    the greater trochanter landmark (the inguinal crease level in this standing body)."""
    z = landmark(scene, "greater trochanter")[2]
    v = scene.structure("femoral_nerve_r").vertices
    sl = v[np.abs(v[:, 2] - z) < 5.0]
    assert len(sl), f"no femoral nerve at z = {z:.0f}"
    c = sl.mean(axis=0)
    d = np.array([0.0, 1.0, 0.0])
    origin = np.array([c[0], -1000.0, c[2]])
    return float(bvh(scene, "femoral_nerve_r").ray_hits(origin, d)[0] - bvh(scene, "skin").ray_hits(origin, d)[0])


def radial_nerve_from_lateral_epicondyle(scene) -> float:
    """Distance along the humerus (mm) from the lateral epicondyle up to where the radial nerve
    crosses the lateral border of the humerus (pierces the lateral intermuscular septum): the most
    proximal slice across the shaft in which the nerve lies lateral to the bone."""
    le, me = landmark(scene, "lateral epicondyle"), landmark(scene, "medial epicondyle")
    hum = scene.structure("humerus_r").vertices
    axis = np.linalg.svd(hum - hum.mean(axis=0), full_matrices=False)[2][0]
    axis = axis if axis[2] > 0 else -axis  # proximal
    lateral = (le - me) - ((le - me) @ axis) * axis
    lateral /= np.linalg.norm(lateral)
    nerve = scene.structure("radial_nerve_r").vertices
    h_ax, n_ax = hum @ axis, nerve @ axis
    start = le @ axis
    crossing = None
    for s in np.arange(start + 20.0, h_ax.max() - 10.0, 2.0):
        hs, ns = hum[np.abs(h_ax - s) < 2.0], nerve[np.abs(n_ax - s) < 2.0]
        if len(hs) and len(ns) and (ns @ lateral).mean() > (hs @ lateral).max():
            crossing = s
    assert crossing is not None, "the radial nerve never lies lateral to the humerus"
    return float(crossing - start)


def distance_to(scene, landmark_name, structure) -> float:
    return float(bvh(scene, structure).point_distance(landmark(scene, landmark_name))[0])


MEASURE = {
    "chest_fat": lambda s: fat_depth(s, "anterior_chest"),
    "thigh_fat": lambda s: fat_depth(s, "anterior_hip"),
    "arm_fat": lambda s: fat_depth(s, "upper_arm"),
    "calf_fat": lambda s: fat_depth(s, "posterior_knee_calf"),
    "chest_wall_2ics_mcl": chest_wall_2ics_mcl,
    "femoral_nerve_depth": femoral_nerve_depth,
    "radial_nerve_from_lateral_epicondyle": radial_nerve_from_lateral_epicondyle,
    "tibial_nerve_from_mfe": lambda s: distance_to(s, "medial epicondyle", "tibial_nerve_r"),
    "popliteal_artery_from_mfe": lambda s: distance_to(s, "medial epicondyle", "popliteal_artery_r"),
    "common_fibular_from_lfe": lambda s: distance_to(s, "lateral epicondyle", "common_fibular_nerve_r"),
}


def read_facts() -> list[dict]:
    """The rows of this file's section of anatomy_facts.md (11 columns; `check` says whether the
    model is asserted to meet the figure or only reported against it)."""
    text = FACTS.read_text(encoding="utf-8")
    if FACTS_SECTION not in text:
        return []
    section = text.split(FACTS_SECTION, 1)[1].split("\n## ", 1)[0]
    keys = ["id", "region", "habitus", "quantity", "low", "high", "unit", "published", "population", "source", "check"]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != len(keys) or cells[0] == "id" or set(cells[0]) <= {"-"}:
            continue
        rows.append(dict(zip(keys, cells, strict=True)))
    return rows


FACT_ROWS = read_facts()
FACT_CASES = [(row, h) for row in FACT_ROWS for h in (HABITUS if row["habitus"] == "all" else [row["habitus"]])]


# --- tests ---------------------------------------------------------------------------------------

def test_recipes_name_their_facts_and_fat_source():
    ids = {row["id"] for row in FACT_ROWS}
    for region in REGIONS:
        recipe = load_recipe(recipe_path(region))
        assert recipe.fat_source in ids, f"{region}: fat source {recipe.fat_source} has no row"
        for fact in recipe.facts:
            assert fact in ids and fact in MEASURE, f"{region}: fact {fact} has no row or no measurement"
        assert {row["region"] for row in FACT_ROWS if row["id"] in recipe.facts} == {region}
        assert recipe.needle and recipe.view


@pytest.mark.parametrize("region", REGIONS)
def test_region_builds_with_its_dangers_critical(scenes, region):
    scene = scenes(region)
    names = {s.name for s in scene.structures}
    for name in DANGERS[region]:
        assert name in names, f"{region}: {name} missing"
        s = scene.structure(name)
        assert s.critical and s.margin_mm > 0, f"{region}: {name} is not a danger structure"
    assert any(s.role == "bone" for s in scene.structures)
    assert scene.structure("skin").is_closed
    assert scene.name == f"atlas:{region}:average"


@pytest.mark.parametrize("region", REGIONS)
def test_landmarks_lie_on_their_bones(scenes, region):
    scene = scenes(region)
    assert {lm.name for lm in scene.landmarks} == LANDMARKS[region]
    for lm in scene.landmarks:
        assert scene.structure(lm.bone).role == "bone"
        d = bvh(scene, lm.bone).point_distance(np.asarray(lm.point, float))[0]
        assert d <= LANDMARK_ON_BONE_MM, f"{region}: {lm.name} is {d:.2f} mm from {lm.bone}"


@pytest.mark.parametrize("region", REGIONS)
def test_trigger_points_in_muscle_clear_of_bone_and_danger(scenes, engines, region):
    scene, eng = scenes(region), engines(region)
    assert len(scene.trigger_points) >= 2
    bones = [s for s in scene.structures if s.role == "bone"]
    for tp in scene.trigger_points:
        p = np.asarray(tp.point, float)
        assert scene.structure(tp.muscle).role == "muscle"
        assert eng.inside(tp.muscle, p) is True, f"{region}: {tp.name} is not inside {tp.muscle}"
        for b in bones:
            d = bvh(scene, b.name).point_distance(p)[0]
            assert d >= MIN_BONE_MM, f"{region}: {tp.name} is {d:.1f} mm from {b.name}"
            assert eng.inside(b.name, p) is not True, f"{region}: {tp.name} lies inside {b.name}"
        # the engine's own answer at the point: a short needle whose tip is the trigger point
        down = np.array([0.0, 0.0, -1.0])
        rep = eng.report(Needle(p - 0.5 * down, down, 0.5, 0.5, 0.01))
        assert rep.level != "unknown", f"{region}: {tp.name}: {rep.errors}"
        for row in rep.structures:
            assert row.tip_inside is False, f"{region}: {tp.name} lies inside {row.name}"
            assert row.tip_distance_mm > row.margin_mm, (
                f"{region}: {tp.name} is {row.tip_distance_mm:.2f} mm from {row.name}, "
                f"inside its {row.margin_mm} mm margin")


@pytest.mark.parametrize("region", REGIONS)
def test_skin_closed_at_the_recipes_fat(scenes, region):
    recipe = load_recipe(recipe_path(region))
    depths = []
    for habitus in HABITUS:
        scene = scenes(region, habitus)
        assert scene.structure("skin").is_closed
        fat = fat_depth(scene, region)
        depths.append(fat)
        assert abs(fat - recipe.fat_mm[habitus]) <= FAT_TOLERANCE_MM, (
            f"{region}:{habitus}: fat {fat:.1f} mm, recipe {recipe.fat_mm[habitus]} mm")
        assert scene.metadata["habitus"]["fat_mm"] == recipe.fat_mm[habitus]
    assert depths[0] < depths[1] < depths[2]


@pytest.mark.parametrize("region", REGIONS)
def test_metadata_credits_the_atlas(scenes, region):
    md = scenes(region).metadata
    credits = " ".join(md["attribution"])
    assert "BodyParts3D" in credits and "Z-Anatomy" in credits
    assert "CC BY-SA" in md["licence"] or "CC-BY-SA" in md["licence"]
    assert md["exporters"], "no exporter credited"
    assert md["recipe"] == region and md["units"] == "mm" and md["frame"] == "LPS"
    assert md["habitus"]["fat_source"].endswith(load_recipe(recipe_path(region)).fat_source)


def test_facts_section_is_complete():
    assert FACT_ROWS, f"no '{FACTS_SECTION}' table in {FACTS.name}"
    for row in FACT_ROWS:
        assert row["region"] in REGIONS and row["id"] in MEASURE, row["id"]
        assert float(row["low"]) < float(row["high"]), row["id"]
        assert row["published"] and row["source"], row["id"]
        assert row["check"] == "asserted" or row["check"].startswith("reported"), row["id"]


@pytest.mark.parametrize("row, habitus", FACT_CASES, ids=[f"{r['id']}-{h}" for r, h in FACT_CASES])
def test_published_figure(scenes, row, habitus):
    """Asserted rows: the model lies in the published range. Reported rows (the row says why this
    one body misses the figure): the measurement is made and finite, the miss is documented."""
    value = MEASURE[row["id"]](scenes(row["region"], habitus))
    assert np.isfinite(value) and value > 0
    if row["check"] == "asserted":
        assert float(row["low"]) <= value <= float(row["high"]), (
            f"{row['quantity']} = {value:.1f} {row['unit']} ({habitus}); published {row['published']} "
            f"({row['source']})")
