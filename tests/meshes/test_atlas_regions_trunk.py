"""The trunk atlas regions (recipes gluteal, interscapular, lumbar) measured against the published
figures their recipes list (meshes/anatomy_facts.md), for every habitus, with the clearance engine;
and the recipe faults found in review (anterior hip, interscapular, lumbar, posterior neck, posterior
knee and calf), each with the check that would have caught it.

Each region/habitus is built once per session (`build.atlas_scene` keeps built scenes in memory, so
other modules' builds are reused). Skips cleanly when ../shared/atlas-source is absent (the `atlas`
fixture).

Figures this one body does not meet are measured and reported, not hidden (`NOT_MET`: the model's
value is asserted against a bound that says where this body lies, and the row's `published` range is
left as published):
- the sciatic nerve crosses the ischial tuberosity - greater trochanter line 20 mm from the
  tuberosity and 90 mm from the trochanter, against 5.8 +- 0.8 / 6.2 +- 1.0 cm on CT (Currin et al.
  2015): this atlas body's nerve runs medially, close to the ischium;
- skin to pleura beside the medial border of the scapula at T3-T4 is 52 / 60 mm (lean / average),
  against 3.7 +- 0.7 cm on CT at a mean BMI of 21 (Kim et al. 2002); the high habitus (68 mm) meets
  its row: the atlas's trapezius, rhomboids and erector spinae are one muscular man's and only the
  fat changes with the habitus;
- the trapezius there is 9.4 mm thick, against 4.9 +- 1.0 mm in men on ultrasound (Hung et al.);
- skin to the spinal canal's contents at L3-L4 (average 64.5 mm, against 4.18 +- 0.97 cm to the
  epidural space on MRI): below L1 the atlas has no dural sac, only the filum and the roots.
"""
from __future__ import annotations

import numpy as np
import pytest

from needlesafe.app import camera
from needlesafe.geometry.needle import Needle
from needlesafe.meshes.atlas.recipe import load_recipe, recipe_path
from needlesafe.meshes.facts import read_facts
from needlesafe.meshes.habitus import HABITUS_PRESETS

HABITUS = list(HABITUS_PRESETS)
REGIONS = ("gluteal", "interscapular", "lumbar")
BACK = np.array([0.0, -1.0, 0.0])  # from behind (patient prone), into the body
FRONT = np.array([0.0, 1.0, 0.0])  # from the front (patient supine), into the body


# --- helpers -----------------------------------------------------------------------------------------

def part(engine, name):
    """The engine's BVH of structure `name` (exact point distances, ray crossings)."""
    i = next(k for k, s in enumerate(engine.structures) if s.name == name)
    return engine.bvh.parts[i]


def crossings(engine, name, origin, direction):
    i = next(k for k, s in enumerate(engine.structures) if s.name == name)
    return np.asarray(engine.bvh.crossings(i, origin, direction), float)


def landmark(scene, name):
    return next(np.asarray(lm.point, float) for lm in scene.landmarks if lm.name == name)


def trigger(scene, name):
    return next(np.asarray(t.point, float) for t in scene.trigger_points if t.name == name)


def unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def skin_over(engine, point, direction):
    """Where a needle along `direction` (unit) that reaches `point` enters the skin."""
    o = point - 400.0 * direction
    return o + part(engine, "skin").ray_hits(o, direction)[0] * direction


def skin_at(engine, x, z, direction=BACK):
    """The skin point hit by a ray along `direction` through (x, ., z) from outside the body."""
    return skin_over(engine, np.array([x, 0.0, z]), direction)


def fat_at(engine, skin_point):
    """Distance (mm) from a skin point to the nearest structure under the skin."""
    return min(part(engine, s.name).point_distance(skin_point)[0] for s in engine.structures if s.role != "skin")


def median_fat(engine, n=300):
    """Median over `n` skin vertices (fixed sample) of the distance to the nearest structure."""
    skin = engine.structures[0].vertices
    idx = np.random.default_rng(3).choice(len(skin), n, replace=False)
    return float(np.median([fat_at(engine, skin[i]) for i in idx]))


