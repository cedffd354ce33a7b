"""Nerves as the patient feels them (mm, LPS; no Qt): where a touched nerve is felt
(`nerve_territory`), and which way along it that is (`distal_direction`, `distal_faces`), by name
pattern. `geometry.events` words its nerve events with these; the window lights a nerve's course."""
from __future__ import annotations

import re

import numpy as np


def _key(name: str) -> str:
    """A structure name as the tables below match it: lower case, spaces and hyphens as underscores."""
    return re.sub(r"[\s\-]+", "_", str(name).lower())


#: Where a patient feels a touched nerve, by name pattern (regular expression searched in the
#: structure name, lower case, spaces as underscores); first match wins, so specific names come
#: before the names they contain. (pattern, territory or None, motor effect or None). Territories
#: are the cutaneous / radiating areas of standard anatomy (Gray's Anatomy, 42nd ed.); a nerve that
#: is mostly motor names its weakness instead. A name matching nothing: "along the nerve".
NERVE_TERRITORIES = (
    (r"posterior_femoral_cutaneous", "the back of the thigh", None),
    (r"lateral_femoral_cutaneous", "the outer front of the thigh", None),
    (r"superior_gluteal", "the buttock and the side of the hip (a deep ache)",
     "weakness of the hip abductors (gluteus medius and minimus): a limp"),
    (r"inferior_gluteal", "the buttock (a deep ache)", "weakness of gluteus maximus"),
    (r"pudendal", "the perineum and genitals", None),
    (r"sciatic", "the back of the thigh, the leg and the foot", None),
    (r"common_(fibular|peroneal)", "the outer leg and the top of the foot", None),
    (r"tibial", "the sole of the foot", None),
    (r"femoral", "the front of the thigh and the inner leg", None),
    (r"brachial_plexus", "the arm and the hand", None),
    (r"radial", "the back of the forearm and hand", None),
    (r"median", "the thumb, index and middle fingers", None),
    (r"ulnar", "the fourth and fifth fingers", None),
    (r"musculocutaneous", "the outer forearm", None),
    (r"axillary", "the outer shoulder, over the deltoid", "weakness lifting the arm to the side"),
    (r"accessory", None, "weakness of the shoulder shrug (trapezius)"),
    (r"long_thoracic", None, "a winging shoulder blade (serratus anterior)"),
    (r"dorsal_scapular", "the area between the shoulder blades", "weakness of the rhomboids and levator scapulae"),
    (r"suprascapular", "the back of the shoulder (a deep ache)", "weakness lifting and turning the arm out"),
    (r"intercostal", "the chest wall along the rib", None),
    (r"iliohypogastric", "the lower abdomen and the side of the buttock", None),
    (r"occipital", "the back of the scalp", None),
    (r"phrenic", "the tip of the shoulder", "weakness of the diaphragm"),
    (r"cauda_equina", "both legs, the buttocks and the saddle area", None),
    (r"spinal_dura|spinal_cord", "the limbs below the level (the spinal canal)", None),
)
ALONG_THE_NERVE = "along the nerve"

#: Which way a nerve runs distally, toward where the patient feels it, by name pattern (as
#: NERVE_TERRITORIES): a (lateral, posterior, superior) direction in the LPS frame of the anatomical
#: position (arms at the sides), "lateral" toward the nerve's own side (known from a `_l` / `_r`
#: name; dropped when the side is not known). The limb nerves run down the limb; the brachial
#: plexus and the accessory nerve run down and out to the shoulder; the superior gluteal and
#: suprascapular nerves run out to the side (Gray's Anatomy, 42nd ed.). A name matching nothing (the
#: intercostal, axillary and pudendal nerves curve around) has no direction: the whole nerve is lit.
NERVE_DISTAL = (
    (r"superior_gluteal|suprascapular", (1.0, 0.0, 0.0)),
    (r"brachial_plexus|accessory", (1.0, 0.0, -1.0)),
    (r"sciatic|tibial|fibular|peroneal|sural|femoral|saphenous|obturator|inferior_gluteal|radial|median|ulnar"
     r"|musculocutaneous|long_thoracic|phrenic|spinal_cord|cauda_equina", (0.0, 0.0, -1.0)),
)
#: A nerve's lit course starts this far (mm) proximal to the point the needle reaches.
DISTAL_BEHIND_MM = 3.0


def nerve_territory(name: str) -> tuple[str, str | None]:
    """(where the patient feels it, motor effect or None) for a nerve called `name`; a name matching
    no pattern of NERVE_TERRITORIES feels it "along the nerve"."""
    key = _key(name)
    for pattern, territory, motor in NERVE_TERRITORIES:
        if re.search(pattern, key):
            return (territory or ALONG_THE_NERVE), motor
    return ALONG_THE_NERVE, None


def distal_direction(name: str) -> np.ndarray | None:
    """Unit (3,) direction in which nerve `name` runs distally (NERVE_DISTAL), or None."""
    key = _key(name)
    side = -1.0 if re.search(r"(^|_)r(ight)?$", key) else 1.0 if re.search(r"(^|_)l(eft)?$", key) else 0.0
    for pattern, (lateral, posterior, superior) in NERVE_DISTAL:
        if re.search(pattern, key):
            v = np.array([side * lateral, posterior, superior])  # patient's right is -x in LPS
            n = float(np.linalg.norm(v))
            return v / n if n > 0.0 else None
    return None


def distal_faces(vertices, faces, point, direction, behind_mm: float = DISTAL_BEHIND_MM) -> np.ndarray:
    """(m,) bool: the faces of a nerve's mesh (vertices (n, 3) mm, faces (m, 3)) on its distal side
    of `point` (3,): centroid c with (c - point) . direction >= -behind_mm (direction (3,), unit)."""
    v = np.asarray(vertices, float)
    c = v[np.asarray(faces)].mean(axis=1)
    return (c - np.asarray(point, float)) @ np.asarray(direction, float) >= -float(behind_mm)
