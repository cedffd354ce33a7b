"""Generated neck-shoulder region, right side (LPS mm; +y posterior, +z superior).

The brachial plexus roots leave the C5-T1 foramina, run down and laterally between the anterior
and middle scalenes, and as trunks pass over the first rib behind the subclavian artery and the
clavicle; the lung apex with its pleura rises above the first rib. Ribs 1-5 wrap the lung at a
fixed gap, so the rib cage and the pleura stay consistent. Dimensions and depths follow
meshes/anatomy_facts.md; shapes are smooth proxies, not an atlas.
"""
from __future__ import annotations

import numpy as np

from ..habitus import Habitus
from ..shapes import (
    catmull_rom,
    clip_below,
    ellipsoid_offset_point,
    ellipsoid_shell_patch,
    superellipsoid,
    tapered,
    tube,
    union,
)
from ..types import AnatomyScene, Landmark, TriggerPoint
from .common import metadata, spindle, structure, with_skin

LUNG_CENTRE = np.array([-88.0, 0.0, -115.0])
LUNG_HALF = np.array([50.0, 56.0, 112.0])  # apex at z = -3
LUNG_BOTTOM = -185.0  # the region ends here; below it the lung is cut flat
RIB_GAP_MM = 3.0  # pleura to the inner surface of a rib
RIB_RADIUS = 5.0
RIB_OUTER = RIB_GAP_MM + 2 * RIB_RADIUS  # pleura to the outer surface of the rib cage

C7_SPINOUS = np.array([0.0, 64.0, -14.0])
ACROMION = np.array([-165.0, 28.0, 18.0])
# upper trapezius: a broad, thin band from the neck over the top of the shoulder to the acromion and
# the lateral clavicle; its ridge halfway along (GB21) lies over the lung apex
UPPER_TRAP_LINE = catmull_rom([(-4.0, 52.0, 66.0), (-40.0, 42.0, 36.0), (-92.0, 24.0, 14.0), (-158.0, 24.0, 22.0)], 10)
GB21_X = -82.0  # halfway between the C7 spinous process and the acromion


def gb21_point() -> np.ndarray:
    """The upper trapezius trigger point under GB21: the band's centre line at x = GB21_X."""
    line = UPPER_TRAP_LINE
    i = int(np.argmin(np.abs(line[:, 0] - GB21_X)))
    j = i + 1 if line[i + 1, 0] < GB21_X < line[i, 0] or line[i, 0] < GB21_X < line[i + 1, 0] else i - 1
    a, b = line[i], line[j]
    t = (GB21_X - a[0]) / (b[0] - a[0])
    return a + t * (b - a)


# Vertebral levels (z of the body's centre, mm): C5-C7 cervical, T1-T8 thoracic, about 22 mm apart
CERVICAL_Z = {"C5": 38.0, "C6": 18.0, "C7": -2.0}
THORACIC_Z = {f"T{k}": -22.0 - 22.0 * (k - 1) for k in range(1, 9)}

# A thoracic vertebra in its horizontal section (x, y), mm, right side; mirrored for the left.
# Transverse processes run laterally and back to tips about 37 mm from the midline (Jones et al.
# 2024: midline to the lateral TP minus 2 SD is 2.2-2.7 cm; TP 0.9-1.1 cm thick). The rib's head
# meets the body beside the pedicle, its neck runs behind the pleura to the tubercle, which meets
# the front of the transverse process's tip (costotransverse joint).
TP_ROOT = np.array([-11.0, 14.0])
TP_TIP = np.array([-37.0, 27.0])
TP_RADIUS = 5.0
RIB_HEAD = np.array([-16.0, 6.0])
RIB_TUBERCLE = np.array([-35.0, 19.0])
NECK_TO_PLEURA_MM = 5.5  # rib neck's centre line to the pleura of the paravertebral gutter


def rib_line(k: int, n: int = 40) -> np.ndarray:
    """Centre line (n + 2, 3) of rib k (1..7): head on the side of vertebra Tk's body, neck to the
    tubercle at the tip of Tk's transverse process, then around the lung to the front, dropping from
    back to front, RIB_GAP_MM + RIB_RADIUS outside the pleura."""
    z_back = {1: -28.0, 2: -50.0, 3: -72.0, 4: -94.0, 5: -116.0, 6: -138.0, 7: -160.0}[k]
    drop = 35.0 if k > 1 else 22.0
    phi = np.radians(np.linspace(40.0 if k > 1 else 45.0, 290.0 if k > 1 else 275.0, n))
    pts = [
        ellipsoid_offset_point(LUNG_CENTRE, LUNG_HALF, p, z_back - drop * i / (n - 1), RIB_GAP_MM + RIB_RADIUS)
        for i, p in enumerate(phi)
    ]
    zv = THORACIC_Z[f"T{k}"]
    head = np.array([RIB_HEAD[0], RIB_HEAD[1], zv + 7.0])  # at the upper edge of its body
    tubercle = np.array([RIB_TUBERCLE[0], RIB_TUBERCLE[1], zv + 2.0])
    return np.vstack([head, tubercle, np.asarray(pts)])


