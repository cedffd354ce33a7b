"""Generated gluteal / posterior hip region, right side, patient prone (LPS mm; +y posterior).

Layout from published surface anatomy (see meshes/anatomy_facts.md): the sciatic nerve leaves the
greater sciatic foramen below piriformis and runs down about halfway between the greater trochanter
(GT) and the ischial tuberosity (IT), 5.8 cm from IT and 6.2 cm from GT (Currin et al. 2015), about
a third of the way from PSIS to IT; it is flat in the buttock (about 12 x 6 mm, cross-section near
0.5 cm2), lies on the small external rotators and quadratus femoris, and is covered by gluteus
maximus and the subcutaneous fat. Shapes are smooth proxies (superellipsoids, swept tubes, unions),
not an atlas.
"""
from __future__ import annotations

import numpy as np

from ..habitus import Habitus
from ..shapes import (
    bulge,
    catmull_rom,
    difference,
    frame,
    solid,
    superellipsoid,
    tube,
    union,
)
from ..types import AnatomyScene, Landmark, TriggerPoint
from .common import metadata, spindle, structure, with_skin

# bony landmarks (points on the bone surfaces), mm
PSIS = np.array([-42.0, 52.0, 118.0])
GREATER_TROCHANTER = np.array([-160.0, 26.0, 0.0])
ISCHIAL_TUBEROSITY = np.array([-60.0, 41.0, -45.0])
SACRAL_MARGIN = np.array([-40.0, 50.0, 55.0])
# piriformis: from the front of the sacrum out through the greater sciatic notch to the top of the
# greater trochanter, a spindle thick in the middle
PIRIFORMIS = (np.array([-30.0, 32.0, 96.0]), np.array([-152.0, 12.0, 30.0]), 11.0, 5.0)


# muscles that carry a trigger point (an exercise target): cut free of bone
TARGET_MUSCLES = ("piriformis", "gluteus_maximus", "gluteus_medius", "quadratus_femoris")


def piriformis_axis(t: float) -> np.ndarray:
    """The point a fraction t (0 medial, 1 lateral) along the piriformis's axis."""
    a, b, _, _ = PIRIFORMIS
    return a + t * (b - a)


def _hip_bone():
    # ilium wing: a thin plate from the PSIS forward and down toward the acetabulum
    u = np.array([-0.72, -0.62, 0.12])  # along the crest, posterior to anterior
    rot = frame(u, (0.0, 0.0, -1.0))
    centre = np.array([-95.0, 12.0, 112.0])
    wing = superellipsoid(centre, (78.0, 52.0, 7.0), exponent=2.6, rotation=rot)
    wing = (bulge(wing[0], centre, rot, (78.0, 52.0, 7.0), -10.0), wing[1])
    posterior = superellipsoid((-45.0, 40.0, 110.0), (14.0, 13.0, 22.0), exponent=2.2)  # PSIS region
    body = superellipsoid((-108.0, -22.0, 32.0), (30.0, 26.0, 32.0), exponent=2.2)  # acetabulum
    ischium = tube(catmull_rom([(-100.0, -18.0, 20.0), (-78.0, -6.0, -10.0), (-63.0, 14.0, -38.0)], 6), 12.0, 20)
    tuberosity = superellipsoid((-60.0, 25.0, -45.0), (16.0, 16.0, 24.0), exponent=2.2)
    ramus = tube(np.array([[-70.0, 10.0, -50.0], [-40.0, -5.0, -45.0], [-15.0, -25.0, -20.0]]), 8.0, 16)
    return union([wing, posterior, body, ischium, tuberosity, ramus])


def _femur():
    head = superellipsoid((-100.0, -26.0, 25.0), (23.0, 23.0, 23.0))
    neck = tube(np.array([[-100.0, -26.0, 25.0], [-125.0, -15.0, 15.0], [-148.0, -5.0, 5.0]]), 15.0, 20)
    trochanter = superellipsoid((-160.0, 8.0, 0.0), (18.0, 18.0, 28.0), exponent=2.2)
    shaft = tube(np.array([[-152.0, -2.0, 5.0], [-145.0, -4.0, -120.0], [-132.0, -8.0, -250.0]]), 14.0, 24)
    lesser = superellipsoid((-128.0, -6.0, -30.0), (10.0, 10.0, 12.0))
    return union([head, neck, trochanter, shaft, lesser])


def _sacrum():
    rot = frame((0.0, 0.35, -0.94), (1.0, 0.0, 0.0))  # long axis tilted: apex posterior-inferior
    body = superellipsoid((0.0, 30.0, 85.0), (60.0, 42.0, 16.0), exponent=2.4, rotation=rot)
    coccyx = tube(np.array([[0.0, 48.0, 30.0], [0.0, 50.0, 15.0], [0.0, 45.0, 0.0]]), 7.0, 16)
    return union([body, coccyx])


def _gluteus_maximus():
    # a thick quadrilateral sheet, fibres from sacrum and posterior ilium down-laterally to the femur
    fibres = np.array([-0.72, -0.10, -0.68])
    rot = frame(fibres, (0.68, 0.0, -0.72))
    rot = rot if rot[1, 2] > 0 else frame(fibres, (-0.68, 0.0, 0.72))  # third axis posterior (+y)
    centre = np.array([-100.0, 38.0, 20.0])
    half = (118.0, 78.0, 13.0)
    v, f = superellipsoid(centre, half, exponent=2.6, rotation=rot)
    return bulge(v, centre, rot, half, 10.0), f


def _gluteus_medius():
    u = np.array([-0.72, -0.62, 0.12])
    rot = frame(u, (0.0, 0.0, -1.0))
    rot = rot if rot[1, 2] > 0 else frame(u, (0.0, 0.0, 1.0))
    centre = np.array([-105.0, 37.0, 105.0])
    half = (70.0, 45.0, 10.0)
    v, f = superellipsoid(centre, half, exponent=2.4, rotation=rot)
    return bulge(v, centre, rot, half, 8.0), f