def depth_to(engine, name, entry, direction):
    """Along the ray from the skin point `entry`, the depth (mm) where it first meets `name`."""
    return float(part(engine, name).ray_hits(entry, direction)[0])


def thickness(engine, names, entry, direction):
    """Thickness (mm) of the muscle `names` (one or several parts) where the ray from `entry`
    crosses it, measured square to the muscle as ultrasound does: twice the distance from the
    middle of the longest chord to the muscle's surface."""
    best = (0.0, 0.0)
    for name in names:
        t = crossings(engine, name, entry - 5.0 * direction, direction) - 5.0
        assert len(t) % 2 == 0, f"{name}: {len(t)} crossings, not a closed surface along the ray"
        for t0, t1 in zip(t[0::2], t[1::2], strict=True):
            if t1 - t0 > best[0]:
                mid = entry + 0.5 * (t0 + t1) * direction
                best = (t1 - t0, 2.0 * float(part(engine, name).point_distance(mid)[0]))
    assert best[0] > 0, f"the ray from {entry} crosses none of {names}"
    return best[1]


def bone_stop(engine, entry, direction):
    """Depth of the first bone along the ray from `entry` (inf when none)."""
    return min(part(engine, s.name).ray_hits(entry, direction)[0] for s in engine.structures if s.role == "bone")


def margin_reached(engine, name, entry, direction, t_max=200.0):
    """Depth at which a needle from `entry` along `direction` first comes within `name`'s margin."""
    s = engine.scene.structure(name)
    return float(part(engine, name).first_within(entry, direction, s.margin_mm, t_max))


def fact(fact_id, habitus):
    rows = [f for f in read_facts() if f.id == fact_id and f.habitus in ("all", habitus)]
    assert len(rows) == 1, (fact_id, habitus, rows)
    return rows[0]


# --- measurements of the published figures ------------------------------------------------------------

def sciatic_on_it_gt_line(engine):
    """Where the sciatic nerve crosses the line from the ischial tuberosity to the greater trochanter
    in the posterior (coronal) projection, as Currin et al. measured its surface projection:
    (distance from the tuberosity, distance from the trochanter), mm along the 3D line."""
    scene = engine.scene
    it, gt = landmark(scene, "ischial tuberosity"), landmark(scene, "greater trochanter")
    line = gt - it
    xz = [0, 2]
    v = scene.structure("sciatic_nerve_r").vertices - it
    t = (v[:, xz] @ line[xz]) / (line[xz] @ line[xz])
    off = np.linalg.norm(v[:, xz] - t[:, None] * line[xz], axis=1)
    near = (off < 3.0) & (t >= 0.0) & (t <= 1.0)
    assert near.sum() >= 3, "the sciatic nerve does not cross the tuberosity - trochanter line"
    s = float(np.median(t[near])) * float(np.linalg.norm(line))
    return s, float(np.linalg.norm(line)) - s


def sciatic_depth_transgluteal(engine):
    """Skin to sciatic nerve straight from behind, at the level halfway between the greater
    trochanter and the ischial tuberosity, through the nerve's middle at that level."""
    scene = engine.scene
    m = (landmark(scene, "ischial tuberosity") + landmark(scene, "greater trochanter")) / 2
    v = scene.structure("sciatic_nerve_r").vertices
    x = float(v[np.abs(v[:, 2] - m[2]) < 4.0, 0].mean())
    entry = skin_at(engine, x, m[2])
    return depth_to(engine, "sciatic_nerve_r", entry, BACK)


def piriformis_depth_centre(engine):
    """Skin to piriformis straight from behind (prone, as on CT) over the middle of the muscle."""
    c = engine.scene.structure("piriformis_muscle_r").vertices.mean(axis=0)
    entry = skin_at(engine, c[0], c[2])
    return depth_to(engine, "piriformis_muscle_r", entry, BACK)