def _cervical_vertebra(z):
    body = superellipsoid((0.0, -8.0, z), (18.0, 14.0, 8.0), exponent=2.4)
    transverse = superellipsoid((-28.0, 8.0, z), (11.0, 6.0, 5.0))
    transverse_l = superellipsoid((28.0, 8.0, z), (11.0, 6.0, 5.0))
    arch = tube(np.array([[-14.0, 8.0, z], [0.0, 22.0, z], [14.0, 8.0, z]]), 4.0, 12)
    spinous = tube(np.array([[0.0, 14.0, z], [0.0, 40.0, z - 6.0], [0.0, 62.0, z - 12.0]]), 4.5, 14)
    return union([body, transverse, transverse_l, arch, spinous])


def _thoracic_vertebra(z):
    """Body, pedicles and laminae (one arch around the canal), both transverse processes and a
    spinous process sloping down to the level below."""
    body = superellipsoid((0.0, -10.0, z), (15.0, 13.0, 9.0), exponent=2.4)
    half_arch = [(-10.0, 0.0), (-13.0, 12.0), (-9.0, 24.0), (0.0, 28.0)]
    arch_pts = [(x, y, z) for x, y in half_arch] + [(-x, y, z) for x, y in half_arch[-2::-1]]
    arch = tube(catmull_rom(arch_pts, 4), 4.0, 12)
    parts = [body, arch]
    for side in (1.0, -1.0):
        root, tip = TP_ROOT * (side, 1.0), TP_TIP * (side, 1.0)
        mid = 0.5 * (root + tip)
        parts.append(tube(np.array([[root[0], root[1], z + 1.0], [mid[0], mid[1], z + 2.0], [tip[0], tip[1], z + 3.0]]),
                          TP_RADIUS, 14))
        parts.append(superellipsoid((tip[0], tip[1], z + 3.0), (TP_RADIUS + 0.5,) * 3, subdivisions=2))
    spinous = tube(catmull_rom([(0.0, 24.0, z), (0.0, 44.0, z - 8.0), (0.0, 58.0, z - 20.0)], 6), 4.0, 12)
    return union(parts + [spinous])


def _gutter_lobe():
    """The pleura behind the lung's main body: a tall slab beside the thoracic vertebral bodies whose
    back follows the rib necks NECK_TO_PLEURA_MM in front of them (the paravertebral gutter)."""
    d = (RIB_TUBERCLE - RIB_HEAD) / np.linalg.norm(RIB_TUBERCLE - RIB_HEAD)  # along the neck, lateral
    n = np.array([-d[1], d[0]])  # across it
    n = n if n[1] < 0 else -n  # pointing forward (anterolateral)
    half = np.array([15.0, 13.0, 76.0])
    face_mid = 0.5 * (RIB_HEAD + RIB_TUBERCLE) + NECK_TO_PLEURA_MM * n
    centre_xy = face_mid + half[1] * n
    rot = np.eye(3)
    rot[:2, 0] = d
    rot[:2, 1] = -n
    return superellipsoid((centre_xy[0], centre_xy[1], -121.0), half, exponent=2.6, rotation=rot,
                          exponent_z=5.0)


def on_lung(phi_deg: float, z: float, distance: float) -> np.ndarray:
    """A point `distance` mm outside the pleura, at section angle phi (degrees) and height z."""
    return ellipsoid_offset_point(LUNG_CENTRE, LUNG_HALF, np.radians(phi_deg), z, distance)