def _sciatic_line():
    # the plexus lies on the front (pelvic surface) of the medial piriformis, and the nerve leaves
    # the greater sciatic foramen just under its lower border: a needle through the medial part of
    # the muscle runs onto it (Hannah et al. 2023)
    return catmull_rom(
        [(-58.0, 11.0, 77.0), (-76.0, 8.0, 63.0), (-90.0, 13.0, 40.0), (-104.0, 15.0, -10.0), (-107.0, 15.0, -45.0),
         (-108.0, 14.0, -110.0), (-106.0, 12.0, -200.0)],
        10,
    )


def _greater_sciatic_notch():
    """The space the hip bone leaves for piriformis and the nerve below it (the greater sciatic notch
    and foramen): cut from the hip bone so neither runs through bone."""
    a, b = piriformis_axis(0.1), piriformis_axis(0.78)
    line = a[None] + np.linspace(0.0, 1.0, 12)[:, None] * (b - a)[None]
    nerve = _sciatic_line()
    upper = nerve[nerve[:, 2] > 15.0]
    # behind the muscle as it leaves the notch there is no bone, only gluteus maximus
    behind = superellipsoid((-74.0, 45.0, 63.0), (28.0, 30.0, 20.0), exponent=3.0)
    return [tube(line, PIRIFORMIS[2] + 4.0, 24), tube(upper, 11.0, 20), behind]


def build(h: Habitus) -> AnatomyScene:
    """The gluteal region for habitus `h` (deterministic)."""
    # the body of the ilium, in front of the notch, joins the wing to the acetabulum
    ilium_body = superellipsoid((-122.0, -20.0, 68.0), (20.0, 16.0, 26.0), exponent=2.2)
    hip = union([difference(_hip_bone(), _greater_sciatic_notch()), ilium_body])
    femur = _femur()
    sacrum = _sacrum()
    a, b, r_mid, r_end = PIRIFORMIS
    # its origin on the sacrum and insertion on the trochanter end at the bone, not inside it
    bone = solid(union([hip, femur, sacrum]))
    sciatic = tube(_sciatic_line(), 6.0, sides=24, flatten=0.5, wide=(1.0, 0.0, 0.0))
    sup_gluteal = tube(
        catmull_rom([(-68.0, 56.0, 84.0), (-85.0, 45.3, 95.0), (-100.0, 33.7, 98.0), (-120.0, 15.4, 97.0),
                     (-136.0, -1.6, 96.0)], 8), 1.5, 12
    )
    muscles = [
        ("gluteus_maximus", _gluteus_maximus()),
        ("gluteus_medius", _gluteus_medius()),
        ("piriformis", spindle(a, b, r_mid, r_end)),
        ("superior_gemellus", spindle((-70.0, -4.0, 28.0), (-148.0, 0.0, 18.0), 5.0, 3.0)),
        ("obturator_internus", spindle((-66.0, -8.0, 16.0), (-150.0, -2.0, 10.0), 7.0, 4.0)),
        ("inferior_gemellus", spindle((-66.0, -4.0, 2.0), (-148.0, 0.0, 2.0), 5.0, 3.0)),
        ("quadratus_femoris", spindle((-70.0, 2.0, -28.0), (-142.0, -2.0, -30.0), 9.0, 6.0)),
        ("hamstrings_origin", spindle((-60.0, 38.0, -62.0), (-85.0, 28.0, -250.0), 17.0, 9.0)),
        # thigh muscles deep and lateral to the nerve, so the thigh reads as a thigh
        ("adductor_magnus", spindle((-52.0, -12.0, -55.0), (-118.0, -22.0, -245.0), 22.0, 9.0)),
        ("vastus_lateralis", spindle((-178.0, -6.0, -25.0), (-160.0, -24.0, -250.0), 20.0, 10.0)),
    ]
    structures = [
        structure("sciatic_nerve", "nerve", sciatic),
        structure("superior_gluteal_nerve", "nerve", sup_gluteal),
        structure("hip_bone", "bone", hip),
        structure("femur", "bone", femur),
        structure("sacrum", "bone", sacrum),
    ] + [structure(name, "muscle", difference(mesh, [bone]) if name in TARGET_MUSCLES else mesh)
         for name, mesh in muscles]  # target muscles end at the bone they attach to, never run through it
    structures = with_skin(structures, h.gluteal_fat_mm)
    landmarks = [
        Landmark("PSIS", PSIS, "hip_bone"),
        Landmark("greater trochanter", GREATER_TROCHANTER, "femur"),
        Landmark("ischial tuberosity", ISCHIAL_TUBEROSITY, "hip_bone"),
        Landmark("iliac crest", hip[0][np.argmax(hip[0][:, 2])], "hip_bone"),
        Landmark("sacral margin", SACRAL_MARGIN, "sacrum"),
    ]
    trigger_points = [
        # lateral half, toward the greater trochanter, away from the nerve
        TriggerPoint("piriformis", piriformis_axis(0.68), "piriformis"),
        TriggerPoint("gluteus medius", np.array([-118.0, 42.0, 112.0]), "gluteus_medius"),
        TriggerPoint("gluteus maximus", np.array([-100.0, 46.0, 20.0]), "gluteus_maximus"),
        TriggerPoint("quadratus femoris", np.array([-106.0, 0.0, -29.0]), "quadratus_femoris"),
    ]
    meta = metadata("gluteal", "Gluteal region, right side, patient prone", h)
    return AnatomyScene(f"gluteal-{h.name}", structures, landmarks, meta, trigger_points)