def gluteal_fat(engine):
    """Fat over gluteus maximus: the skin straight behind its trigger point to the nearest structure."""
    return fat_at(engine, skin_over(engine, trigger(engine.scene, "gluteus maximus"), BACK))


def interscapular_site(engine):
    """Skin point beside the medial border of the scapula at T3-T4 (Kim et al. measured there): at
    the level halfway between the T3 and T4 vertebrae, 5 mm medial to the border, from behind."""
    scene = engine.scene
    z = float(np.mean([scene.structure(f"vertebra_t{k}").vertices[:, 2].mean() for k in (3, 4)]))
    sc = scene.structure("scapula_r").vertices
    x = float(sc[np.abs(sc[:, 2] - z) < 4.0, 0].max()) + 5.0
    return skin_at(engine, x, z)


def interscapular_skin_to_pleura(engine):
    return float(part(engine, "pleura").point_distance(interscapular_site(engine))[0])


def middle_trapezius_thickness(engine):
    """Trapezius crossed straight in at the interscapular site (the atlas's transverse and lower
    parts; see the recipe's note on their names)."""
    return thickness(engine, ("transverse_part_of_trapezius_muscle_r", "descending_part_of_trapezius_muscle_r"),
                     interscapular_site(engine), BACK)


def rhomboid_thickness(engine):
    return thickness(engine, ("rhomboid_major_muscle_r", "rhomboid_minor_muscle_r"), interscapular_site(engine), BACK)


def tp_to_pleura(engine):
    """Back of the T4 transverse process to the pleura straight forward, 25 mm from the midline: at
    the level where a ray from behind meets the process farthest back (its back surface)."""
    scene = engine.scene
    t4 = scene.structure("vertebra_t4").vertices
    best = None
    for z in np.arange(t4[:, 2].min(), t4[:, 2].max(), 1.0):
        o = np.array([-25.0, 400.0, z])
        t = depth_to(engine, "vertebra_t4", o, BACK)
        if np.isfinite(t) and t <= bone_stop(engine, o, BACK) and (best is None or t < best[0]):
            best = (t, o + t * BACK)
    assert best is not None, "no ray from behind meets the T4 transverse process 25 mm from the midline"
    return depth_to(engine, "pleura", best[1], BACK)


def kidney_length(engine):
    g = next(g for g in load_recipe(recipe_path("lumbar")).generated if g.name == "generated_kidney_r")
    return float(np.ptp(engine.scene.structure("generated_kidney_r").vertices @ g.frame[0]))


def lumbar_skin_to_dura(engine):
    """Skin to the spinal canal's contents at the L3-L4 interspace: from the midline skin point
    straight behind the interspace (perpendicular to the spine), the shortest distance to the dura
    or the cauda equina (below L1 the atlas has no dural sac, only the filum and the roots)."""
    scene = engine.scene
    z = (landmark(scene, "L3 spinous process")[2] + landmark(scene, "L4 spinous process")[2]) / 2
    entry = skin_at(engine, 0.0, z)
    return min(float(part(engine, n).point_distance(entry)[0]) for n in ("spinal_dura", "cauda_equina"))


MEASURE = {
    "gluteal_fat": gluteal_fat,
    "sciatic_from_it": lambda e: sciatic_on_it_gt_line(e)[0],
    "sciatic_from_gt": lambda e: sciatic_on_it_gt_line(e)[1],
    "sciatic_depth_transgluteal": sciatic_depth_transgluteal,
    "piriformis_depth_centre": piriformis_depth_centre,
    "interscapular_fat": median_fat,
    "interscapular_skin_to_pleura": interscapular_skin_to_pleura,
    "middle_trapezius_thickness": middle_trapezius_thickness,
    "rhomboid_thickness": rhomboid_thickness,
    "tp_to_pleura": tp_to_pleura,
    "lumbar_fat": median_fat,
    "kidney_dimensions": kidney_length,
    "lumbar_skin_to_dura": lumbar_skin_to_dura,
}

