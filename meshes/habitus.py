"""Body habitus: the parameters that move the skin (and so every depth) of a generated region."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Habitus:
    """Subcutaneous fat thickness (mm) over the buttock and over the neck and upper back, and the
    thickness (mm) of the upper trapezius over the top of the shoulder (GB21).

    Anchors: buttock subcutaneous fat 15.4 mm mean (95 % CI 14.7-16.2) in 388 adults, about 4 mm
    more per 10 kg/m2 of BMI and 5 mm more in women (Gibney et al. 2010, Curr Med Res Opin
    26:1519); dorsogluteal skin-to-muscle depth exceeded 25 mm in 72 and 35 mm in 43 of 100 adults
    on CT (Nisbet 2006, BMJ 332:637). Neck and upper-back fat is thinner; the skin-to-pleura depth
    at GB21 grows from about 4.0 cm (BMI < 18.5) to 7.1 cm (BMI >= 25) (Chou et al. 2015, BMJ Open
    5:e007819): fat alone does not make that 3 cm spread, so the upper trapezius thickens with the
    habitus too (lean 10, average 15, high 17 mm), its underside fixed over the lung apex. In
    cadavers 50 mm needles straight down at GB21 reached the pleura in 4 of 15 (Kearns et al. 2022):
    the lean preset is that minority, and a full 50 mm needle there touches the pleura.
    """

    name: str
    gluteal_fat_mm: float
    neck_fat_mm: float
    description: str = ""
    upper_trapezius_mm: float = 12.0

    def to_dict(self) -> dict:
        return asdict(self)


HABITUS_PRESETS = {
    "lean": Habitus("lean", 9.0, 3.5, "BMI about 19: thin fat layer", 10.0),
    "average": Habitus("average", 16.0, 11.0, "BMI about 23-25: buttock fat near the 15 mm population mean", 15.0),
    "high": Habitus("high", 32.0, 18.0, "BMI 30 or more: thick fat layer", 17.0),
}
DEFAULT = "average"


def habitus(name: str) -> Habitus:
    try:
        return HABITUS_PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown habitus '{name}' (presets: {', '.join(HABITUS_PRESETS)})") from None