def _plexus_lines():
    """Roots (5) and trunks (3) centre lines, and the point of rib 1 the trunks cross."""
    rib1 = rib_line(1)
    # where the trunks cross rib 1: its lateral part, behind the subclavian groove
    k = np.argmin(np.abs(np.arctan2(rib1[1:, 1] - LUNG_CENTRE[1], rib1[1:, 0] - LUNG_CENTRE[0]) + np.radians(160.0)))
    cross = rib1[1 + k]
    # inferior trunk on rib 1: 3 mm outside the rib along the pleura's normal
    over = on_lung(200.0, cross[2], RIB_GAP_MM + 2 * RIB_RADIUS + 3.0 + 3.5)
    roots = {
        "C5": [(-48.0, 6.0, 40.0), (-60.0, 0.0, 34.0), (-70.0, -2.0, 28.0)],
        "C6": [(-48.0, 6.0, 20.0), (-60.0, 0.0, 22.0), (-70.0, -2.0, 24.0)],
        "C7": [(-48.0, 6.0, 0.0), (-60.0, 0.0, 6.0), (-72.0, -2.0, 10.0)],
        "C8": [(-46.0, 6.0, -20.0), (-58.0, 0.0, -8.0), (-74.0, -4.0, 2.0)],
        "T1": [(-40.0, 8.0, -33.0), (-52.0, 2.0, -18.0), (-74.0, -4.0, 2.0)],
    }
    trunks = {
        "superior": [(-70.0, -2.0, 26.0), (-96.0, -8.0, 28.0), tuple(over + (-4.0, -4.0, 16.0)), (-168.0, -30.0, 0.0)],
        "middle": [(-72.0, -2.0, 10.0), (-96.0, -6.0, 20.0), tuple(over + (-2.0, -2.0, 8.0)), (-168.0, -26.0, -9.0)],
        "inferior": [(-74.0, -4.0, 2.0), (-96.0, -4.0, 13.0), tuple(over), (-168.0, -22.0, -18.0)],
    }
    return roots, trunks, cross


def _on_ribs(o_in, o_out, phi, z, taper=True):
    """A slab on the rib cage from o_in to o_out mm outside the pleura, thinning toward its rim."""
    if taper:
        shape = tapered(o_out - o_in, phi, z)

        def outer(p, zz):
            return o_in + shape(p, zz)
    else:
        outer = o_out
    return ellipsoid_shell_patch(LUNG_CENTRE, LUNG_HALF, o_in, outer, phi, z, n=(28, 28))