#: (fact, habitus) this one body does not meet: (low, high) bound of the model's value, and why
_SCIATIC = "this atlas body's sciatic nerve runs medially, close to the ischial tuberosity"
_PLEURA = "one muscular body: its trapezius, rhomboids and erector spinae do not thin with the habitus"
_DURA = ("the atlas has no dural sac below L1 (only the filum and the roots, which lie at the front "
         "of the canal), so the nearest danger is deeper than the posterior epidural space")
NOT_MET = {
    **{("sciatic_from_it", h): (10.0, 30.0, _SCIATIC) for h in HABITUS},
    **{("sciatic_from_gt", h): (80.0, 100.0, _SCIATIC) for h in HABITUS},
    **{("middle_trapezius_thickness", h): (7.0, 12.0, "the atlas trapezius is a muscular man's, "
                                           "thicker than the men's 4.9 +- 1.0 mm") for h in HABITUS},
    ("interscapular_skin_to_pleura", "lean"): (51.0, 58.0, _PLEURA),
    ("interscapular_skin_to_pleura", "average"): (51.0, 66.0, _PLEURA),
    ("lumbar_skin_to_dura", "average"): (62.0, 70.0, _DURA),
}

CASES = [(region, f, h) for region in REGIONS for f in load_recipe(recipe_path(region)).facts for h in HABITUS]


def test_every_fact_the_trunk_recipes_list_is_measured():
    for region in REGIONS:
        for f in load_recipe(recipe_path(region)).facts:
            assert f in MEASURE, f"{region}: {f} is not measured"
            assert all(fact(f, h) for h in HABITUS)
    assert set(MEASURE) == {f for _, f, _ in CASES}


@pytest.mark.parametrize(("region", "fact_id", "habitus"), CASES, ids=[f"{f}-{h}" for _, f, h in CASES])
def test_published_figure(engines, region, fact_id, habitus):
    """Where this body meets the published range, the model lies in it; where it does not, the
    model's value is asserted against the bound `NOT_MET` states (see the module docstring)."""
    value = MEASURE[fact_id](engines(region, habitus))
    f = fact(fact_id, habitus)
    assert np.isfinite(value) and value > 0, (fact_id, habitus, value)
    if (fact_id, habitus) in NOT_MET:
        low, high, why = NOT_MET[fact_id, habitus]
        assert low <= value <= high, f"{fact_id} ({habitus}) = {value:.1f} {f.unit}, outside [{low}, {high}]: {why}"
    else:
        assert f.low <= value <= f.high, (
            f"{f.quantity} = {value:.1f} {f.unit} ({habitus}); published {f.published} ({f.source})")


# --- recipe faults found in review, each with the check that would have caught it ---------------------

def rule(region, name):
    return next(r for r in load_recipe(recipe_path(region)).trigger_points if r.name == name)


def needle_to(engine, point, direction, length_mm=75.0):
    """A needle from the skin along `direction`, its tip at `point`."""
    entry = skin_over(engine, point, direction)
    return Needle(entry, direction, float(np.linalg.norm(point - entry)), length_mm, 0.3)


def assert_clear(report, what):
    """No structure's margin is broken along the shaft and no bone lies before the tip."""
    assert report.level in ("safe", "caution"), (what, report.level, report.errors)
    for row in report.structures:
        assert row.shaft_distance_mm > row.margin_mm, f"{what}: {row.shaft_distance_mm:.1f} mm from {row.name}"
    stop = report.path.bone_stop_mm
    assert stop is None or stop > report.needle.depth_mm, f"{what}: bone at {stop:.1f} mm, before the tip"


