"""One theme for every surface (window, off-screen renders, HTML report): colours and glyph sizes.

Colours are the Okabe-Ito colour-blind-safe palette; every level is also written as text, so no
information rests on colour alone. Glyph sizes are in millimetres of the scene (LPS frame).
"""
from __future__ import annotations


def rgb(colour: str) -> tuple[float, float, float]:
    """'#rrggbb' (every colour of the theme and of a pack) -> (r, g, b) in 0..1."""
    c = colour.lstrip("#")
    return (int(c[0:2], 16) / 255.0, int(c[2:4], 16) / 255.0, int(c[4:6], 16) / 255.0)


# the colour of each report level; "unknown" is drawn as danger, never as safe
LEVEL_COLOUR = {
    "safe": "#009E73",
    "caution": "#F0E442",
    "danger": "#E69F00",
    "contact": "#D55E00",
    "unknown": "#D55E00",
}
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")  # clearance curves, in order
PIN_COLOURS = ("#0072B2", "#CC79A7", "#009E73", "#E69F00", "#56B4E9")  # pinned needles, in order

NEEDLE_COLOUR = "#404040"  # the steel shaft
NEEDLE_OUTLINE = "#000000"  # a 5-pixel line under the shaft: never thinner than 3 px at any zoom
AHEAD_COLOUR = "#202020"  # the dashed length still ahead of the tip
ENTRY_HANDLE_COLOUR = "#0072B2"
TRIGGER_POINT_COLOUR = "#56B4E9"  # sky blue: a target, not a danger
TARGET_COLOUR = "#E69F00"  # an exercise's target
CONTACT_COLOUR = "#000000"  # the ring where the needle rests on bone
LANDMARK_COLOUR = "#F0F0F0"
NOTE_BACKGROUND = "#FFFFE0"  # the first-start hint, landmark name labels
MUTED_TEXT = "#555555"  # sources under teaching text
SPLASH_BACKGROUND = "#f4f1ea"
RENDER_NEEDLE_COLOURS = ("#303030", "#0072B2", "#D55E00", "#009E73")  # needles in off-screen renders, in order
NOT_MODELLED_COLOUR = "#9E9E9E"  # skin where the line leaves the modelled body
# an unmodelled zone (role "unmodelled"): where a danger structure the model lacks really runs; a
# needle in it or its margin reads UNKNOWN (drawn as danger). Reddish purple, see-through, so the
# modelled anatomy inside it stays visible; the zone's own pack colour (structures.toml) matches
UNMODELLED_COLOUR = "#CC79A7"
UNMODELLED_OPACITY = 0.4
BONE_LINE_COLOUR = "#8a7a55"  # where the needle's line enters bone (plots)
BONE_LABEL_COLOUR = "#5a4a25"

SKIN_OPACITY = 0.35
XRAY_OPACITY = 0.35  # the needle seen through tissue
SHELL_OPACITY = 0.22  # danger shells
TARGET_OPACITY = 0.45

# glyph sizes, mm
SHAFT_RADIUS_MM = 0.6
TIP_RADIUS_MM = 1.0
ENTRY_HANDLE_RADIUS_MM = 2.0
TRIGGER_POINT_RADIUS_MM = 3.0
LANDMARK_RADIUS_MM = 2.0
PIN_ENTRY_RADIUS_MM = 1.5
CONTACT_RING_MM = (1.6, 3.2)  # inner, outer radius
DASH_MM = (2.0, 2.0)  # on, off
CLOSEST_LINE_MM = 20.0  # closest-point lines are drawn for danger structures nearer than this
NERVE_LIT_COLOUR = "#FFFFA0"  # a nerve within its margin or touched: lit, glowing (events)
NERVE_COURSE_COLOUR = "#FFC400"  # its course distal to the needle, where the patient feels it, over the tissue
NERVE_COURSE_OPACITY = 0.8
HAEMATOMA_COLOUR = "#6B0000"  # a growing haematoma at a vessel puncture
HAEMATOMA_OPACITY = 0.55