def build(h: Habitus) -> AnatomyScene:
    """The neck-shoulder region for habitus `h` (deterministic)."""
    roots, trunks, cross = _plexus_lines()
    plexus = union(
        [tube(catmull_rom(p, 6), 2.5, 12) for p in roots.values()]
        + [tube(catmull_rom(p, 8), 3.5, 16) for p in trunks.values()]
    )
    ribs = [(f"rib_{k}", tube(rib_line(k), RIB_RADIUS, 16, flatten=0.6, wide=(0.0, 0.0, 1.0))) for k in range(1, 8)]
    ribs[0] = ("first_rib", ribs[0][1])
    c_v, c_f = _cervical_vertebra(0.0)
    cervical = union([(c_v + (0.0, 0.0, z), c_f) for z in CERVICAL_Z.values()])
    t_v, t_f = _thoracic_vertebra(0.0)
    thoracic = union([(t_v + (0.0, 0.0, z), t_f) for z in THORACIC_Z.values()])
    clavicle = tube(catmull_rom([(-22.0, -80.0, -34.0), (-60.0, -78.0, -20.0), (-110.0, -58.0, 0.0),
                                 (-158.0, 4.0, 14.0)], 8), 7.0, 18)
    # scapula on the posterolateral rib cage (second to fifth rib), its spine and the acromion
    plate = _on_ribs(RIB_OUTER + 8.0, RIB_OUTER + 13.0, (95.0, 150.0), (-150.0, -40.0), taper=False)
    spine = tube(np.array([[-88.0, 78.0, -46.0], [-125.0, 72.0, -30.0], [-162.0, 38.0, 6.0]]), 6.0, 14)
    acromion = superellipsoid((-166.0, 22.0, 12.0), (18.0, 20.0, 6.0))
    scapula = union([plate, spine, acromion])
    lung = clip_below(union([superellipsoid(LUNG_CENTRE, LUNG_HALF, exponent=2.0, subdivisions=5),
                             _gutter_lobe()]), LUNG_BOTTOM)
    # subclavian artery: arches over the dome and lies on rib 1 in front of the inferior trunk
    rib1 = rib_line(1)
    k = np.argmin(np.abs(np.arctan2(rib1[1:, 1] - LUNG_CENTRE[1], rib1[1:, 0] - LUNG_CENTRE[0]) + np.radians(140.0)))
    groove = rib1[1 + k] + np.array([0.0, 0.0, RIB_RADIUS + 2.0 + 4.5])
    artery = tube(catmull_rom([(-30.0, -46.0, -44.0), (-52.0, -40.0, -6.0), tuple(on_lung(235.0, -8.0, 10.0)),
                               tuple(groove), (-170.0, -40.0, -26.0)], 10), 4.5, 18)
    # upper trapezius: a broad, thin band from the neck over the top of the shoulder to the acromion
    # the band's underside stays over the lung apex; a thicker muscle (habitus) raises its top
    thick = h.upper_trapezius_mm
    upper_trap = tube(UPPER_TRAP_LINE + (0.0, 0.0, 0.5 * (thick - 12.0)), 24.0, 32, flatten=thick / 48.0,
                      wide=(0.0, 1.0, 0.0))
    muscles = [
        ("upper_trapezius", upper_trap),
        ("middle_trapezius", _on_ribs(RIB_OUTER + 8.5, RIB_OUTER + 14.0, (55.0, 112.0), (-150.0, -30.0))),
        ("rhomboid", _on_ribs(RIB_OUTER + 1.0, RIB_OUTER + 7.5, (60.0, 102.0), (-140.0, -40.0))),
        ("erector_spinae", superellipsoid((-28.0, 50.0, -60.0), (25.0, 17.0, 125.0), exponent=2.6)),
        ("infraspinatus", _on_ribs(RIB_OUTER + 14.0, RIB_OUTER + 26.0, (98.0, 148.0), (-148.0, -50.0))),
        ("serratus_posterior", _on_ribs(RIB_OUTER + 0.5, RIB_OUTER + 3.0, (112.0, 175.0), (-175.0, -60.0))),
        ("supraspinatus", spindle((-90.0, 62.0, -20.0), (-168.0, 8.0, 0.0), 10.0, 6.0)),
        ("levator_scapulae", spindle((-42.0, 16.0, 80.0), (-86.0, 60.0, -36.0), 8.0, 5.0)),
        ("anterior_scalene", spindle((-36.0, -14.0, 45.0), (-78.0, -30.0, -22.0), 6.0, 4.0)),
        ("middle_scalene", spindle((-36.0, 18.0, 45.0), (-98.0, 12.0, -24.0), 7.0, 4.0)),
        ("sternocleidomastoid", spindle((-50.0, 6.0, 95.0), (-28.0, -86.0, -20.0), 10.0, 6.0)),
    ]
    structures = [
        structure("brachial_plexus", "nerve", plexus),
        structure("pleura", "pleura", lung),
        structure("subclavian_artery", "vessel", artery),
        *[structure(name, "bone", mesh) for name, mesh in ribs],
        structure("clavicle", "bone", clavicle),
        structure("scapula", "bone", scapula),
        structure("vertebrae_C5_C7", "bone", cervical),
        structure("vertebrae_T1_T8", "bone", thoracic),
        *[structure(name, "muscle", mesh) for name, mesh in muscles],
    ]
    structures = with_skin(structures, h.neck_fat_mm)
    rib1 = rib_line(1)
    landmarks = [
        Landmark("acromion", ACROMION, "scapula"),
        Landmark("spine of scapula", np.array([-125.0, 78.0, -30.0]), "scapula"),
        Landmark("clavicle midpoint", np.array([-90.0, -75.0, -4.0]), "clavicle"),
        Landmark("first rib", cross + np.array([0.0, 0.0, RIB_RADIUS * 0.6]), "first_rib"),
        Landmark("C7 spinous process", C7_SPINOUS, "vertebrae_C5_C7"),
    ]
    def mid_patch(o_in, o_out, phi, z):
        return on_lung(0.5 * (phi[0] + phi[1]), 0.5 * (z[0] + z[1]), o_in + 0.5 * (o_out - o_in))

    trigger_points = [
        TriggerPoint("upper trapezius (GB21)", gb21_point() + (0.0, 0.0, 0.5 * (thick - 12.0)), "upper_trapezius"),
        TriggerPoint("levator scapulae", np.array([-64.0, 38.0, 22.0]), "levator_scapulae"),
        TriggerPoint("infraspinatus", mid_patch(RIB_OUTER + 14.0, RIB_OUTER + 22.0, (98.0, 148.0), (-148.0, -50.0)),
                     "infraspinatus"),
        TriggerPoint("rhomboid", mid_patch(RIB_OUTER + 1.0, RIB_OUTER + 5.0, (60.0, 102.0), (-140.0, -40.0)),
                     "rhomboid"),
        TriggerPoint("anterior scalene", np.array([-57.0, -22.0, 12.0]), "anterior_scalene"),
    ]
    meta = metadata("shoulder", "Neck and shoulder, right side", h)
    return AnatomyScene(f"shoulder-{h.name}", structures, landmarks, meta, trigger_points)