@pytest.mark.parametrize("habitus", HABITUS)
def test_anterior_hip_iliacus_target_is_clear_of_the_colon(engines, habitus):
    """The iliacus target was 6 mm from the caecum (ascending colon): it now lies below the caecum,
    clear by the recipe's rule (margin + clear_mm), and a student's needle straight down to it (from
    the front, patient supine) passes no structure's margin."""
    eng = engines("anterior_hip", habitus)
    tp = trigger(eng.scene, "iliacus")
    colon = eng.scene.structure("ascending_colon")
    clear = colon.margin_mm + rule("anterior_hip", "iliacus").clear_mm
    assert part(eng, "ascending_colon").point_distance(tp)[0] > clear
    needle = needle_to(eng, tp, FRONT)
    report = eng.report(needle)
    assert_clear(report, "iliacus from the front")
    colon_row = next(r for r in report.structures if r.name == "ascending_colon")
    assert colon_row.shaft_distance_mm > 2 * colon.margin_mm


@pytest.mark.parametrize("habitus", HABITUS)
def test_interscapular_iliocostalis_is_reached_from_behind(engines, habitus):
    """The iliocostalis thoracis target lay under the scapula (reachable only from below): it now
    lies below the inferior angle, where a needle from behind, straight or tilted 15 degrees as a
    practitioner would, reaches it past no bone and no margin, with a rib close beyond as a backstop."""
    eng = engines("interscapular", habitus)
    tp = trigger(eng.scene, "iliocostalis thoracis")
    assert tp[2] < landmark(eng.scene, "inferior angle of scapula")[2]
    for tilt in (BACK, unit([0.0, -1.0, -0.27]), unit([0.27, -1.0, 0.0])):
        needle = needle_to(eng, tp, tilt, length_mm=50.0)
        assert_clear(eng.report(needle), f"iliocostalis along {tilt.round(2)}")
    needle = needle_to(eng, tp, BACK)
    beyond = bone_stop(eng, needle.entry_lps, BACK) - needle.depth_mm
    assert 0.0 < beyond < 10.0, f"bone {beyond:.1f} mm beyond the target"


def upper_ql(eng):
    return trigger(eng.scene, "quadratus lumborum, upper fibres")


@pytest.mark.parametrize("habitus", HABITUS)
def test_lumbar_upper_quadratus_lumborum_teaches_the_pleural_recess(engines, habitus):
    """A target in quadratus lumborum's upper fibres, just below the 12th rib, with the lowest
    pleural recess above the rib: reached straight from behind past no margin, while the same
    needle entered over the recess (one rib space too high) meets the pleura's margin shallower
    than the target lies, and a needle from the target's skin aimed steeply up over the rib meets
    it within a 75 mm needle."""
    eng = engines("lumbar", habitus)
    scene = eng.scene
    tp = upper_ql(eng)
    assert part(eng, "twelfth_rib_r").point_distance(tp)[0] < 8.0
    pleura = scene.structure("pleura").vertices
    recess = pleura[(pleura[:, 0] < -20.0) & (pleura[:, 1] > 20.0)]
    recess = recess[np.argmin(recess[:, 2])]
    assert recess[2] > tp[2]  # the recess lies above the target
    straight = needle_to(eng, tp, BACK)
    assert_clear(eng.report(straight), "upper quadratus lumborum from behind")
    high = skin_at(eng, recess[0], recess[2] + 10.0)
    t_pleura = margin_reached(eng, "pleura", high, BACK)
    assert t_pleura < straight.depth_mm and t_pleura < bone_stop(eng, high, BACK)
    reached = []
    for up in (40, 45, 50, 55, 60):
        for lateral in (20, 25, 30, 35, 40):
            a, b = np.radians(up), np.radians(lateral)
            d = np.array([-np.sin(b) * np.cos(a), -np.cos(b) * np.cos(a), np.sin(a)])
            t = margin_reached(eng, "pleura", straight.entry_lps, d)
            if t < min(75.0, bone_stop(eng, straight.entry_lps, d)):
                reached.append(t)
    assert reached, "no needle aimed up over the 12th rib reaches the pleura"


@pytest.mark.parametrize("habitus", HABITUS)
def test_lumbar_flank_skin_lies_well_outside_the_kidney(engines, habitus):
    """The flank skin lay 14 mm over the kidney (the region had no flank wall): with latissimus dorsi
    and the external oblique the kidney lies more than 30 mm in from the flank and 50 mm in from the
    back. (The atlas has no internal oblique, transversus abdominis or perirenal fat, so the real
    flank is thicker still; the front of the region is a cut, not the abdominal wall.)"""
    eng = engines("lumbar", habitus)
    k = eng.scene.structure("generated_kidney_r").vertices.mean(axis=0)
    for direction, least in ((np.array([1.0, 0.0, 0.0]), 30.0), (BACK, 50.0)):
        entry = skin_over(eng, k, direction)
        depth = depth_to(eng, "generated_kidney_r", entry, direction)
        assert least < depth < 120.0, f"kidney {depth:.1f} mm in along {direction}"


@pytest.mark.parametrize("habitus", HABITUS)
def test_posterior_neck_c2_target_teaches_the_spinal_canal(engines, habitus):
    """A target at C2 beside the midline: straight in, the C2 lamina stops the needle before the
    dural sac's margin; aimed 20 degrees medially and 10 up, into the C1-C2 interlaminar space (the
    classic mistake), the needle meets the dura's margin before any bone, within a 50 mm needle."""
    eng = engines("posterior_neck", habitus)
    scene = eng.scene
    tp = trigger(scene, "upper trapezius (C2 level)")
    c2 = scene.structure("axis_c2").vertices
    assert c2[:, 2].min() < tp[2] < c2[:, 2].max()
    entry = skin_over(eng, tp, BACK)
    assert bone_stop(eng, entry, BACK) < margin_reached(eng, "spinal_dura", entry, BACK)
    assert_clear(eng.report(needle_to(eng, tp, BACK, length_mm=30.0)), "C2 target from behind")
    a, b = np.radians(10.0), np.radians(20.0)
    medial_up = np.array([np.sin(b) * np.cos(a), -np.cos(b) * np.cos(a), np.sin(a)])  # toward +x: the midline
    t_dura = margin_reached(eng, "spinal_dura", entry, medial_up)
    assert t_dura < bone_stop(eng, entry, medial_up) and t_dura < 50.0, t_dura


OWN_REGIONS = ("gluteal", "interscapular", "lumbar", "anterior_hip", "posterior_neck", "posterior_knee_calf")


@pytest.mark.parametrize("region", OWN_REGIONS)
def test_default_view_frames_the_whole_region(engines, region):
    """The window's camera for the recipe's default view sees every corner of the region's bounds
    (a tall region, the knee and calf, was cut at the top and bottom)."""
    scene = engines(region).scene
    lo, hi = scene.bounds()
    position, focal, up = camera.preset((lo, hi), load_recipe(recipe_path(region)).view)
    position, focal, up = (np.asarray(v, float) for v in (position, focal, up))
    look = unit(focal - position)
    right = unit(np.cross(look, up))
    half = np.tan(np.radians(15.0))  # the window's 30 degree view angle, square at worst
    for corner in np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]):
        rel = corner - position
        depth = rel @ look
        assert depth > 0 and abs(rel @ up) <= half * depth and abs(rel @ right) <= half * depth, (region, corner)


def test_knee_calf_picture_is_not_cut(engines, tmp_path):
    """`needlesafe render` of the posterior knee and calf in its default view: no part of the region
    touches the picture's edges (it was cut at the top and bottom)."""
    from PIL import Image

    from needlesafe.app.render import render_scene

    scene = engines("posterior_knee_calf").scene
    out = render_scene(scene, load_recipe(recipe_path("posterior_knee_calf")).view, tmp_path / "knee.png")
    px = np.asarray(Image.open(out).convert("L"))
    body = px < 235
    body[:40, : px.shape[1] // 2] = False  # the caption
    assert body.any()
    assert not (body[0].any() or body[-1].any() or body[:, 0].any() or body[:, -1].any())
